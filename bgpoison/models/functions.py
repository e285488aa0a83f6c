"""Numerically stable elementwise functions used by the models (finite for inputs up to +-1e3).

Reductions over the short class axis of an (n, K) array (K = 10 for digits) are slow in NumPy:
``Z.max(axis=1)`` and ``Z.sum(axis=1)`` loop over K elements per row. The row and column
helpers below give the same numbers up to summation order and run 3x to 6x faster: a row
maximum as K - 1 elementwise maxima of whole columns, sums as matrix-vector products (BLAS).
``x_matmul(X, W)`` and ``t_matmul(X, G)`` are X W and X^T G in the faster of their two
orientations; ``t_matmul_pair`` takes two X^T products in one pass over a wide X.
"""
import numpy as np


def row_max(Z):
    """max_k Z[i, k] for each row i, (n, K) -> (n, 1); = ``Z.max(axis=1, keepdims=True)``."""
    m = Z[:, 0].copy()                                   # (n,)
    for k in range(1, Z.shape[1]):
        np.maximum(m, Z[:, k], out=m)                    # one long vector operation per column
    return m[:, None]


def row_sum(Z):
    """sum_k Z[i, k] for each row i, (n, K) -> (n, 1); = ``Z.sum(axis=1, keepdims=True)``."""
    return (Z @ np.ones(Z.shape[1]))[:, None]            # Z 1_K


def col_sum(Z):
    """sum_i Z[i, k] for each column k, (n, K) -> (K,); = ``Z.sum(axis=0)``."""
    return np.ones(Z.shape[0]) @ Z                       # 1_n^T Z


WIDE = 256      # from this many columns of X on, X W is faster as (W^T X^T)^T (see x_matmul)


def x_matmul(X, W):
    """X W for the data matrix X (n, d) and a weight matrix W (d, k), (n, k).

    For wide X (d >= WIDE) computed as (W^T X^T)^T: the same sums, but BLAS takes the long
    matrix as its right operand, measured 15-30% faster at d = 784 (k = 10 or 64); at d = 64
    plain ``X @ W`` is faster (by up to 1.5x at k = 10).
    """
    return (W.T @ X.T).T if X.shape[1] >= WIDE else X @ W


def t_matmul(A, B):
    """A^T B, computed as (B^T A)^T: the same sums, but BLAS reads A row by row. For A = X,
    (1020, 784) and B of 10 or 64 columns this measured 20-50% faster than ``A.T @ B``."""
    return (B.T @ A).T


def t_matmul_pair(X, A, B):
    """(X^T A, X^T B). For wide X (d >= WIDE) one product X^T [A, B], one pass over X: measured
    1.13 -> 0.79 ms at (1020, 784) with 10 columns each; at d = 64 two products stay (57 us
    against 90 us for one of 20 columns)."""
    if X.shape[1] < WIDE:
        return t_matmul(X, A), t_matmul(X, B)
    XtAB = t_matmul(X, np.hstack([A, B]))                # (d, a + b)
    return XtAB[:, :A.shape[1]], XtAB[:, A.shape[1]:]


def softplus(z):
    """log(1 + e^z), computed as logaddexp(0, z) so that it never overflows."""
    return np.logaddexp(0.0, z)


def sigmoid(z):
    """1 / (1 + e^-z) = exp(-softplus(-z)): no overflow for large |z|."""
    return np.exp(-softplus(-z))


def log_softmax(Z):
    """Z - logsumexp(Z) row by row, shifting by the row maximum first.  (n, K) -> (n, K)"""
    S = Z - row_max(Z)                                   # (n, K), every entry <= 0
    return S - np.log(row_sum(np.exp(S)))


def softmax(Z):
    """exp(Z_k - max Z) / sum_j exp(Z_j - max Z) row by row: probabilities.  (n, K) -> (n, K)

    Equal to exp(log_softmax(Z)); computed in one buffer (shift, exp, divide in place).
    """
    E = Z - row_max(Z)                                   # (n, K), a new array: Z is kept
    np.exp(E, out=E)
    E /= row_sum(E)
    return E


def softmax_jvp(P, RZ):
    """Directional derivative of softmax at probabilities P along RZ: P * (RZ - <P, RZ>).

    This is (diag(p) - p p^T) rz row by row, the Hessian of logsumexp applied to rz. Computed as
    S - P * <P, RZ> with S = P * RZ, whose row sums are <P, RZ>: one product fewer.  (n, K)
    """
    S = P * RZ                                           # (n, K)
    S -= P * row_sum(S)                                  # P RZ - P <P, RZ>
    return S

"""The linear models: Z = X @ W + b with a per-sample loss ell(z_i, t_i) on each row.

ADALINE, logistic and softmax regression and the linear SVM share every line of the forward, backward and R-pass
of ``LinearModel``; each differs only in its loss ell and ell's first two derivatives in z
(``link``, ``sample_losses``, ``dloss``, ``d2loss``). With n rows and targets T = ``targets(y)``:

    L        = (1/n) sum_i ell(z_i, t_i) + (l2/2) ||W||^2
    grad_W L = X^T dZ + l2 W,       grad_b L = sum_i dZ_i,        dZ = ell'(Z, T) / n      (n, k)

Along a direction u = (U, c) in weight space (R{.} = d/da .(w + a u) at a = 0):

    RZ  = X U + c                                   (n, k)
    RdZ = ell''(Z, T)[RZ] / n                       (n, k)   ell'' applied to RZ row by row
    H_ww u = (X^T RdZ + l2 U,  sum_i RdZ_i)
    H_xw u = d/dX <grad_w L, u> = RdZ W^T + dZ U^T   (n, d)   one row per sample

The losses, with z the row of Z and t its target:

    Adaline              t = 2y - 1          ell = (z - t)^2 / 2           ell' = z - t
                                             ell''[rz] = rz
    LogisticRegression   t = y, p = sigmoid(z)   ell = softplus(z) - t z   ell' = p - t
                                             ell''[rz] = p (1 - p) rz
    SoftmaxRegression    t = onehot(y), p = softmax(z)   ell = logsumexp(z) - <t, z> = -<t, log p>
                                             ell' = p - t      ell''[rz] = p * (rz - <p, rz>)
    LinearSVM            t = 2y - 1          ell = max(0, 1 - t z)^2 / 2   ell' = -t max(0, 1 - t z)
                                             ell''[rz] = [t z < 1] rz      (t^2 = 1)

The SVM's squared hinge (not the plain hinge) keeps ell' continuous; ell'' is a step (1 inside
the margin, 0 outside: exact away from the kink t z = 1), the one ell'' that reads the targets.

The stable functions at the end (softplus, sigmoid, softmax, ...) stay finite for inputs up to
+-1e3; the MLP and the CNN use the same softmax output. A softmax output keeps one (n, K) array,
the log-probabilities log P = log_softmax(Z) (the loss is -<Y, log P>, the derivatives read
P = exp(log P)): keeping Z and P doubled a stored run's memory and made the hypergradient on
8x8 digits 1.2x slower (``python -m bgpoison.experiments.bench --only floor``).
"""
from dataclasses import dataclass

import numpy as np

from .base import Model


@dataclass(frozen=True)
class LinearModel(Model):
    """Base of the linear models; ``n_outputs`` is k (1 for binary models, K for softmax)."""

    penalised = ("W",)
    convex = True
    optimum_needs_l2 = True        # without l2 the optimum may not exist (separable data)

    @property
    def shapes(self):
        return {"W": (self.n_features, self.n_outputs), "b": (self.n_outputs,)}

    def init_params(self, rng=None):
        """Zeros: the models are convex, so no symmetry needs breaking (``rng`` is unused)."""
        return np.zeros(self.n_params)

    def raw_scores(self, w, X):
        p = self.unpack(w)
        Z = X @ p["W"] + p["b"]                         # (n, k)
        return Z[:, 0] if self.n_outputs == 1 else Z

    def forward(self, w, X):
        p = self.unpack(w)
        Z = X @ p["W"] + p["b"]                         # (n, k)
        return self.link(Z)                             # {"Z": Z, and e.g. probabilities}

    def backward(self, w, X, Y, acts):
        W = self.unpack(w)["W"]
        dZ = self.dloss(acts, Y) / X.shape[0]           # (n, k)
        return self.pack({"W": X.T @ dZ + self.l2 * W, "b": dZ.sum(0)})   # (d, k), (k,)

    def r_backward(self, w, X, Y, acts, u, rows):
        n, W, (U, c) = X.shape[0], self.unpack(w)["W"], self.unpack(u).values()
        RZ = X @ U + c                                  # (n, k)  R{Z = X W + b}
        RdZ = self.d2loss(acts, Y, RZ) / n              # (n, k)  R{dZ = ell'(Z, T) / n}
        Hu = self.pack({"W": X.T @ RdZ + self.l2 * U, "b": RdZ.sum(0)})
        # H_xw u for the requested rows only (the poisoning rows, in a reverse pass)
        dZ_r = self.dloss({k: a[rows] for k, a in acts.items()}, Y[rows]) / n   # (r, k)
        return Hu, RdZ[rows] @ W.T + dZ_r @ U.T        # (p,), (r, d)


@dataclass(frozen=True)
class Adaline(LinearModel):
    """ADALINE (squared loss on -1/+1 targets), ``n_features`` inputs, penalty ``l2``; labels
    0/1, ``predict`` gives 1 where z > 0."""

    n_features: int
    l2: float = 0.0
    n_outputs = 1
    n_classes = 2
    optimum_needs_l2 = False       # H_ww = X^T X / n: definite when X has full column rank

    def targets(self, y):
        return (2.0 * y - 1.0)[:, None]                 # (n, 1) in {-1, +1}

    def link(self, Z):
        return {"Z": Z}

    def sample_losses(self, acts, Y):
        return 0.5 * (acts["Z"] - Y)[:, 0] ** 2          # (n,)

    def dloss(self, acts, Y):
        return acts["Z"] - Y                             # (n, 1)

    def d2loss(self, acts, Y, RZ):
        return RZ                                        # (n, 1)


@dataclass(frozen=True)
class LogisticRegression(LinearModel):
    """Binary logistic regression, ``n_features`` inputs, penalty ``l2``; labels 0/1."""

    n_features: int
    l2: float = 0.0
    n_outputs = 1
    n_classes = 2

    def targets(self, y):
        return y.astype(float)[:, None]                  # (n, 1) in {0, 1}

    def link(self, Z):
        return {"Z": Z, "P": sigmoid(Z)}                 # P = p(y = 1 | x), (n, 1)

    def sample_losses(self, acts, Y):
        Z = acts["Z"]
        return (softplus(Z) - Y * Z)[:, 0]               # (n,)  = -log p(y | x)

    def dloss(self, acts, Y):
        return acts["P"] - Y                             # (n, 1)

    def d2loss(self, acts, Y, RZ):
        P = acts["P"]
        return P * (1.0 - P) * RZ                        # (n, 1)


@dataclass(frozen=True)
class SoftmaxRegression(LinearModel):
    """Softmax regression with ``n_classes`` classes, ``n_features`` inputs, penalty ``l2``."""

    n_features: int
    n_classes: int
    l2: float = 0.0

    @property
    def n_outputs(self):
        return self.n_classes

    def targets(self, y):
        return one_hot(y, self.n_classes)                # (n, K)

    def link(self, Z):
        return {"logP": log_softmax(Z)}                  # log p(k | x), (n, K): see below

    def sample_losses(self, acts, Y):
        return cross_entropy(acts["logP"], Y)            # (n,)  -log p(y | x)

    def dloss(self, acts, Y):
        return np.exp(acts["logP"]) - Y                  # (n, K)  P - Y

    def d2loss(self, acts, Y, RZ):
        return softmax_jvp(np.exp(acts["logP"]), RZ)     # (n, K)


@dataclass(frozen=True)
class LinearSVM(LinearModel):
    """Linear SVM (squared hinge on -1/+1 targets, an L2-SVM trained in the primal),
    ``n_features`` inputs, penalty ``l2``; labels 0/1, ``predict`` gives 1 where z > 0."""

    n_features: int
    l2: float = 0.0
    n_outputs = 1
    n_classes = 2

    def targets(self, y):
        return (2.0 * y - 1.0)[:, None]                 # (n, 1) in {-1, +1}

    def link(self, Z):
        return {"Z": Z}

    def sample_losses(self, acts, Y):
        return 0.5 * np.maximum(0.0, 1.0 - Y * acts["Z"])[:, 0] ** 2     # (n,)

    def dloss(self, acts, Y):
        return -Y * np.maximum(0.0, 1.0 - Y * acts["Z"])                  # (n, 1)

    def d2loss(self, acts, Y, RZ):
        return np.where(Y * acts["Z"] < 1.0, RZ, 0.0)    # (n, 1): rows on the hinge's slope


# ---- numerically stable functions ---------------------------------------------------------------
def softplus(z):
    """log(1 + e^z), computed as logaddexp(0, z) so that it never overflows."""
    return np.logaddexp(0.0, z)


def sigmoid(z):
    """1 / (1 + e^-z) = exp(-softplus(-z)): no overflow for large |z|."""
    return np.exp(-softplus(-z))


def one_hot(y, n_classes):
    """(n,) integer labels -> (n, K) float one-hot rows."""
    Y = np.zeros((y.shape[0], n_classes))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


def log_softmax(Z):
    """Z - logsumexp(Z) row by row, shifting by the row maximum first.  (n, K) -> (n, K)"""
    S = Z - _row_max(Z)                                  # (n, K), every entry <= 0
    return S - np.log(_row_sum(np.exp(S)))


def softmax(Z):
    """exp(Z_k - max Z) / sum_j exp(Z_j - max Z) row by row: probabilities.  (n, K) -> (n, K)"""
    E = np.exp(Z - _row_max(Z))                          # (n, K), the shift avoids overflow
    return E / _row_sum(E)


def cross_entropy(logP, Y):
    """-sum_k Y_k log P_k per row from log-probabilities logP = log_softmax(Z), (n,)."""
    return -_row_sum(Y * logP)[:, 0]


def softmax_jvp(P, RZ):
    """Directional derivative of softmax at probabilities P along RZ: P * (RZ - <P, RZ>), row
    by row; (diag(p) - p p^T) rz, the Hessian of logsumexp applied to rz.  (n, K)"""
    return P * (RZ - _row_sum(P * RZ))


# Z.max(axis=1, keepdims=True) and Z.sum(axis=1, keepdims=True), the same numbers (the sum up to
# summation order): NumPy reduces a short axis (K = 10 classes) slowly, one row at a time, so
# the softmax above takes its row maxima as K - 1 maxima of whole columns and its row sums as a
# matrix-vector product. Measured with one BLAS thread on (1020, 10): 39 -> 13 us and 18 -> 3 us;
# training softmax regression on 8x8 digits (T = 200) 44.5 -> 35.6 ms (``python -m
# bgpoison.experiments.bench --only floor``). The softmax's cost does not grow with d, so at MNIST
# scale it saves the same microseconds, a smaller share of the time.
def _row_max(Z):
    m = Z[:, 0].copy()                                   # (n,)
    for k in range(1, Z.shape[1]):
        np.maximum(m, Z[:, k], out=m)
    return m[:, None]


def _row_sum(Z):
    return (Z @ np.ones(Z.shape[1]))[:, None]            # Z 1_K, (n, 1)

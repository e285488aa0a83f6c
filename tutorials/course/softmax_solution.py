"""Exercise: softmax regression's gradient and both Hessian products, written by hand.

Two tasks, graded by ``grade.py`` (see README.md):

    task_softmax_grad   ``backward``:   grad_w L
    task_softmax_hvp    ``r_backward``: H_ww v, and the requested rows of H_xw v

As in ``logistic.py`` the class is a ``bgpoison.Model`` (the base class turns your building
blocks into ``loss``, ``grad_w``, ``hvp_ww``, ``hvp_xw``). Parameters: w = (W (d, K), b (K,)),
flat. While grading, the library's models raise: a task whose code calls them scores 0.

With n rows, Z = X W + b (n, K), P = softmax(Z) row by row, one-hot targets Y (n, K):

    L = (1/n) sum_i [logsumexp(Z_i) - <Y_i, Z_i>] + (l2/2) ||W||^2

Tutorial 01 shows the R-operator on logistic regression; here the sigmoid's derivative becomes
the softmax's Jacobian diag(p) - p p^T, applied row by row.
### BEGIN HINT

    dZ       = (P - Y) / n                                              (n, K)
    grad_W L = X^T dZ + l2 W,           grad_b L = sum_i dZ_i
    RZ       = X V + c                                                  (n, K)
    RdZ      = P * (RZ - <P, RZ>_row) / n                               (n, K)
    H_ww v   = (X^T RdZ + l2 V,  sum_i RdZ_i)
    H_xw v   = RdZ W^T + dZ V^T                                         (n, d)
### END HINT
"""
from dataclasses import dataclass

import numpy as np

import bgpoison as bg


def softmax(Z):
    """Row-wise exp(Z - max Z) / sum exp(Z - max Z).  (n, K) -> (n, K)"""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def logsumexp(Z):
    M = Z.max(axis=1, keepdims=True)
    return (M + np.log(np.exp(Z - M).sum(axis=1, keepdims=True)))[:, 0]    # (n,)


@dataclass(frozen=True)
class SoftmaxRegression(bg.Model):
    """Softmax regression, ``n_features`` inputs, ``n_classes`` classes, penalty ``l2`` on W."""

    n_features: int
    n_classes: int
    l2: float = 0.0
    penalised = ("W",)

    # ---- given: layout, targets, forward pass, loss -----------------------------------------
    @property
    def shapes(self):
        return {"W": (self.n_features, self.n_classes), "b": (self.n_classes,)}

    def init_params(self, rng):
        return np.zeros(self.n_params)

    def targets(self, y):
        Y = np.zeros((len(y), self.n_classes))
        Y[np.arange(len(y)), np.asarray(y, dtype=int)] = 1.0
        return Y                                             # (n, K) one-hot

    def forward(self, w, X):
        p = self.unpack(w)
        Z = X @ p["W"] + p["b"]                              # (n, K)
        return {"Z": Z, "P": softmax(Z)}

    def raw_scores(self, w, X):
        return self.forward(w, X)["Z"]

    def sample_losses(self, acts, Y):
        return logsumexp(acts["Z"]) - np.sum(Y * acts["Z"], axis=1)       # (n,)

    # ---- task_softmax_grad --------------------------------------------------------------------
    def backward(self, w, X, Y, acts):
        """grad_w L as a flat vector (p,): ``self.pack({"W": (d, K), "b": (K,)})``."""
        ### BEGIN SOLUTION
        W = self.unpack(w)["W"]
        dZ = (acts["P"] - Y) / X.shape[0]                    # (n, K)
        return self.pack({"W": X.T @ dZ + self.l2 * W, "b": dZ.sum(axis=0)})
        ### END SOLUTION

    # ---- task_softmax_hvp ---------------------------------------------------------------------
    def r_backward(self, w, X, Y, acts, v, rows):
        """(H_ww v, rows of H_xw v): shapes (p,) and (r, d). ``rows`` selects samples; the mean
        is still over all n = X.shape[0] rows."""
        ### BEGIN SOLUTION
        n = X.shape[0]
        W = self.unpack(w)["W"]                              # (d, K)
        q = self.unpack(v)                                   # V (d, K), c (K,)
        P = acts["P"]                                        # (n, K)
        RZ = X @ q["W"] + q["b"]                             # (n, K)  R{Z}
        RdZ = P * (RZ - np.sum(P * RZ, axis=1, keepdims=True)) / n     # R{dZ}
        Hv = self.pack({"W": X.T @ RdZ + self.l2 * q["W"], "b": RdZ.sum(axis=0)})
        dZ_r = (P[rows] - Y[rows]) / n                       # (r, K)
        dX_r = RdZ[rows] @ W.T + dZ_r @ q["W"].T             # (r, d)
        return Hv, dX_r
        ### END SOLUTION

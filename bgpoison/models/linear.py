"""Linear models: Z = X @ W + b with a per-sample loss ell(z_i, t_i) on each row.

ADALINE, logistic and softmax regression share every line of the forward, backward and R-pass
below; they differ only in the loss ``ell`` and its first two derivatives in z, which each model
module supplies (``link``, ``sample_losses``, ``dloss``, ``d2loss``). With n rows,

    L        = (1/n) sum_i ell(z_i, t_i) + (l2/2) ||W||^2
    grad_W L = X^T dZ + l2 W,       grad_b L = sum_i dZ_i,        dZ = ell'(Z, Y) / n      (n, k)

(sums over the rows i are ``col_sum``, a matrix-vector product; X W and X^T G are
``x_matmul(X, W)`` and ``t_matmul(X, G)``: see ``functions``.)

Along a direction v = (V, c) in weight space (R{.} = d/da .(w + a v) at a = 0):

    RZ  = X V + c                                   (n, k)
    RdZ = ell''(Z, Y)[RZ] / n                       (n, k)   ell'' applied to RZ row by row
    H_ww v = (X^T RdZ + l2 V,  sum_i RdZ_i)
    H_xw v = d/dX <grad_w L, v> = RdZ W^T + dZ V^T   (n, d)   one row per sample

``r_backward_and_grad`` adds grad_W L and takes X^T RdZ and X^T dZ as one product of 2k columns,
X^T [RdZ, dZ] = [X^T RdZ, X^T dZ] for wide X (``t_matmul_pair``: one pass over X instead of two;
the same sums, possibly in another order, so equal up to round-off: tested).
"""
from dataclasses import dataclass

import numpy as np

from .base import Model
from .functions import col_sum, t_matmul, t_matmul_pair, x_matmul


@dataclass(frozen=True)
class LinearModel(Model):
    """Base of the linear models; ``n_outputs`` is k (1 for binary models, K for softmax)."""

    penalised = ("W",)

    @property
    def shapes(self):
        return {"W": (self.n_features, self.n_outputs), "b": (self.n_outputs,)}

    def init_params(self, rng):
        """Zeros: the linear models are convex, so no symmetry needs breaking. ``rng`` unused."""
        return np.zeros(self.n_params)

    def raw_scores(self, w, X):
        Z = self.forward(w, X)["Z"]                     # (n, k)
        return Z[:, 0] if self.n_outputs == 1 else Z

    def forward(self, w, X):
        p = self.unpack(w)
        Z = x_matmul(X, p["W"]) + p["b"]                # (n, k)
        return self.link(Z)                             # {"Z": Z, plus e.g. probabilities}

    def backward(self, w, X, Y, acts):
        W = self.unpack(w)["W"]
        dZ = self.dloss(acts, Y) / X.shape[0]           # (n, k)
        return self._grad(W, t_matmul(X, dZ), dZ)

    def _grad(self, W, XtdZ, dZ):
        """grad_w L = (X^T dZ + l2 W, sum_i dZ_i) from X^T dZ, (p,)."""
        return self.pack({"W": XtdZ + self.l2 * W, "b": col_sum(dZ)})   # (d, k), (k,)

    def r_backward(self, w, X, Y, acts, v, rows, grad=False):
        n = X.shape[0]
        W = self.unpack(w)["W"]
        q = self.unpack(v)
        RZ = x_matmul(X, q["W"]) + q["b"]               # (n, k)  forward line Z = XW + b, along v
        RdZ = self.d2loss(acts, RZ) / n                 # (n, k)  backward line dZ = ell'/n, along v
        if grad:                                        # and grad_w L: dZ = ell'(Z, Y) / n
            dZ = self.dloss(acts, Y) / n                # (n, k)
            XtRdZ, XtdZ = t_matmul_pair(X, RdZ, dZ)     # (d, k) each, one pass over a wide X
        else:
            XtRdZ = t_matmul(X, RdZ)                    # (d, k)
        Hv = self.pack({"W": XtRdZ + self.l2 * q["W"], "b": col_sum(RdZ)})
        # d/dX of <grad_w L, v> for the requested rows only (the poisoning rows in a reverse pass)
        acts_r = {key: a[rows] for key, a in acts.items()}
        dZ_r = self.dloss(acts_r, Y[rows]) / n          # (r, k)
        dX_r = RdZ[rows] @ W.T + dZ_r @ q["W"].T        # (r, d)
        return (Hv, dX_r, self._grad(W, XtdZ, dZ)) if grad else (Hv, dX_r)

    def r_backward_and_grad(self, w, X, Y, acts, v, rows):
        return self.r_backward(w, X, Y, acts, v, rows, grad=True)

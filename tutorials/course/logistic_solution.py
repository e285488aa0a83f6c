"""Exercise: binary logistic regression's gradient and both Hessian products, written by hand.

Two tasks, graded by ``grade.py`` (see README.md):

    task_grad   ``backward``:   grad_w L
    task_hvp    ``r_backward``: H_ww v, and the requested rows of H_xw v = d/dX <grad_w L, v>

The class is a ``bgpoison.Model``: the base class turns your building blocks into the public
``loss``, ``grad_w``, ``hvp_ww`` and ``hvp_xw`` (read bgpoison/models/base.py), so
``bgpoison.gradcheck.check_model`` can check your code and ``bgpoison.back_gradient`` can attack
a model built on it. Parameters are the library's layout: w = (W (d, 1), b (1,)), flat. Write the
formulas yourself: while grading, the library's models (``bg.LogisticRegression``, any alias of
their methods) raise, and a task whose code calls them scores 0.

With n rows, Z = X W + b (n, 1), S = sigmoid(Z), targets Y = y as floats (n, 1):

    L        = (1/n) sum_i [softplus(Z_i) - Y_i Z_i] + (l2/2) ||W||^2

Tutorial 01 derives the gradient and both products from L, with the R-operator
R{.} = d/da .(w + a v) at a = 0 along a direction v = (V, c).
### BEGIN HINT

    dZ       = (S - Y) / n                                              (n, 1)
    grad_W L = X^T dZ + l2 W,           grad_b L = sum_i dZ_i
    RZ       = X V + c                                                  (n, 1)
    RdZ      = S (1 - S) RZ / n                                         (n, 1)
    H_ww v   = (X^T RdZ + l2 V,  sum_i RdZ_i)
    H_xw v   = RdZ W^T + dZ V^T                                         (n, d), one row per sample
### END HINT
"""
from dataclasses import dataclass

import numpy as np

import bgpoison as bg


def sigmoid(z):
    """1 / (1 + exp(-z)) = exp(-softplus(-z)), without overflow for large |z|."""
    return np.exp(-softplus(-z))


def softplus(z):
    """log(1 + exp(z)), without overflow."""
    return np.logaddexp(0.0, z)


@dataclass(frozen=True)
class LogisticRegression(bg.Model):
    """Binary logistic regression, ``n_features`` inputs, penalty ``l2`` on W; labels 0/1."""

    n_features: int
    l2: float = 0.0
    n_classes = 2
    penalised = ("W",)

    # ---- given: layout, targets, forward pass, loss -----------------------------------------
    @property
    def shapes(self):
        return {"W": (self.n_features, 1), "b": (1,)}

    def init_params(self, rng):
        """Zeros (the model is convex); ``rng`` unused."""
        return np.zeros(self.n_params)

    def targets(self, y):
        return y.astype(float)[:, None]                      # (n, 1) in {0, 1}

    def forward(self, w, X):
        p = self.unpack(w)
        Z = X @ p["W"] + p["b"]                              # (n, 1)
        return {"Z": Z, "S": sigmoid(Z)}                     # S = p(y = 1 | x), (n, 1)

    def raw_scores(self, w, X):
        return self.forward(w, X)["Z"][:, 0]                 # (n,)

    def sample_losses(self, acts, Y):
        Z = acts["Z"]
        return (softplus(Z) - Y * Z)[:, 0]                   # (n,)

    # ---- task_grad ----------------------------------------------------------------------------
    def backward(self, w, X, Y, acts):
        """grad_w L as a flat vector (p,): ``self.pack({"W": (d, 1) array, "b": (1,) array})``.

        ``acts`` is ``self.forward(w, X)``: use acts["S"], do not recompute it.
        """
        ### BEGIN SOLUTION
        W = self.unpack(w)["W"]
        dZ = (acts["S"] - Y) / X.shape[0]                    # (n, 1)
        return self.pack({"W": X.T @ dZ + self.l2 * W,       # (d, 1)
                          "b": dZ.sum(axis=0)})              # (1,)
        ### END SOLUTION

    # ---- task_hvp -----------------------------------------------------------------------------
    def r_backward(self, w, X, Y, acts, v, rows):
        """(H_ww v, rows of H_xw v): shapes (p,) and (r, d), r = the number of rows selected.

        ``rows`` indexes the samples whose d/dx_i <grad_w L, v> is wanted (a slice or an index
        array; a reverse pass asks only for the poisoning rows). Keep the 1/n of the mean: it is
        still n = X.shape[0], the number of all rows, even when only some rows are returned.
        """
        ### BEGIN SOLUTION
        n = X.shape[0]
        W = self.unpack(w)["W"]                              # (d, 1)
        q = self.unpack(v)                                   # V (d, 1), c (1,)
        S = acts["S"]                                        # (n, 1)
        RZ = X @ q["W"] + q["b"]                             # (n, 1)  R{Z}
        RdZ = S * (1.0 - S) * RZ / n                         # (n, 1)  R{dZ}
        Hv = self.pack({"W": X.T @ RdZ + self.l2 * q["W"], "b": RdZ.sum(axis=0)})
        dZ_r = (S[rows] - Y[rows]) / n                       # (r, 1)
        dX_r = RdZ[rows] @ W.T + dZ_r @ q["W"].T             # (r, d)  x_i in Z_i, and in R{Z_i}
        return Hv, dX_r
        ### END SOLUTION

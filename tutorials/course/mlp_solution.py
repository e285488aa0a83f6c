"""Exercise: the R-pass of a one-hidden-layer MLP (tanh hidden units, softmax output).

One task, graded by ``grade.py`` (see README.md):

    task_mlp_rpass   ``r_backward``: H_ww v, and the requested rows of H_xw v

The forward pass and the gradient (``backward``) are given: the R-pass applies Pearlmutter's
R{.} = d/da .(w + a v) at a = 0 to every line of them, forward lines first, then backward
lines. Parameters: w = (W1 (d, H), b1 (H,), W2 (H, K), b2 (K,)), flat; v = (V1, c1, V2, c2).
While grading, the library's models raise: a task whose code calls them scores 0.
### BEGIN HINT

    RZ1  = X V1 + c1                 RA1 = (1 - A1^2) * RZ1
    RZ2  = A1 V2 + RA1 W2 + c2       RdZ2 = P * (RZ2 - <P, RZ2>_row) / n
    H_W2 = A1^T RdZ2 + RA1^T dZ2 + l2 V2,   H_b2 = sum_i RdZ2_i
    RdA1 = RdZ2 W2^T + dZ2 V2^T      RdZ1 = RdA1 * (1 - A1^2) - 2 A1 RA1 * dA1
    H_W1 = X^T RdZ1 + l2 V1,                H_b1 = sum_i RdZ1_i
    H_xw v = RdZ1 W1^T + dZ1 V1^T    (n, d): X enters Z1 = X W1 + b1 and grad_W1 = X^T dZ1
### END HINT
"""
from dataclasses import dataclass

import numpy as np

import bgpoison as bg


def softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class MLP(bg.Model):
    """d -> H tanh units -> K softmax outputs; penalty ``l2`` on W1 and W2."""

    n_features: int
    n_hidden: int
    n_classes: int
    l2: float = 0.0
    penalised = ("W1", "W2")

    # ---- given: layout, targets, forward pass, loss, gradient -------------------------------
    @property
    def shapes(self):
        d, H, K = self.n_features, self.n_hidden, self.n_classes
        return {"W1": (d, H), "b1": (H,), "W2": (H, K), "b2": (K,)}

    def init_params(self, rng):
        return 0.5 * rng.standard_normal(self.n_params)

    def targets(self, y):
        Y = np.zeros((len(y), self.n_classes))
        Y[np.arange(len(y)), np.asarray(y, dtype=int)] = 1.0
        return Y

    def forward(self, w, X):
        p = self.unpack(w)
        A1 = np.tanh(X @ p["W1"] + p["b1"])                  # (n, H)
        Z2 = A1 @ p["W2"] + p["b2"]                          # (n, K)
        return {"A1": A1, "Z2": Z2, "P": softmax(Z2)}

    def raw_scores(self, w, X):
        return self.forward(w, X)["Z2"]

    def sample_losses(self, acts, Y):
        Z = acts["Z2"]
        M = Z.max(axis=1, keepdims=True)
        return (M[:, 0] + np.log(np.exp(Z - M).sum(axis=1))) - np.sum(Y * Z, axis=1)

    def backward(self, w, X, Y, acts):
        p, A1 = self.unpack(w), acts["A1"]
        dZ2 = (acts["P"] - Y) / X.shape[0]                   # (n, K)
        dZ1 = (dZ2 @ p["W2"].T) * (1.0 - A1 ** 2)            # (n, H)
        return self.pack({"W1": X.T @ dZ1 + self.l2 * p["W1"], "b1": dZ1.sum(axis=0),
                          "W2": A1.T @ dZ2 + self.l2 * p["W2"], "b2": dZ2.sum(axis=0)})

    # ---- task_mlp_rpass -----------------------------------------------------------------------
    def r_backward(self, w, X, Y, acts, v, rows):
        """(H_ww v, rows of H_xw v): shapes (p,) and (r, d); the mean is over all n rows."""
        ### BEGIN SOLUTION
        n = X.shape[0]
        p, q = self.unpack(w), self.unpack(v)
        A1, P = acts["A1"], acts["P"]
        D = 1.0 - A1 ** 2                                    # tanh'(Z1), (n, H)
        RZ1 = X @ q["W1"] + q["b1"]                          # (n, H)
        RA1 = D * RZ1
        RZ2 = A1 @ q["W2"] + RA1 @ p["W2"] + q["b2"]         # (n, K)
        dZ2 = (P - Y) / n
        RdZ2 = P * (RZ2 - np.sum(P * RZ2, axis=1, keepdims=True)) / n
        dA1 = dZ2 @ p["W2"].T                                # (n, H)
        RdA1 = RdZ2 @ p["W2"].T + dZ2 @ q["W2"].T
        dZ1 = dA1 * D
        RdZ1 = RdA1 * D - 2.0 * A1 * RA1 * dA1               # R{D} = -2 A1 RA1
        Hv = self.pack({"W1": X.T @ RdZ1 + self.l2 * q["W1"], "b1": RdZ1.sum(axis=0),
                        "W2": A1.T @ RdZ2 + RA1.T @ dZ2 + self.l2 * q["W2"],
                        "b2": RdZ2.sum(axis=0)})
        dX_r = RdZ1[rows] @ p["W1"].T + dZ1[rows] @ q["W1"].T          # (r, d)
        return Hv, dX_r
        ### END SOLUTION

"""A one-hidden-layer perceptron with a smooth activation f and a softmax output.

Forward (n rows, d inputs, H hidden units, K classes):

    Z1 = X W1 + b1   (n, H)      A1 = f(Z1)   (n, H)      Z2 = A1 W2 + b2   (n, K)
    P = softmax(Z2)  (n, K)      L = mean_i cross_entropy(Z2_i, y_i) + (l2/2)(||W1||^2 + ||W2||^2)

Backward (D1 = f'(Z1)):

    dZ2 = (P - Y)/n    gW2 = A1^T dZ2 + l2 W2    gb2 = sum dZ2    dA1 = dZ2 W2^T
    dZ1 = dA1 * D1     gW1 = X^T dZ1 + l2 W1     gb1 = sum dZ1    (grad_X L = dZ1 W1^T)

R-pass along v = (V1, c1, V2, c2), Pearlmutter's R{.} applied to every line above
(D2 = f''(Z1); products of two varying factors give two terms; X W and X^T G are computed
by ``x_matmul`` and ``t_matmul``, see ``functions``):

    RZ1 = X V1 + c1              RA1 = D1 * RZ1             RZ2 = RA1 W2 + A1 V2 + c2
    RdZ2 = P*(RZ2 - <P,RZ2>)/n   RgW2 = RA1^T dZ2 + A1^T RdZ2 + l2 V2      Rgb2 = sum RdZ2
    RdA1 = RdZ2 W2^T + dZ2 V2^T  RdZ1 = RdA1 * D1 + dA1 * D2 * RZ1
    RgW1 = X^T RdZ1 + l2 V1      Rgb1 = sum RdZ1
    H_xw v = R{grad_X L} = RdZ1 W1^T + dZ1 V1^T     (n, d)
"""
from dataclasses import dataclass

import numpy as np

from .. import _checks
from .functions import col_sum, sigmoid, softmax, softmax_jvp, softplus, t_matmul, x_matmul
from .base import Model
from .softmax import cross_entropy, one_hot


# name -> (f(Z), f'(Z) from A, f''(Z) from (A, D1)), where A = f(Z) and D1 = f'(Z); both
# derivatives are functions of A, so a reverse pass keeps A1 alone and recomputes D1 from it:
#   tanh:     f' = 1 - A^2                              f'' = -2 A f'
#   sigmoid:  f' = A (1 - A)                            f'' = f' (1 - 2A)
#   softplus: f' = sigmoid(Z) = 1 - e^-A = -expm1(-A)   f'' = f' (1 - f')
#             (e^A = 1 + e^Z; expm1 keeps it accurate where A is tiny)
ACTIVATIONS = {
    "tanh": (np.tanh, lambda A: 1.0 - A * A, lambda A, D1: -2.0 * A * D1),
    "sigmoid": (sigmoid, lambda A: A * (1.0 - A), lambda A, D1: D1 * (1.0 - 2.0 * A)),
    "softplus": (softplus, lambda A: -np.expm1(-A), lambda A, D1: D1 * (1.0 - D1)),
}


@dataclass(frozen=True)
class MLP(Model):
    """One hidden layer of ``n_hidden`` units with ``activation`` (tanh, sigmoid or softplus),
    softmax output over ``n_classes``, penalty ``l2`` on W1 and W2 (not on biases)."""

    n_features: int
    n_hidden: int
    n_classes: int
    activation: str = "tanh"
    l2: float = 0.0
    penalised = ("W1", "W2")
    reverse_needs = ("A1", "P")                                 # D1 = f'(Z1) from A1

    def __post_init__(self):
        super().__post_init__()
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; "
                             f"got {self.activation!r}")
        if isinstance(self.n_hidden, bool) or int(self.n_hidden) != self.n_hidden \
                or self.n_hidden < 1:
            raise ValueError(f"n_hidden must be an integer >= 1; got {self.n_hidden!r}")

    @property
    def shapes(self):
        d, H, K = self.n_features, self.n_hidden, self.n_classes
        return {"W1": (d, H), "b1": (H,), "W2": (H, K), "b2": (K,)}

    def init_params(self, rng):
        """Gaussian weights with variance 1/fan_in, zero biases, drawn from ``rng``."""
        rng = _checks.generator(rng)                             # a Generator or an int seed
        w = np.zeros(self.n_params)
        p = self.unpack(w)
        p["W1"][...] = rng.normal(0.0, 1.0 / np.sqrt(self.n_features), p["W1"].shape)
        p["W2"][...] = rng.normal(0.0, 1.0 / np.sqrt(self.n_hidden), p["W2"].shape)
        return w

    def targets(self, y):
        return one_hot(y, self.n_classes)                        # (n, K)

    def raw_scores(self, w, X):
        return self.forward(w, X)["Z2"]                          # (n, K)

    def sample_losses(self, acts, Y):
        return cross_entropy(acts["Z2"], Y)                      # (n,)

    def forward(self, w, X):
        p = self.unpack(w)
        Z1 = x_matmul(X, p["W1"]) + p["b1"]                      # (n, H)
        f, df, _ = ACTIVATIONS[self.activation]
        A1 = f(Z1)                                               # (n, H)
        Z2 = A1 @ p["W2"] + p["b2"]                              # (n, K)
        return {"A1": A1, "D1": df(A1), "Z2": Z2, "P": softmax(Z2)}

    def backward(self, w, X, Y, acts):
        p = self.unpack(w)
        dZ2 = (acts["P"] - Y) / X.shape[0]                       # (n, K)
        dZ1 = (dZ2 @ p["W2"].T) * acts["D1"]                     # (n, H)
        return self.pack({"W1": t_matmul(X, dZ1) + self.l2 * p["W1"],   # (d, H)
                          "b1": col_sum(dZ1),                 # (H,)
                          "W2": acts["A1"].T @ dZ2 + self.l2 * p["W2"],  # (H, K)
                          "b2": col_sum(dZ2)})                # (K,)

    def r_backward(self, w, X, Y, acts, v, rows):
        n = X.shape[0]
        p, q = self.unpack(w), self.unpack(v)
        A1, P = acts["A1"], acts["P"]
        _, df, d2f = ACTIVATIONS[self.activation]
        D1 = df(A1)                                              # f'(Z1) from A1, (n, H)
        D2 = d2f(A1, D1)                                         # f''(Z1), (n, H)
        # forward lines again, and their R-derivatives
        RZ1 = x_matmul(X, q["W1"]) + q["b1"]                     # (n, H)
        RA1 = D1 * RZ1                                           # (n, H)
        RZ2 = RA1 @ p["W2"] + A1 @ q["W2"] + q["b2"]             # (n, K)
        # backward lines, and their R-derivatives
        dZ2 = (P - Y) / n                                        # (n, K)
        RdZ2 = softmax_jvp(P, RZ2) / n                           # (n, K)
        dA1 = dZ2 @ p["W2"].T                                    # (n, H)
        RdA1 = RdZ2 @ p["W2"].T + dZ2 @ q["W2"].T                # (n, H)
        RdZ1 = RdA1 * D1 + dA1 * D2 * RZ1                        # (n, H)
        Hv = self.pack({"W1": t_matmul(X, RdZ1) + self.l2 * q["W1"],
                        "b1": col_sum(RdZ1),
                        "W2": RA1.T @ dZ2 + A1.T @ RdZ2 + self.l2 * q["W2"],
                        "b2": col_sum(RdZ2)})
        dZ1_r = dA1[rows] * D1[rows]                             # (r, H)
        dX_r = RdZ1[rows] @ p["W1"].T + dZ1_r @ q["W1"].T        # (r, d)
        return Hv, dX_r

"""A perceptron with any number of hidden layers, a smooth activation f and a softmax output.

Layers l = 1..L, with L - 1 hidden layers of widths H_1..H_{L-1} (``n_hidden``), A_0 = X (n, d):

    Z_l = A_{l-1} W_l + b_l     (n, H_l)      A_l = f(Z_l), D_l = f'(Z_l)   for l < L
    P = softmax(Z_L)            (n, K)        W_l: (H_{l-1}, H_l) with H_0 = d, H_L = K
    L = mean_i cross_entropy(Z_L,i, y_i) + (l2/2) sum_l ||W_l||^2

Backward, from dZ_L = (P - Y)/n and for l = L down to 1:

    gW_l = A_{l-1}^T dZ_l + l2 W_l      gb_l = sum_i dZ_l
    dA_{l-1} = dZ_l W_l^T               dZ_{l-1} = dA_{l-1} * D_{l-1}      (l > 1)
    grad_X L = dZ_1 W_1^T

R-pass along v = (V_1, c_1, ..., V_L, c_L): Pearlmutter's R{.} of every line above, with
DD_l = f''(Z_l), RA_0 = 0 (X does not depend on w) and products of two varying factors giving
two terms:

    RZ_l = RA_{l-1} W_l + A_{l-1} V_l + c_l        RA_l = D_l * RZ_l                 forward
    RdZ_L = P * (RZ_L - <P, RZ_L>)/n                                                  backward
    RgW_l = RA_{l-1}^T dZ_l + A_{l-1}^T RdZ_l + l2 V_l      Rgb_l = sum_i RdZ_l
    RdA_{l-1} = RdZ_l W_l^T + dZ_l V_l^T
    RdZ_{l-1} = RdA_{l-1} * D_{l-1} + dA_{l-1} * DD_{l-1} * RZ_{l-1}
    H_xw v = R{grad_X L} = RdZ_1 W_1^T + dZ_1 V_1^T     (n, d)

Worked example, one hidden layer (L = 2, ``MLP(d, H, K)``), forward, backward, R-pass:

    Z1 = X W1 + b1     A1 = f(Z1)     Z2 = A1 W2 + b2     P = softmax(Z2)
    dZ2 = (P - Y)/n    gW2 = A1^T dZ2 + l2 W2    dA1 = dZ2 W2^T    dZ1 = dA1 * D1
    gW1 = X^T dZ1 + l2 W1                        (grad_X L = dZ1 W1^T)
    RZ1 = X V1 + c1    RA1 = D1 * RZ1            RZ2 = RA1 W2 + A1 V2 + c2
    RdZ2 = P*(RZ2 - <P,RZ2>)/n                   RgW2 = RA1^T dZ2 + A1^T RdZ2 + l2 V2
    RdA1 = RdZ2 W2^T + dZ2 V2^T                  RdZ1 = RdA1 * D1 + dA1 * DD1 * RZ1
    RgW1 = X^T RdZ1 + l2 V1                      H_xw v = RdZ1 W1^T + dZ1 V1^T

X W and X^T G for the data matrix are computed by ``x_matmul`` and ``t_matmul`` (see ``functions``).
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


def check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")


def _tmul(l, A, G):
    """A_{l-1}^T G: ``t_matmul`` for the data matrix (l = 1), plain A.T @ G for hidden layers."""
    return t_matmul(A, G) if l == 1 else A.T @ G


@dataclass(frozen=True)
class MLP(Model):
    """Hidden layers of widths ``n_hidden`` (an int: one layer; a tuple such as (64, 32): one
    per entry) with ``activation`` (tanh, sigmoid or softplus), softmax output over
    ``n_classes``, penalty ``l2`` on every W_l (not on biases).

    ``unpack(w)`` gives W1, b1, ..., WL, bL with L = len(hidden) + 1: W_l of shape
    (H_{l-1}, H_l) (rows: inputs, columns: units; Z_l = A_{l-1} W_l + b_l), b_l of shape (H_l,).
    """

    n_features: int
    n_hidden: object
    n_classes: int
    activation: str = "tanh"
    l2: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        check_activation(self.activation)
        hidden = self.n_hidden
        if isinstance(hidden, (list, tuple)):
            hidden = tuple(hidden)
            object.__setattr__(self, "n_hidden", hidden)
        widths = hidden if isinstance(hidden, tuple) else (hidden,)
        if not widths or any(isinstance(h, bool) or not isinstance(h, (int, np.integer))
                             or h < 1 for h in widths):
            raise ValueError(f"n_hidden must be an integer >= 1 or a non-empty tuple of them; "
                             f"got {self.n_hidden!r}")

    @property
    def hidden(self):
        """Widths of the hidden layers, a tuple (H_1, ..., H_{L-1})."""
        return self.n_hidden if isinstance(self.n_hidden, tuple) else (self.n_hidden,)

    @property
    def n_layers(self):
        """L: hidden layers plus the output layer."""
        return len(self.hidden) + 1

    @property
    def shapes(self):
        sizes = (self.n_features,) + tuple(int(h) for h in self.hidden) + (self.n_classes,)
        out = {}
        for l in range(1, len(sizes)):
            out[f"W{l}"] = (sizes[l - 1], sizes[l])
            out[f"b{l}"] = (sizes[l],)
        return out

    @property
    def penalised(self):
        return tuple(f"W{l}" for l in range(1, self.n_layers + 1))

    @property
    def reverse_needs(self):
        """What ``r_backward`` reads: A_l of every hidden layer and P (not Z_L; D_l = f'(Z_l)
        it recomputes from A_l, which halves what a stored trajectory keeps)."""
        return tuple(f"A{l}" for l in range(1, self.n_layers)) + ("P",)

    def init_params(self, rng):
        """Gaussian weights with variance 1/fan_in, zero biases, drawn from ``rng``."""
        rng = _checks.generator(rng)                             # a Generator or an int seed
        w = np.zeros(self.n_params)
        p = self.unpack(w)
        for name in self.penalised:
            fan_in = p[name].shape[0]
            p[name][...] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), p[name].shape)
        return w

    def targets(self, y):
        return one_hot(y, self.n_classes)                        # (n, K)

    def raw_scores(self, w, X):
        return self.forward(w, X)[f"Z{self.n_layers}"]           # (n, K)

    def sample_losses(self, acts, Y):
        return cross_entropy(acts[f"Z{self.n_layers}"], Y)      # (n,)

    def forward(self, w, X):
        """acts: A_l, D_l for hidden layers l < L, then Z_L and P."""
        p, L = self.unpack(w), self.n_layers
        f, df, _ = ACTIVATIONS[self.activation]
        acts, A = {}, X                                          # A_0 = X, (n, d)
        for l in range(1, L):
            Z = x_matmul(A, p[f"W{l}"]) + p[f"b{l}"]             # Z_l, (n, H_l)
            A = f(Z)                                             # A_l, (n, H_l)
            acts[f"A{l}"], acts[f"D{l}"] = A, df(A)             # D_l = f'(Z_l) from A_l
        Z = A @ p[f"W{L}"] + p[f"b{L}"]                          # Z_L, (n, K)
        acts[f"Z{L}"], acts["P"] = Z, softmax(Z)
        return acts

    def _input(self, X, acts, l):
        """A_{l-1}: the data for l = 1, else the hidden activations."""
        return X if l == 1 else acts[f"A{l - 1}"]

    def backward(self, w, X, Y, acts):
        p, L = self.unpack(w), self.n_layers
        g = {}
        dZ = (acts["P"] - Y) / X.shape[0]                        # dZ_L, (n, K)
        for l in range(L, 0, -1):
            A = self._input(X, acts, l)                          # A_{l-1}, (n, H_{l-1})
            g[f"W{l}"] = _tmul(l, A, dZ) + self.l2 * p[f"W{l}"]  # (H_{l-1}, H_l)
            g[f"b{l}"] = col_sum(dZ)                             # (H_l,)
            if l > 1:
                dZ = (dZ @ p[f"W{l}"].T) * acts[f"D{l - 1}"]     # dZ_{l-1}, (n, H_{l-1})
        return self.pack(g)

    def r_backward(self, w, X, Y, acts, v, rows):
        n, L = X.shape[0], self.n_layers
        p, q = self.unpack(w), self.unpack(v)
        _, df, f2 = ACTIVATIONS[self.activation]
        D = {l: df(acts[f"A{l}"]) for l in range(1, L)}          # D_l = f'(Z_l) from A_l
        # forward lines again, and their R-derivatives (RA_0 = 0)
        RZ, RA = {}, {0: None}
        for l in range(1, L + 1):
            A = self._input(X, acts, l)                          # A_{l-1}
            R = x_matmul(A, q[f"W{l}"]) + q[f"b{l}"]             # A_{l-1} V_l + c_l
            if l > 1:
                R += RA[l - 1] @ p[f"W{l}"]                      # + RA_{l-1} W_l, (n, H_l)
            RZ[l] = R
            if l < L:
                RA[l] = D[l] * R                                 # RA_l = D_l * RZ_l
        # backward lines, and their R-derivatives
        Hv = {}
        dZ = (acts["P"] - Y) / n                                 # dZ_L, (n, K)
        RdZ = softmax_jvp(acts["P"], RZ[L]) / n                  # RdZ_L, (n, K)
        for l in range(L, 0, -1):
            A = self._input(X, acts, l)                          # A_{l-1}
            RgW = _tmul(l, A, RdZ) + self.l2 * q[f"W{l}"]        # A_{l-1}^T RdZ_l + l2 V_l
            if l > 1:
                RgW += RA[l - 1].T @ dZ                          # + RA_{l-1}^T dZ_l
            Hv[f"W{l}"], Hv[f"b{l}"] = RgW, col_sum(RdZ)
            if l > 1:
                dA = dZ @ p[f"W{l}"].T                           # dA_{l-1}
                RdA = RdZ @ p[f"W{l}"].T + dZ @ q[f"W{l}"].T     # RdA_{l-1}
                DD = f2(acts[f"A{l - 1}"], D[l - 1])             # f''(Z_{l-1})
                RdZ = RdA * D[l - 1] + dA * DD * RZ[l - 1]       # RdZ_{l-1}
                dZ = dA * D[l - 1]                               # dZ_{l-1}
        dX_r = RdZ[rows] @ p["W1"].T + dZ[rows] @ q["W1"].T      # (r, d): RdZ_1 W1^T + dZ_1 V1^T
        return self.pack(Hv), dX_r

"""A perceptron with any number of hidden layers, a smooth activation f and a softmax output.

J hidden layers (``n_hidden``, widths d_1..d_J; d_0 = d, d_{J+1} = K), layers l = 1..J+1,
F_0 = X (n, d):

    Z_l = F_{l-1} W_l + b_l     (n, d_l)      F_l = f(Z_l), D_l = f'(Z_l)    for l <= J
    P = softmax(Z_{J+1})        (n, K)        W_l: (d_{l-1}, d_l)
    L = mean_i cross_entropy(Z_{J+1,i}, y_i) + (l2/2) sum_l ||W_l||^2

Backward, from dZ_{J+1} = (P - Y)/n and for l = J+1 down to 1:

    gW_l = F_{l-1}^T dZ_l + l2 W_l      gb_l = sum_i dZ_l
    dF_{l-1} = dZ_l W_l^T               dZ_{l-1} = dF_{l-1} * D_{l-1}      (l > 1)
    grad_X L = dZ_1 W_1^T

R-pass along u = (U_1, c_1, ..., U_{J+1}, c_{J+1}): Pearlmutter's R{.} of every line above,
with D2_l = f''(Z_l), RF_0 = 0 (X does not depend on w) and products of two varying factors
giving two terms:

    RZ_l = RF_{l-1} W_l + F_{l-1} U_l + c_l        RF_l = D_l * RZ_l                 forward
    RdZ_{J+1} = P * (RZ_{J+1} - <P, RZ_{J+1}>)/n                                      backward
    RgW_l = RF_{l-1}^T dZ_l + F_{l-1}^T RdZ_l + l2 U_l      Rgb_l = sum_i RdZ_l
    RdF_{l-1} = RdZ_l W_l^T + dZ_l U_l^T
    RdZ_{l-1} = RdF_{l-1} * D_{l-1} + dF_{l-1} * D2_{l-1} * RZ_{l-1}
    H_xw u = R{grad_X L} = RdZ_1 W_1^T + dZ_1 U_1^T     (n, d)

Worked example, one hidden layer (J = 1, ``MLP(d, h, K)``), forward, backward, R-pass:

    Z1 = X W1 + b1     F1 = f(Z1)     Z2 = F1 W2 + b2     P = softmax(Z2)
    dZ2 = (P - Y)/n    gW2 = F1^T dZ2 + l2 W2    dF1 = dZ2 W2^T    dZ1 = dF1 * D1
    gW1 = X^T dZ1 + l2 W1                        (grad_X L = dZ1 W1^T)
    RZ1 = X U1 + c1    RF1 = D1 * RZ1            RZ2 = RF1 W2 + F1 U2 + c2
    RdZ2 = P*(RZ2 - <P,RZ2>)/n                   RgW2 = RF1^T dZ2 + F1^T RdZ2 + l2 U2
    RdF1 = RdZ2 W2^T + dZ2 U2^T                  RdZ1 = RdF1 * D1 + dF1 * D2_1 * RZ1
    RgW1 = X^T RdZ1 + l2 U1                      H_xw u = RdZ1 W1^T + dZ1 U1^T

``forward`` keeps F_l and log P; D_l and D2_l are recomputed from F_l (``ACTIVATIONS``).
"""
from dataclasses import dataclass

import numpy as np

from .. import checks
from .base import Model
from .linear import cross_entropy, log_softmax, one_hot, sigmoid, softmax_jvp, softplus

# name -> (f(Z), f'(Z) from F, f''(Z) from (F, D)), where F = f(Z) and D = f'(Z): both
# derivatives are functions of F, so forward keeps F alone and the backward passes recompute:
#   tanh:     f' = 1 - F^2                              f'' = -2 F f'
#   sigmoid:  f' = F (1 - F)                            f'' = f' (1 - 2F)
#   softplus: f' = sigmoid(Z) = 1 - e^-F = -expm1(-F)   f'' = f' (1 - f')
#             (e^F = 1 + e^Z; expm1 keeps it accurate where F is tiny)
ACTIVATIONS = {
    "tanh": (np.tanh, lambda F: 1.0 - F * F, lambda F, D: -2.0 * F * D),
    "sigmoid": (sigmoid, lambda F: F * (1.0 - F), lambda F, D: D * (1.0 - 2.0 * F)),
    "softplus": (softplus, lambda F: -np.expm1(-F), lambda F, D: D * (1.0 - D)),
}


def check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")


@dataclass(frozen=True)
class MLP(Model):
    """Hidden layers of widths ``n_hidden`` (an int: one layer; a tuple such as (64, 32): one
    per entry) with ``activation`` (tanh, sigmoid or softplus), softmax output over
    ``n_classes``, penalty ``l2`` on every W_l (not on biases).

    ``unpack(w)`` gives W1, b1, ..., W{J+1}, b{J+1}: W_l of shape (d_{l-1}, d_l) (rows: inputs,
    columns: units; Z_l = F_{l-1} W_l + b_l), b_l of shape (d_l,).
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
        """Widths of the hidden layers, a tuple (d_1, ..., d_J)."""
        return self.n_hidden if isinstance(self.n_hidden, tuple) else (self.n_hidden,)

    @property
    def n_layers(self):
        """J + 1: hidden layers plus the output layer."""
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

    def init_params(self, rng):
        """Gaussian weights with variance 1/fan_in, zero biases, drawn from ``rng`` (a
        Generator or an int seed)."""
        rng = checks.generator(rng)
        w = np.zeros(self.n_params)
        p = self.unpack(w)
        for name in self.penalised:
            fan_in = p[name].shape[0]
            p[name][...] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), p[name].shape)
        return w

    def targets(self, y):
        return one_hot(y, self.n_classes)                        # (n, K)

    def raw_scores(self, w, X):
        return self.forward(w, X)["logP"]                        # logits, shifted per row

    def sample_losses(self, acts, Y):
        return cross_entropy(acts["logP"], Y)                    # (n,)

    def forward(self, w, X):
        """acts: F_l of the hidden layers l <= J ("F1", ...), then log P (``linear``)."""
        p, out = self.unpack(w), self.n_layers
        f = ACTIVATIONS[self.activation][0]
        acts, F = {}, X                                          # F_0 = X, (n, d)
        for l in range(1, out):
            F = acts[f"F{l}"] = f(F @ p[f"W{l}"] + p[f"b{l}"])   # F_l = f(Z_l), (n, d_l)
        Z = F @ p[f"W{out}"] + p[f"b{out}"]                      # Z_{J+1}, (n, K)
        return {**acts, "logP": log_softmax(Z)}

    def backward(self, w, X, Y, acts):
        p, out = self.unpack(w), self.n_layers
        df = ACTIVATIONS[self.activation][1]
        F = [X] + [acts[f"F{l}"] for l in range(1, out)]         # F_0 .. F_J
        g = {}
        dZ = (np.exp(acts["logP"]) - Y) / X.shape[0]             # dZ_{J+1} = (P - Y)/n
        for l in range(out, 0, -1):
            g[f"W{l}"] = F[l - 1].T @ dZ + self.l2 * p[f"W{l}"]  # (d_{l-1}, d_l)
            g[f"b{l}"] = dZ.sum(0)                               # (d_l,)
            if l > 1:
                dZ = (dZ @ p[f"W{l}"].T) * df(F[l - 1])          # dZ_{l-1} = dF_{l-1} * D_{l-1}
        return self.pack(g)

    def r_backward(self, w, X, Y, acts, u, rows):
        n, out = X.shape[0], self.n_layers
        p, q = self.unpack(w), self.unpack(u)
        _, df, d2f = ACTIVATIONS[self.activation]
        F = [X] + [acts[f"F{l}"] for l in range(1, out)]         # F_0 .. F_J
        D = [None] + [df(F[l]) for l in range(1, out)]           # D_l = f'(Z_l) from F_l
        # forward lines again, along u (RF_0 = 0)
        RZ, RF = [None], [None]
        for l in range(1, out + 1):
            R = F[l - 1] @ q[f"W{l}"] + q[f"b{l}"]               # F_{l-1} U_l + c_l
            if l > 1:
                R += RF[l - 1] @ p[f"W{l}"]                      # + RF_{l-1} W_l, (n, d_l)
            RZ.append(R)
            RF.append(D[l] * R if l < out else None)             # RF_l = D_l * RZ_l
        # backward lines, and their R-derivatives
        Hu = {}
        P = np.exp(acts["logP"])                                 # (n, K)
        dZ = (P - Y) / n                                         # dZ_{J+1}, (n, K)
        RdZ = softmax_jvp(P, RZ[out]) / n                        # RdZ_{J+1}, (n, K)
        for l in range(out, 0, -1):
            RgW = F[l - 1].T @ RdZ + self.l2 * q[f"W{l}"]        # F_{l-1}^T RdZ_l + l2 U_l
            if l > 1:
                RgW += RF[l - 1].T @ dZ                          # + RF_{l-1}^T dZ_l
            Hu[f"W{l}"], Hu[f"b{l}"] = RgW, RdZ.sum(0)
            if l > 1:
                dF = dZ @ p[f"W{l}"].T                           # dF_{l-1}
                RdF = RdZ @ p[f"W{l}"].T + dZ @ q[f"W{l}"].T     # RdF_{l-1}
                D2 = d2f(F[l - 1], D[l - 1])                     # f''(Z_{l-1})
                RdZ = RdF * D[l - 1] + dF * D2 * RZ[l - 1]       # RdZ_{l-1}
                dZ = dF * D[l - 1]                               # dZ_{l-1}
        dX_r = RdZ[rows] @ p["W1"].T + dZ[rows] @ q["W1"].T      # (r, d): RdZ_1 W1^T + dZ_1 U1^T
        return self.pack(Hu), dX_r

"""Binary logistic regression: cross-entropy of a sigmoid, written with the stable softplus.

    z = x^T W + b,    s = sigmoid(z),    ell(z, y) = softplus(z) - y z   (= -log p(y | x))
    ell'(z, y) = s - y,                  ell''(z, y)[rz] = s (1 - s) rz
"""
from dataclasses import dataclass

from .functions import sigmoid, softplus
from .linear import LinearModel


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
        return {"Z": Z, "S": sigmoid(Z)}                 # S: p(y = 1 | x), (n, 1)

    def sample_losses(self, acts, Y):
        Z = acts["Z"]
        return (softplus(Z) - Y * Z)[:, 0]               # (n,)

    def dloss(self, acts, Y):
        return acts["S"] - Y                             # (n, 1)

    def d2loss(self, acts, RZ):
        S = acts["S"]
        return S * (1.0 - S) * RZ                        # (n, 1)

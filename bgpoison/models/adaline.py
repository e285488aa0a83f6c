"""ADALINE: a linear unit trained with the squared loss on targets t = -1/+1.

    z = x^T W + b,    t = 2y - 1,    ell(z, t) = (z - t)^2 / 2
    ell'(z, t) = z - t,               ell''(z, t)[rz] = rz

Labels are 0/1; ``predict`` returns 1 where z > 0.
"""
from dataclasses import dataclass

from .linear import LinearModel


@dataclass(frozen=True)
class Adaline(LinearModel):
    """ADALINE (squared loss on -1/+1 targets), ``n_features`` inputs, penalty ``l2``."""

    n_features: int
    l2: float = 0.0
    n_outputs = 1
    n_classes = 2

    def targets(self, y):
        return (2.0 * y - 1.0)[:, None]                 # (n, 1) in {-1, +1}

    def link(self, Z):
        return {"Z": Z}

    def sample_losses(self, acts, Y):
        return 0.5 * (acts["Z"] - Y)[:, 0] ** 2          # (n,)

    def dloss(self, acts, Y):
        return acts["Z"] - Y                             # (n, 1)

    def d2loss(self, acts, RZ):
        return RZ                                        # (n, 1)

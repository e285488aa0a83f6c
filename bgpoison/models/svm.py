"""Linear SVM: the squared hinge loss on targets t = -1/+1 (an L2-SVM trained in the primal).

    z = x^T W + b,    t = 2y - 1,    ell(z, t) = max(0, 1 - t z)^2 / 2
    ell'(z, t) = -t max(0, 1 - t z),  ell''(z, t)[rz] = [t z < 1] rz     (t^2 = 1)

The squared hinge (not the plain hinge) keeps ell' continuous, so gradient descent and the
reverse pass see a well-defined gradient everywhere. ell'' is a step: 1 on the rows inside the
margin (t z < 1), 0 outside. Away from the kink t z = 1 the gradient is piecewise linear in w,
so H_ww v is exact there; at the kink ell'' is the one-sided value [t z < 1] = 0.

Unlike ADALINE and logistic regression, ell'' depends on the label (which side of the hinge is
flat). The shared R-pass in ``linear`` hands ``d2loss`` the activations only, so ``r_backward``
below adds the targets to them: the only line this model adds to the linear models' code.
Labels are 0/1; ``predict`` returns 1 where z > 0.
"""
from dataclasses import dataclass

import numpy as np

from .linear import LinearModel


@dataclass(frozen=True)
class LinearSVM(LinearModel):
    """Linear SVM (squared hinge on -1/+1 targets), ``n_features`` inputs, penalty ``l2``."""

    n_features: int
    l2: float = 0.0
    n_outputs = 1
    n_classes = 2
    reverse_needs = ("Z",)

    def targets(self, y):
        return (2.0 * y - 1.0)[:, None]                 # (n, 1) in {-1, +1}

    def link(self, Z):
        return {"Z": Z}

    def sample_losses(self, acts, Y):
        return 0.5 * np.maximum(0.0, 1.0 - Y * acts["Z"])[:, 0] ** 2     # (n,)

    def dloss(self, acts, Y):
        return -Y * np.maximum(0.0, 1.0 - Y * acts["Z"])                  # (n, 1)

    def d2loss(self, acts, RZ):
        inside = acts["Y"] * acts["Z"] < 1.0             # (n, 1) rows on the hinge's slope
        return np.where(inside, RZ, 0.0)                 # (n, 1)

    def r_backward(self, w, X, Y, acts, v, rows, grad=False):
        # ell'' needs the targets (see the module docstring): pass them along with Z
        return super().r_backward(w, X, Y, {**acts, "Y": Y}, v, rows, grad)

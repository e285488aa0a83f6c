"""Multiclass softmax regression: cross-entropy of a softmax over K logits.

    z = W^T x + b (K,),   p = softmax(z),   ell(z, y) = logsumexp(z) - z_y   (= -log p_y)
    ell'(z, y) = p - onehot(y),             ell''(z, y)[rz] = p * (rz - <p, rz>)

The three helpers below are reused by the MLP, whose output layer is the same softmax.
"""
from dataclasses import dataclass

import numpy as np

from .functions import log_softmax, row_sum, softmax, softmax_jvp
from .linear import LinearModel


def one_hot(y, n_classes):
    """(n,) integer labels -> (n, K) float one-hot rows."""
    Y = np.zeros((y.shape[0], n_classes))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


def cross_entropy(Z, Y):
    """-sum_k T_k log softmax(Z)_k per row, (n,); the sum over k is ``row_sum`` (a BLAS
    matrix-vector product, see ``functions``)."""
    return -row_sum(Y * log_softmax(Z))[:, 0]


@dataclass(frozen=True)
class SoftmaxRegression(LinearModel):
    """Softmax regression with ``n_classes`` classes, ``n_features`` inputs, penalty ``l2``."""

    n_features: int
    n_classes: int
    l2: float = 0.0
    reverse_needs = ("P",)

    @property
    def n_outputs(self):
        return self.n_classes

    def targets(self, y):
        return one_hot(y, self.n_classes)                # (n, K)

    def link(self, Z):
        return {"Z": Z, "P": softmax(Z)}                 # P: class probabilities, (n, K)

    def sample_losses(self, acts, Y):
        return cross_entropy(acts["Z"], Y)               # (n,)

    def dloss(self, acts, Y):
        return acts["P"] - Y                             # (n, K)

    def d2loss(self, acts, RZ):
        return softmax_jvp(acts["P"], RZ)                # (n, K)

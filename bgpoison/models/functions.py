"""Numerically stable elementwise functions used by the models (finite for inputs up to +-1e3)."""
import numpy as np


def softplus(z):
    """log(1 + e^z), computed as logaddexp(0, z) so that it never overflows."""
    return np.logaddexp(0.0, z)


def sigmoid(z):
    """1 / (1 + e^-z) = exp(-softplus(-z)): no overflow for large |z|."""
    return np.exp(-softplus(-z))


def log_softmax(Z):
    """Z - logsumexp(Z) row by row, shifting by the row maximum first.  (n, K) -> (n, K)"""
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def softmax(Z):
    """exp(log_softmax(Z)): rows are probabilities summing to one.  (n, K) -> (n, K)"""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def softmax_jvp(P, RZ):
    """Directional derivative of softmax at probabilities P along RZ: P * (RZ - <P, RZ>).

    This is (diag(p) - p p^T) rz row by row, the Hessian of logsumexp applied to rz.  (n, K)
    """
    return P * (RZ - np.sum(P * RZ, axis=1, keepdims=True))

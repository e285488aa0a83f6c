"""Reference formulas, written independently of the library, that the tests compare it with.

The textbook losses below use plain NumPy and the formulas as printed (no log-sum-exp shift, no
shared code with ``bgpoison.models``), so they are for moderate logits and tiny sizes only:

    squared loss (ADALINE)   (z - t)^2 / 2,  t = 2y - 1
    logistic                 -y log s(z) - (1 - y) log(1 - s(z)),  s = 1 / (1 + e^-z)
    softmax                  -log( e^{z_y} / sum_k e^{z_k} )
    squared hinge (SVM)      max(0, 1 - t z)^2 / 2,  t = 2y - 1
    MLP                      softmax of the layer-by-layer forward pass
    CNN                      softmax of a loop-by-loop convolution and pooling

each averaged over the rows, plus (l2/2) times the squared weights (never the biases).

``attacker_value`` is the attacker's objective A(X_c) = A(train(D_tr u D_c)) as the paper
defines it, from public functions only: the function whose finite differences the reverse pass
is checked against.
"""
import dataclasses

import numpy as np

import bgpoison as bg


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": sigmoid, "softplus": lambda z: np.log1p(np.exp(z))}


def softmax_cross_entropy(Z, y):
    """-mean_i log p_{i, y_i} with P = exp(Z) / sum exp(Z), row by row."""
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    return -np.mean(np.log(P[np.arange(len(y)), y]))


def _linear_loss(model, w, X, y):
    p = model.unpack(w)
    Z = X @ p["W"] + p["b"]                                       # (n, k)
    t = 2 * y - 1                                                 # -1/+1 targets
    if isinstance(model, bg.Adaline):
        data = np.mean(0.5 * (Z[:, 0] - t) ** 2)
    elif isinstance(model, bg.LinearSVM):
        data = np.mean(0.5 * np.clip(1 - t * Z[:, 0], 0, None) ** 2)
    elif isinstance(model, bg.LogisticRegression):
        s = sigmoid(Z[:, 0])
        data = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    else:
        data = softmax_cross_entropy(Z, y)
    return data + 0.5 * model.l2 * np.sum(p["W"] ** 2)


def _mlp_loss(model, w, X, y):
    f, p, A = ACTIVATIONS[model.activation], model.unpack(w), X
    for l in range(1, model.n_layers):
        A = f(A @ p[f"W{l}"] + p[f"b{l}"])
    Z = A @ p[f"W{model.n_layers}"] + p[f"b{model.n_layers}"]
    pen = sum(np.sum(p[f"W{l}"] ** 2) for l in range(1, model.n_layers + 1))
    return softmax_cross_entropy(Z, y) + 0.5 * model.l2 * pen


def _cnn_loss(model, w, X, y):
    """Explicit loops over images, filters, pixels and pooling blocks."""
    f, p, k, q = ACTIVATIONS[model.activation], model.unpack(w), model.kernel, model.pool
    Z = []
    for x in X:
        S = x.reshape(model.image_shape)[None]                    # (C, h, w), channels first
        for l in range(1, model.n_layers):
            W, b = p[f"W{l}"], p[f"b{l}"]                          # (C_in, k, k, C_out)
            oh, ow = S.shape[1] - k + 1, S.shape[2] - k + 1
            A = np.empty((W.shape[3], oh, ow))
            for j in range(W.shape[3]):
                for r in range(oh):
                    for s in range(ow):
                        A[j, r, s] = f(np.sum(S[:, r:r + k, s:s + k] * W[..., j]) + b[j])
            ph, pw = oh // q, ow // q
            S = np.array([[[A[j, r * q:(r + 1) * q, s * q:(s + 1) * q].mean()
                            for s in range(pw)] for r in range(ph)] for j in range(len(A))])
        F = S.transpose(1, 2, 0).ravel()                           # (row, column, channel)
        Z.append(F @ p[f"W{model.n_layers}"] + p[f"b{model.n_layers}"])
    pen = sum(np.sum(p[f"W{l}"] ** 2) for l in range(1, model.n_layers + 1))
    return softmax_cross_entropy(np.array(Z), y) + 0.5 * model.l2 * pen


def textbook_loss(model, w, X, y):
    """L(w; X, y) of any model, from the formulas in this module's docstring."""
    if isinstance(model, bg.CNN):
        return _cnn_loss(model, w, X, y)
    if isinstance(model, bg.MLP):
        return _mlp_loss(model, w, X, y)
    return _linear_loss(model, w, X, y)


def float_training(model, gd, w0, X, y):
    """w_T of ordinary (float64) training: ``gd.run``."""
    return gd.run(model, w0, X, y)


def exact_training(model, gd, w0, X, y):
    """w_T of the fixed-point momentum run that reversal="exact" differentiates."""
    from bgpoison.exact import Exact
    return Exact(model, gd, X, model.targets(y)).forward(w0)


def attacker_value(problem, train=float_training):
    """A(X_c) for a ``Poisoning`` problem: train on D_tr u D_c from w_0, then the attacker's
    objective at w_T: the unpenalised validation loss (error-generic) or its negative
    (error-specific, on the attacker's target labels)."""
    model, gd, w0, X_tr, y_tr, _, y_c, objective = problem
    bare = dataclasses.replace(model, l2=0.0)
    sign = -1.0 if isinstance(objective, bg.ErrorSpecific) else 1.0

    def A(X_c):
        w_T = train(model, gd, w0, np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c]))
        return sign * bare.loss(w_T, objective.X_val, objective.labels)
    return A

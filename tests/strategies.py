"""Shared hypothesis strategies: small, bounded, well-conditioned problems.

Data come from a seeded ``numpy.random.Generator`` (hypothesis draws the seed and the sizes), so
every example is reproducible and inputs stay O(1): X ~ N(0, 1), w ~ N(0, 0.6^2).
"""
import numpy as np
from hypothesis import strategies as st

import bgpoison as bg

MODEL_NAMES = ("adaline", "logistic", "softmax", "mlp")


def make_model(name, d, K, H, l2, activation="tanh"):
    if name == "adaline":
        return bg.Adaline(d, l2=l2)
    if name == "logistic":
        return bg.LogisticRegression(d, l2=l2)
    if name == "softmax":
        return bg.SoftmaxRegression(d, K, l2=l2)
    return bg.MLP(d, H, K, activation=activation, l2=l2)


@st.composite
def problems(draw, names=MODEL_NAMES):
    """(model, w, X, y, rng): one model at random weights on random data."""
    name = draw(st.sampled_from(names))
    n = draw(st.integers(2, 8))
    d = draw(st.integers(1, 5))
    K = draw(st.integers(2, 4))
    H = draw(st.integers(1, 4))
    l2 = draw(st.sampled_from([0.0, 0.01, 0.3, 1.0]))
    activation = draw(st.sampled_from(["tanh", "sigmoid", "softplus"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    model = make_model(name, d, K, H, l2, activation)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, model.n_classes, n)
    w = 0.6 * rng.standard_normal(model.n_params)
    return model, w, X, y, rng


@st.composite
def poisoning_problems(draw, names=MODEL_NAMES, n_steps=(2, 8)):
    """A small poisoning set-up: model, gd, w0, (X_tr, y_tr), (X_c, y_c), objective, rng.

    The learning rate is kept small enough (lr <= 0.3 on O(1) data) that training is stable.
    """
    name = draw(st.sampled_from(names))
    n, m, d = draw(st.integers(3, 10)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    K, H = draw(st.integers(2, 3)), draw(st.integers(1, 3))
    l2 = draw(st.sampled_from([0.0, 0.1]))
    lr = draw(st.sampled_from([0.05, 0.1, 0.3]))
    T = draw(st.integers(*n_steps))
    specific = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    model = make_model(name, d, K, H, l2)
    X_tr, X_c, X_val = (rng.standard_normal((k, d)) for k in (n, m, 6))
    y_tr, y_c, y_val = (rng.integers(0, model.n_classes, k) for k in (n, m, 6))
    objective = bg.ErrorSpecific(X_val, y_val) if specific else bg.ErrorGeneric(X_val, y_val)
    w0 = 0.5 * rng.standard_normal(model.n_params)
    gd = bg.GradientDescent(lr, T)
    return model, gd, w0, (X_tr, y_tr), (X_c, y_c), objective, rng


@st.composite
def deep_problems(draw, max_layers=3):
    """(model, w, X, y, rng): an MLP of 1..max_layers hidden layers at random weights."""
    depth = draw(st.integers(1, max_layers))
    hidden = tuple(draw(st.integers(1, 4)) for _ in range(depth))
    n, d, K = draw(st.integers(2, 6)), draw(st.integers(1, 4)), draw(st.integers(2, 4))
    l2 = draw(st.sampled_from([0.0, 0.01, 0.3]))
    activation = draw(st.sampled_from(["tanh", "sigmoid", "softplus"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    model = bg.MLP(d, hidden, K, activation=activation, l2=l2)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, K, n)
    w = 0.8 * rng.standard_normal(model.n_params)
    return model, w, X, y, rng


@st.composite
def minibatch_problems(draw, names=MODEL_NAMES + ("deep",), n_steps=(2, 6), lrs=(0.05, 0.2)):
    """Like ``poisoning_problems``, trained by mini-batch gradient descent: (model, gd, w0,
    (X_tr, y_tr), (X_c, y_c), objective, rng), with 1 <= batch_size <= n + m.

    A batch of one row has curvature up to ~||x||^2 (not averaged down), so the fixed-point
    reversal (it needs lr * L < 1) asks for ``lrs=(0.05,)``."""
    name = draw(st.sampled_from(names))
    n, m, d = draw(st.integers(3, 8)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    K = draw(st.integers(2, 3))
    batch_size = draw(st.integers(1, n + m))
    seed = draw(st.integers(0, 2 ** 16))
    lr = draw(st.sampled_from(lrs))
    T = draw(st.integers(*n_steps))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    model = bg.MLP(d, (3, 2), K, l2=0.1) if name == "deep" else make_model(name, d, K, 2, 0.1)
    X_tr, X_c, X_val = (rng.standard_normal((k, d)) for k in (n, m, 6))
    y_tr, y_c, y_val = (rng.integers(0, model.n_classes, k) for k in (n, m, 6))
    objective = bg.ErrorGeneric(X_val, y_val)
    w0 = 0.5 * rng.standard_normal(model.n_params)
    gd = bg.GradientDescent(lr, T, batch_size=batch_size, seed=seed)
    return model, gd, w0, (X_tr, y_tr), (X_c, y_c), objective, rng


@st.composite
def cnn_problems(draw):
    """(model, w, X, y, rng): a CNN of 1 or 2 blocks on random small images; the image size
    is built from the last pooled map outwards, so that each pool divides its map."""
    blocks = draw(st.integers(1, 2))
    channels = tuple(draw(st.integers(1, 3)) for _ in range(blocks))
    kernel, pool = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3))     # the last pooled map
    for _ in range(blocks):                       # input = pooled size * pool + kernel - 1
        h, w = h * pool + kernel - 1, w * pool + kernel - 1
    n, K = draw(st.integers(1, 4)), draw(st.integers(2, 3))
    l2 = draw(st.sampled_from([0.0, 0.01, 0.3]))
    activation = draw(st.sampled_from(["tanh", "sigmoid", "softplus"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    model = bg.CNN(h * w, (h, w), K, channels=channels, kernel=kernel, pool=pool,
                   activation=activation, l2=l2)
    X = rng.standard_normal((n, h * w))
    y = rng.integers(0, K, n)
    w = 1.5 * model.init_params(rng) + 0.1 * rng.standard_normal(model.n_params)
    return model, w, X, y, rng


@st.composite
def regions(draw):
    """(region, X, y, X0, lb, ub): a constraint region with centres inside the box [lb, ub],
    and points X (m, d) anywhere in a cube 3 times the box's size around it."""
    from bgpoison import constraints
    kind = draw(st.sampled_from(["ball", "slab", "distance-2", "distance-inf"]))
    m, d, K = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    lb = -rng.random(d)                                          # (d,) boxes around 0
    ub = lb + 0.1 + rng.random(d)
    y = rng.integers(0, K, m)
    centres = lb + rng.random((K, d)) * (ub - lb)                # (K, d) inside the box
    radii = draw(st.sampled_from([1e-3, 0.1, 0.5, 2.0])) * (0.5 + rng.random(K))
    X0 = lb + rng.random((m, d)) * (ub - lb)                     # starting clones in the box
    X = lb - (ub - lb) + 3 * rng.random((m, d)) * (ub - lb)      # anywhere, in or out
    if kind == "ball":
        region = constraints.ClassBall(centres, radii)
    elif kind == "slab":
        u = rng.standard_normal((K, d))
        region = constraints.ClassSlab(centres, u / np.linalg.norm(u, axis=1, keepdims=True),
                                       radii)
    else:
        region = constraints.Distance(float(radii[0]), 2 if kind == "distance-2" else np.inf)
    return region, X, y, X0, lb, ub

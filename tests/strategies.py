"""Shared hypothesis strategies and builders of small problems: bounded, well-conditioned.

Data come from a seeded ``numpy.random.Generator`` (hypothesis draws the seed and the sizes), so
every example is reproducible and inputs stay O(1): X ~ N(0, 1), w ~ N(0, s^2) with s <= 0.8
(the CNN: its fan-in scaled initialisation, times 1.5, plus a little noise).

    problems(families)       (model, w, X, y, rng): one model of a family at random weights
    poisoning(...)           a ``Poisoning`` set-up from explicit sizes and a Generator
    poisoning_problems(...)  a random ``Poisoning`` set-up, and its rng
    minibatch_problems(...)  the same, trained by mini-batch gradient descent
    regions()                a constraint region of the defences, with points in and out
"""
from typing import NamedTuple

import numpy as np
from hypothesis import assume, strategies as st

import bgpoison as bg

# Every model family of the package. The property tests run one test per property over all of
# them (parametrised by family, so that each family gets the profile's whole example budget).
FAMILIES = ("adaline", "logistic", "softmax", "svm", "mlp", "cnn")
LINEAR = ("adaline", "logistic", "softmax", "svm")
MODEL_NAMES = ("adaline", "logistic", "softmax", "mlp")     # cheap to train: for whole runs

# The SVM's squared hinge has a kink at t z = 1, where ell'' jumps from 1 to 0. Central
# differences perturb w and X by EPS = 1e-6 along unit directions, which moves each margin t z by
# at most ~1e-6 (||x|| + ||W|| + 1) <~ 1e-5 here. Rows closer than KINK to the kink could
# straddle it, where a difference quotient of ell' is not the one-sided ell'' the model returns:
# such examples are discarded (``assume``), not tolerated with a looser tolerance.
KINK = 1e-2


def away_from_kink(model, w, X, y):
    """True unless ``model`` is a LinearSVM with a row within KINK of its hinge's kink."""
    if not isinstance(model, bg.LinearSVM):
        return True
    margins = (2 * y - 1) * model.scores(w, X)                  # t z, (n,)
    return bool(np.min(np.abs(1.0 - margins), initial=np.inf) > KINK)


def make_model(name, d, K, H, l2, activation="tanh"):
    """A linear model or a one-layer MLP (``H`` hidden units) on ``d`` features."""
    if name == "adaline":
        return bg.Adaline(d, l2=l2)
    if name == "logistic":
        return bg.LogisticRegression(d, l2=l2)
    if name == "svm":
        return bg.LinearSVM(d, l2=l2)
    if name == "softmax":
        return bg.SoftmaxRegression(d, K, l2=l2)
    return bg.MLP(d, H, K, activation=activation, l2=l2)


activations = st.sampled_from(["tanh", "sigmoid", "softplus"])
seeds = st.integers(0, 2 ** 32 - 1)


@st.composite
def problems(draw, families=FAMILIES):
    """(model, w, X, y, rng): a model of one of ``families`` at random weights on random data.

    Linear models: n in 2..8 rows, d in 1..5 features, K in 2..4 classes. MLP: 1 to 3 hidden
    layers of 1..4 units. CNN: 1 or 2 blocks on images whose size is built from the last pooled
    map outwards, so that each pool divides its map. SVM examples stay KINK away from the kink.
    """
    family = draw(st.sampled_from(families))
    l2 = draw(st.sampled_from([0.0, 0.01, 0.3, 1.0]))
    activation = draw(activations)
    rng = np.random.default_rng(draw(seeds))
    if family == "cnn":
        blocks = draw(st.integers(1, 2))
        channels = tuple(draw(st.integers(1, 3)) for _ in range(blocks))
        kernel, pool = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3))     # the last pooled map
        for _ in range(blocks):                   # input = pooled size * pool + kernel - 1
            h, w = h * pool + kernel - 1, w * pool + kernel - 1
        n, K = draw(st.integers(1, 4)), draw(st.integers(2, 3))
        model = bg.CNN(h * w, (h, w), K, channels=channels, kernel=kernel, pool=pool,
                       activation=activation, l2=l2)
        X = rng.standard_normal((n, h * w))
        y = rng.integers(0, K, n)
        w = 1.5 * model.init_params(rng) + 0.1 * rng.standard_normal(model.n_params)
        return model, w, X, y, rng
    n, d, K = draw(st.integers(2, 8)), draw(st.integers(1, 5)), draw(st.integers(2, 4))
    if family == "mlp":
        hidden = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3))))
        model, scale = bg.MLP(d, hidden, K, activation=activation, l2=l2), 0.8
    else:
        model, scale = make_model(family, d, K, 0, l2), 0.6
    X = rng.standard_normal((n, d))
    y = rng.integers(0, model.n_classes, n)
    w = scale * rng.standard_normal(model.n_params)
    assume(away_from_kink(model, w, X, y))
    return model, w, X, y, rng


class Poisoning(NamedTuple):
    """A poisoning set-up in ``back_gradient``'s argument order: ``bg.back_gradient(*p)``."""

    model: object
    gd: object
    w0: np.ndarray
    X_tr: np.ndarray
    y_tr: np.ndarray
    X_c: np.ndarray
    y_c: np.ndarray
    objective: object

    @property
    def train(self):
        return self.X_tr, self.y_tr

    @property
    def poison(self):
        return self.X_c, self.y_c


def poisoning(model, gd, rng, n=12, m=2, n_val=8, w0=0.3, specific=False):
    """n training rows, m poisoning points, n_val validation rows, drawn from ``rng`` in that
    order (each X ~ N(0, 1), then its labels), then w_0: ``w0`` times N(0, 1) if a number,
    ``model.init_params(rng)`` if "init", or the array given. Error-generic objective unless
    ``specific`` (then the validation labels are the attacker's targets)."""
    d, K = model.n_features, model.n_classes
    (X_tr, y_tr), (X_c, y_c), (X_val, y_val) = (
        (rng.standard_normal((k, d)), rng.integers(0, K, k)) for k in (n, m, n_val))
    if isinstance(w0, str):
        w0 = model.init_params(rng)
    elif np.ndim(w0) == 0:
        w0 = w0 * rng.standard_normal(model.n_params)
    objective = (bg.ErrorSpecific if specific else bg.ErrorGeneric)(X_val, y_val)
    return Poisoning(model, gd, np.asarray(w0, dtype=float), X_tr, y_tr, X_c, y_c, objective)


def softmax_poisoning(lr, T, seed=0, momentum=0.0):
    """Softmax regression on 60 rows of 8 features, 3 classes, 4 poisoning points: the fixed
    problem of the reversal-accuracy tests."""
    return poisoning(bg.SoftmaxRegression(8, 3, l2=0.01), bg.GradientDescent(lr, T, momentum),
                     np.random.default_rng(seed), n=60, m=4, n_val=30, w0=0.1)


@st.composite
def poisoning_problems(draw, names=MODEL_NAMES, n_steps=(2, 8)):
    """(Poisoning, rng): a small random set-up; lr <= 0.3 on O(1) data keeps training stable."""
    name = draw(st.sampled_from(names))
    n, m, d = draw(st.integers(3, 10)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    K, H = draw(st.integers(2, 3)), draw(st.integers(1, 3))
    l2 = draw(st.sampled_from([0.0, 0.1]))
    gd = bg.GradientDescent(draw(st.sampled_from([0.05, 0.1, 0.3])), draw(st.integers(*n_steps)))
    specific = draw(st.booleans())
    rng = np.random.default_rng(draw(seeds))
    model = make_model(name, d, K, H, l2)
    return poisoning(model, gd, rng, n, m, 6, w0=0.5, specific=specific), rng


@st.composite
def minibatch_problems(draw, names=MODEL_NAMES + ("deep",), n_steps=(2, 6), lrs=(0.05, 0.2)):
    """Like ``poisoning_problems``, trained by mini-batch gradient descent with
    1 <= batch_size <= n + m.

    A batch of one row has curvature up to ~||x||^2 (not averaged down), so the fixed-point
    reversal (it needs lr * L < 1) asks for ``lrs=(0.05,)``."""
    name = draw(st.sampled_from(names))
    n, m, d = draw(st.integers(3, 8)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    K = draw(st.integers(2, 3))
    batch_size = draw(st.integers(1, n + m))
    seed = draw(st.integers(0, 2 ** 16))
    gd = bg.GradientDescent(draw(st.sampled_from(lrs)), draw(st.integers(*n_steps)),
                            batch_size=batch_size, seed=seed)
    rng = np.random.default_rng(draw(seeds))
    model = bg.MLP(d, (3, 2), K, l2=0.1) if name == "deep" else make_model(name, d, K, 2, 0.1)
    return poisoning(model, gd, rng, n, m, 6, w0=0.5), rng


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

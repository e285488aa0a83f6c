"""The CNN: every derivative against finite differences over random shapes, the forward pass
against a loop-by-loop textbook convolution, the adjoints, planted mistakes and bad inputs."""
import numpy as np
import pytest
from hypothesis import given, settings

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.models import cnn as cnn_module
from strategies import cnn_problems
from test_back_gradient import attacker_value


def _textbook_loss(model, w, X, y):
    """The forward pass with explicit loops over pixels, filters and blocks (tiny sizes only)."""
    f = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
         "softplus": lambda z: np.log1p(np.exp(z))}[model.activation]
    p, k, q = model.unpack(w), model.kernel, model.pool
    losses = []
    for x, label in zip(X, y):
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
        L = model.n_layers
        z = F @ p[f"W{L}"] + p[f"b{L}"]
        losses.append(np.log(np.sum(np.exp(z))) - z[label])
    pen = sum(np.sum(p[f"W{l}"] ** 2) for l in range(1, model.n_layers + 1))
    return np.mean(losses) + 0.5 * model.l2 * pen


@settings(max_examples=15)
@given(cnn_problems())
def test_cnn_loss_matches_a_loop_by_loop_convolution(problem):
    model, w, X, y, _ = problem
    assert model.loss(w, X, y) == pytest.approx(_textbook_loss(model, w, X, y), rel=1e-12)


def test_im2col_and_pool_adjoints():
    # <im2col(S), G> = <S, col2im(G)> and <pool(F), G> = <F, pool_T(G)>: the identities the
    # backward pass relies on, exact up to summation order
    rng = np.random.default_rng(0)
    S = rng.standard_normal((2, 7, 6, 3))
    G = rng.standard_normal((2 * 5 * 4, 3 * 3 * 3))
    assert np.sum(cnn_module.im2col(S, 3) * G) == pytest.approx(
        np.sum(S * cnn_module.col2im(G, S.shape, 3)), rel=1e-13)
    F, H = rng.standard_normal((2, 6, 4, 3)), rng.standard_normal((2, 3, 2, 3))
    assert np.sum(cnn_module.pool(F, 2) * H) == pytest.approx(
        np.sum(F * cnn_module.pool_T(H, 2)), rel=1e-13)


def _small_cnn_check(rng):
    model = bg.CNN(100, (10, 10), 3, channels=(2, 2), kernel=3, pool=2, l2=0.1)
    X, y = rng.standard_normal((3, 100)), rng.integers(0, 3, 3)
    w = 1.5 * model.init_params(rng)
    return gradcheck.check_model(model, w, X, y, rng=rng)


_col2im, _pool_T = cnn_module.col2im, cnn_module.pool_T


def _shifted_col2im(G, shape, k):                     # planted: windows put back one pixel off
    return np.roll(_col2im(G, shape, k), 1, axis=2)


def _unscaled_pool_T(G, p):                           # planted: forgets the 1/p^2
    return _pool_T(G, p) * (p * p)


@pytest.mark.parametrize("name, planted", [("col2im", _shifted_col2im),
                                           ("pool_T", _unscaled_pool_T)])
def test_planted_wrong_adjoint_is_caught(name, planted, monkeypatch):
    assert _small_cnn_check(np.random.default_rng(0)) < 1.0
    monkeypatch.setattr(cnn_module, name, planted)
    with pytest.raises(AssertionError, match="CNN"):
        _small_cnn_check(np.random.default_rng(0))


def test_planted_wrong_second_derivative_is_caught(monkeypatch):
    f, df, _ = cnn_module.ACTIVATIONS["tanh"]
    monkeypatch.setitem(cnn_module.ACTIVATIONS, "tanh", (f, df, lambda F, D: -F * D))
    with pytest.raises(AssertionError, match="CNN.hvp"):
        _small_cnn_check(np.random.default_rng(0))


def test_weight_layout_of_a_filter():
    # one filter that picks the pixel one row down and two columns right of the window corner
    model = bg.CNN(20, (4, 5), 2, channels=(1,), kernel=3, pool=1, activation="softplus")
    w = np.zeros(model.n_params)
    p = model.unpack(w)
    assert p["W1"].shape == (1, 3, 3, 1) and p["W2"].shape == (2 * 3 * 1, 2)
    p["W1"][0, 1, 2, 0] = 1.0
    X = np.arange(20.0)[None] / 10
    F = model.forward(w, X)["F1"][0, :, :, 0]            # softplus of the picked pixels
    np.testing.assert_allclose(F, np.logaddexp(0, X.reshape(4, 5)[1:3, 2:5]), rtol=1e-15)


@pytest.mark.parametrize("kwargs, message", [
    ({"image_shape": (3, 3), "kernel": 4}, r"kernel=4 is larger than the image \(3 x 3\)"),
    ({"image_shape": (3, 4)}, r"image_shape \(3, 4\) has 12 pixels but n_features = 9"),
    ({"image_shape": (3, 3), "kernel": 2, "pool": 3}, r"pool=3 is larger than the convolution"),
    ({"image_shape": (3, 3), "kernel": 2, "channels": ()}, r"channels must be a non-empty"),
    ({"image_shape": (3, 3), "kernel": 0}, r"kernel must be an integer >= 1"),
    ({"image_shape": (9,)}, r"image_shape must be \(height, width\)"),
    ({"image_shape": (3, 3), "kernel": 2, "pool": 1, "channels": (1, 1, 1)},
     r"kernel=2 is larger than the input of block 3 \(1 x 1\)"),
    ({"n_features": 64, "image_shape": (8, 8), "kernel": 3, "pool": 4},   # 6 x 6: 2 rows lost
     r"pool=4 does not divide the 6 x 6 convolution output of block 1"),
])
def test_bad_cnn_settings_get_one_clear_error(kwargs, message):
    kwargs = {"n_features": 9, "n_classes": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        bg.CNN(**kwargs)


@pytest.mark.parametrize("batch_size", [None, 3])
def test_cnn_hypergradient_matches_finite_differences_of_training(batch_size):
    rng = np.random.default_rng(5)
    model = bg.CNN(25, (5, 5), 3, channels=(2,), kernel=2, pool=2, l2=0.05)
    X_tr, y_tr = rng.standard_normal((8, 25)), rng.integers(0, 3, 8)
    X_c, y_c = rng.standard_normal((2, 25)), rng.integers(0, 3, 2)
    objective = bg.ErrorGeneric(rng.standard_normal((6, 25)), rng.integers(0, 3, 6))
    gd = bg.GradientDescent(0.3, 6, batch_size=batch_size, seed=2)
    w0 = model.init_params(rng)
    A = attacker_value(model, gd, w0, (X_tr, y_tr), y_c, objective)
    for reversal in ("stored", "checkpoint"):
        r = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal=reversal)
        gradcheck.check_gradient(A, lambda _: r.dX_c, X_c, rng=rng, name=reversal, arg="X_c")


def test_the_attack_runs_on_a_cnn_and_raises_its_objective():
    rng = np.random.default_rng(0)
    model = bg.CNN(36, (6, 6), 2, channels=(2,), kernel=3, pool=2, l2=0.01)
    X_tr, y_tr = rng.uniform(0, 1, (20, 36)), rng.integers(0, 2, 20)
    objective = bg.ErrorGeneric(rng.uniform(0, 1, (10, 36)), rng.integers(0, 2, 10))
    attack = bg.PoisoningAttack(model, bg.GradientDescent(0.5, 10), objective, 2, lb=0, ub=1,
                                max_hypergradients=3)
    result = attack.run(X_tr, y_tr, rng=0)
    assert result.history[-1] > result.history[0]
    assert np.all((result.X_c >= 0) & (result.X_c <= 1))


def test_kkt_gradient_refuses_the_cnn():
    with pytest.raises(ValueError, match="needs a convex model.*the CNN is not convex"):
        bg.KKTGradient().check(bg.CNN(16, (4, 4), 2, kernel=3, pool=1, l2=0.1))

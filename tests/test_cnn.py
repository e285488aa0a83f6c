"""The CNN's own tests: the adjoints, planted mistakes, the weight layout, bad settings and
whole runs. (Its derivatives against finite differences and its loss against a loop-by-loop
convolution, ``reference.textbook_loss``, are test_models.py's property tests over every model.)"""
import numpy as np
import pytest

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.models import cnn as cnn_module
from reference import attacker_value
from strategies import poisoning


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
    p = poisoning(bg.CNN(25, (5, 5), 3, channels=(2,), kernel=2, pool=2, l2=0.05),
                  bg.GradientDescent(0.3, 6, batch_size=batch_size, seed=2), rng,
                  n=8, m=2, n_val=6, w0="init")
    A = attacker_value(p)
    for reversal in ("stored", "checkpoint"):
        r = bg.back_gradient(*p, reversal=reversal)
        gradcheck.check_gradient(A, lambda _: r.dX_c, p.X_c, rng=rng, name=reversal, arg="X_c")


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

"""The checker catches planted mistakes: a sign flip or a missing term in one product."""
import numpy as np
import pytest

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.models import linear, mlp


def _data(model, seed=0, n=6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, model.n_features))
    y = rng.integers(0, model.n_classes, n)
    return 0.6 * rng.standard_normal(model.n_params), X, y, rng


def test_checker_passes_a_correct_gradient_and_fails_a_slightly_wrong_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(7)
    assert gradcheck.check_gradient(lambda x: np.sum(np.sin(x)), np.cos, x, rng=rng) < 1
    with pytest.raises(AssertionError, match=r"sin_sum: derivative with respect to x"):
        gradcheck.check_gradient(lambda x: np.sum(np.sin(x)), lambda x: np.cos(x) + 1e-4, x,
                                 rng=rng, name="sin_sum")


def test_coordinate_mode_finds_an_error_in_one_coordinate():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(5)

    def grad(x):
        g = 2 * x
        g[3] += 1e-3
        return g
    with pytest.raises(AssertionError, match=r"coordinate \(3,\)"):
        gradcheck.check_gradient(lambda x: np.sum(x ** 2), grad, x, rng=rng, n_directions=0)


def test_failure_message_names_function_argument_and_both_numbers():
    rng = np.random.default_rng(2)
    with pytest.raises(AssertionError) as info:
        gradcheck.check_gradient(lambda x: 3.0 * x.sum(), lambda x: np.full_like(x, 2.0),
                                 np.zeros(1), rng=rng, name="myfun", arg="theta",
                                 n_directions=0)
    msg = str(info.value)
    assert "myfun" in msg and "theta" in msg
    assert "claimed 2" in msg and "finite difference 3" in msg


class SignFlippedHxw(bg.LogisticRegression):
    def r_backward(self, w, X, Y, acts, v, rows):
        Hv, dX = super().r_backward(w, X, Y, acts, v, rows)
        return Hv, -dX


class MissingSoftmaxTerm(bg.SoftmaxRegression):
    def d2loss(self, acts, Y, RZ):
        return acts["P"] * RZ                 # drops the -<P, RZ> part of the softmax Jacobian


class MissingPenaltyInGradient(bg.Adaline):
    def backward(self, w, X, Y, acts):
        g = super().backward(w, X, Y, acts)
        return g - self.l2 * self.pack({"W": self.unpack(w)["W"], "b": np.zeros(1)})


@pytest.mark.parametrize("model, product", [
    (SignFlippedHxw(3, l2=0.1), "hvp_xw"),
    (MissingSoftmaxTerm(3, 4, l2=0.1), "hvp_ww"),
    (MissingPenaltyInGradient(3, l2=0.5), "grad_w"),
])
def test_planted_mistake_is_caught(model, product):
    w, X, y, rng = _data(model)
    with pytest.raises(AssertionError, match=product):
        gradcheck.check_model(model, w, X, y, rng=rng)


def test_missing_curvature_term_in_mlp_is_caught(monkeypatch):
    # drop f''(Z1): the term dF1 * D2_1 * RZ1 of the MLP's R-pass vanishes
    f, df, _ = mlp.ACTIVATIONS["tanh"]
    monkeypatch.setitem(mlp.ACTIVATIONS, "tanh", (f, df, lambda F, D: np.zeros_like(F)))
    model = bg.MLP(3, 4, 3)
    w, X, y, rng = _data(model)
    with pytest.raises(AssertionError, match="hvp_ww"):
        gradcheck.check_model(model, w, X, y, rng=rng)


def test_wrong_softmax_jacobian_sign_is_caught(monkeypatch):
    right = linear.softmax_jvp
    monkeypatch.setattr(linear, "softmax_jvp", lambda P, RZ: -right(P, RZ))
    model = bg.SoftmaxRegression(3, 3)
    w, X, y, rng = _data(model)
    with pytest.raises(AssertionError, match="hvp_ww"):
        gradcheck.check_model(model, w, X, y, rng=rng)


def test_shape_mismatch_is_reported():
    with pytest.raises(AssertionError, match="shape"):
        gradcheck.check_gradient(lambda x: x.sum(), lambda x: np.ones(3), np.zeros(4),
                                 rng=np.random.default_rng(0))

"""The checker catches planted mistakes: a sign flip or a missing term in one product, one
planted wrong model per family, each caught by the checker at one point and among the examples
of test_models.py's property test over its family."""
import numpy as np
import pytest
from hypothesis import Phase, find, settings

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.models import linear, mlp
from strategies import away_from_kink, problems


def _data(model, seed=0, n=6):
    """(w, X, y, rng) at random: w ~ N(0, 0.6^2), X ~ N(0, 1), as the strategies draw them."""
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
        return np.exp(acts["logP"]) * RZ      # drops the -<P, RZ> part of the softmax Jacobian


class MissingPenaltyInGradient(bg.Adaline):
    def backward(self, w, X, Y, acts):
        g = super().backward(w, X, Y, acts)
        return g - self.l2 * self.pack({"W": self.unpack(w)["W"], "b": np.zeros(1)})


class CurvatureOutsideTheMargin(bg.LinearSVM):
    def d2loss(self, acts, Y, RZ):
        return RZ                             # ell'' = 1 on every row, not 0 outside the margin


class HxwWithoutTheFirstLayersDirection(bg.MLP):
    def r_backward(self, w, X, Y, acts, u, rows):
        Hu, _ = super().r_backward(w, X, Y, acts, u, rows)
        u = u.copy()
        self.unpack(u)["W1"][...] = 0.0       # H_xw u as if U_1 = 0: drops dZ_1 U_1^T and more
        return Hu, super().r_backward(w, X, Y, acts, u, rows)[1]


class NoPenaltyCurvature(bg.CNN):
    def r_backward(self, w, X, Y, acts, u, rows):
        Hu, dX = super().r_backward(w, X, Y, acts, u, rows)
        U = self.unpack(u)
        return Hu - self.l2 * self.pack({k: U[k] * (k in self.penalised) for k in U}), dX


# one planted wrong model per family: (the family's name in the strategies, the class it
# replaces, the planted class, a model of it, the product it gets wrong)
PLANTED = [
    ("adaline", "Adaline", MissingPenaltyInGradient, MissingPenaltyInGradient(3, l2=0.5),
     "grad_w"),
    ("logistic", "LogisticRegression", SignFlippedHxw, SignFlippedHxw(3, l2=0.1), "hvp_xw"),
    ("softmax", "SoftmaxRegression", MissingSoftmaxTerm, MissingSoftmaxTerm(3, 4, l2=0.1),
     "hvp_ww"),
    ("svm", "LinearSVM", CurvatureOutsideTheMargin, CurvatureOutsideTheMargin(3, l2=0.1),
     "hvp_ww"),
    ("mlp", "MLP", HxwWithoutTheFirstLayersDirection,
     HxwWithoutTheFirstLayersDirection(3, (4, 3), 3, l2=0.1), "hvp_xw"),
    ("cnn", "CNN", NoPenaltyCurvature,
     NoPenaltyCurvature(36, (6, 6), 2, channels=(2,), kernel=3, pool=2, l2=0.3), "hvp_ww"),
]
PLANTED_IDS = [family for family, *_ in PLANTED]


@pytest.mark.parametrize("family, name, planted, model, product", PLANTED, ids=PLANTED_IDS)
def test_planted_mistake_is_caught(family, name, planted, model, product):
    w, X, y, rng = _data(model, n=12)
    assert away_from_kink(model, w, X, y)     # the SVM's planted term shows away from the kink
    with pytest.raises(AssertionError, match=product):
        gradcheck.check_model(model, w, X, y, rng=rng)


@pytest.mark.parametrize("family, name, planted, model, product", PLANTED, ids=PLANTED_IDS)
def test_planted_mistake_fails_the_property_test_over_its_family(family, name, planted, model,
                                                                 product, monkeypatch):
    # the strategies build models as bg.<name>(...): with the planted class in its place, among
    # the examples test_models.test_every_derivative_matches_finite_differences draws for this
    # family (same strategy, same budget, same call of check_model) one must fail, naming the
    # product. hypothesis.find stops at the first such example (no shrinking: it only has to
    # exist), which keeps this test at a tenth of the time of running the property test itself
    monkeypatch.setattr(bg, name, planted)

    def caught(problem):
        model, w, X, y, rng = problem
        try:
            gradcheck.check_model(model, w, X, y, rng=rng)
        except AssertionError as error:
            return f"{planted.__name__}.{product}" in str(error)
        return False
    budget = settings(max_examples=settings.get_profile("bgpoison").max_examples,
                      derandomize=True, database=None, phases=[Phase.generate])
    find(problems((family,)), caught, settings=budget)      # raises NoSuchExample if none


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

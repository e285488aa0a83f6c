"""Every model: its derivatives against finite differences, its Hessian's symmetry, the rows
of H_xw a reverse pass asks for, and its loss against an independent textbook formula (one test
per property, over every family in ``strategies.FAMILIES``); then what is model-specific."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, strategies as st

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.models import linear as F
from reference import sigmoid, textbook_loss
from strategies import FAMILIES, make_model, problems

# one test per property over every model: parametrised by family (rather than one draw over
# all of them) so that each family, the CNN included, gets the profile's whole example budget
EVERY_MODEL = pytest.mark.parametrize("family", FAMILIES)


@EVERY_MODEL
@given(data=st.data())
def test_every_derivative_matches_finite_differences(family, data):
    # grad_w, hvp_ww and hvp_xw against central differences at the checker's own tolerances
    # (rtol 1e-6 over a float64 error of ~1e-10; see bgpoison.gradcheck)
    model, w, X, y, rng = data.draw(problems((family,)))
    assert gradcheck.check_model(model, w, X, y, rng=rng) < 1.0


@EVERY_MODEL
@given(data=st.data())
def test_hessian_is_symmetric(family, data):
    # <u, H v> = <v, H u>: a check independent of finite differences
    model, w, X, y, rng = data.draw(problems((family,)))
    u, v = rng.standard_normal((2, model.n_params))
    a, b = u @ model.hvp_ww(w, X, y, v), v @ model.hvp_ww(w, X, y, u)
    assert a == pytest.approx(b, rel=1e-10, abs=1e-12)  # same sums in another order


@EVERY_MODEL
@given(data=st.data())
def test_r_backward_rows_are_rows_of_hvp_xw(family, data):
    # the reverse pass asks for the poisoning rows only; they must equal those rows of the full
    # product (same floating-point operations, so equality up to summation order)
    model, w, X, y, rng = data.draw(problems((family,)))
    v = rng.standard_normal(model.n_params)
    full = model.hvp_xw(w, X, y, v)
    Y = model.targets(y)
    _, last = model.r_backward(w, X, Y, model.forward(w, X), v, slice(1, None))
    np.testing.assert_allclose(last, full[1:], rtol=1e-12, atol=1e-15)


@EVERY_MODEL
@given(data=st.data())
def test_loss_matches_textbook_formula(family, data):
    # reference.textbook_loss: the printed formulas (a loop-by-loop convolution for the CNN);
    # both sides round a few dozen times at ~1e-16 relative
    model, w, X, y, _ = data.draw(problems((family,)))
    assert model.loss(w, X, y) == pytest.approx(textbook_loss(model, w, X, y), rel=1e-12)


def test_logistic_equals_two_class_softmax_with_one_column_pinned():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((9, 3)), rng.integers(0, 2, 9)
    lr, sm = bg.LogisticRegression(3), bg.SoftmaxRegression(3, 2)
    w = rng.standard_normal(lr.n_params)
    ws = np.zeros(sm.n_params)
    sm.unpack(ws)["W"][:, 1] = lr.unpack(w)["W"][:, 0]
    sm.unpack(ws)["b"][1] = lr.unpack(w)["b"][0]
    assert lr.loss(w, X, y) == pytest.approx(sm.loss(ws, X, y), rel=1e-13)
    np.testing.assert_array_equal(lr.predict(w, X), sm.predict(ws, X))


@pytest.mark.parametrize("name", ["adaline", "logistic", "softmax", "svm", "mlp"])
def test_outputs_stay_finite_for_logits_of_1e3(name):
    model = make_model(name, 2, 3, 2, 0.1)
    X = np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.5]])
    y = np.array([0, 1, 1])
    w = 500.0 * np.ones(model.n_params)           # logits of order +-1e3
    v = np.ones(model.n_params)
    for out in (model.loss(w, X, y), model.grad_w(w, X, y), model.hvp_ww(w, X, y, v),
                model.hvp_xw(w, X, y, v), model.scores(w, X)):
        assert np.all(np.isfinite(out))


def test_logistic_loss_is_exact_for_huge_logits():
    # softplus(1000) - 0 = 1000 exactly in float64; a naive log(1 + exp(z)) gives inf
    model = bg.LogisticRegression(1)
    w = np.array([1000.0, 0.0])
    assert model.loss(w, np.array([[1.0]]), np.array([0])) == 1000.0
    assert model.loss(w, np.array([[1.0]]), np.array([1])) == 0.0


@given(problems())
def test_predict_agrees_with_scores(problem):
    model, w, X, _, _ = problem
    s = model.scores(w, X)
    expected = (s > 0).astype(int) if s.ndim == 1 else s.argmax(axis=1)
    np.testing.assert_array_equal(model.predict(w, X), expected)
    binary = (bg.Adaline, bg.LogisticRegression, bg.LinearSVM)     # one decision value a row
    assert s.shape == ((X.shape[0],) if isinstance(model, binary)
                       else (X.shape[0], model.n_classes))


@pytest.mark.parametrize("name", ["adaline", "logistic", "softmax", "svm", "mlp"])
def test_unpack_gives_views_and_pack_inverts_it(name):
    model = make_model(name, 3, 4, 2, 0.0)
    w = np.arange(model.n_params, dtype=float)
    views = model.unpack(w)
    assert sum(v.size for v in views.values()) == model.n_params
    np.testing.assert_array_equal(model.pack(views), w)
    first = next(iter(views))
    views[first][...] = -1.0                      # a view: writing it writes w
    assert np.all(w[:views[first].size] == -1.0)


def test_penalty_leaves_biases_alone():
    model = bg.MLP(2, 3, 2, l2=2.0)
    w = np.zeros(model.n_params)
    model.unpack(w)["b1"][...] = 5.0
    model.unpack(w)["b2"][...] = 5.0
    assert model.penalty(w) == 0.0
    model.unpack(w)["W2"][0, 0] = 3.0
    assert model.penalty(w) == pytest.approx(0.5 * 2.0 * 9.0)


def test_mlp_init_is_seeded_and_breaks_symmetry():
    model = bg.MLP(4, 5, 3)
    a = model.init_params(np.random.default_rng(7))
    b = model.init_params(np.random.default_rng(7))
    c = model.init_params(np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(np.unique(model.unpack(a)["W1"][0])) == 5


def test_models_are_immutable_and_picklable():
    import pickle
    model = bg.MLP(3, 4, 2, l2=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.l2 = 1.0
    assert pickle.loads(pickle.dumps(model)) == model


@given(st.integers(1, 30), st.integers(2, 12), st.integers(0, 2 ** 32 - 1),
       st.sampled_from([1.0, 30.0, 700.0]))
def test_stable_softmax_and_its_jvp_equal_the_textbook_forms(n, K, seed, scale):
    rng = np.random.default_rng(seed)
    Z, RZ = scale * rng.standard_normal((n, K)), rng.standard_normal((n, K))
    P = F.softmax(Z)
    # textbook: exp(log_softmax(Z)); both round a few times at ~1e-16 relative
    np.testing.assert_allclose(P, np.exp(F.log_softmax(Z)), rtol=1e-13, atol=1e-300)
    # textbook: (diag(p) - p p^T) rz row by row; P * (RZ - <P, RZ>) cancels the same terms
    textbook = np.stack([(np.diag(p) - np.outer(p, p)) @ r for p, r in zip(P, RZ)])
    np.testing.assert_allclose(F.softmax_jvp(P, RZ), textbook, rtol=0,
                               atol=1e-15 * np.max(np.abs(RZ)))


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus"])
def test_activation_derivatives_from_the_activation_match_their_textbook_forms(name):
    # the backward passes recompute f'(Z) from F = f(Z); softplus: sigmoid(Z) = -expm1(-F)
    from bgpoison.models.mlp import ACTIVATIONS
    Z = np.linspace(-40.0, 40.0, 801)
    f, df, _ = ACTIVATIONS[name]
    textbook = {"tanh": 1.0 - np.tanh(Z) ** 2, "sigmoid": sigmoid(Z) * (1.0 - sigmoid(Z)),
                "softplus": sigmoid(Z)}[name]
    np.testing.assert_allclose(df(f(Z)), textbook, rtol=1e-12, atol=1e-15)

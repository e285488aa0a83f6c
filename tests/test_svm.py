"""LinearSVM: derivatives against finite differences away from the hinge's kink, the loss
against the textbook formula, and H_ww v exact (ell'' is a step, the gradient piecewise linear).
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import bgpoison as bg
from bgpoison import gradcheck

# Central differences perturb w and X by EPS = 1e-6 along unit directions, which moves each
# margin t z by at most ~1e-6 (||x|| + ||W|| + 1) <~ 1e-5 here. Rows closer than KINK to the
# kink t z = 1 could straddle it, where ell'' jumps and a difference quotient of ell' is not
# the one-sided ell'' the model returns: such examples are discarded, not tolerated.
KINK = 1e-2


@st.composite
def svm_problems(draw):
    n, d = draw(st.integers(2, 8)), draw(st.integers(1, 5))
    l2 = draw(st.sampled_from([0.0, 0.01, 0.3, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    model = bg.LinearSVM(d, l2=l2)
    X, y = rng.standard_normal((n, d)), rng.integers(0, 2, n)
    w = 0.6 * rng.standard_normal(model.n_params)
    margins = (2 * y - 1) * model.scores(w, X)                # t z, (n,)
    assume(np.min(np.abs(1.0 - margins)) > KINK)
    return model, w, X, y, rng


@given(svm_problems())
def test_svm_derivatives_match_finite_differences_away_from_the_kink(problem):
    model, w, X, y, rng = problem
    assert gradcheck.check_model(model, w, X, y, rng=rng) < 1.0


@given(svm_problems())
def test_svm_loss_matches_the_textbook_squared_hinge(problem):
    model, w, X, y, _ = problem
    p = model.unpack(w)
    z = (X @ p["W"] + p["b"])[:, 0]
    t = 2 * y - 1
    penalty = 0.5 * model.l2 * np.sum(p["W"] ** 2)
    textbook = np.mean(0.5 * np.clip(1 - t * z, 0, None) ** 2) + penalty
    assert model.loss(w, X, y) == pytest.approx(textbook, rel=1e-12)


@given(svm_problems())
def test_svm_hessian_product_is_exact_for_a_finite_step_that_crosses_no_kink(problem):
    # grad_w L is piecewise linear in w: grad(w + a v) - grad(w) = a H v exactly while no margin
    # crosses 1. |a| ||(x, 1)|| ||v|| < KINK keeps every margin on its side; what remains is the
    # round-off of two gradients of O(1) terms, ~1e-16 / a relative: rtol 1e-8 at a = 1e-5
    model, w, X, y, rng = problem
    v = rng.standard_normal(model.n_params)
    v /= np.linalg.norm(v)
    a = 1e-5
    difference = (model.grad_w(w + a * v, X, y) - model.grad_w(w, X, y)) / a
    np.testing.assert_allclose(model.hvp_ww(w, X, y, v), difference, rtol=1e-8, atol=1e-9)


def test_svm_second_derivative_is_zero_outside_the_margin_and_one_inside():
    model = bg.LinearSVM(1)
    w = np.array([1.0, 0.0])                               # z = x
    X, y = np.array([[3.0], [0.5], [-3.0], [-0.5]]), np.array([1, 1, 1, 0])
    # t z = 3 (outside), 0.5 (inside), -3 (inside: wrong side), 0.5 (inside)
    H = np.array([model.hvp_ww(w, X, y, e) for e in np.eye(2)])
    inside = np.array([0.5, -3.0, -0.5])
    expected = np.array([[np.sum(inside ** 2), np.sum(inside)], [np.sum(inside), 3.0]]) / 4
    np.testing.assert_allclose(H, expected, rtol=1e-15)


def test_svm_trains_to_separate_separable_data():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 0.5, (20, 2)), rng.normal(2, 0.5, (20, 2))])
    y = np.repeat([0, 1], 20)
    model = bg.LinearSVM(2, l2=0.01)
    w = bg.GradientDescent(0.5, 200).run(model, model.init_params(rng), X, y)
    np.testing.assert_array_equal(model.predict(w, X), y)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_svm_hypergradient_matches_finite_differences_of_the_training_run(seed):
    # the reverse pass reads ell'' through svm.r_backward: check dA/dX_c end to end, on runs
    # whose margins (training rows at every step, validation rows at the end) all stay KINK
    # away from 1, where finite differences of a C^1 loss are as accurate as for a smooth one
    rng = np.random.default_rng(seed)
    model, gd = bg.LinearSVM(3, l2=0.1), bg.GradientDescent(0.2, 5)
    X_tr, X_c, X_val = (rng.standard_normal((k, 3)) for k in (8, 2, 6))
    y_tr, y_c, y_val = (rng.integers(0, 2, k) for k in (8, 2, 6))
    w0 = 0.5 * rng.standard_normal(model.n_params)
    X, y = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
    for T in range(5):
        w = bg.GradientDescent(0.2, T).run(model, w0, X, y) if T else w0
        assert np.min(np.abs(1 - (2 * y - 1) * model.scores(w, X))) > KINK, "pick another seed"
    w_T = gd.run(model, w0, X, y)
    assert np.min(np.abs(1 - (2 * y_val - 1) * model.scores(w_T, X_val))) > KINK
    objective = bg.ErrorGeneric(X_val, y_val)
    result = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
    bare = bg.LinearSVM(3)                                   # A: the unpenalised loss

    def A(X_c_):
        return bare.loss(gd.run(model, w0, np.vstack([X_tr, X_c_]), y), X_val, y_val)
    assert result.value == pytest.approx(A(X_c), rel=1e-12)
    gradcheck.check_gradient(A, lambda _: result.dX_c, X_c, rng=rng, name="svm", arg="X_c")

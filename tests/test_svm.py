"""LinearSVM's own tests: H_ww v exact for a finite step (ell'' is a step, the gradient
piecewise linear), ell'' zero outside the margin, training, and the hypergradient end to end.
(Its derivatives against finite differences away from the hinge's kink, and its loss against the
textbook squared hinge, are test_models.py's property tests over every model.)"""
import numpy as np
import pytest
from hypothesis import given

import bgpoison as bg
from bgpoison import gradcheck
from reference import attacker_value
from strategies import KINK, away_from_kink, poisoning, problems


@given(problems(("svm",)))
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
    p = poisoning(bg.LinearSVM(3, l2=0.1), bg.GradientDescent(0.2, 5), rng, n=8, m=2, n_val=6,
                  w0=0.5)
    model, gd = p.model, p.gd
    X, y = np.vstack([p.X_tr, p.X_c]), np.concatenate([p.y_tr, p.y_c])
    for T in range(5):
        w = bg.GradientDescent(0.2, T).run(model, p.w0, X, y) if T else p.w0
        assert away_from_kink(model, w, X, y), "pick another seed"
    assert away_from_kink(model, gd.run(model, p.w0, X, y), p.objective.X_val,
                          p.objective.labels), "pick another seed"
    result = bg.back_gradient(*p)
    A = attacker_value(p)                                    # A: the unpenalised loss
    assert result.value == pytest.approx(A(p.X_c), rel=1e-12)
    gradcheck.check_gradient(A, lambda _: result.dX_c, p.X_c, rng=rng, name="svm", arg="X_c")

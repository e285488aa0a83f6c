"""Gradient descent: the update written out, convergence, and divergence reported by step."""
import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, strategies as st

import bgpoison as bg
from strategies import problems


@given(problems(), st.sampled_from([0.0, 0.5, 0.9]), st.integers(1, 6))
def test_run_is_the_written_out_update(problem, gamma, T):
    model, w0, X, y, _ = problem
    gd = bg.GradientDescent(0.1, T, momentum=gamma)
    w, v = w0.copy(), np.zeros_like(w0)
    for _ in range(T):
        v = gamma * v - (1 - gamma) * model.grad_w(w, X, y)
        w = w + 0.1 * v
    np.testing.assert_allclose(gd.run(model, w0, X, y), w, rtol=1e-13, atol=1e-15)


def test_long_training_reaches_the_optimum_found_by_scipy():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 3, 40)
    model = bg.SoftmaxRegression(3, 3, l2=0.5)
    w0 = np.zeros(model.n_params)
    w = bg.GradientDescent(0.5, 2000).run(model, w0, X, y)
    best = scipy.optimize.minimize(model.loss, w0, args=(X, y), jac=model.grad_w,
                                   method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 0})
    np.testing.assert_allclose(w, best.x, atol=1e-6)   # both stop within ~1e-7 of the optimum


def test_callback_sees_every_step():
    model = bg.Adaline(2)
    X, y = np.eye(2), np.array([0, 1])
    seen = []
    w_T = bg.GradientDescent(0.1, 4).run(model, np.zeros(3), X, y,
                                         callback=lambda t, w: seen.append((t, w.copy())))
    assert [t for t, _ in seen] == [1, 2, 3, 4]
    np.testing.assert_array_equal(seen[-1][1], w_T)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_divergence_names_the_step_and_suggests_a_smaller_lr():
    model = bg.Adaline(2)
    X, y = np.array([[30.0, 0.0], [0.0, 30.0]]), np.array([0, 1])
    with pytest.raises(bg.DivergenceError, match=r"step \d+ of 500.*smaller learning rate"):
        bg.GradientDescent(10.0, 500).run(model, np.zeros(3), X, y)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0.1, "n_steps": 0}, "n_steps must be an integer >= 1"),
    ({"lr": 0.1, "n_steps": 2.5}, "n_steps must be an integer >= 1"),
    ({"lr": 0.0, "n_steps": 3}, "lr must be a finite number > 0"),
    ({"lr": -1.0, "n_steps": 3}, "lr must be a finite number > 0"),
    ({"lr": float("nan"), "n_steps": 3}, "lr must be a finite number > 0"),
    ({"lr": 0.1, "n_steps": 3, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
])
def test_impossible_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bg.GradientDescent(**kwargs)

"""Exact (fixed-point) reversal of momentum training: bit-for-bit round trips, hypergradients,
memory bound, bad input. See ``bgpoison.exact``."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bgpoison as bg
from bgpoison import GradientDescent, back_gradient, gradcheck
from bgpoison.exact import (MAX_VALUE, Exact, InformationBuffer, as_fraction,
                            buffer_bits_per_step, divide, multiply, to_fixed, to_float)
from bgpoison.back_gradient import REVERSALS
from reference import attacker_value, exact_training
from strategies import poisoning, problems

small = settings(max_examples=25, deadline=None)
gammas = st.one_of(st.sampled_from([0.5, 0.9, 0.95, 0.98, 0.99]),
                   st.floats(0.05, 0.995), st.fractions("1/100", "99/100", max_denominator=300))


def softmax_problem(seed, d=4, K=3, n=30):
    """Softmax regression, data and an off-grid w_0 from an explicit Generator."""
    rng = np.random.default_rng(seed)
    model = bg.SoftmaxRegression(d, K, l2=0.01)
    X = rng.standard_normal((n, d))
    return model, X, model.targets(rng.integers(0, K, n)), rng.normal(0.0, 0.3, model.n_params)


def run_exact(model, gd, X, Y, w0):
    """Forward then the whole backward: (reversal, forward trajectory w_1..w_T, backward points
    (t, w_t, acts_t) for t = T-1..0, as the reverse pass of ``back_gradient`` asks for them)."""
    run = Exact(model, gd, X, Y)
    forward, points, w = {}, [], None
    w = run.forward(w0, callback=lambda t, w: forward.__setitem__(t, w))
    for t in reversed(range(gd.n_steps)):
        w, acts = run.previous(t, w, None)
        points.append((t, w, acts))
    return run, forward, points


@given(st.lists(st.integers(-2 ** 61, 2 ** 61), min_size=1, max_size=8),
       st.fractions("1/1000", "999/1000", max_denominator=10 ** 5), st.integers(0, 2 ** 80))
@small
def test_divide_undoes_multiply_bit_for_bit(x, gamma, start):
    x = np.array(x, dtype=np.int64)
    buffer = InformationBuffer(x.size)
    buffer.B[:] = start                                  # a buffer already holding digits
    y = multiply(x, gamma, buffer)
    # y = n (x // d) + pop and x = d (x // d) + (x mod d), so |y - gamma x| < n grid units;
    # checked in Python ints: |d y - n x| < n d
    n, d = gamma.numerator, gamma.denominator
    assert all(abs(d * int(yi) - n * int(xi)) < n * d for xi, yi in zip(x, y))
    np.testing.assert_array_equal(divide(y, gamma, buffer), x)
    assert all(b == start for b in buffer.B)


@given(st.lists(st.floats(-MAX_VALUE, MAX_VALUE, exclude_max=True, exclude_min=True),
                min_size=1, max_size=8))
@small
def test_grid_and_residual_recover_any_float(a):
    a = np.array(a)
    on_grid = to_float(to_fixed(a))
    assert np.all(np.abs(a - on_grid) <= 2.0 ** -53)      # round to nearest on a 2^-52 grid
    np.testing.assert_array_equal(on_grid + (a - on_grid), a)   # residual is exact


@given(problems(), gammas, st.integers(1, 30))
@small
def test_forward_then_backward_restores_every_bit(problem, gamma, n_steps):
    model, w0, X, y, _ = problem                          # w0 ~ N(0, 0.6^2): off the grid
    Y = model.targets(y)
    gd = GradientDescent(lr=0.1, n_steps=n_steps, momentum=float(gamma))
    run, forward, points = run_exact(model, gd, X, Y, w0)
    w_int, v_int = run.state
    np.testing.assert_array_equal(w_int, to_fixed(w0))    # w_0 on the grid, every bit
    np.testing.assert_array_equal(v_int, 0)               # v_0 = 0, every bit
    assert run.buffer.bits() == 0                         # every pushed digit popped again
    assert [t for t, _, _ in points] == list(reversed(range(n_steps)))
    forward[0] = w0                                       # the caller's w_0, sub-grid bits too
    for t, w_t, _ in points:                              # backward retraces forward exactly
        np.testing.assert_array_equal(w_t, forward[t])


def test_naive_float_reversal_of_momentum_does_not_recover_w0():
    model, X, Y, w0 = softmax_problem(0)
    gd = GradientDescent(lr=0.3, n_steps=60, momentum=0.9)
    w, v = w0, np.zeros_like(w0)
    for t in range(gd.n_steps):
        w, v = gd.step(model, w, v, X, Y, t)
    for t in range(gd.n_steps):                           # w_t = w_{t+1} - eta v_{t+1}
        w = w - gd.lr * v                                 # v_t = (v_{t+1} + (1-gamma) g_t)/gamma
        v = (v + (1 - gd.momentum) * model.backward(w, X, Y, model.forward(w, X))) / gd.momentum
    assert np.max(np.abs(w - w0)) > 0.0                   # round-off, amplified by 1/gamma per step
    _, _, points = run_exact(model, gd, X, Y, w0)
    np.testing.assert_array_equal(points[-1][1], w0)      # where the fixed-point run is exact


def attack_problem(seed=1, gamma=0.9, n_steps=40):
    """Softmax regression, 3 features and classes, 20 training rows, 2 poisoning points."""
    return poisoning(bg.SoftmaxRegression(3, 3, l2=0.01),
                     GradientDescent(lr=0.5, n_steps=n_steps, momentum=gamma),
                     np.random.default_rng(seed), n=20, m=2, n_val=15, w0=0.1)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.98])
def test_exact_hypergradient_matches_finite_differences_of_exact_training(gamma):
    p = attack_problem(gamma=gamma)
    A = attacker_value(p, train=exact_training)          # A(w_T) of the fixed-point training run
    result = back_gradient(*p, reversal="exact")
    assert result.w0_error == 0.0
    # The fixed-point run is the float run plus rounding: each multiplication by gamma = n/d
    # moves v by up to n grid units (2^-52), so A carries noise of ~1e-13 (gamma = 0.9) to
    # ~1e-12 (0.98) that central differences divide by 2 eps. eps = 1e-6 would show it as up to
    # 5e-5 relative error; eps = 1e-4 shrinks it to ~1e-8, with truncation error O(eps^2) ~ 1e-8.
    gradcheck.check_gradient(A, lambda _: result.dX_c, p.X_c, rng=np.random.default_rng(2),
                             eps=1e-4, name="exact back-gradient", arg="X_c")


class StoredExact:
    """'stored' on the fixed-point trajectory, written to the reversal protocol of
    ``bgpoison.reversal`` (forward(w_0) -> w_T, previous(t, w_{t+1}, acts) -> (w_t, acts_t),
    vectors_held): it keeps every w_t the exact forward run visits and hands them back."""

    name = "stored-exact"

    def __init__(self, model, gd, X, Y):
        self.model, self.gd, self.X, self.Y = model, gd, X, Y

    def forward(self, w0):
        self.ws = [to_float(to_fixed(w0))]                # the run starts from q(w_0)
        return Exact(self.model, self.gd, self.X, self.Y).forward(
            w0, callback=lambda t, w: self.ws.append(w))

    def previous(self, t, w_next, acts_next):
        return self.ws[t], self.model.forward(self.ws[t], self.X)    # full batch: every row

    @property
    def vectors_held(self):
        return len(self.ws)


def test_exact_matches_stored_on_the_same_trajectory(monkeypatch):
    monkeypatch.setitem(REVERSALS, StoredExact.name, StoredExact)
    problem = attack_problem()
    exact = back_gradient(*problem, reversal="exact")
    stored = back_gradient(*problem, reversal="stored-exact")
    # same w_t, same products, same order of floating-point operations: identical bits
    np.testing.assert_array_equal(exact.dX_c, stored.dX_c)
    np.testing.assert_array_equal(exact.dw0, stored.dw0)
    assert (exact.vectors_held, stored.vectors_held) == (3, problem[1].n_steps + 1)
    # against float training the grid moves the answer by about T n 2^-52 relative
    plain = back_gradient(*problem, reversal="stored")
    np.testing.assert_allclose(exact.dX_c, plain.dX_c, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("gamma", [0.9, 0.98])
def test_buffer_grows_by_log2_inverse_gamma_per_parameter_per_step(gamma):
    model, X, Y, w0 = softmax_problem(3, d=8, n=50)
    gd = GradientDescent(lr=0.3, n_steps=100, momentum=gamma)
    run, _, _ = run_exact(model, gd, X, Y, w0)
    n, d = run.gamma.numerator, run.gamma.denominator
    t = np.arange(1, gd.n_steps + 1)
    # per coordinate, B_t + c <= (d/n)^t c with c = (d-1)/(d-n), so bits <= t log2(d/n) + log2 c + 1
    bound = model.n_params * (t * np.log2(d / n) + np.log2((d - 1) / (d - n)) + 1)
    assert np.all(run.buffer_bits <= bound)
    cost = buffer_bits_per_step(model, gd, w0, X, np.argmax(Y, axis=1))
    assert 0.7 * np.log2(1 / gamma) < cost["bits_per_step_per_param"] <= np.log2(d / n) + 0.1
    # what the buffer saves: storing w_t costs its float64 bits every step, >= 100x more
    assert cost["stored_bits_per_step"] == 8 * w0.nbytes
    assert 100 * cost["bits_per_step"] < cost["stored_bits_per_step"]


@pytest.mark.parametrize("gamma", [0.0, 1.0, -0.5, 1.5, 1e-9, float("nan"), Fraction(1, 1)])
def test_gamma_outside_open_unit_interval_is_refused(gamma):
    with pytest.raises(ValueError, match=r"gamma .*in \(0, 1\)"):
        as_fraction(gamma)


def test_exact_reversal_of_plain_gradient_descent_is_refused():
    problem = attack_problem(gamma=0.0)
    with pytest.raises(ValueError, match=r"exact reversal needs momentum gamma in \(0, 1\)"):
        back_gradient(*problem, reversal="exact")


def test_gamma_becomes_a_small_exact_fraction():
    assert as_fraction(0.9) == Fraction(9, 10) and as_fraction(0.98) == Fraction(49, 50)
    assert as_fraction(Fraction(7, 11)) == Fraction(7, 11)


def test_values_outside_the_fixed_point_range_are_refused():
    model, gd, w0, X_tr, y_tr, X_c, y_c, objective = attack_problem()
    with pytest.raises(ValueError, match=r"w_0 must be finite with \|value\| < 1024"):
        back_gradient(model, gd, w0 + 2000.0, X_tr, y_tr, X_c, y_c, objective, reversal="exact")
    with pytest.raises(OverflowError, match=r"g_0 must be finite with \|value\| < 1024"):
        back_gradient(model, gd, w0, X_tr, y_tr, 1e7 * X_c, y_c, objective, reversal="exact")
    fast = GradientDescent(lr=1e4, n_steps=5, momentum=0.9)
    with pytest.raises(ValueError, match=r"eta v_\d+ must be finite"):
        back_gradient(model, fast, w0, X_tr, y_tr, X_c, y_c, objective, reversal="exact")


def test_back_gradient_reports_the_buffer_size_of_the_exact_reversal():
    rng = np.random.default_rng(0)
    model = bg.SoftmaxRegression(3, 3, l2=0.1)
    X, y = rng.standard_normal((10, 3)), rng.integers(0, 3, 10)
    gd = bg.GradientDescent(0.1, 40, momentum=0.9)
    r = bg.back_gradient(model, gd, np.zeros(model.n_params), X, y, X[:2], y[:2],
                         bg.ErrorGeneric(X, y), reversal="exact")
    assert r.w0_error == 0.0
    # about log2(10/9) = 0.152 bits per parameter per step, bounded by the docstring's formula
    assert 0.1 * 40 * model.n_params < r.buffer_bits <= (40 * np.log2(10 / 9) + np.log2(9) + 1) * model.n_params

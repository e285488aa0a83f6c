"""No silent garbage: divergence that stays finite, a fixed-point reversal past its limit, a
non-finite attacker value, and a trajectory that cannot fit in memory all raise, in one line."""
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import bgpoison as bg
from bgpoison import checks as guards, datasets


def _data(seed=0, n=40, d=3, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)) * scale
    return X, (X[:, 0] > X[:, 1]).astype(np.int64)


@pytest.mark.parametrize("model, lr, scale", [
    (bg.Adaline(3), 1e3, 1.0),                 # weights would reach ~1e200, finite
    (bg.LogisticRegression(3), 10.0, 1e6),     # features scaled by 1e6
    (bg.Adaline(3), 0.1, 1e6),
])
def test_divergence_that_stays_finite_raises_naming_the_step_and_the_lr(model, lr, scale):
    X, y = _data(scale=scale)
    gd = bg.GradientDescent(lr, 100)
    with pytest.raises(bg.DivergenceError, match=r"diverged at step \d+ of 100: the training "
                       r"loss (grew from|is) .* smaller learning rate than lr="):
        gd.run(model, model.init_params(0), X, y)
    with pytest.raises(bg.DivergenceError, match="diverged"):
        bg.back_gradient(model, gd, model.init_params(0), X, y, X[:2], 1 - y[:2],
                         bg.ErrorGeneric(X, y))


def test_a_stable_run_is_not_flagged_even_when_its_loss_rises_a_little():
    X, y = _data()
    model = bg.MLP(3, 4, 2)
    w = bg.GradientDescent(1.0, 200).run(model, model.init_params(0), X, y)   # finite, no raise
    assert np.isfinite(w).all()


def test_the_attack_never_records_a_non_finite_value():
    X, y = _data(scale=1e6)
    attack = bg.PoisoningAttack(bg.Adaline(3), bg.GradientDescent(0.1, 20),
                                bg.ErrorGeneric(X, y), 2, lb=0, ub=1e6)
    with pytest.raises(bg.DivergenceError, match="diverged"):      # not history=[inf]
        attack.run(X, y, rng=0)


class _InfiniteTrials:
    """A gradient source whose every trial move gives A = inf (an overflowing objective)."""

    def __init__(self):
        self.calls = 0

    def train(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        self.calls += 1
        return SimpleNamespace(value=0.5 if self.calls == 1 else np.inf, X_c=X_c)

    def gradient(self, run):
        return np.ones_like(run.X_c)


def test_a_move_to_an_infinite_value_is_rejected_by_the_line_search():
    X, y = _data()
    attack = bg.PoisoningAttack(bg.LogisticRegression(3), bg.GradientDescent(0.1, 5),
                                bg.ErrorGeneric(X, y), 2, gradient=_InfiniteTrials(),
                                max_passes=2, update="joint")
    result = attack.run(X, y, rng=0)
    assert result.history == [0.5] and np.all(np.isfinite(result.history))


def test_a_non_finite_hypergradient_is_never_returned():
    with pytest.raises(bg.DivergenceError, match=r"hypergradient is not finite .*1 of 4"):
        guards.check_hypergradient(0.3, np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(bg.DivergenceError, match="A = inf"):
        guards.check_hypergradient(np.inf, np.zeros((1, 2)))


@pytest.fixture(scope="module")
def digits_case():
    """Softmax on 8x8 digits and its smoothness L (largest Hessian eigenvalue at w_0)."""
    d = datasets.digits()
    rng = np.random.default_rng(0)
    (X, y), (X_val, y_val), _ = datasets.split(d.X, d.y, (200, 200, 100), rng=rng)
    model = bg.SoftmaxRegression(64, 10, l2=0.01)
    X_c, y_c = X[:10].copy(), (y[:10] + 1) % 10
    w0 = model.init_params(rng)
    L = bg.smoothness(model, w0, np.vstack([X, X_c]), np.concatenate([y, y_c]), rng)
    return model, w0, X, y, X_c, y_c, bg.ErrorGeneric(X_val, y_val), L


@pytest.mark.parametrize("lr_times_L", [0.9, 1.0, 1.5, 2.5, 4.0])
def test_fixed_point_reversal_past_its_limit_raises_instead_of_a_wrong_gradient(digits_case,
                                                                                lr_times_L):
    # before: cosine with the exact gradient 0.71 (0.9), 0.03 (2.5), -0.18 (4.0), no error
    model, w0, X, y, X_c, y_c, objective, L = digits_case
    gd = bg.GradientDescent(lr_times_L / L, 100)
    with pytest.raises(bg.ConvergenceError, match="smaller lr or reversal='stored'"):
        bg.back_gradient(model, gd, w0, X, y, X_c, y_c, objective, reversal="fixed-point")


def test_fixed_point_reversal_within_its_limit_still_matches_the_stored_one(digits_case):
    model, w0, X, y, X_c, y_c, objective, L = digits_case
    gd = bg.GradientDescent(0.1 / L, 100)
    exact = bg.back_gradient(model, gd, w0, X, y, X_c, y_c, objective, reversal="stored")
    fixed = bg.back_gradient(model, gd, w0, X, y, X_c, y_c, objective, reversal="fixed-point")
    assert fixed.w0_error < 1e-9                       # measured 1.5e-11
    np.testing.assert_allclose(fixed.dX_c, exact.dX_c, rtol=1e-6, atol=1e-12)


def test_a_recovered_point_that_is_not_a_preimage_is_rejected():
    w_next = np.array([1.0, 2.0])
    guards.check_preimage(w_next + 1e-13, w_next, 5, 0.1)          # round-off: accepted
    with pytest.raises(bg.ConvergenceError, match="w_5 steps forward to a point 1.000e-03 "
                       "away from w_6"):
        guards.check_preimage(w_next + 1e-3, w_next, 5, 0.1)


def test_the_attack_treats_a_failed_fixed_point_reversal_as_a_failed_hypergradient(digits_case):
    model, w0, X, y, X_c, y_c, objective, L = digits_case
    attack = bg.PoisoningAttack(model, bg.GradientDescent(2.5 / L, 60), objective, 3,
                                update="joint", reversal="fixed-point", max_passes=2)
    result = attack.run(X, y, rng=0)
    assert result.stopped.startswith("hypergradient 1 failed: fixed-point reversal")
    assert np.all(np.isfinite(result.history))


def test_a_trajectory_too_large_for_memory_is_refused_before_allocating():
    X, y = _data()
    model = bg.LogisticRegression(3)
    gd = bg.GradientDescent(0.1, 10 ** 13)                   # 4 x 8e13 bytes: no machine has it
    with pytest.raises(MemoryError, match=r"would keep 10000000000000 weight vectors and their "
                       r"activations, .* GiB.*'checkpoint'.*'exact'"):
        bg.back_gradient(model, gd, np.zeros(4), X, y, X[:1], y[:1], bg.ErrorGeneric(X, y))


@pytest.mark.parametrize("lr_times_L", [2.2, 2.5, 3.0, 5.0])
def test_a_divergence_that_starts_late_is_named_soon_after_at_a_step_where_the_loss_soared(
        lr_times_L):
    # just past eta L = 2 the loss of ADALINE grows geometrically but slowly: it first passes
    # the threshold at step 40, 18, 11, 6 for these rates (measured). Training must not return,
    # and must name a step s at which the loss had already passed it, at most twice as late as
    # the first such step: a divergence is stopped within the time it took to start.
    X, y = _data()
    model = bg.Adaline(3)
    H = np.array([model.hvp_ww(np.zeros(4), X, y, e) for e in np.eye(4)])
    gd = bg.GradientDescent(lr_times_L / np.linalg.eigvalsh(H).max(), 100)
    w, losses = model.init_params(0), []
    for _ in range(gd.n_steps):                     # the losses, one unguarded step at a time
        losses.append(model.loss(w, X, y))
        w = bg.GradientDescent(gd.lr, 1).run(model, w, X, y)
    threshold = losses[0] + guards.GROWTH * (1 + abs(losses[0]))   # checks.check_loss's rule
    first = next(t for t, loss in enumerate(losses) if loss > threshold)
    for train in (lambda: gd.run(model, model.init_params(0), X, y),
                  lambda: bg.back_gradient(model, gd, model.init_params(0), X, y, X[:1], y[:1],
                                           bg.ErrorGeneric(X, y))):
        with pytest.raises(bg.DivergenceError, match=r"diverged at step (\d+) of 100") as info:
            train()
        named = int(re.search(r"step (\d+)", str(info.value)).group(1))
        assert first <= named <= 2 * first and losses[named] > threshold


def test_divergence_after_the_last_power_of_two_is_caught_at_the_last_step():
    X, y = _data()
    model = bg.Adaline(3)
    H = np.array([model.hvp_ww(np.zeros(4), X, y, e) for e in np.eye(4)])
    lr = 2.1 / np.linalg.eigvalsh(H).max()      # just past 2 / L: the loss grows ~1.2x a step,
    gd = bg.GradientDescent(lr, 100)            # past the threshold between steps 64 and 99
    with pytest.raises(bg.DivergenceError, match=r"diverged at step 99 of 100"):
        gd.run(model, model.init_params(0), X, y)
    with pytest.raises(bg.DivergenceError, match=r"diverged at step 99 of 100"):
        bg.back_gradient(model, gd, model.init_params(0), X, y, X[:1], y[:1],
                         bg.ErrorGeneric(X, y))


def _random_labels(seed=0, n=200, d=16, K=4):
    """Data no model separates (random labels): a too large lr cannot hide behind a loss that
    goes to 0 anyway, as it can on separable data."""
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, K, n)


@pytest.mark.parametrize("model, lr, momentum, reversal", [
    (bg.SoftmaxRegression(16, 4), 50.0, 0.0, "stored"),      # before: 1.39 -> 91, no error
    (bg.LogisticRegression(16), 1000.0, 0.0, "stored"),      # before: 0.69 -> 280
    (bg.MLP(16, 8, 4), 1000.0, 0.0, "checkpoint"),           # before: 1.4 -> 1452
    (bg.SoftmaxRegression(16, 4), 1000.0, 0.9, "exact"),     # before: 1.39 -> 62
])
def test_a_descent_that_ends_far_above_its_start_is_divergence(model, lr, momentum, reversal):
    X, y = _random_labels()
    y = y % model.n_classes
    gd = bg.GradientDescent(lr, 100, momentum=momentum)
    with pytest.raises(bg.DivergenceError, match=rf"diverged at step \d+ of 100: .* smaller "
                       rf"learning rate than lr={lr:g}"):
        bg.back_gradient(model, gd, model.init_params(0), X, y, X[:3], y[:3],
                         bg.ErrorGeneric(X, y), reversal=reversal)


@pytest.mark.parametrize("seed", [22, 27])
def test_sound_mini_batch_noise_is_not_taken_for_divergence(seed, monkeypatch):
    # one-row batches of 8x8 digits: these two runs end well (full loss 0.65 and 0.22 from
    # 2.30), but their last batch is one point whose loss lies above 2 L(w_0) + 1: the
    # full-batch margin would call them diverged, the mini-batch one (10) does not
    d = datasets.digits()
    X, y, model = d.X[:300], d.y[:300], bg.SoftmaxRegression(64, 10)
    gd = bg.GradientDescent(1.0, 300, batch_size=1, seed=seed)
    w = gd.run(model, np.zeros(650), X, y)                         # no DivergenceError
    assert model.loss(w, X, y) < 0.3 * model.loss(np.zeros(650), X, y)
    monkeypatch.setattr(guards, "END_GROWTH_BATCH", guards.END_GROWTH)
    with pytest.raises(bg.DivergenceError, match="at step 299 of 300"):
        gd.run(model, np.zeros(650), X, y)                         # the noise it tolerates


def test_the_exact_reversal_far_past_its_grid_names_the_step_and_the_lr():
    X, y = _random_labels()
    gd = bg.GradientDescent(1e6, 10, momentum=0.9)
    with pytest.raises(bg.DivergenceError, match=r"diverged at step 0 of 10: eta v_1 must be "
                       r"finite .* smaller learning rate than lr=1e\+06"):
        bg.back_gradient(bg.SoftmaxRegression(16, 4), gd, np.zeros(68), X, y, X[:3], y[:3],
                         bg.ErrorGeneric(X, y), reversal="exact")


def test_the_paper_reversal_warns_when_it_has_lost_the_trajectory(digits_case):
    model, w0, X, y, X_c, y_c, objective, L = digits_case
    with pytest.warns(guards.ReversalWarning, match="lost the trajectory .*lr="):
        bg.back_gradient(model, bg.GradientDescent(2.0 / L, 100), w0, X, y, X_c, y_c, objective,
                         reversal="paper")           # measured: cosine 0.41 with the exact one
    with warnings.catch_warnings():
        warnings.simplefilter("error", guards.ReversalWarning)
        bg.back_gradient(model, bg.GradientDescent(0.1 / L, 100), w0, X, y, X_c, y_c,
                         objective, reversal="paper")   # w_0 off by 0.1 of the scale: silent


def test_the_memory_check_counts_the_activations_a_stored_run_keeps(monkeypatch):
    X, y = _random_labels(n=500)
    model = bg.SoftmaxRegression(16, 4)
    gd = bg.GradientDescent(0.1, 50)
    vectors = 50 * 8 * model.n_params                # what the old check counted
    monkeypatch.setattr(guards, "available_memory", lambda: 2 * vectors)
    with pytest.raises(MemoryError, match="weight vectors and their activations"):
        bg.back_gradient(model, gd, np.zeros(model.n_params), X, y, X[:2], y[:2],
                         bg.ErrorGeneric(X, y))       # Z and P: 2 x 502 x 4 floats a step
    bg.back_gradient(model, gd, np.zeros(model.n_params), X, y, X[:2], y[:2],
                     bg.ErrorGeneric(X, y), reversal="checkpoint")   # keeps ~2 sqrt(T) steps


def test_options_a_reversal_would_ignore_are_refused():
    X, y = _random_labels(n=20)
    model = bg.SoftmaxRegression(16, 4)
    with pytest.raises(ValueError, match="checkpoint_every applies to reversal='checkpoint'"):
        bg.back_gradient(model, bg.GradientDescent(0.1, 5), np.zeros(68), X, y, X[:1], y[:1],
                         bg.ErrorGeneric(X, y), reversal="stored", checkpoint_every=0)


def test_evaluate_draws_no_unseeded_randomness():
    X, y = _random_labels(n=20)
    model, gd = bg.MLP(16, 3, 4), bg.GradientDescent(0.1, 5)
    with pytest.raises(ValueError, match="evaluate needs rng"):
        bg.evaluate(model, gd, X, y, X, y)
    a, b = (bg.evaluate(model, gd, X, y, X, y, rng=7).w for _ in range(2))
    np.testing.assert_array_equal(a, b)

"""The reverse pass against finite differences of the entire training run, for every reversal."""
import numpy as np
import pytest
from hypothesis import given

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.back_gradient import reverse, train_forward
from reference import attacker_value
from strategies import make_model, poisoning, poisoning_problems, softmax_poisoning

EXACT = ("stored", "checkpoint")


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("reversal", EXACT + ("fixed-point",))
@given(poisoning_problems())
def test_hypergradient_matches_finite_differences_of_training(reversal, problem):
    p, rng = problem
    result = bg.back_gradient(*p, reversal=reversal)
    A = attacker_value(p)
    assert result.value == pytest.approx(A(p.X_c), rel=1e-12)
    gradcheck.check_gradient(A, lambda _: result.dX_c, p.X_c, rng=rng, name=reversal, arg="X_c")


@given(poisoning_problems(n_steps=(2, 5)))
def test_gradient_with_respect_to_w0_matches_finite_differences(problem):
    p, rng = problem
    result = bg.back_gradient(*p)
    A = lambda w0: attacker_value(p._replace(w0=w0))(p.X_c)
    gradcheck.check_gradient(A, lambda _: result.dw0, p.w0, rng=rng, name="dw0", arg="w0")


@pytest.mark.parametrize("name", ["adaline", "logistic", "softmax", "svm", "mlp"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9])
def test_stored_and_checkpoint_give_identical_bits_and_match_finite_differences(name, gamma):
    rng = np.random.default_rng(3)
    p = poisoning(make_model(name, 3, 3, 4, 0.05), bg.GradientDescent(0.2, 17, momentum=gamma),
                  rng, n=12, m=2, n_val=8, w0=0.3)
    stored = bg.back_gradient(*p, reversal="stored")
    for every in (1, 3, 4, 17, 40):
        run = bg.back_gradient(*p, reversal="checkpoint", checkpoint_every=every)
        # a checkpoint segment re-runs the very same training steps, so it recovers the same
        # w_t bit for bit and the reverse pass does the same arithmetic: identical results
        np.testing.assert_array_equal(run.dX_c, stored.dX_c)
        np.testing.assert_array_equal(run.dw0, stored.dw0)
        assert run.value == stored.value and run.w0_error == 0.0
    gradcheck.check_gradient(attacker_value(p), lambda _: stored.dX_c, p.X_c, rng=rng, name=name)


def test_fixed_point_is_within_1e6_of_exact_when_lr_times_L_is_small():
    p = softmax_poisoning(0.1, 60)
    exact = bg.back_gradient(*p)
    fixed = bg.back_gradient(*p, reversal="fixed-point")
    assert _rel(fixed.dX_c, exact.dX_c) < 1e-6
    assert fixed.w0_error < 1e-9
    assert fixed.iterations >= p.gd.n_steps               # at least one iteration per step
    assert fixed.vectors_held == 2 and exact.vectors_held == p.gd.n_steps + 1


def test_paper_reversal_error_is_measured_and_shrinks_with_the_learning_rate():
    # each reverse step makes a local error O(eta^2 |H g|); over the same training horizon
    # eta * T = 8 that sums to O(eta): halving eta should halve the error (measured: x0.54-0.58),
    # so we ask for a factor of at least 1.5
    errors, drifts = [], []
    for lr, T in ((0.4, 20), (0.2, 40), (0.1, 80)):
        p = softmax_poisoning(lr, T)
        exact = bg.back_gradient(*p)
        paper = bg.back_gradient(*p, reversal="paper")
        errors.append(_rel(paper.dX_c, exact.dX_c))
        drifts.append(paper.w0_error)
        assert paper.vectors_held == 1
    assert errors[0] > 1e-4                              # measurably wrong at the largest lr
    assert errors[1] < errors[0] / 1.5 and errors[2] < errors[1] / 1.5
    assert drifts[1] < drifts[0] / 1.5 and drifts[2] < drifts[1] / 1.5


# measured at lr=0.3, T=30: stored 8e-9 vs 9e-3, paper 7e-3 vs 1.5e-2 (relative error)
@pytest.mark.parametrize("reversal, factor", [("stored", 1e4), ("paper", 1.5)])
def test_products_at_the_start_of_each_step_beat_the_papers_printed_order(reversal, factor):
    p = softmax_poisoning(0.3, 30)
    A, X_c = attacker_value(p), p.X_c
    rng = np.random.default_rng(0)
    u = rng.standard_normal(X_c.shape)
    fd = (A(X_c + 1e-6 * u) - A(X_c - 1e-6 * u)) / 2e-6
    err = {}
    for where in ("start", "end"):
        r = bg.back_gradient(*p, reversal=reversal,
                             products_at=where)
        err[where] = abs(np.sum(r.dX_c * u) - fd) / abs(fd)
    assert err["end"] > factor * err["start"]
    assert err["end"] > 1e-3                             # measurably wrong, not round-off


def test_checkpoint_memory_is_about_two_sqrt_T():
    p = softmax_poisoning(0.1, 100)
    r = bg.back_gradient(*p, reversal="checkpoint")
    assert r.vectors_held <= 2 * 10 + 1                  # 10 checkpoints + a segment of 10
    assert r.w0_error == 0.0


def test_fixed_point_reports_non_convergence_when_lr_times_L_exceeds_one():
    # ADALINE's Hessian is X^T X / n; with lr * lambda_max = 1.5 forward descent still converges
    # (it needs < 2) but the backward iteration u <- w + lr g(u) expands
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    lam = np.linalg.eigvalsh(np.c_[X, np.ones(30)].T @ np.c_[X, np.ones(30)] / 32).max()
    model = bg.Adaline(2)
    gd = bg.GradientDescent(1.5 / lam, 10)
    with pytest.raises(bg.ConvergenceError, match="did not converge at step 9.*smaller"):
        bg.back_gradient(model, gd, np.zeros(3), X, rng.integers(0, 2, 30), X[:2],
                         np.array([0, 1]), bg.ErrorGeneric(X, rng.integers(0, 2, 30)),
                         reversal="fixed-point")


@pytest.mark.parametrize("reversal", ["paper", "fixed-point"])
def test_approximate_reversals_refuse_momentum(reversal):
    p = softmax_poisoning(0.1, 5, momentum=0.5)
    with pytest.raises(ValueError, match="momentum=0"):
        bg.back_gradient(*p, reversal=reversal)


def test_fixed_point_accepts_an_iterate_that_is_still_creeping_below_the_round_off_floor():
    # lr * L near 1 contracts slowly: with a budget of 5 iterations per step the change is still
    # far above ulps but below sqrt(eps) at the end, which counts as converged; with 1 it is not
    p = softmax_poisoning(0.1, 20)
    r = bg.back_gradient(*p, reversal="fixed-point",
                         max_iter=5)
    assert r.iterations == 5 * 20 and r.w0_error < 1e-6
    with pytest.raises(bg.ConvergenceError, match="did not converge"):
        bg.back_gradient(*p, reversal="fixed-point",
                         max_iter=1)


def test_train_forward_then_reverse_is_back_gradient_and_a_run_is_reversed_once():
    p = softmax_poisoning(0.2, 15)
    whole = bg.back_gradient(*p)
    run = train_forward(*p)
    assert run.value == whole.value                       # the same run, bit for bit
    halves = reverse(run)
    np.testing.assert_array_equal(halves.dX_c, whole.dX_c)
    np.testing.assert_array_equal(halves.dw0, whole.dw0)
    with pytest.raises(ValueError, match="already reversed"):
        reverse(run)


def test_the_sources_train_and_gradient_are_the_two_halves_of_back_gradient():
    p = softmax_poisoning(0.2, 5)
    source = bg.BackGradient("checkpoint", checkpoint_every=2)
    run = source.train(*p)
    whole = bg.back_gradient(*p, reversal="checkpoint", checkpoint_every=2)
    assert run.value == whole.value
    np.testing.assert_array_equal(source.gradient(run), whole.dX_c)   # the same arithmetic
    value, dX_c = source.value_and_grad(*p)
    assert value == whole.value
    np.testing.assert_array_equal(dX_c, whole.dX_c)


class _Recording:
    """A gradient source that records the runs it trains and the runs it reverses."""

    def __init__(self):
        self.inner, self.trained, self.reversed = bg.BackGradient(), [], []

    def train(self, *args):
        self.trained.append(self.inner.train(*args))
        return self.trained[-1]

    def gradient(self, run):
        self.reversed.append(run)
        return self.inner.gradient(run)


@pytest.mark.parametrize("update", ["joint", "sequential"])
def test_attack_reverses_the_accepted_trial_run_instead_of_training_again(update):
    p = softmax_poisoning(0.3, 20)
    source = _Recording()
    attack = bg.PoisoningAttack(p.model, p.gd, p.objective, 3, lb=-3, ub=3, update=update,
                                gradient=source, max_hypergradients=6, max_passes=6)
    result = attack.run(p.X_tr, p.y_tr, rng=0)
    assert result.n_hypergradients == len(source.reversed) == 6
    assert result.n_trainings == len(source.trained)     # every training run is counted
    # each hypergradient reverses the run of the points it starts from (the initial run, then
    # the line-search trial accepted last), which was trained before: no training of its own
    assert [run.value for run in source.reversed] == result.history[:6]
    trained = [id(run) for run in source.trained]
    assert all(id(run) in trained for run in source.reversed)
    assert len({id(run) for run in source.reversed}) == 6   # each run reversed once

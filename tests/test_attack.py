"""The poisoning attack, its baselines and its evaluation on small synthetic problems."""
from types import SimpleNamespace

import numpy as np
import pytest

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.experiments.bench import clusters
from reference import attacker_value
from strategies import Poisoning


def _problem(K=2, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X, y = clusters(rng, 760, d, K)
    return (X[:60], y[:60]), (X[60:260], y[60:260]), (X[260:], y[260:])


MODELS = {
    "adaline": (bg.Adaline(6, l2=0.01), 0.1),
    "logistic": (bg.LogisticRegression(6, l2=0.01), 0.5),
    "softmax": (bg.SoftmaxRegression(6, 2, l2=0.01), 0.5),
    "mlp": (bg.MLP(6, 8, 2, l2=0.01), 0.5),
}


@pytest.mark.parametrize("name", MODELS)
def test_attack_raises_objective_monotonically_and_beats_clean_and_random_flips(name):
    model, lr = MODELS[name]
    gd = bg.GradientDescent(lr, 60)
    (X_tr, y_tr), (X_val, y_val), (X_te, y_te) = _problem()
    attack = bg.PoisoningAttack(model, gd, bg.ErrorGeneric(X_val, y_val), 8, update="joint",
                                max_passes=6)
    r = attack.run(X_tr, y_tr, rng=1)
    assert len(r.history) > 2 and np.all(np.diff(r.history) > 0)
    err = lambda X_c, y_c: bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, X_c, y_c, rng=2).test_error
    clean = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, rng=2).test_error
    flips = bg.flip_labels(X_tr, y_tr, 8, 2, np.random.default_rng(3))
    poisoned = err(r.X_c, r.y_c)
    assert poisoned > clean + 0.01 and poisoned > err(*flips) + 0.01


def test_sequential_update_moves_one_point_per_hypergradient():
    model, lr = MODELS["logistic"]
    (X_tr, y_tr), (X_val, y_val), _ = _problem()
    seen = []
    attack = bg.PoisoningAttack(model, bg.GradientDescent(lr, 30), bg.ErrorGeneric(X_val, y_val),
                                3, update="sequential", max_passes=2,
                                callback=lambda res: seen.append(res.X_c.copy()))
    r = attack.run(X_tr, y_tr, rng=0)
    assert len(seen) == len(r.history) - 1 and r.n_hypergradients == 6
    for before, after in zip([r.X_c0] + seen, seen):
        assert np.sum(np.any(before != after, axis=1)) == 1     # exactly one row moved
    assert np.all(np.diff(r.history) > 0)


def test_error_specific_attack_raises_the_target_label_rate():
    rng = np.random.default_rng(0)
    X, y = clusters(rng, 1060, 6, 3)
    X_tr, y_tr, X_val, y_val, X_te, y_te = X[:60], y[:60], X[60:360], y[60:360], X[360:], y[360:]
    model, gd = bg.SoftmaxRegression(6, 3, l2=0.01), bg.GradientDescent(0.5, 60)
    retarget = lambda labels: np.where(labels == 0, 1, labels)       # make the 0s look like 1s
    objective = bg.ErrorSpecific(X_val, retarget(y_val), y_true=y_val)
    assert objective.label_map() == {0: 1, 1: 0}
    r = bg.PoisoningAttack(model, gd, objective, 6, update="joint", max_passes=6).run(
        X_tr, y_tr, rng=1)
    assert set(r.y_c.tolist()) <= {0, 1}
    rate = lambda *c: bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, *c, rng=2,
                                  y_target=retarget(y_te)).target_rate
    assert rate(r.X_c, r.y_c) > rate() + 0.05
    assert rate(r.X_c, r.y_c) > rate(r.X_c0, r.y_c) + 0.05


@pytest.mark.parametrize("name", ["adaline", "logistic", "softmax"])
def test_kkt_gradient_equals_back_gradient_after_convergence_and_both_match_fd(name):
    model, lr = MODELS[name]
    (X_tr, y_tr), (X_val, y_val), _ = _problem(seed=1)
    X_tr, y_tr = X_tr[:30], y_tr[:30]
    rng = np.random.default_rng(0)
    X_c, y_c = bg.flip_labels(X_tr, y_tr, 3, 2, rng)
    X_c = X_c + 0.05 * rng.standard_normal(X_c.shape)
    model = type(model)(**{**model.__dict__, "l2": 0.5})             # well-conditioned optimum
    objective = bg.ErrorGeneric(X_val, y_val)
    gd = bg.GradientDescent(lr, 1500)                                 # converged training
    w0 = np.zeros(model.n_params)
    _, g_bg = bg.BackGradient().value_and_grad(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
    for solver in ("direct", "cg"):
        _, g_kkt = bg.KKTGradient(solver=solver).value_and_grad(model, gd, w0, X_tr, y_tr, X_c,
                                                               y_c, objective)
        cosine = np.sum(g_bg * g_kkt) / np.linalg.norm(g_bg) / np.linalg.norm(g_kkt)
        assert cosine > 0.999
        # measured 1e-11: 1500 steps contract the optimisation error far below round-off
        assert np.max(np.abs(g_kkt - g_bg)) < 1e-8 * np.max(np.abs(g_kkt))
    # reference: A after the converged descent, a smooth function of X_c (an L-BFGS optimum
    # moves with its stopping test, which puts ~1e-6 noise into differences of A)
    A = attacker_value(Poisoning(model, gd, w0, X_tr, y_tr, X_c, y_c, objective))
    gradcheck.check_gradient(A, lambda _: g_kkt, X_c, rng=rng, name="kkt", arg="X_c")
    gradcheck.check_gradient(A, lambda _: g_bg, X_c, rng=rng, name="back-gradient", arg="X_c")


def test_projection_keeps_points_in_per_feature_bounds_and_on_the_grid():
    model, lr = MODELS["logistic"]
    (X_tr, y_tr), (X_val, y_val), _ = _problem()
    lb, ub = np.linspace(0.0, 0.3, 6), np.linspace(0.5, 1.0, 6)
    attack = bg.PoisoningAttack(model, bg.GradientDescent(lr, 20), bg.ErrorGeneric(X_val, y_val),
                                4, lb=lb, ub=ub, update="joint", max_passes=3, grid=0.25)
    r = attack.run(X_tr, y_tr, rng=0)
    assert np.all(r.X_c >= lb) and np.all(r.X_c <= ub)
    k = (r.X_c - lb) / 0.25
    on_grid = np.isclose(k, np.round(k)) | np.isclose(r.X_c, ub)
    assert np.all(on_grid)


def test_attack_is_deterministic_for_a_seed_and_respects_the_budget():
    model, lr = MODELS["mlp"]
    (X_tr, y_tr), (X_val, y_val), _ = _problem()
    attack = bg.PoisoningAttack(model, bg.GradientDescent(lr, 20), bg.ErrorGeneric(X_val, y_val),
                                3, max_hypergradients=4)
    a, b = attack.run(X_tr, y_tr, rng=5), attack.run(X_tr, y_tr, rng=5)
    np.testing.assert_array_equal(a.X_c, b.X_c)
    assert a.history == b.history and a.n_hypergradients == 4


def test_flip_labels_changes_every_label():
    rng = np.random.default_rng(0)
    X, y = rng.random((50, 3)), rng.integers(0, 4, 50)
    X_c, y_c = bg.flip_labels(X, y, 20, 4, rng)
    rows = [np.flatnonzero((X == x).all(axis=1))[0] for x in X_c]
    assert np.all(y_c != y[rows]) and len(set(rows)) == 20
    _, y_bin = bg.flip_labels(X, y % 2, 10, 2, rng)
    X_m, y_m = bg.flip_labels(X, y, 5, 4, rng, label_map={3: 1})
    assert np.all(y_m == 1) and all(y[np.flatnonzero((X == x).all(axis=1))[0]] == 3 for x in X_m)


def test_evaluate_reports_per_class_errors():
    model = bg.LogisticRegression(1)
    X = np.array([[-1.0], [1.0], [2.0]])
    w = np.array([1.0, 0.0])                                    # predicts x > 0
    ev = bg.evaluate(model, bg.GradientDescent(1e-12, 1), X, np.array([0, 1, 1]), X,
                     np.array([0, 0, 1]), w0=w, y_target=np.array([1, 1, 1]))
    assert ev.test_error == pytest.approx(1 / 3)
    np.testing.assert_allclose(ev.per_class_error, [0.5, 0.0])
    assert ev.target_rate == pytest.approx(0.5)     # rows 0, 1 are aimed at 1; only row 1 hits


@pytest.mark.parametrize("kwargs, message", [
    ({"n_points": 0}, "n_points must be an integer >= 1"),
    ({"lb": 1.0, "ub": 0.0}, "lb must not exceed ub"),
    ({"lb": np.zeros(3)}, r"lb must be a number or an array of shape \(6,\)"),
    ({"update": "random"}, "update must be 'sequential' or 'joint'"),
    ({"gradient": bg.KKTGradient(), "model": bg.MLP(6, 3, 2, l2=0.1)}, "needs a convex model"),
    ({"gradient": bg.KKTGradient(), "model": bg.SoftmaxRegression(6, 2)}, "needs l2 > 0"),
    ({"grid": 0.0}, "grid must be a number > 0"),
    ({"step": -1.0}, "step must be > 0"),
    ({"backtracks": -1}, r"backtracks \+ 1 must be an integer >= 1"),
    ({"max_hypergradients": 0}, "max_hypergradients must be an integer >= 1"),
])
def test_attack_rejects_bad_settings(kwargs, message):
    (X_tr, y_tr), (X_val, y_val), _ = _problem()
    args = dict(model=bg.LogisticRegression(6, l2=0.1), gd=bg.GradientDescent(0.1, 5),
                objective=bg.ErrorGeneric(X_val, y_val), n_points=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        bg.PoisoningAttack(**args)


def test_attack_rejects_more_points_than_training_rows_and_bad_target_labels():
    (X_tr, y_tr), (X_val, y_val), _ = _problem()
    gd, model = bg.GradientDescent(0.1, 5), bg.LogisticRegression(6, l2=0.1)
    with pytest.raises(ValueError, match="n_points must be at most the 60 training rows"):
        bg.PoisoningAttack(model, gd, bg.ErrorGeneric(X_val, y_val), 61).run(X_tr, y_tr, rng=0)
    with pytest.raises(ValueError, match=r"y_target must hold labels in 0..1"):
        bg.PoisoningAttack(model, gd, bg.ErrorSpecific(X_val, y_val + 1), 2,
                           label_map={0: 1}).run(X_tr, y_tr, rng=0)


def test_attack_keeps_its_points_when_a_hypergradient_fails():
    # lr * L > 1: the fixed-point reversal cannot converge; the attack stops and says why
    model = bg.Adaline(6)
    (X_tr, y_tr), (X_val, y_val), _ = _problem()
    lam = np.linalg.eigvalsh(np.c_[X_tr, np.ones(60)].T @ np.c_[X_tr, np.ones(60)] / 62).max()
    attack = bg.PoisoningAttack(model, bg.GradientDescent(1.5 / lam, 10),
                                bg.ErrorGeneric(X_val, y_val), 2, reversal="fixed-point")
    r = attack.run(X_tr, y_tr, rng=0)
    assert r.stopped.startswith("hypergradient 1 failed: fixed-point reversal did not converge")
    assert r.n_hypergradients == 0 and np.array_equal(r.X_c, r.X_c0)


class _Spy:
    """A gradient source that records the start w0 and the points of every hypergradient."""

    def __init__(self):
        self.inner, self.calls = bg.BackGradient("stored"), []

    def train(self, *args):
        return self.inner.train(*args)

    def gradient(self, run):
        self.calls.append((run.w0.copy(), run.X[run.n:].copy()))
        return self.inner.gradient(run)


@pytest.mark.parametrize("warm_start", [False, True])
def test_warm_start_continues_training_from_the_previous_update(warm_start):
    model = bg.LogisticRegression(6, l2=0.5)                      # strongly convex: one optimum
    gd = bg.GradientDescent(0.5, 10)
    (X_tr, y_tr), (X_val, y_val), _ = _problem()
    spy = _Spy()
    attack = bg.PoisoningAttack(model, gd, bg.ErrorGeneric(X_val, y_val), 5, update="joint",
                                gradient=spy, max_passes=8, tol=0.0, warm_start=warm_start,
                                adapt_step=False)             # every update accepted
    r = attack.run(X_tr, y_tr, rng=0)
    X, T = lambda X_c: np.vstack([X_tr, X_c]), model.targets(np.concatenate([y_tr, r.y_c]))
    grad_L = lambda w, X_c: np.linalg.norm(model.backward(w, X(X_c), T, model.forward(w, X(X_c))))
    starts = [w0 for w0, _ in spy.calls]
    assert len(starts) == 8 == r.n_hypergradients
    if not warm_start:
        assert all(np.array_equal(w0, starts[0]) for w0 in starts)
        return
    assert len(r.history) == 9                                   # every update was accepted
    for (w_prev, _), (w_next, X_c) in zip(spy.calls, spy.calls[1:]):
        np.testing.assert_allclose(w_next, gd.run(model, w_prev, X(X_c),
                                                  np.concatenate([y_tr, r.y_c])), rtol=1e-12)
    # 8 x 10 steps from the first start: the last start is near the optimum of its training set,
    # where the cold start is far from it (the reason the T reversed steps then approximate the
    # implicit gradient)
    last_w0, last_X_c = spy.calls[-1]
    assert grad_L(last_w0, last_X_c) < 0.01 * grad_L(starts[0], last_X_c)
    # the first A's run (kept: the first hypergradient reuses it), then per update a fresh
    # training from the new start and at least one line-search trial; a source that cannot keep
    # runs trains once more per update to find the next start
    assert r.n_trainings >= (1 + 7 + 8 if hasattr(spy, "train") else 1 + 8 + 8 + 8)


class _Quadratic:
    """A gradient source with A(X_c) = -||X_c - target||^2 (its maximum, 0, at the target) and
    its exact gradient: the step rule alone decides how fast an attack climbs it."""

    def __init__(self, target):
        self.target = target

    def train(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        return SimpleNamespace(value=-float(np.sum((X_c - self.target) ** 2)), X_c=X_c)

    def gradient(self, run):
        return -2.0 * (run.X_c - self.target)


def test_an_adaptive_step_grows_where_a_fixed_small_step_crawls():
    rng = np.random.default_rng(0)
    X_tr, y_tr = rng.random((20, 6)), rng.integers(0, 2, 20)
    source = _Quadratic(np.full(6, 0.5))
    common = dict(update="joint", step=0.01, gradient=source, max_hypergradients=12, tol=0.0,
                  rel_tol=0.0)                           # the step rule alone
    objective = bg.ErrorGeneric(X_tr, y_tr)
    fixed = bg.PoisoningAttack(bg.LogisticRegression(6), bg.GradientDescent(0.1, 2), objective,
                               4, adapt_step=False, **common).run(X_tr, y_tr, rng=0)
    adaptive = bg.PoisoningAttack(bg.LogisticRegression(6), bg.GradientDescent(0.1, 2),
                                  objective, 4, **common).run(X_tr, y_tr, rng=0)
    # a fixed step of 0.01 moves each point by 0.01 per update; from ~0.3 away, 12 updates
    # leave most of the way; doubling after each accepted step (1 + 2 + 4 + ... hundredths)
    # gets there and then shrinks to the step that keeps A rising
    assert fixed.history[-1] < -0.1
    assert adaptive.history[-1] > -1e-3 and np.all(np.diff(adaptive.history) > 0)


def test_a_relative_tolerance_ends_the_attack_once_a_pass_adds_little():
    rng = np.random.default_rng(0)
    X_tr, y_tr = rng.random((20, 6)), rng.integers(0, 2, 20)
    attack = bg.PoisoningAttack(bg.LogisticRegression(6), bg.GradientDescent(0.1, 2),
                                bg.ErrorGeneric(X_tr, y_tr), 4, update="joint", max_passes=100,
                                gradient=_Quadratic(np.full(6, 0.5)), tol=0.0, rel_tol=0.01)
    r = attack.run(X_tr, y_tr, rng=0)
    assert r.n_hypergradients < 30                         # it stopped by itself, near the top
    assert -r.history[-1] < 0.01 * -r.history[0]          # 99 % of the way to the top (A = 0)

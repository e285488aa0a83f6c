"""Deep models and mini-batch training: the MLP's layout and planted mistakes in its R-pass,
mini-batch gradient descent and its reversal by every strategy. (The MLP of 1 to 3 layers is
also one family of test_models.py's property tests.)"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.exact import Exact, to_fixed, to_float
from bgpoison.models import mlp as mlp_module
from reference import attacker_value, exact_training
from strategies import minibatch_problems, poisoning

# ---- MLP of any depth ----------------------------------------------------------------------


# the derivative, symmetry, rows and textbook-loss properties of every depth (and of the CNN)
# are test_models.py's; these are the deep MLP's own


def test_deep_mlp_layout_shapes_and_one_layer_tuple_equals_int():
    model = bg.MLP(5, (4, 3), 2)
    assert model.hidden == (4, 3) and model.n_layers == 3
    assert {k: v.shape for k, v in model.unpack(np.zeros(model.n_params)).items()} == {
        "W1": (5, 4), "b1": (4,), "W2": (4, 3), "b2": (3,), "W3": (3, 2), "b3": (2,)}
    assert model.penalised == ("W1", "W2", "W3")
    assert bg.MLP(5, [4, 3], 2) == model                       # a list becomes a tuple
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((7, 5)), rng.integers(0, 2, 7)
    one, tup = bg.MLP(5, 4, 2, l2=0.1), bg.MLP(5, (4,), 2, l2=0.1)
    w, v = rng.standard_normal((2, one.n_params))
    np.testing.assert_array_equal(one.init_params(np.random.default_rng(1)),
                                  tup.init_params(np.random.default_rng(1)))
    for f in ("grad_w", "hvp_ww", "hvp_xw"):
        args = (w, X, y) if f == "grad_w" else (w, X, y, v)
        np.testing.assert_array_equal(getattr(one, f)(*args), getattr(tup, f)(*args))


@pytest.mark.parametrize("hidden", [(), (3, 0), (2.5,), (True,), "3"])
def test_bad_hidden_widths_are_refused(hidden):
    with pytest.raises(ValueError, match="n_hidden must be an integer >= 1 or a non-empty tuple"):
        bg.MLP(3, hidden, 2)


def _check_deep(rng):
    model = bg.MLP(3, (4, 3, 2), 3, l2=0.1)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    return gradcheck.check_model(model, 0.8 * rng.standard_normal(model.n_params), X, y, rng=rng)


def test_planted_wrong_second_derivative_of_the_activation_is_caught(monkeypatch):
    assert _check_deep(np.random.default_rng(0)) < 1.0
    f, df, _ = mlp_module.ACTIVATIONS["tanh"]
    wrong = (f, df, lambda A, D1: -A * D1)                 # f'' = -A f', not -2 A f'
    monkeypatch.setitem(mlp_module.ACTIVATIONS, "tanh", wrong)
    with pytest.raises(AssertionError, match="hvp_ww|hvp_xw"):
        _check_deep(np.random.default_rng(0))


@pytest.mark.parametrize("block", ["W2", "b3"])
def test_planted_error_of_1e_3_in_one_middle_block_of_the_hvp_is_caught(block, monkeypatch):
    # a missing cross term (e.g. RA_{l-1}^T dZ_l) is an error of the order of the block itself;
    # the checker's rtol of 1e-6 must see one a thousandth of that size
    original = bg.MLP.r_backward

    def planted(self, w, X, Y, acts, v, rows):
        Hv, dX = original(self, w, X, Y, acts, v, rows)
        part = self.unpack(Hv)[block]
        part += 1e-3 * np.max(np.abs(part)) + 1e-3
        return Hv, dX
    monkeypatch.setattr(bg.MLP, "r_backward", planted)
    with pytest.raises(AssertionError, match="hvp_ww"):
        _check_deep(np.random.default_rng(1))


# ---- mini-batch gradient descent -----------------------------------------------------------


def test_batches_are_a_pure_function_of_seed_and_step():
    gd = bg.GradientDescent(0.1, 5, batch_size=4, seed=3)
    b = [gd.batch(t, 10) for t in range(5)]
    again = bg.GradientDescent(0.1, 5, batch_size=4, seed=3)
    for t in reversed(range(5)):                           # any order, any object: same rows
        np.testing.assert_array_equal(again.batch(t, 10), b[t])
    for B in b:
        assert len(np.unique(B)) == 4 and np.all(np.diff(B) > 0) and B[-1] < 10
    assert len({tuple(B) for B in b}) > 1                 # the batches do change with t
    other = bg.GradientDescent(0.1, 5, batch_size=4, seed=4)
    assert any(not np.array_equal(other.batch(t, 10), b[t]) for t in range(5))
    assert bg.GradientDescent(0.1, 5).batch(0, 10) == slice(None)


def test_batch_of_every_row_is_full_batch_descent():
    rng = np.random.default_rng(0)
    model = bg.MLP(3, (4, 3), 3, l2=0.1)
    X, y = rng.standard_normal((9, 3)), rng.integers(0, 3, 9)
    w0 = model.init_params(rng)
    full = bg.GradientDescent(0.3, 10).run(model, w0, X, y)
    every = bg.GradientDescent(0.3, 10, batch_size=9, seed=5).run(model, w0, X, y)
    np.testing.assert_allclose(every, full, rtol=1e-13, atol=1e-15)   # same rows, copied


def test_a_minibatch_step_is_a_gradient_step_on_its_rows_only():
    rng = np.random.default_rng(1)
    model = bg.SoftmaxRegression(3, 3, l2=0.1)
    X, y = rng.standard_normal((12, 3)), rng.integers(0, 3, 12)
    w0 = rng.standard_normal(model.n_params)
    gd = bg.GradientDescent(0.3, 1, batch_size=5, seed=2)
    B = gd.batch(0, 12)
    expected = w0 - 0.3 * model.grad_w(w0, X[B], y[B])
    np.testing.assert_array_equal(gd.run(model, w0, X, y), expected)


@pytest.mark.parametrize("size, message", [(0, "batch_size must be"), (-2, "batch_size must be"),
                                           (13, "batch_size=13 is larger than the data")])
def test_bad_batch_sizes_are_refused(size, message):
    rng = np.random.default_rng(0)
    model = bg.SoftmaxRegression(2, 2)
    with pytest.raises(ValueError, match=message):
        bg.GradientDescent(0.1, 3, batch_size=size).run(
            model, np.zeros(model.n_params), rng.standard_normal((12, 2)), rng.integers(0, 2, 12))


@pytest.mark.parametrize("reversal", ["stored", "checkpoint", "fixed-point"])
@settings(max_examples=15)
@given(st.data())
def test_minibatch_hypergradient_matches_finite_differences_of_the_stochastic_run(reversal,
                                                                                  data):
    lrs = (0.05,) if reversal == "fixed-point" else (0.05, 0.2)
    p, rng = data.draw(minibatch_problems(lrs=lrs))
    every = {"checkpoint_every": 2} if reversal == "checkpoint" else {}
    result = bg.back_gradient(*p, reversal=reversal, **every)
    A = attacker_value(p)                                        # the same seeds, every run
    assert result.value == pytest.approx(A(p.X_c), rel=1e-12)
    gradcheck.check_gradient(A, lambda _: result.dX_c, p.X_c, rng=rng, name=reversal, arg="X_c")


def test_minibatch_poisoning_rows_not_drawn_get_no_gradient():
    model, gd = bg.SoftmaxRegression(2, 3, l2=0.1), bg.GradientDescent(0.3, 3, batch_size=4)
    p = poisoning(model, gd, np.random.default_rng(4), n=20, m=3, w0=np.zeros(model.n_params))
    drawn = set().union(*(gd.batch(t, 23) for t in range(3)))
    never = [j for j in range(3) if 20 + j not in drawn]
    assert never                                           # seed 0 leaves some poisoning row out
    r = bg.back_gradient(*p)
    assert np.all(r.dX_c[never] == 0.0)
    assert np.all(np.any(r.dX_c[[j for j in range(3) if j not in never]] != 0.0, axis=1))


def test_paper_reversal_with_minibatches_uses_each_steps_batch():
    # The paper's first-order reversal, step t undone with g_t on the batch B_t: the error
    # against the exact reversal is O(eta) over a fixed horizon eta T, as for full batch
    # (measured, relative error 0.094, 0.041, 0.0045 and w_0 drift 0.15, 0.073, 0.026 at
    # eta = 0.4, 0.2, 0.1; we ask for a factor 1.5 per halving). Undoing with other rows than
    # the forward step's would leave an error that does not shrink with eta.
    errors, drifts = [], []
    for lr, T in ((0.4, 10), (0.2, 20), (0.1, 40)):
        p = poisoning(bg.SoftmaxRegression(4, 3, l2=0.05),
                      bg.GradientDescent(lr, T, batch_size=8, seed=1), np.random.default_rng(0),
                      n=30, m=3, n_val=10, w0=0.1)
        runs = {rev: bg.back_gradient(*p, reversal=rev) for rev in ("stored", "paper")}
        errors.append(np.max(np.abs(runs["paper"].dX_c - runs["stored"].dX_c))
                      / np.max(np.abs(runs["stored"].dX_c)))
        drifts.append(runs["paper"].w0_error)
    assert errors[0] > 1e-2                                # measurably first order
    assert errors[1] < errors[0] / 1.5 and errors[2] < errors[1] / 1.5
    assert drifts[1] < drifts[0] / 1.5 and drifts[2] < drifts[1] / 1.5


@pytest.mark.parametrize("gamma", [0.5, 0.9])
def test_exact_reversal_with_minibatches_restores_every_bit_and_matches_differences(gamma):
    rng = np.random.default_rng(2)
    gd = bg.GradientDescent(0.3, 15, momentum=gamma, batch_size=5, seed=7)
    p = poisoning(bg.MLP(3, (3, 2), 3, l2=0.05), gd, rng, n=10, m=2, w0=0.5)
    model, w0 = p.model, p.w0
    X, Y = np.vstack([p.X_tr, p.X_c]), model.targets(np.concatenate([p.y_tr, p.y_c]))
    forward = [to_float(to_fixed(w0))]
    run = Exact(model, gd, X, Y)
    w_t = run.forward(w0, callback=lambda t, w: forward.append(w))
    forward[0] = w0                                        # the caller's w_0, bit for bit
    for t in reversed(range(gd.n_steps)):                  # every w_t, bit for bit
        w_t, _ = run.previous(t, w_t, None)
        np.testing.assert_array_equal(w_t, forward[t])
    assert run.buffer.bits() == 0

    A = attacker_value(p, train=exact_training)            # A of the fixed-point training run
    result = bg.back_gradient(*p, reversal="exact")
    assert result.w0_error == 0.0
    # eps = 1e-4 as in test_exact: the fixed-point run's rounding noise (~1e-13) over 2 eps
    gradcheck.check_gradient(A, lambda _: result.dX_c, p.X_c, rng=rng, eps=1e-4, arg="X_c",
                             name="exact back-gradient, mini-batches")


def test_products_at_end_is_refused_with_minibatches():
    rng = np.random.default_rng(0)
    model = bg.SoftmaxRegression(2, 2)
    X, y = rng.standard_normal((6, 2)), rng.integers(0, 2, 6)
    gd = bg.GradientDescent(0.1, 3, batch_size=3)
    with pytest.raises(ValueError, match="needs full-batch"):
        bg.back_gradient(model, gd, np.zeros(model.n_params), X, y, X[:1], y[:1],
                         bg.ErrorGeneric(X, y), products_at="end")


def test_a_minibatch_step_without_its_step_number_is_refused():
    model = bg.SoftmaxRegression(2, 2)
    gd = bg.GradientDescent(0.1, 3, batch_size=2)
    X, Y = np.ones((4, 2)), model.targets(np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="needs its step number t"):
        gd.step(model, np.zeros(model.n_params), np.zeros(model.n_params), X, Y)


def test_cli_hidden_accepts_one_width_or_one_per_layer():
    import argparse
    from bgpoison.experiments.flags import _hidden
    assert _hidden("64") == 64                             # an int: settings ids unchanged
    assert _hidden("64,32") == (64, 32)
    with pytest.raises(argparse.ArgumentTypeError):
        _hidden("64,x")

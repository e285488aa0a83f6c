"""Cost, not correctness: what one training step computes. These tests pin how much work the
code does (a slower but correct implementation would fail them), so they live apart from the
specification of the maths and the behaviour; timings themselves are the benchmark's
(``python -m bgpoison.experiments.bench``)."""
import numpy as np

import bgpoison as bg


def test_training_takes_one_forward_pass_per_step_its_divergence_checks_included(monkeypatch):
    # the loss checked for divergence, L(w_t), is read from step t's own forward pass
    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    model = bg.LogisticRegression(3)
    forwards, forward = [], type(model).forward
    monkeypatch.setattr(type(model), "forward",
                        lambda self, w, X: forwards.append(1) or forward(self, w, X))
    bg.GradientDescent(0.1, 100).run(model, model.init_params(0), X, y)
    assert len(forwards) == 100


def test_training_checks_its_loss_about_log2_T_times(monkeypatch):
    # checks.loss_due's budget: t = 0, the floor(log2 T) + 1 powers of two below T and the last
    # step (its docstring's "log2(T) + 2", counting the powers of two as log2 T), about
    # 1 % of training; when they happen matters only for how soon a divergence is named, which
    # test_faults.py specifies by behaviour
    from bgpoison import checks
    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    model, checked, check_loss = bg.LogisticRegression(3), [], checks.check_loss
    monkeypatch.setattr(checks, "check_loss",
                        lambda loss, start, t, gd: checked.append(t) or check_loss(loss, start, t, gd))
    bg.GradientDescent(0.1, 100).run(model, model.init_params(0), X, y)
    assert len(checked) <= np.floor(np.log2(100)) + 3

"""Bad input: a ValueError that says what was expected, one test each."""
import numpy as np
import pytest

import bgpoison as bg

rng = np.random.default_rng(0)
MODEL = bg.SoftmaxRegression(3, 4)
W = np.zeros(MODEL.n_params)
X = rng.standard_normal((5, 3))
Y = np.array([0, 1, 2, 3, 0])
GD = bg.GradientDescent(0.1, 3)
OBJ = bg.ErrorGeneric(X, Y)


def _bad(value, row=0, col=0):
    X2 = X.copy()
    X2[row, col] = value
    return X2


@pytest.mark.parametrize("call, message", [
    (lambda: MODEL.loss(W, X[:, :2], Y), r"X must have 3 columns"),
    (lambda: MODEL.loss(W, X[0], Y), r"X must be a 2-D array"),
    (lambda: MODEL.loss(W[:-1], X, Y), r"w must be a flat vector of shape \(16,\)"),
    (lambda: MODEL.loss(W, X, Y[:4]), r"y must have shape \(5,\)"),
    (lambda: MODEL.hvp_ww(W, X, Y, np.zeros(3)), r"u must be a flat vector"),
    (lambda: MODEL.grad_w(W, _bad(np.nan), Y), r"X must be finite; it holds 1 NaN"),
    (lambda: MODEL.grad_w(W, _bad(np.inf), Y), r"X must be finite"),
    (lambda: MODEL.grad_w(np.full(16, np.nan), X, Y), r"w must be finite"),
    (lambda: MODEL.loss(W, X, np.array([0, 1, 2, 4, 0])), r"labels in 0..3; got values from 0 to 4"),
    (lambda: MODEL.loss(W, X, np.array([0, -1, 2, 3, 0])), r"labels in 0..3"),
    (lambda: MODEL.loss(W, X, np.array([0, 1.5, 2, 3, 0])), r"integer labels"),
    (lambda: bg.LogisticRegression(3).loss(np.zeros(4), X, Y), r"labels in 0..1"),
    (lambda: bg.SoftmaxRegression(3, 1), r"n_classes must be an integer >= 2"),
    (lambda: bg.Adaline(0), r"n_features must be an integer >= 1"),
    (lambda: bg.Adaline(3, l2=-1.0), r"l2 must be a finite number >= 0"),
    (lambda: bg.MLP(3, 0, 2), r"n_hidden must be an integer >= 1"),
    (lambda: bg.MLP(3, 2, 2, activation="relu"), r"activation must be one of"),
    (lambda: bg.ErrorGeneric(X, np.array([0, 1])), r"y_val must have shape \(5,\)"),
    (lambda: bg.ErrorSpecific(_bad(np.nan), Y), r"X_val must be finite"),
])
def test_models_and_objectives_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("kwargs, message", [
    ({"X_c": X[:, :2]}, r"X_c must have 3 columns"),
    ({"X_c": _bad(np.inf)[:2]}, r"X_c must be finite"),
    ({"X_tr": _bad(np.nan)}, r"X_tr must be finite"),
    ({"y_c": np.array([0, 9])}, r"y_c must hold labels in 0..3"),
    ({"y_tr": Y[:3]}, r"y_tr must have shape \(5,\)"),
    ({"w0": np.zeros(3)}, r"w0 must be a flat vector"),
    ({"reversal": "magic"}, r"reversal must be one of \['checkpoint', .*'stored'\]"),
    ({"products_at": "middle"}, r"products_at must be 'start' or 'end'"),
    ({"reversal": "checkpoint", "checkpoint_every": 0}, r"checkpoint_every must be an integer"),
    ({"objective": bg.ErrorSpecific(X, np.array([0, 1, 2, 3, 7]))}, r"y_target must hold labels in 0..3"),
    ({"objective": bg.ErrorGeneric(X[:, :2], Y)}, r"X_val must have 3 columns"),
])
def test_back_gradient_rejects_bad_input(kwargs, message):
    args = dict(model=MODEL, gd=GD, w0=W, X_tr=X, y_tr=Y, X_c=X[:2], y_c=Y[:2], objective=OBJ)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        bg.back_gradient(**args)

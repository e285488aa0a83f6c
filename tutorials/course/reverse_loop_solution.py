"""Exercise: the reverse loop of the back-gradient, for plain gradient descent.

One task, graded by ``grade.py`` (see README.md):

    task_reverse_loop   ``reverse_loop``

``back_gradient`` below is the glue: it trains, keeping every iterate (the "stored" reversal), takes
dA/dw_T from the attacker's objective and calls your ``reverse_loop``. Each forward step is

    w_{t+1} = w_t - eta g(w_t, X),        g = grad_w L(w; X),  X = [X_tr; X_c]

Tutorial 03 derives how to undo it. Write the loop yourself: code that calls the library's
``bg.back_gradient`` fails.
### BEGIN HINT

With dw = dA/dw_{t+1}, undoing the step is

    dX[rows] += -eta (H_xw(w_t) dw)[rows]
    dw        =  dw - eta H_ww(w_t) dw               (now dA/dw_t)

Both products come from one call of any bgpoison model (tutorial 01; base.py):

    Hdw, dX_rows = model.r_backward(w_t, X, Y, model.forward(w_t, X), dw, rows)
### END HINT
"""
import numpy as np


def reverse_loop(model, lr, ws, X, Y, rows, dw):
    """Walk the training run ``ws = [w_0, ..., w_T]`` backwards from ``dw`` = dA/dw_T.

    ``Y`` = ``model.targets(y)``, the targets (one row per row of ``X``); ``rows`` selects the
    poisoning rows of ``X``. Returns (dA/dX[rows] with shape (r, d), dA/dw_0 with shape (p,)).
    Do not modify ``dw`` in place: it belongs to the caller.
    """
    ### BEGIN SOLUTION
    dX_rows = np.zeros_like(X[rows])                           # (r, d)
    for t in reversed(range(len(ws) - 1)):                     # undo w_{t+1} = w_t - lr g(w_t)
        w_t = ws[t]
        Hdw, dX_t = model.r_backward(w_t, X, Y, model.forward(w_t, X), dw, rows)
        dX_rows = dX_rows - lr * dX_t                          # X enters g at every step
        dw = dw - lr * Hdw                                     # dA/dw_t
    return dX_rows, dw
    ### END SOLUTION


def back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
    """(dA/dX_c, dA/dw_0) after ``gd.n_steps`` steps of plain gradient descent on D_tr and D_c."""
    if gd.momentum != 0.0:
        raise ValueError("this exercise reverses plain gradient descent only (momentum=0)")
    X = np.vstack([X_tr, X_c])                                 # (n + m, d)
    Y = model.targets(np.concatenate([y_tr, y_c]))
    ws, w, v = [w0], w0, np.zeros_like(w0)
    for t in range(gd.n_steps):                                # the library's own update
        w, v = gd.step(model, w, v, X, Y, t)
        ws.append(w)
    _, dw = objective.value_and_grad(model, ws[-1])            # dA/dw_T
    return reverse_loop(model, gd.lr, ws, X, Y, slice(len(X_tr), None), dw)

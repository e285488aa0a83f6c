"""Exercise: one reverse step of the back-gradient through gradient descent with momentum.

One task, graded by ``grade.py`` (see README.md):

    task_momentum_reverse   ``reverse_step``

Each forward step (Maclaurin et al.; bgpoison.GradientDescent with ``momentum`` gamma) is

    v_{t+1} = gamma v_t - (1 - gamma) g(w_t, X),      w_{t+1} = w_t + eta v_{t+1}

``back_gradient`` below is the glue: it trains keeping every w_t, takes dA/dw_T from the
objective (A does not depend on v_T: dv = 0) and calls your ``reverse_step`` from t = T-1 down
to 0. While grading, the library's ``bg.back_gradient`` (and its reversals) raise.
### BEGIN HINT

Undo the two lines in reverse order, with dw = dA/dw_{t+1} and dv = dA/dv_{t+1}:

    dv   = dv + eta dw                       (w_{t+1} depends on v_{t+1})
    dg   = -(1 - gamma) dv                   (v_{t+1} depends on g_t)
    dv_t = gamma dv
    dw_t = dw + H_ww(w_t) dg,    dX[rows] += (H_xw(w_t) dg)[rows]

Both products from one call: ``model.r_backward(w_t, X, Y, model.forward(w_t, X), dg, rows)``.
### END HINT
"""
import numpy as np


def reverse_step(model, lr, momentum, w_t, X, Y, rows, dw, dv):
    """Undo step t. ``dw``, ``dv`` = dA/dw_{t+1}, dA/dv_{t+1}. Returns (dA/dw_t, dA/dv_t, the
    contribution of this step to dA/dX[rows], shape (r, d)). Do not modify dw or dv in place."""
    ### BEGIN SOLUTION
    dv = dv + lr * dw                                        # undo w_{t+1} = w_t + eta v_{t+1}
    dg = -(1.0 - momentum) * dv                              # undo v_{t+1} = ... - (1-g) g_t
    Hdg, dX_rows = model.r_backward(w_t, X, Y, model.forward(w_t, X), dg, rows)
    return dw + Hdg, momentum * dv, dX_rows
    ### END SOLUTION


def back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
    """(dA/dX_c, dA/dw_0) after ``gd.n_steps`` steps of gradient descent with momentum."""
    X = np.vstack([X_tr, X_c])                               # (n + m, d)
    Y = model.targets(np.concatenate([y_tr, y_c]))
    rows = slice(len(X_tr), None)
    ws, w, v = [w0], w0, np.zeros_like(w0)
    for t in range(gd.n_steps):                              # the library's own update
        w, v = gd.step(model, w, v, X, Y, t)
        ws.append(w)
    _, dw = objective.value_and_grad(model, ws[-1])          # dA/dw_T
    dv, dX_c = np.zeros_like(dw), np.zeros_like(X_c)
    for t in reversed(range(gd.n_steps)):
        dw, dv, dX_t = reverse_step(model, gd.lr, gd.momentum, ws[t], X, Y, rows, dw, dv)
        dX_c = dX_c + dX_t
    return dX_c, dw

"""The implicit-function (KKT) hypergradient: the baseline that back-gradients replace.

Train to optimality, so that grad_w L(w*, X_c) = 0. Differentiating that condition in X_c gives
dw*/dX_c = -H_ww^{-1} H_xw, so

    dA/dX_c = -H_xw^T H_ww^{-1} grad_w A(w*) = -d/dX_c < grad_w L(w*), z >,   H_ww z = grad_w A(w*)

The linear system is solved by conjugate gradients on ``hvp_ww`` (never forming H), or directly
for small p (H built column by column from p products). Only convex models qualify: the
condition must define a unique optimum, so the l2 penalty must make H_ww positive definite.
This costs one optimisation to convergence plus one solve, O(p^3) time and O(p^2) memory for the
direct solve: the paper's argument for back-gradients, measured in ``bgpoison.experiments.bench``.
"""
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse.linalg

from .models import CNN, MLP, Adaline


def train_to_optimum(model, w0, X, Y, gtol=1e-10, max_iter=10_000):
    """w* = argmin L(w; X) by L-BFGS from ``w0``; ``Y`` = ``model.targets(y)``."""
    def fun(w):
        acts = model.forward(w, X)
        return (model.data_loss(acts, Y) + model.penalty(w),
                model.backward(w, X, Y, acts))
    res = scipy.optimize.minimize(fun, w0, jac=True, method="L-BFGS-B",
                                  options={"gtol": gtol, "ftol": 0.0, "maxiter": max_iter})
    return res.x


def implicit_gradient(model, w_opt, X, Y, rows, objective, solver="auto", cg_tol=1e-12):
    """(A(w*), dA/dX[rows]) at an optimum ``w_opt`` of L(w; X) by the implicit function theorem.

    ``solver``: "cg" (conjugate gradients on hvp_ww), "direct" (np.linalg.solve on the full
    Hessian) or "auto" (direct when n_params <= 500).
    """
    value, dw = objective.value_and_grad(model, w_opt)            # grad_w A(w*), (p,)
    acts = model.forward(w_opt, X)
    hvp = lambda v: model.r_backward(w_opt, X, Y, acts, v, slice(0, 0))[0]
    if solver == "auto":
        solver = "direct" if model.n_params <= 500 else "cg"
    if solver == "direct":
        H = np.column_stack([hvp(e) for e in np.eye(model.n_params)])   # (p, p)
        z = np.linalg.solve(0.5 * (H + H.T), dw)
    elif solver == "cg":
        H = scipy.sparse.linalg.LinearOperator((model.n_params,) * 2, matvec=hvp, dtype=float)
        z, info = scipy.sparse.linalg.cg(H, dw, rtol=cg_tol, atol=0.0, maxiter=10 * len(dw))
        if info != 0:
            raise RuntimeError(f"conjugate gradients did not converge (info={info}); the "
                               f"Hessian may be singular: use l2 > 0")
    else:
        raise ValueError(f"solver must be 'auto', 'cg' or 'direct'; got {solver!r}")
    return value, -model.r_backward(w_opt, X, Y, acts, z, rows)[1]   # -H_xw^T z, rows only


@dataclass(frozen=True)
class KKTGradient:
    """The attack's gradient source by the implicit function theorem (convex models only).

    Both the value and the gradient are taken at the optimum w*, not after T steps: that is the
    model the KKT attack assumes. ``gd`` is ignored, ``w0`` only starts L-BFGS.
    """

    solver: str = "auto"
    gtol: float = 1e-10

    def check(self, model):
        if isinstance(model, (MLP, CNN)):
            raise ValueError(f"the KKT (implicit) gradient needs a convex model (Adaline, "
                             f"LogisticRegression, SoftmaxRegression); the "
                             f"{type(model).__name__} is not convex")
        if model.l2 <= 0 and not isinstance(model, Adaline):
            raise ValueError(f"the KKT gradient needs l2 > 0 for {type(model).__name__}: "
                             "without it the optimum may not exist or be unique")

    def _optimum(self, model, w0, X_tr, y_tr, X_c, y_c):
        self.check(model)
        X = np.vstack([X_tr, X_c])
        Y = model.targets(np.concatenate([y_tr, y_c]))
        return X, Y, train_to_optimum(model, w0, X, Y, gtol=self.gtol)

    def value(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        return objective.value(model, self._optimum(model, w0, X_tr, y_tr, X_c, y_c)[2])

    def value_and_grad(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        X, Y, w_opt = self._optimum(model, w0, X_tr, y_tr, X_c, y_c)
        return implicit_gradient(model, w_opt, X, Y, slice(len(X_tr), None), objective,
                                 solver=self.solver)

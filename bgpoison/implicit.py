"""The implicit-function (KKT) hypergradient: the baseline that back-gradients replace.

Train to optimality, so that grad_w L(w*, X_c) = 0. Differentiating that condition in X_c gives
dw*/dX_c = -H_ww^{-1} H_xw, so

    dA/dX_c = -H_xw H_ww^{-1} grad_w A(w*) = -d/dX_c < grad_w L(w*), z >,   H_ww z = grad_w A(w*)

The linear system is solved by conjugate gradients on ``hvp_ww`` (never forming H), or directly
for small p (H built column by column from p products). Only convex models (``model.convex``)
qualify: the condition must define a unique optimum, so H_ww must be positive definite (the l2
penalty makes it so where the loss alone may not: ``model.optimum_needs_l2``).
This costs one optimisation to convergence plus one solve, O(p^3) time and O(p^2) memory for the
direct solve: the paper's argument for back-gradients, measured in ``bgpoison.experiments.bench``.
"""
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse.linalg


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
    hvp = lambda u: model.r_backward(w_opt, X, Y, acts, u, slice(0, 0))[0]   # H_ww u
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
    return value, -model.r_backward(w_opt, X, Y, acts, z, rows)[1]   # -H_xw z, rows only


@dataclass
class Optimum:
    """A training run to the optimum w* of L on [X_tr; X_c] (n = len(X_tr)), kept for one KKT
    gradient; ``value`` is A(w*)."""

    model: object
    objective: object
    X: np.ndarray
    Y: np.ndarray
    n: int
    w_T: np.ndarray
    value: float


@dataclass(frozen=True)
class KKTGradient:
    """The attack's gradient source by the implicit function theorem (convex models only).

    Both the value and the gradient are taken at the optimum w*, not after T steps: that is the
    model the KKT attack assumes. ``gd`` is ignored, ``w0`` only starts L-BFGS.
    """

    solver: str = "auto"
    gtol: float = 1e-10

    def check(self, model):
        if not model.convex:
            raise ValueError(f"the KKT (implicit) gradient needs a convex model (Adaline, "
                             f"LogisticRegression, SoftmaxRegression); the "
                             f"{type(model).__name__} is not convex")
        if model.l2 <= 0 and model.optimum_needs_l2:
            raise ValueError(f"the KKT gradient needs l2 > 0 for {type(model).__name__}: "
                             "without it the optimum may not exist or be unique")

    def train(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        """Train to the optimum on D_tr and D_c: an ``Optimum`` (``.value`` is A(w*))."""
        self.check(model)
        X = np.vstack([X_tr, X_c])
        Y = model.targets(np.concatenate([y_tr, y_c]))
        w_opt = train_to_optimum(model, w0, X, Y, gtol=self.gtol)
        return Optimum(model, objective, X, Y, len(X_tr), w_opt, objective.value(model, w_opt))

    def gradient(self, run):
        """dA/dX_c at the optimum of ``run`` (from ``train``)."""
        return implicit_gradient(run.model, run.w_T, run.X, run.Y, slice(run.n, None),
                                 run.objective, solver=self.solver)[1]

    def value_and_grad(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        """(A(w*), dA/dX_c) at the optimum of training on D_tr and D_c."""
        run = self.train(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
        return run.value, self.gradient(run)

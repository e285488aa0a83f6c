"""Algorithm "back-gradient": dA/dX_c by reverse-mode differentiation through a training run.

X = [X_tr; X_c] (n + m rows), g_t = grad_w L(w_t; X[B_t]) on the batch B_t of step t (every row
for full batch). The forward loop is ``training.descend``; ``reverse`` below undoes it:

    forward, t = 0 .. T-1                      reverse, t = T-1 .. 0, from dw = grad_w A(w_T)
                                                   w_t = previous(t, w_{t+1})     (reversal.py)
    g_t     = grad_w L(w_t; X[B_t])         (3)    dw  += H_ww(w_t) dg,  dX_c += H_xw(w_t) dg
    v_{t+1} = gamma v_t - (1 - gamma) g_t   (2)    dg   = -(1 - gamma) dv,  dv = gamma dv
    w_{t+1} = w_t + eta v_{t+1}             (1)    dv  += eta dw

(the reverse column reads bottom-up: each line undoes the forward line beside it, (1) first).
With gamma = 0 this is the paper's  dw_t = dw_{t+1} - eta H_ww(w_t) dw_{t+1},
dX_c += -eta H_xw(w_t) dw_{t+1}. Both products are taken at w_t, the weights at which the forward
step took its gradient; ``products_at="end"`` takes them at w_{t+1}, as the paper's printed
algorithm does, to show that it is less accurate. H_xw(w_t) u = d/dX_c <g_t, u> has a row for
each poisoning point drawn into B_t (all of them for full batch); the others get nothing at t.

The reversal strategies differ only in ``previous``: how w_t is recovered (stored, checkpoint,
paper, fixed-point; "exact" for momentum runs on a fixed-point grid). ``back_gradient`` is
``reverse(train_forward(...))``: a ``ForwardRun`` can be kept and reversed later (the attack keeps
the training run of the line-search trial it accepts, which its next hypergradient reverses).
"""
import warnings
from dataclasses import dataclass

import numpy as np

from . import checks
from .exact import Exact
from .reversal import Checkpoint, FixedPoint, Paper, Stored

# the reversal strategies by name (``back_gradient(..., reversal=NAME)``)
REVERSALS = {cls.name: cls for cls in (Stored, Checkpoint, Paper, FixedPoint, Exact)}


@dataclass
class ForwardRun:
    """One training run on D_tr and D_c, kept for one reverse pass (``train_forward``).

    X, Y, n     the stacked rows [X_tr; X_c], their targets, and n = len(X_tr)
    trajectory  the reversal strategy after its forward run (what it keeps to go back)
    value, dw   A(w_T) and grad_w A(w_T), (n_params,)
    """

    model: object
    gd: object
    w0: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    n: int
    trajectory: object
    w_T: np.ndarray
    value: float
    dw: np.ndarray
    reversed: bool = False


@dataclass
class BackGradientResult:
    """What one reverse pass returns.

    dX_c          dA/dX_c, shape of X_c (all poisoning rows at once)
    value         A(w_T)
    w_T           the trained weights, (n_params,)
    dw0           dA/dw_0, (n_params,)
    w0_error      max |reconstructed w_0 - true w_0| (0 for the exact strategies)
    vectors_held  parameter vectors the strategy keeps to recover the trajectory
    iterations    fixed-point iterations in all (0 for the other strategies)
    buffer_bits   peak bits in the information buffer of the "exact" reversal (0 otherwise)
    """

    dX_c: np.ndarray
    value: float
    w_T: np.ndarray
    dw0: np.ndarray
    w0_error: float
    vectors_held: int
    iterations: int = 0
    buffer_bits: int = 0

    @property
    def grad(self):
        """Deprecated name of ``dX_c`` (removed in the next release)."""
        warnings.warn("BackGradientResult.grad is now .dX_c", DeprecationWarning, stacklevel=2)
        return self.dX_c

    @property
    def grad_w0(self):
        """Deprecated name of ``dw0`` (removed in the next release)."""
        warnings.warn("BackGradientResult.grad_w0 is now .dw0", DeprecationWarning, stacklevel=2)
        return self.dw0


def back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal="stored", *,
                  products_at="start", checkpoint_every=None, tol=0.0, max_iter=100):
    """dA/dX_c for the attacker's objective A of the weights trained on D_tr and D_c.

    ``reversal``: "stored", "checkpoint" (every ``checkpoint_every`` steps, default ~sqrt(T)),
    "paper", "fixed-point" (``tol``, ``max_iter``; tol=0 iterates to the round-off floor) or
    "exact" (momentum only, fixed-point integers); see ``bgpoison.reversal``, ``bgpoison.exact``.
    ``products_at``: "start" (w_t, correct) or "end" (w_{t+1}, the paper's printed order).
    """
    _check_products_at(products_at, gd)
    run = train_forward(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal,
                        checkpoint_every=checkpoint_every, tol=tol, max_iter=max_iter)
    return reverse(run, products_at)


def train_forward(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal="stored", *,
                  checkpoint_every=None, tol=0.0, max_iter=100):
    """The forward half: train on D_tr and D_c, keeping what ``reversal`` needs to go back;
    A(w_T) and grad_w A(w_T). ``reverse(run)`` finishes it."""
    X, Y, n = _stack(model, X_tr, y_tr, X_c, y_c)
    w0 = checks.as_vector(w0, "w0", model.n_params)
    if reversal not in REVERSALS:
        raise ValueError(f"reversal must be one of {sorted(REVERSALS)}; got {reversal!r}")
    if checkpoint_every is not None and reversal != "checkpoint":
        raise ValueError(f"checkpoint_every applies to reversal='checkpoint' only; got "
                         f"checkpoint_every={checkpoint_every!r} with reversal={reversal!r}")
    options = {"checkpoint": {"every": checkpoint_every},
               "fixed-point": {"tol": tol, "max_iter": max_iter}}.get(reversal, {})
    trajectory = REVERSALS[reversal](model, gd, X, Y, **options)
    w_T = trajectory.forward(w0)                               # Algorithm "train"
    value, dw = objective.value_and_grad(model, w_T)           # A(w_T), dA/dw_T
    return ForwardRun(model, gd, w0, X, Y, n, trajectory, w_T, value, dw)


def reverse(run, products_at="start"):
    """The reverse half of ``back_gradient``: the training run undone step by step, T-1 to 0
    (each ``ForwardRun`` once: its trajectory is used up)."""
    model, gd, X, Y, n, trajectory = run.model, run.gd, run.X, run.Y, run.n, run.trajectory
    _check_products_at(products_at, gd)
    if run.reversed:
        raise ValueError("this ForwardRun was already reversed: its trajectory is used up")
    run.reversed = True
    dw = run.dw.copy()                                         # dA/dw_T, (p,)
    dv = np.zeros_like(dw)                                     # dA/dv_T = 0: A ignores v_T
    dX_c = np.zeros((X.shape[0] - n, X.shape[1]))              # dA/dX_c, (m, d)
    w, acts = run.w_T, model.forward(run.w_T, X) if products_at == "end" else None
    for t in reversed(range(gd.n_steps)):
        w_next, acts_next = w, acts                            # w_{t+1} and its activations
        w, acts = trajectory.previous(t, w_next, acts_next)    # w_t, forward(w_t; B_t)
        dv += gd.lr * dw                                       # undo (1) w_{t+1} = w_t + eta v
        dg = -(1.0 - gd.momentum) * dv                         # undo (2) v_{t+1} = gamma v_t
        dv *= gd.momentum                                      #          - (1 - gamma) g_t
        B = gd.batch(t, X.shape[0])                            # the rows of step t
        rows, drawn = _poisoning_rows(B, n)                    # ... that are poisoning points
        at = (w, acts) if products_at == "start" else (w_next, acts_next)
        Hdg, dX_t = model.r_backward(at[0], X[B], Y[B], at[1], dg, rows)   # undo (3) g_t
        dw += Hdg                                              # dA/dw_t
        dX_c[drawn] += dX_t                                    # dA/dX_c, summed over t
    w0_error = float(np.max(np.abs(w - run.w0)))               # w is the reconstructed w_0
    if trajectory.name == "fixed-point":                       # it must not lose the trajectory
        checks.check_reconstruction(w0_error, run.w0, run.w_T, gd.lr)
    if trajectory.name == "paper" and checks.lost_trajectory(w0_error, run.w0, run.w_T):
        warnings.warn(f"the paper's reversal lost the trajectory (w_0 off by {w0_error:.3g}, "
                      f"lr={gd.lr:g}): its hypergradient cannot be trusted; use a smaller lr or "
                      f"reversal='stored', 'checkpoint' or 'fixed-point'", checks.ReversalWarning,
                      stacklevel=3)
    checks.check_hypergradient(run.value, dX_c)                # never a NaN or inf gradient
    return BackGradientResult(
        dX_c=dX_c, value=run.value, w_T=run.w_T, dw0=dw, w0_error=w0_error,
        vectors_held=trajectory.vectors_held, iterations=getattr(trajectory, "iterations", 0),
        buffer_bits=int(np.max(getattr(trajectory, "buffer_bits", 0), initial=0)))


def _poisoning_rows(batch, n):
    """(rows of the batch that are poisoning points, their indices in X_c) for batch B_t.

    Full batch (a slice): rows n.. of X, all of X_c. A sorted index batch has its poisoning
    rows (indices >= n) last: a slice of the batch, and an index array into X_c (distinct
    indices, so ``+=`` through it adds each row once).
    """
    if isinstance(batch, slice):
        return slice(n, None), slice(None)
    first = int(np.searchsorted(batch, n))                     # first poisoning row in B_t
    return slice(first, None), batch[first:] - n


def _check_products_at(products_at, gd):
    if products_at not in ("start", "end"):
        raise ValueError(f"products_at must be 'start' or 'end'; got {products_at!r}")
    if products_at == "end" and gd.batch_size is not None:
        raise ValueError("products_at='end' (the paper's printed order, for comparison) "
                         "needs full-batch training: with mini-batches w_{t+1} belongs "
                         "to another batch")


def _stack(model, X_tr, y_tr, X_c, y_c):
    """Checked X = [X_tr; X_c], its targets, and n = len(X_tr); stacked once, before any loop."""
    X_tr = checks.as_matrix(X_tr, "X_tr", model.n_features)
    X_c = checks.as_matrix(X_c, "X_c", model.n_features)
    y_tr = checks.as_labels(y_tr, "y_tr", model.n_classes, X_tr.shape[0])
    y_c = checks.as_labels(y_c, "y_c", model.n_classes, X_c.shape[0])
    Y = model.targets(np.concatenate([y_tr, y_c]))
    return np.vstack([X_tr, X_c]), Y, X_tr.shape[0]


@dataclass(frozen=True)
class BackGradient:
    """The attack's gradient source by back-gradient: A after T steps of ``gd`` and dA/dX_c.

    ``train`` runs the forward half and returns the ``ForwardRun`` (``.value`` is A(w_T));
    ``gradient(run)`` reverses it. The attack holds the run of its current points, so each
    hypergradient costs one reverse pass. The fields go to ``back_gradient``.
    """

    reversal: str = "stored"
    checkpoint_every: int = None
    tol: float = 0.0
    max_iter: int = 100
    products_at: str = "start"

    def train(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        """One training run on D_tr and D_c, kept for one reverse pass: a ``ForwardRun``."""
        return train_forward(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, self.reversal,
                             checkpoint_every=self.checkpoint_every, tol=self.tol,
                             max_iter=self.max_iter)

    def gradient(self, run):
        """dA/dX_c of a run from ``train``, by its reverse pass."""
        return reverse(run, self.products_at).dX_c

    def value_and_grad(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        """(A(w_T), dA/dX_c) by one forward and one reverse pass."""
        run = self.train(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
        return run.value, self.gradient(run)

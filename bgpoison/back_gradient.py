"""Algorithm "back-gradient": reverse-mode differentiation through a whole training run.

Forward (``GradientDescent.step``; X = [X_tr; X_c], g_t = grad_w L(w_t; X[B_t]) on the batch
B_t of step t, every row for full batch):

    v_{t+1} = gamma v_t - (1 - gamma) g_t          w_{t+1} = w_t + eta v_{t+1}

Reverse, from dw = grad_w A(w_T), dv = 0, dX_c = 0, for t = T-1 down to 0, undoing each line:

    dv  += eta dw                            (w_{t+1} = w_t + eta v_{t+1})
    dg   = -(1 - gamma) dv;  dv = gamma dv   (v_{t+1} = gamma v_t - (1 - gamma) g_t)
    dw  += H_ww(w_t) dg;  dX_c += H_xw(w_t) dg   (g_t = grad_w L(w_t; X[B_t]))

With mini-batches both products are taken on the batch B_t, regenerated from (seed, t), and
H_xw(w_t) dg has rows only for the poisoning points drawn into B_t: the others get nothing at
step t.

With gamma = 0 this is the paper's  dw_t = dw_{t+1} - eta H_ww(w_t) dw_{t+1},
dX_c += -eta H_xw(w_t) dw_{t+1}. Both products are taken at w_t, the weights at which the forward
step took its gradient; ``products_at="end"`` takes them at w_{t+1} instead, as the paper's
printed algorithm does, to show that it is less accurate. The strategies in ``reversal`` differ
only in how w_t is recovered.

``back_gradient`` is ``reverse(train_forward(...))``: the forward half (a ``ForwardRun``, whose
``value`` is A(w_T)) can be kept and reversed later. The attack uses this: the line-search trial
it accepts has trained on exactly the points of its next hypergradient (``BackGradient.train``).
"""
import warnings
from dataclasses import dataclass

import numpy as np

from . import _checks, guards
from .exact import Exact
from .reversal import Checkpoint, FixedPoint, Paper, Stored

# the reversal strategies by name (``back_gradient(..., reversal=NAME)``)
REVERSALS = {cls.name: cls for cls in (Stored, Checkpoint, Paper, FixedPoint, Exact)}


@dataclass
class BackGradientResult:
    """What one reverse pass returns.

    dX_c          dA/dX_c, shape of X_c (all poisoning rows at once)
    value         A(w_T)
    w_T           the trained weights, (n_params,)
    dw0           dA/dw_0, (n_params,)
    w0_error      max |reconstructed w_0 - true w_0| (0 for the exact strategies)
    vectors_held  parameter vectors of the trajectory kept in memory at the peak
    iterations    fixed-point iterations in all (0 for the other strategies)
    buffer_bits   peak bits in the information buffer of the "exact" reversal (0 otherwise)
    bytes_held    peak bytes of the trajectory kept: vectors, plus activations where kept
    """

    dX_c: np.ndarray
    value: float
    w_T: np.ndarray
    dw0: np.ndarray
    w0_error: float
    vectors_held: int
    iterations: int = 0
    buffer_bits: int = 0
    bytes_held: int = 0

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


@dataclass
class ForwardRun:
    """One training run on D_tr and D_c, kept for one reverse pass (``train_forward``).

    value       A(w_T), the attacker's objective after training
    w_T, dw     the trained weights and grad_w A(w_T), (n_params,) each
    X, Y, n     the stacked rows [X_tr; X_c], their targets, and n = len(X_tr)
    trajectory  the reversal strategy after its forward run (what it keeps to go back)
    """

    model: object
    gd: object
    w0: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    n: int
    trajectory: object
    value: float
    w_T: np.ndarray
    dw: np.ndarray
    reversed: bool = False

    def trained_on(self, model, gd, w0, X_tr, y_tr, X_c, y_c):
        """Whether this run is ``train_forward`` of exactly these arguments (cheap next to a
        reverse pass: one comparison of each array)."""
        Y = model.targets(np.concatenate([y_tr, y_c]))
        pairs = ((w0, self.w0), (X_tr, self.X[:self.n]), (X_c, self.X[self.n:]), (Y, self.Y))
        return (model, gd) == (self.model, self.gd) and \
            all(np.array_equal(a, b) for a, b in pairs)


def train_forward(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal="stored", *,
                  checkpoint_every=None, tol=0.0, max_iter=100):
    """The forward half of ``back_gradient``: train on D_tr and D_c, keeping what ``reversal``
    needs to go back, and evaluate A(w_T) and grad_w A(w_T). ``reverse(run)`` finishes it."""
    X, Y, n = _stack(model, w0, X_tr, y_tr, X_c, y_c)
    w0 = _checks.as_vector(w0, "w0", model.n_params)
    if reversal not in REVERSALS:
        raise ValueError(f"reversal must be one of {sorted(REVERSALS)}; got {reversal!r}")
    options = {"checkpoint": {"every": checkpoint_every},
               "fixed-point": {"tol": tol, "max_iter": max_iter}}.get(reversal, {})
    trajectory = REVERSALS[reversal](model, gd, X, Y, **options)
    w_T = trajectory.forward(w0)
    value, dw = objective.value_and_grad(model, w_T)           # dw = dA/dw_T
    return ForwardRun(model, gd, w0, X, Y, n, trajectory, value, w_T, dw)


def reverse(run, products_at="start"):
    """The reverse half of ``back_gradient``, on a ``ForwardRun`` (each run is reversed once)."""
    if products_at not in ("start", "end"):
        raise ValueError(f"products_at must be 'start' or 'end'; got {products_at!r}")
    if run.reversed:
        raise ValueError("this ForwardRun was already reversed: its trajectory is used up")
    run.reversed = True
    model, gd, X, trajectory = run.model, run.gd, run.X, run.trajectory
    dw = run.dw.copy()                                         # dA/dw_T
    dv = np.zeros_like(dw)                                     # dA/dv_T: A ignores v_T
    dX_c = np.zeros((X.shape[0] - run.n, X.shape[1]))
    points = trajectory.backward()                             # (t, w_t, forward(w_t)), t = T-1..0
    if products_at == "end":
        if gd.batch_size is not None:
            raise ValueError("products_at='end' (the paper's printed order, for comparison) "
                             "needs full-batch training: with mini-batches w_{t+1} belongs "
                             "to another batch")
        points = _one_step_late(points, run.w_T, model.forward(run.w_T, X))
    for t, w_t, acts in points:
        dv += gd.lr * dw                                       # undo w_{t+1} = w_t + eta v_{t+1}
        dg = -(1.0 - gd.momentum) * dv                         # undo v_{t+1} = gamma v_t
        dv *= gd.momentum                                      #        - (1 - gamma) g_t
        rows, drawn = _poisoning_rows(gd.batch(t, X.shape[0]), run.n)
        Hdg, dX_t = trajectory.products(t, w_t, acts, dg, rows)  # undo g_t = grad_w L(w_t; B_t)
        dw += Hdg                                              # dA/dw_t
        dX_c[drawn] += dX_t                                    # dA/dX_c, summed over steps
    w0_error = float(np.max(np.abs(trajectory.w0 - run.w0)))
    if trajectory.name == "fixed-point":                       # it must not lose the trajectory
        guards.check_reconstruction(w0_error, run.w0, run.w_T, gd.lr)
    guards.check_hypergradient(run.value, dX_c)                # never a NaN or inf gradient
    return BackGradientResult(
        dX_c=dX_c, value=run.value, w_T=run.w_T, dw0=dw,
        w0_error=w0_error,
        vectors_held=trajectory.vectors_held, iterations=getattr(trajectory, "iterations", 0),
        buffer_bits=int(np.max(getattr(trajectory, "buffer_bits", 0), initial=0)),
        bytes_held=trajectory.bytes_held)


def back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal="stored", *,
                  products_at="start", checkpoint_every=None, tol=0.0, max_iter=100):
    """dA/dX_c for the attacker's objective A of the weights trained on D_tr and D_c.

    ``reversal``: "stored", "checkpoint" (every ``checkpoint_every`` steps, default ~sqrt(T)),
    "paper", "fixed-point" (``tol``, ``max_iter``; tol=0 iterates to the round-off floor) or
    "exact" (momentum only, fixed-point integers); see ``bgpoison.reversal``, ``bgpoison.exact``.
    ``products_at``: "start" (w_t, correct) or "end" (w_{t+1}, the paper's printed order).
    Equal to ``reverse(train_forward(...), products_at)``.
    """
    if products_at not in ("start", "end"):
        raise ValueError(f"products_at must be 'start' or 'end'; got {products_at!r}")
    run = train_forward(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal,
                        checkpoint_every=checkpoint_every, tol=tol, max_iter=max_iter)
    return reverse(run, products_at)


@dataclass(frozen=True)
class BackGradient:
    """The attack's gradient source by back-gradient: A after T steps of ``gd`` and dA/dX_c.

    ``options`` go to ``back_gradient`` (e.g. ``checkpoint_every``, ``tol``). ``train`` keeps a
    training run so that a later ``value_and_grad(..., run=run)`` on the same points runs only
    the reverse pass: the attack's accepted line-search trial is its next hypergradient's run.
    """

    reversal: str = "stored"
    options: tuple = ()

    def value(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        """A(w_T) after training on D_tr and D_c (one training run)."""
        w_T = gd.run(model, w0, np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c]))
        return objective.value(model, w_T)

    def train(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        """One training run kept for a reverse pass, a ``ForwardRun``; ``.value`` is A(w_T)."""
        options = {k: v for k, v in self.options if k != "products_at"}
        return train_forward(model, gd, w0, X_tr, y_tr, X_c, y_c, objective,
                             reversal=self.reversal, **options)

    def value_and_grad(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective, run=None):
        """(A(w_T), dA/dX_c) by one forward and one reverse pass; with ``run`` (from ``train``
        on these same X_c, y_c, w0 and data) by the reverse pass alone."""
        if run is None:
            run = self.train(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
        elif not run.trained_on(model, gd, w0, X_tr, y_tr, X_c, y_c):
            raise ValueError("run was trained on other data, points, weights or settings")
        r = reverse(run, dict(self.options).get("products_at", "start"))
        return r.value, r.dX_c


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


def _one_step_late(points, w_T, acts_T):
    """Yield w_{t+1} where w_t was due: the paper's printed order, for comparison only."""
    late = (w_T, acts_T)
    for t, w_t, acts in points:
        yield (t,) + late
        late = (w_t, acts)


def _stack(model, w0, X_tr, y_tr, X_c, y_c):
    """Checked X = [X_tr; X_c], its targets, and n = len(X_tr); stacked once, before any loop."""
    X_tr = _checks.as_matrix(X_tr, "X_tr", model.n_features)
    X_c = _checks.as_matrix(X_c, "X_c", model.n_features)
    y_tr = _checks.as_labels(y_tr, "y_tr", model.n_classes, X_tr.shape[0])
    y_c = _checks.as_labels(y_c, "y_c", model.n_classes, X_c.shape[0])
    Y = model.targets(np.concatenate([y_tr, y_c]))
    return np.vstack([X_tr, X_c]), Y, X_tr.shape[0]

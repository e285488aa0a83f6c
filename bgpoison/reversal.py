"""How the reverse pass gets w_t back, from t = T-1 down to 0.

Every strategy trains with ``training.descend`` (``forward(w0) -> w_T``), keeping what it needs,
and then recovers one point per reverse step: ``previous(t, w_{t+1}, acts_{t+1}) -> (w_t,
acts_t)``, where acts_t = ``model.forward(w_t, X[B_t])`` on the batch B_t of step t (every row
for full batch) is what the products of the reverse step read. They differ only in that:

    Stored       keep every w_t and acts_t                       exact, T+1 vectors
    Checkpoint   keep every k-th (w_t, v_t), re-run each segment  exact, ~T/k + k vectors
    Paper        w_t ~= w_{t+1} + eta g_t(w_{t+1})               first order, drifts; O(1)
    FixedPoint   solve w_t = w_{t+1} + eta g_t(w_t) by iteration  accurate while eta*L << 1; O(1)
    Exact        (``exact``) momentum on a fixed-point grid, undone bit for bit

where g_t(w) = grad_w L(w; X[B_t]) is the gradient on the batch of step t, regenerated from
(seed, t): the reversed step uses the same rows as the forward step. ``vectors_held`` is the
number of parameter vectors a strategy keeps to recover the trajectory.
"""
import math

import numpy as np

from . import checks
from .checks import ConvergenceError  # noqa: F401  (raised here; importable from here too)
from .training import descend

ULPS = 4 * np.finfo(float).eps                   # a change of a few units in the last place
ROUND_OFF_FLOOR = np.sqrt(np.finfo(float).eps)   # ~1.5e-8: a stalled change below it is round-off
DIVERGED = 1e3                                   # change 1000x its first value: not contracting


class Reversal:
    """What the strategies share: the run's model, schedule and stacked data, and the forward
    run through ``descend``, keeping every ``keep_every``-th step (None: only w_T)."""

    name = None
    keep_every = None
    plain_gd_only = False            # the step is undone through g_t alone: no momentum

    def __init__(self, model, gd, X, Y):
        if self.plain_gd_only and gd.momentum != 0.0:
            raise ValueError(f"reversal={self.name!r} reverses plain gradient descent only "
                             f"(momentum=0, got {gd.momentum}); use 'stored' or 'checkpoint'")
        self.model, self.gd, self.X, self.Y = model, gd, X, Y

    def forward(self, w0):
        """Algorithm "train" from w_0, keeping what ``previous`` needs; returns w_T."""
        w_T, _, self.kept = descend(self.model, self.gd, w0, np.zeros_like(w0), self.X, self.Y,
                                    range(self.gd.n_steps), self.keep_every)
        return w_T


class Stored(Reversal):
    """Keep every iterate w_0..w_{T-1} and its activations from the forward run; exact."""

    name = "stored"
    keep_every = 1

    def forward(self, w0):
        X_0 = self.gd.rows(0, self.X, self.Y)[0]               # one forward pass's size
        acts = sum(a.nbytes for a in self.model.forward(w0, X_0).values())
        checks.check_memory(self.gd.n_steps, w0.nbytes + acts, self.name)   # before keeping
        return super().forward(w0)

    @property
    def vectors_held(self):
        return self.gd.n_steps + 1

    def previous(self, t, w_next, acts_next):
        w, _, acts = self.kept.pop(t)                          # freed once used
        return w, acts


class Checkpoint(Reversal):
    """Keep (w_t, v_t) every ``every`` steps (default ~sqrt(T)); going back, re-run the
    segment from its checkpoint with ``descend`` and keep all of it, as ``Stored`` does."""

    name = "checkpoint"

    def __init__(self, model, gd, X, Y, every=None):
        super().__init__(model, gd, X, Y)
        every = max(1, round(math.sqrt(gd.n_steps))) if every is None else every
        self.keep_every = checks.positive_int(every, "checkpoint_every")
        self.segment = {}

    @property
    def vectors_held(self):
        per_checkpoint = 2 if self.gd.momentum else 1          # v_t matters only with momentum
        return math.ceil(self.gd.n_steps / self.keep_every) * per_checkpoint + self.keep_every

    def previous(self, t, w_next, acts_next):
        if t not in self.segment:                              # re-run the segment ending at t
            start = t - t % self.keep_every
            w, v, _ = self.kept.pop(start)
            v = np.zeros_like(w) if v is None else v           # gamma = 0: v_t is not used
            _, _, self.segment = descend(self.model, self.gd, w, v, self.X, self.Y,
                                         range(start, t + 1), keep_every=1, guard=False)
        w, _, acts = self.segment.pop(t)
        return w, acts


class Paper(Reversal):
    """The paper's reversal: w_t ~= w_{t+1} + eta g_t(w_{t+1}), first order, O(1) memory.

    With full batch, g_t(w_{t+1}) reads the activations at w_{t+1} that the previous reverse
    step computed; with mini-batches step t has its own batch, so it takes a forward pass.
    """

    name = "paper"
    plain_gd_only = True
    vectors_held = 1                                           # w_{t+1}, overwritten by w_t

    def previous(self, t, w_next, acts_next):
        X_t, Y_t = self.gd.rows(t, self.X, self.Y)
        if acts_next is None or self.gd.batch_size is not None:
            acts_next = self.model.forward(w_next, X_t)        # forward(w_{t+1}; B_t)
        w = w_next + self.gd.lr * self.model.backward(w_next, X_t, Y_t, acts_next)
        return w, self.model.forward(w, X_t)


class FixedPoint(Paper):
    """Solve w_t = w_{t+1} + eta g_t(w_t) by fixed-point iteration, warm-started from the
    paper's guess; converges (linearly, rate ~eta*L) while eta*L_smooth < 1."""

    name = "fixed-point"
    vectors_held = 2                                           # w_{t+1} and the iterate

    def __init__(self, model, gd, X, Y, tol=0.0, max_iter=100):
        super().__init__(model, gd, X, Y)
        self.tol = checks.nonnegative(tol, "tol")
        self.max_iter = checks.positive_int(max_iter, "max_iter")
        self.iterations = 0

    def previous(self, t, w_next, acts_next):
        """Iterate u <- w_{t+1} + eta g_t(u) from the paper's guess until it stops moving.

        Converged when the relative change is at most ``tol`` or a few ulps, or when it stops
        shrinking below sqrt(machine epsilon), the round-off floor, or is below that floor when
        ``max_iter`` runs out (slow contraction, lr * L near 1). A change may rise for a while
        before it falls; ``ConvergenceError`` when it grows 1000-fold (the iteration does not
        contract) or is still above the floor after ``max_iter`` iterations. Any stopping
        error is amplified by the rest of the reversal (the backward map expands), so the
        default iterates as far as float64 allows. The result is verified by stepping it
        forward onto w_{t+1} (``checks.check_preimage``).
        """
        X_t, Y_t = self.gd.rows(t, self.X, self.Y)
        u, acts = super().previous(t, w_next, acts_next)       # the paper's guess, forward(u)
        first = last = None
        for _ in range(self.max_iter):
            u_new = w_next + self.gd.lr * self.model.backward(u, X_t, Y_t, acts)
            change = np.max(np.abs(u_new - u)) / (1.0 + np.max(np.abs(u_new)))
            u, acts = u_new, self.model.forward(u_new, X_t)
            self.iterations += 1
            first = change if first is None else first
            if change <= max(self.tol, ULPS) or last is not None and last <= change <= \
                    ROUND_OFF_FLOOR:                           # converged, or stalled at round-off
                break
            if change > DIVERGED * first:                      # growing: it does not contract
                self._fail(t, change)
            last = change
        else:
            if change > ROUND_OFF_FLOOR:                       # creeping at ~1e-15 is accepted
                self._fail(t, change)
        g = self.model.backward(u, X_t, Y_t, acts)
        checks.check_preimage(u - self.gd.lr * g, w_next, t, self.gd.lr,
                              max(self.tol, checks.PREIMAGE_RTOL))
        return u, acts

    def _fail(self, t, change):
        raise ConvergenceError(
            f"fixed-point reversal did not converge at step {t}: the iterate still moved by "
            f"{change:.3e} (relative) after {self.iterations} iterations in all. The iteration "
            f"contracts only while lr * L_smooth < 1 (lr={self.gd.lr:g}); use a smaller lr or "
            f"reversal='stored' or 'checkpoint'")

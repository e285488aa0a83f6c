"""How the reverse pass gets w_t back, from t = T-1 down to 0.

Every strategy runs the forward training (``forward(w0) -> w_T``, through ``GradientDescent.step``)
and then ``backward()`` yields ``(t, w_t, acts_t)`` for t = T-1, ..., 0, where ``acts_t`` is
``model.forward(w_t, X[B_t])`` on the batch B_t of step t (every row for full batch; see
``GradientDescent.batch``). They differ only in what they keep and how they recover w_t:

    Stored       keep every w_t and forward(w_t)                 exact, T+1 vectors
    Checkpoint   keep every k-th (w_t, v_t), re-run each segment  exact, ~T/k + k vectors
    Paper        w_t ~= w_{t+1} + eta g_t(w_{t+1})               first order, drifts; O(1)
    FixedPoint   solve w_t = w_{t+1} + eta g_t(w_t) by iteration  accurate while eta*L << 1; O(1)

where g_t(w) = grad_w L(w; X[B_t]) is the gradient on the batch of step t, regenerated from
(seed, t): the reversed step uses the same rows as the forward step.

The exact strategies keep the activations ``forward(w_t)`` that their training steps computed
(all of them for Stored, one segment's for Checkpoint), so the reverse pass never recomputes a
forward pass: each reverse step costs one R-pass.

After ``backward()`` is exhausted, ``w0`` holds the reconstructed w_0 (compare it with the true
one: that distance is the honest measure of a reversal), ``vectors_held`` the peak number of
parameter vectors kept to recover the trajectory and ``bytes_held`` the peak bytes of those
vectors and the kept activations.
"""
import math

import numpy as np

from . import _checks, guards


ULPS = 4 * np.finfo(float).eps                   # a change of a few units in the last place
ROUND_OFF_FLOOR = np.sqrt(np.finfo(float).eps)   # ~1.5e-8: a stalled change below it is round-off
DIVERGED = 1e3                                   # change 1000x its first value: not contracting


class ConvergenceError(RuntimeError):
    """The fixed-point reversal did not converge within its iteration budget."""


class _Reversal:
    needs_plain_gd = False

    def __init__(self, model, gd, X, Y):
        if self.needs_plain_gd and gd.momentum != 0.0:
            raise ValueError(f"reversal={self.name!r} reverses plain gradient descent only "
                             f"(momentum=0, got {gd.momentum}); use 'stored' or 'checkpoint'")
        self.model, self.gd, self.X, self.Y = model, gd, X, Y
        self.w0, self.vectors_held, self._bytes = None, 0, 0
        self.start = None                            # L(w_0), set by the first step

    @property
    def bytes_held(self):
        """Peak bytes kept: the parameter vectors, plus activations where they are kept."""
        return max(self._bytes, 8 * self.model.n_params * self.vectors_held)

    def _step(self, w, v, t, acts=None):
        acts = self._forward(w, t) if acts is None else acts   # forward(w_t, X[B_t])
        if t == 0:                                  # L(w_0): the divergence check's reference
            Y_0 = self.gd.rows(0, self.X, self.Y)[1]
            self.start = guards.training_loss(self.model, w, acts, Y_0)
        return self.gd.step(self.model, w, v, self.X, self.Y, t, acts, self.start)

    def _forward(self, w, t):
        """forward(w, X[B_t]): the activations at w on the batch of step t."""
        return self.model.forward(w, self.gd.rows(t, self.X, self.Y)[0])

    def _forward_and_step(self, w, v, t):
        """(acts_t, w_{t+1}, v_{t+1}): one step, and of the forward pass it took at w_t the
        activations that ``r_backward`` reads (``model.reverse_needs``), for the caller to keep."""
        acts = self._forward(w, t)                             # forward(w_t)
        return (self._needed(acts),) + self._step(w, v, t, acts)

    def _needed(self, acts):
        needs = self.model.reverse_needs
        return acts if needs is None else {name: acts[name] for name in needs}

    def _point(self, t, w):
        return t, w, self._forward(w, t)

    def _grad(self, w, t, acts=None):
        """g_t(w) = grad_w L(w; X[B_t]), sharing ``acts`` = forward(w, X[B_t]) if given."""
        X, Y = self.gd.rows(t, self.X, self.Y)
        acts = self.model.forward(w, X) if acts is None else acts
        return self.model.backward(w, X, Y, acts)

    def products(self, t, w, acts, v, rows):
        """(H_ww v, rows of H_xw v) at a point (t, w_t) of ``backward()``, on step t's batch:
        ``Model.r_backward``, the one place a strategy may change (``Paper`` also takes the
        gradient there). ``rows`` index the poisoning rows within the batch."""
        X, Y = self.gd.rows(t, self.X, self.Y)
        return self.model.r_backward(w, X, Y, acts, v, rows)


class Stored(_Reversal):
    """Keep every iterate w_0..w_T and every forward(w_t) from the forward run; exact."""

    name = "stored"

    def forward(self, w0):
        w, v = w0, np.zeros_like(w0)
        # one (T+1, p) block, not T+1 separate arrays: long-lived small arrays scattered among
        # the step's large temporaries made malloc return and re-fault memory every step
        # (measured: 420k page faults and 2x slower training for the MLP at digits scale)
        guards.check_memory(self.gd.n_steps + 1, w0.size, self.name)   # before allocating
        self.ws = np.empty((self.gd.n_steps + 1, w0.size))
        self.ws[0] = w0
        self.acts = []                                         # forward(w_t), t = 0..T-1
        for t in range(self.gd.n_steps):
            acts, w, v = self._forward_and_step(w, v, t)
            self.acts.append(acts)
            self.ws[t + 1] = w
        self.vectors_held = len(self.ws)
        self._bytes = self.ws.nbytes + sum(_nbytes(a) for a in self.acts)
        return w

    def backward(self):
        for t in reversed(range(self.gd.n_steps)):
            yield t, self.ws[t], self.acts.pop()               # freed once used
        self.w0 = self.ws[0]


class Checkpoint(_Reversal):
    """Keep (w_t, v_t) every ``every`` steps (default ~sqrt(T)); re-run each segment going back."""

    name = "checkpoint"

    def __init__(self, model, gd, X, Y, every=None):
        super().__init__(model, gd, X, Y)
        every = max(1, round(math.sqrt(gd.n_steps))) if every is None else every
        self.every = _checks.positive_int(every, "checkpoint_every")

    def forward(self, w0):
        w, v = w0, np.zeros_like(w0)
        self.saved = {0: (w, v)}
        for t in range(self.gd.n_steps):
            w, v = self._step(w, v, t)
            if (t + 1) % self.every == 0 and t + 1 < self.gd.n_steps:
                self.saved[t + 1] = (w, v)
        return w

    def backward(self):
        per_checkpoint = 2 if self.gd.momentum else 1          # v_t matters only with momentum
        for start in sorted(self.saved, reverse=True):
            stop = min(start + self.every, self.gd.n_steps)    # segment: steps start..stop-1
            w, v = self.saved.pop(start)
            segment = np.empty((stop - start, w.size))         # w_start .. w_{stop-1}, one
            segment[0] = w                                     # block (see Stored.forward)
            acts = []                                          # forward(w_t) in the segment
            for t in range(start, stop - 1):
                a, w, v = self._forward_and_step(w, v, t)
                acts.append(a)
                segment[t + 1 - start] = w
            acts.append(self._needed(self._forward(w, stop - 1)))   # forward(w_{stop-1})
            held = (len(self.saved) + 1) * per_checkpoint + len(segment) - 1
            self.vectors_held = max(self.vectors_held, held)
            self._bytes = max(self._bytes, 8 * w.size * held + sum(_nbytes(a) for a in acts))
            for t in reversed(range(start, stop)):
                yield t, segment[t - start], acts.pop()
        self.w0 = segment[0]


class Paper(_Reversal):
    """The paper's reversal: w_t ~= w_{t+1} + eta g_t(w_{t+1}), first order, O(1) memory.

    The gradient at each reconstructed w_t shares its forward pass with the products taken
    there, and is then used to step back to w_{t-1}; ``products`` computes it with them
    (``Model.r_backward_and_grad``: one pass over X for X^T RdZ and X^T dZ in linear models).
    With mini-batches step t-1 has another batch than step t, so g_{t-1}(w_t) takes its own
    forward pass.
    """

    name = "paper"
    needs_plain_gd = True

    vectors = 1                                                # w_{t+1}, overwritten by w_t

    def forward(self, w0):
        w, v = w0, np.zeros_like(w0)
        for t in range(self.gd.n_steps):
            w, v = self._step(w, v, t)
        self.w_T, self.vectors_held = w, self.vectors
        return w

    def backward(self):
        w = self.w_T
        g = self._grad(w, self.gd.n_steps - 1)                 # g_{T-1}(w_T)
        full_batch = self.gd.batch_size is None                # the same rows at every step
        for t in reversed(range(self.gd.n_steps)):
            w = self._previous(w, g, t)                        # w_t from w_{t+1}
            point = self._point(t, w)
            self._at = None
            yield point
            if t == 0:
                break
            at, g = self._at or (None, None)                   # g(w_t) from ``products`` at w_t,
            if at is not w or not full_batch:                  # else (products taken elsewhere,
                acts = point[2] if full_batch else None        # products_at="end", or step t-1's
                g = self._grad(w, t - 1, acts)                 # own batch) g_{t-1}(w_t) itself
        self.w0 = w

    def products(self, t, w, acts, v, rows):
        X, Y = self.gd.rows(t, self.X, self.Y)
        Hv, dX, g = self.model.r_backward_and_grad(w, X, Y, acts, v, rows)
        self._at = (w, g)                                      # g_t(w_t) for the next step back
        return Hv, dX

    def _previous(self, w_next, g_next, t):
        """Undo w_{t+1} = w_t - eta g_t(w_t), with g_t(w_{t+1}) standing in for g_t(w_t)."""
        return w_next + self.gd.lr * g_next


class FixedPoint(Paper):
    """Solve w_t = w_{t+1} + eta grad_w L(w_t) by fixed-point iteration, warm-started from the
    paper's guess; converges (linearly, rate ~eta*L) while eta*L_smooth < 1."""

    name = "fixed-point"

    def __init__(self, model, gd, X, Y, tol=0.0, max_iter=100):
        super().__init__(model, gd, X, Y)
        self.tol = _checks.nonnegative(tol, "tol")
        self.max_iter = _checks.positive_int(max_iter, "max_iter")
        self.iterations = 0

    vectors = 2                                                # w_{t+1} and the iterate

    def _previous(self, w_next, g_next, t):
        """Iterate u <- w_{t+1} + eta g_t(u) from the paper's guess until it stops moving.

        Converged when the relative change is at most ``tol`` or a few ulps, or when it stops
        shrinking below sqrt(machine epsilon), the round-off floor, or is below that floor when
        ``max_iter`` runs out (slow contraction, lr * L near 1). A change may rise for a while
        before it falls; ``ConvergenceError`` when it grows 1000-fold (the iteration does not
        contract) or is still above the floor after ``max_iter`` iterations. Any stopping
        error is amplified by the rest of the reversal (the backward map expands), so the
        default iterates as far as float64 allows.
        """
        u = w_next + self.gd.lr * g_next                       # the paper's guess
        first = previous = None
        for _ in range(self.max_iter):
            u_new = w_next + self.gd.lr * self._grad(u, t)
            self.iterations += 1
            scale = 1.0 + np.max(np.abs(u_new))
            change = np.max(np.abs(u_new - u)) / scale
            first = change if first is None else first
            if change <= max(self.tol, ULPS):
                return self._verified(u_new, w_next, t)
            if previous is not None and change >= previous and change <= ROUND_OFF_FLOOR:
                return self._verified(u_new, w_next, t)       # stalled at round-off
            if change > DIVERGED * first:                      # growing: it does not contract
                break
            u, previous = u_new, change
        else:
            if change <= ROUND_OFF_FLOOR:                      # still creeping at ~1e-15 when
                return self._verified(u_new, w_next, t)       # the budget ran out: accept
        raise ConvergenceError(
            f"fixed-point reversal did not converge at step {t}: the iterate still moved by "
            f"{change:.3e} (relative) after {self.iterations} iterations in all. The iteration "
            f"contracts only while lr * L_smooth < 1 (lr={self.gd.lr:g}); use a smaller lr or "
            f"reversal='stored' or 'checkpoint'")

    def _verified(self, u, w_next, t):
        """``u`` after checking that it steps forward onto w_{t+1} (``guards.check_preimage``)."""
        guards.check_preimage(u - self.gd.lr * self._grad(u, t), w_next, t, self.gd.lr,
                              max(self.tol, guards.PREIMAGE_RTOL))
        return u


def _nbytes(acts):
    """Bytes of one forward pass's activations (a dict of arrays)."""
    return sum(a.nbytes for a in acts.values())

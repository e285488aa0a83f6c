"""Algorithm "train": gradient descent, full-batch or mini-batch, optionally with momentum.

One step, with g_t = grad_w L(w_t; X[B_t], y[B_t]) and v_0 = 0 (Maclaurin et al.'s
parametrisation):

    v_{t+1} = gamma v_t - (1 - gamma) g_t
    w_{t+1} = w_t + eta v_{t+1}

With gamma = 0 this is the paper's plain step w_{t+1} = w_t - eta g_t. ``GradientDescent.update``
is the only place the update is written, and ``descend`` the only training loop: ``run``, the
back-gradient's forward pass and the checkpoint reversal's re-runs all call it.

The batch B_t is every row (full batch, ``batch_size=None``, the default) or ``batch_size``
distinct rows drawn without replacement by ``np.random.default_rng([seed, t])``, sorted: a pure
function of (seed, t, number of rows), so the reverse pass regenerates the batch of step t
without storing it (``batch``). L on a batch is the mean over its rows, so a poisoning row
enters step t only when drawn, with weight 1/batch_size.
"""
from dataclasses import dataclass

import numpy as np

from . import checks
from .checks import DivergenceError  # noqa: F401  (raised here; importable from here too)


@dataclass(frozen=True)
class GradientDescent:
    """Gradient descent: ``lr`` (eta), ``n_steps`` (T), ``momentum`` (gamma); full batch by
    default, or batches of ``batch_size`` rows drawn from ``seed`` (see ``batch``)."""

    lr: float
    n_steps: int
    momentum: float = 0.0
    batch_size: int = None
    seed: int = 0

    def __post_init__(self):
        lr = float(self.lr)
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a finite number > 0; got {self.lr!r}")
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "n_steps", checks.positive_int(self.n_steps, "n_steps"))
        gamma = float(self.momentum)
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {self.momentum!r}")
        object.__setattr__(self, "momentum", gamma)
        if self.batch_size is not None:
            object.__setattr__(self, "batch_size",
                               checks.positive_int(self.batch_size, "batch_size"))
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))

    def batch(self, t, n_rows):
        """B_t, the rows of the stacked data [X_tr; X_c] used at step t.

        ``slice(None)`` (every row, no copy) for full batch; otherwise the sorted indices of
        ``batch_size`` distinct rows drawn by ``np.random.default_rng([seed, t])``, so the same
        (seed, t, n_rows) always gives the same batch. Sorted, the poisoning rows (the last
        ones) come last in the batch.
        """
        if self.batch_size is None:
            return slice(None)
        if t is None:
            raise ValueError("a mini-batch step needs its step number t (the batch is drawn "
                             "from (seed, t))")
        if self.batch_size > n_rows:
            raise ValueError(f"batch_size={self.batch_size} is larger than the data "
                             f"({n_rows} rows of training and poisoning points)")
        rng = np.random.default_rng([self.seed, t])
        return np.sort(rng.choice(n_rows, self.batch_size, replace=False))

    def rows(self, t, X, Y):
        """(X[B_t], Y[B_t]): the data of step t (the arrays themselves for full batch)."""
        B = self.batch(t, X.shape[0])
        return (X, Y) if isinstance(B, slice) else (X[B], Y[B])

    def update(self, w, v, g):
        """(w_{t+1}, v_{t+1}) from w_t, v_t and the gradient g_t: the update, written once."""
        v = self.momentum * v - (1.0 - self.momentum) * g      # v_{t+1}
        return w + self.lr * v, v                              # w_{t+1}

    def step(self, model, w, v, X, Y, t=None, acts=None):
        """One step (w_t, v_t) -> (w_{t+1}, v_{t+1}); ``Y`` = ``model.targets(y)``; X and Y are
        all the rows (the step takes its batch B_t itself). ``acts`` is
        ``model.forward(w_t, X[B_t])`` if the caller already has it."""
        X, Y = self.rows(t, X, Y)                              # batch B_t
        acts = model.forward(w, X) if acts is None else acts
        return self.update(w, v, model.backward(w, X, Y, acts))

    def run(self, model, w0, X, y, callback=None):
        """Train from ``w0`` on (X, y) for ``n_steps`` steps and return w_T.

        ``callback(t, w_t)``, if given, is called after every step with t = 1..T.
        """
        w, X, y = model.check(w0, X, y)
        w, _, _ = descend(model, self, w, np.zeros_like(w), X, model.targets(y),
                          range(self.n_steps), callback=callback)
        return w


def descend(model, gd, w, v, X, Y, steps, keep_every=None, guard=True, callback=None):
    """The training loop: steps ``steps`` (a range) from (w, v); returns (w, v, kept).

    ``kept`` maps t to (w_t, v_t, acts_t) every ``keep_every`` steps of the range (none if
    None), acts_t = ``model.forward(w_t, X[B_t])`` being what the reverse pass's products read;
    v_t is kept only with momentum (otherwise it is not needed to go on). ``guard`` checks the
    loss at the steps ``checks.loss_due`` names and raises ``DivergenceError`` if it soars;
    a re-run of steps already checked may skip it. Non-finite weights raise at every step.
    """
    kept, start = {}, None                                     # start: L(w_0), when checked
    for t in steps:
        X_t, Y_t = gd.rows(t, X, Y)                            # batch B_t
        acts = model.forward(w, X_t)                           # forward(w_t; B_t)
        if guard and checks.loss_due(t, gd.n_steps):
            loss = checks.check_loss(model.loss_from(w, acts, Y_t), start, t, gd)
            start = loss if t == 0 else start
        if keep_every is not None and (t - steps.start) % keep_every == 0:
            kept[t] = (w, v if gd.momentum else None, acts)
        w, v = gd.update(w, v, model.backward(w, X_t, Y_t, acts))   # w_{t+1}, v_{t+1}
        checks.check_weights(w, t, gd)
        if callback is not None:
            callback(t + 1, w)
    return w, v, kept

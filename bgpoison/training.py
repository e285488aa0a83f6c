"""Algorithm "train": full-batch gradient descent, optionally with momentum.

One step, with g_t = grad_w L(w_t; X, y) and v_0 = 0 (Maclaurin et al.'s parametrisation):

    v_{t+1} = gamma v_t - (1 - gamma) g_t
    w_{t+1} = w_t + eta v_{t+1}

With gamma = 0 this is the paper's plain step w_{t+1} = w_t - eta g_t. ``step`` is the only
place the update is written; ``run`` and the reverse pass's forward runs all call it.
"""
from dataclasses import dataclass

import numpy as np

from . import _checks, guards


class DivergenceError(ValueError):
    """Training produced a non-finite loss or gradient."""


@dataclass(frozen=True)
class GradientDescent:
    """Full-batch gradient descent: ``lr`` (eta), ``n_steps`` (T), ``momentum`` (gamma)."""

    lr: float
    n_steps: int
    momentum: float = 0.0

    def __post_init__(self):
        lr = float(self.lr)
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a finite number > 0; got {self.lr!r}")
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "n_steps", _checks.positive_int(self.n_steps, "n_steps"))
        gamma = float(self.momentum)
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {self.momentum!r}")
        object.__setattr__(self, "momentum", gamma)

    def step(self, model, w, v, X, Y, t=None, acts=None, start=None):
        """One step from (w_t, v_t) -> (w_{t+1}, v_{t+1}); ``Y`` = ``model.targets(y)``.

        ``acts`` is ``model.forward(w_t, X)`` when the caller already has it (the reverse pass
        keeps it for its products); otherwise the step computes it.

        Raises ``DivergenceError`` naming step ``t`` if the new weights are not finite (an
        overflowing loss or gradient propagates into them), or if L(w_t) is not finite or has
        grown far above ``start`` = L(w_0) (see ``guards.check_loss``).
        """
        acts = model.forward(w, X) if acts is None else acts
        guards.check_step(model, w, acts, Y, start, t, self)    # L(w_t) finite, not soaring
        g = model.backward(w, X, Y, acts)                       # g_t = grad_w L(w_t)
        v_next = self.momentum * v - (1.0 - self.momentum) * g  # v_{t+1}
        w_next = w + self.lr * v_next                           # w_{t+1}
        if not np.isfinite(w_next).all():
            raise DivergenceError(
                f"gradient descent diverged at step {t} of {self.n_steps}: the loss or gradient "
                f"is not finite; try a smaller learning rate than lr={self.lr:g}")
        return w_next, v_next

    def run(self, model, w0, X, y, callback=None):
        """Train from ``w0`` on (X, y) for ``n_steps`` steps and return w_T.

        ``callback(t, w_t)``, if given, is called after every step with t = 1..T.
        """
        w, X, y = model.check(w0, X, y)
        Y = model.targets(y)
        v = np.zeros_like(w)
        acts = model.forward(w, X)                                  # forward(w_0), for step 0 too
        start = guards.training_loss(model, w, acts, Y)             # L(w_0)
        for t in range(self.n_steps):
            w, v = self.step(model, w, v, X, Y, t, acts, start)
            acts = None                                             # the next step computes it
            if callback is not None:
                callback(t + 1, w)
        return w

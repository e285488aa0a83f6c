"""What every model is: pure functions of a flat float64 parameter vector ``w``.

A model object holds only its sizes and ``l2``; it never stores weights or activations. The
training objective is

    L(w; X, y) = (1/n) sum_i loss(x_i, y_i, w) + (l2/2) * ||weights||^2      (biases not penalised)

The public functions (``loss``, ``grad_w``, ``hvp_ww``, ``hvp_xw``, ...) check their inputs and
then call four unchecked building blocks that each model writes by hand. The training loop and
the reverse pass call the building blocks directly, so a forward pass can be shared:

    targets(y)                          -> Y     labels encoded as floats, (n, k)
    forward(w, X)                       -> acts  dict of what backward and r_backward read
    backward(w, X, Y, acts)             -> grad_w L                                   (p,)
    r_backward(w, X, Y, acts, u, rows)  -> (H_ww u, rows of H_xw u)         (p,), (r, d)

``forward`` returns exactly what the two backward passes read (llm.c's ``cache``): a reverse pass
that keeps the forward passes of a training run keeps these dicts.

``r_backward`` is Pearlmutter's R-operator applied by hand to ``backward``: it differentiates
every line of the backward pass along a direction ``u`` in weight space. The same R-pass also
yields H_xw u = d/dX <grad_w L, u>, because that is the R-derivative of grad_X L (mixed partials
commute): one row per sample, the shape of X.

``smoothness`` estimates L_smooth, the largest Hessian eigenvalue, from ``hvp_ww``: eta * L_smooth
decides whether training (and its reversal) is stable.
"""
import math
from dataclasses import dataclass

import numpy as np

from .. import checks


def smoothness(model, w, X, y, rng, iters=50):
    """L_smooth ~ the largest |eigenvalue| of H_ww at w, by ``iters`` power iterations on
    ``model.hvp_ww`` from a random direction drawn from ``rng``."""
    u = checks.generator(rng).standard_normal(model.n_params)
    lam = 0.0
    for _ in range(iters):
        Hu = model.hvp_ww(w, X, y, u)                          # (p,)
        lam = np.linalg.norm(Hu) / np.linalg.norm(u)
        u = Hu / np.linalg.norm(Hu)
    return float(lam)


@dataclass(frozen=True)
class Model:
    """Base class: parameter layout, input checks and the public API.

    Subclasses set ``n_features`` and ``l2`` (dataclass fields) and define ``shapes`` (ordered
    name -> shape), ``penalised`` (names under the l2 penalty), ``n_classes``, ``convex``
    (whether L is convex in w, so that the KKT gradient applies) and the four building blocks.
    """

    penalised = ()
    convex = False

    def __post_init__(self):
        checks.positive_int(self.n_features, "n_features")
        object.__setattr__(self, "l2", checks.nonnegative(self.l2, "l2"))
        if isinstance(self.n_classes, bool) or int(self.n_classes) != self.n_classes \
                or self.n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2; got {self.n_classes!r}")

    # ---- parameter layout ------------------------------------------------------------------
    @property
    def n_params(self):
        """Length of the flat parameter vector ``w``."""
        return sum(math.prod(s) for s in self.shapes.values())

    def unpack(self, w):
        """Named views into ``w`` (no copies): writing a view writes ``w``."""
        views, start = {}, 0
        for name, shape in self.shapes.items():
            size = math.prod(shape)
            views[name] = w[start:start + size].reshape(shape)
            start += size
        return views

    def pack(self, parts):
        """Inverse of ``unpack``: a flat vector from a dict of arrays with the layout's shapes."""
        return np.concatenate([np.ravel(parts[name]) for name in self.shapes])

    def penalty(self, w):
        """(l2/2) * sum of squares of the penalised views."""
        p = self.unpack(w)
        return 0.5 * self.l2 * sum(float(np.sum(p[name] ** 2)) for name in self.penalised)

    def data_loss(self, acts, Y):
        """Mean per-sample loss from activations, without the penalty (float)."""
        return float(np.mean(self.sample_losses(acts, Y)))

    def loss_from(self, w, acts, Y):
        """L(w; X) from ``acts`` = forward(w, X): what training checks for divergence (an
        overflow gives inf, which the check reports, rather than a warning)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self.data_loss(acts, Y) + self.penalty(w)

    # ---- public API: checks, then the building blocks ---------------------------------------
    def check(self, w=None, X=None, y=None, u=None):
        """Validate and convert arguments; returns them in the same order (None stays None)."""
        out = []
        if w is not None:
            out.append(checks.as_vector(w, "w", self.n_params))
        if X is not None:
            X = checks.as_matrix(X, "X", self.n_features)
            out.append(X)
        if y is not None:
            out.append(checks.as_labels(y, "y", self.n_classes, X.shape[0]))
        if u is not None:
            out.append(checks.as_vector(u, "u", self.n_params))
        return out

    def scores(self, w, X):
        """Raw outputs: (n,) decision values for binary models, (n, K) logits otherwise (up to
        a constant per row: the MLP and CNN give log-probabilities)."""
        w, X = self.check(w, X)
        return self.raw_scores(w, X)

    def predict(self, w, X):
        """Predicted integer labels, shape (n,)."""
        s = self.scores(w, X)
        return (s > 0).astype(np.int64) if s.ndim == 1 else np.argmax(s, axis=1)

    def loss(self, w, X, y):
        """L(w; X, y) = mean per-sample loss + (l2/2) ||weights||^2."""
        w, X, y = self.check(w, X, y)
        return self.data_loss(self.forward(w, X), self.targets(y)) + self.penalty(w)

    def grad_w(self, w, X, y):
        """grad_w L, shape (n_params,)."""
        w, X, y = self.check(w, X, y)
        return self.backward(w, X, self.targets(y), self.forward(w, X))

    def hvp_ww(self, w, X, y, u):
        """H_ww u = (grad_w grad_w L) u, shape (n_params,): the Hessian of L times u."""
        w, X, y, u = self.check(w, X, y, u)
        Y = self.targets(y)
        return self.r_backward(w, X, Y, self.forward(w, X), u, slice(0, 0))[0]

    def hvp_xw(self, w, X, y, u):
        """H_xw u = grad_X <grad_w L, u>, shape of X: row i is d/dx_i (the 1/n of the mean
        included)."""
        w, X, y, u = self.check(w, X, y, u)
        Y = self.targets(y)
        return self.r_backward(w, X, Y, self.forward(w, X), u, slice(None))[1]

"""What every model is: pure functions of a flat float64 parameter vector ``w``.

A model object holds only its sizes and ``l2``; it never stores weights or activations. The
training objective is

    L(w; X, y) = (1/n) sum_i loss(x_i, y_i, w) + (l2/2) * ||weights||^2      (biases not penalised)

The public functions (``loss``, ``grad_w``, ``hvp_ww``, ``hvp_xw``, ...) check their inputs and
then call four unchecked building blocks that each model writes by hand. The training loop and
the reverse pass call the building blocks directly, so a forward pass can be shared:

    targets(y)                          -> Y     labels encoded as floats, (n, k)
    forward(w, X)                       -> acts  dict of activations, e.g. {"Z": (n, k)}
    backward(w, X, Y, acts)             -> grad_w L                                   (p,)
    r_backward(w, X, Y, acts, v, rows)  -> (H_ww v, rows of H_xw v)         (p,), (r, d)

``r_backward_and_grad`` returns both products and grad_w L at one point (the "paper" reversal
needs all three there); by default it calls ``r_backward`` and ``backward``, and a model may share
their products (the linear models take X^T RdZ and X^T dZ as one product).

``reverse_needs`` names the activations that ``r_backward`` reads (None: all of them): what a
reverse pass that keeps the forward passes of a training run has to keep.

``r_backward`` is Pearlmutter's R-operator applied by hand to ``backward``: it differentiates
every line of the backward pass along the direction ``v`` in weight space. The same R-pass also
yields d/dX <grad_w L, v>, because that is the R-derivative of grad_X L (mixed partials commute).
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import _checks


@lru_cache(maxsize=None)
def _layout(shapes):
    """((name, slice of w, shape), ...) from ((name, shape), ...): computed once per layout."""
    out, start = [], 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        out.append((name, slice(start, start + size), shape))
        start += size
    return tuple(out)


@dataclass(frozen=True)
class Model:
    """Base class: parameter layout, input checks and the public API.

    Subclasses set ``n_features`` and ``l2`` (dataclass fields) and define ``shapes`` (ordered
    name -> shape), ``penalised`` (names under the l2 penalty), ``n_classes`` and the four
    building blocks.
    """

    penalised = ()
    reverse_needs = None

    def __post_init__(self):
        _checks.positive_int(self.n_features, "n_features")
        object.__setattr__(self, "l2", _checks.nonnegative(self.l2, "l2"))
        if isinstance(self.n_classes, bool) or int(self.n_classes) != self.n_classes \
                or self.n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2; got {self.n_classes!r}")

    # ---- parameter layout ------------------------------------------------------------------
    @property
    def n_params(self):
        """Length of the flat parameter vector ``w``."""
        return sum(int(np.prod(s)) for s in self.shapes.values())

    def unpack(self, w):
        """Named views into ``w`` (no copies): writing a view writes ``w``."""
        return {name: w[where].reshape(shape)
                for name, where, shape in _layout(tuple(self.shapes.items()))}

    def pack(self, parts):
        """Inverse of ``unpack``: a flat vector from a dict of arrays with the layout's shapes."""
        return np.concatenate([np.ravel(parts[name]) for name in self.shapes])

    def penalty(self, w):
        """(l2/2) * sum of squares of the penalised views."""
        p = self.unpack(w)
        return 0.5 * self.l2 * sum(float(np.sum(p[name] ** 2)) for name in self.penalised)

    # ---- building block shared by all models -----------------------------------------------
    def data_loss(self, acts, Y):
        """Mean per-sample loss from activations, without the penalty (float)."""
        return float(np.mean(self.sample_losses(acts, Y)))

    def r_backward_and_grad(self, w, X, Y, acts, v, rows):
        """(H_ww v, rows of H_xw v, grad_w L) at w: ``r_backward`` and ``backward`` together."""
        return self.r_backward(w, X, Y, acts, v, rows) + (self.backward(w, X, Y, acts),)

    # ---- public API: checks, then the building blocks ---------------------------------------
    def check(self, w=None, X=None, y=None, v=None):
        """Validate and convert arguments; returns them in the same order (None stays None)."""
        out = []
        if w is not None:
            out.append(_checks.as_vector(w, "w", self.n_params))
        if X is not None:
            X = _checks.as_matrix(X, "X", self.n_features)
            out.append(X)
        if y is not None:
            out.append(_checks.as_labels(y, "y", self.n_classes, X.shape[0]))
        if v is not None:
            out.append(_checks.as_vector(v, "v", self.n_params))
        return out

    def scores(self, w, X):
        """Raw outputs: (n,) decision values for binary models, (n, K) logits otherwise."""
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

    def hvp_ww(self, w, X, y, v):
        """(grad_w grad_w L) v, shape (n_params,): the Hessian of L times v."""
        w, X, y, v = self.check(w, X, y, v)
        Y = self.targets(y)
        return self.r_backward(w, X, Y, self.forward(w, X), v, slice(0, 0))[0]

    def hvp_xw(self, w, X, y, v):
        """grad_X <grad_w L, v>, shape of X: row i is d/dx_i, the 1/n of the mean included."""
        w, X, y, v = self.check(w, X, y, v)
        Y = self.targets(y)
        return self.r_backward(w, X, Y, self.forward(w, X), v, slice(None))[1]

"""Exactly reversible momentum training (Maclaurin, Duvenaud and Adams, ICML 2015).

Undoing  v_{t+1} = gamma v_t - (1 - gamma) g(w_t),  w_{t+1} = w_t + eta v_{t+1}  in float64 is
not exact: dividing by gamma multiplies the round-off by 1/gamma at every step. Here w and v live
on a fixed-point grid instead: the int64 integer x stands for x * 2^-52, and |x| < 2^62 (values
below 2^10 = 1024) so that the sum of two never overflows. With q(a) = round(a * 2^52), the
rounding of a float array to the grid, one step and its inverse are

    forward, t = 0 .. T-1                    reverse, t = T-1 .. 0
    v <- gamma v          (push to buffer)   w <- w - q(eta v)
    v <- v - q((1 - gamma) g(w))             v <- v + q((1 - gamma) g(w))   g at the restored w_t
    w <- w + q(eta v)                        v <- v / gamma        (pop from buffer)

Integer addition is exact and every q(.) is recomputed on the way back from the same integers,
so only the multiplication by gamma loses anything. With gamma = n/d in lowest terms:

    multiply x by n/d:   push x mod d (base d);  x <- x // d;  x <- n x + pop (base n)
    divide   x by n/d:   push x mod n (base n);  x <- x // n;  x <- d x + pop (base d)

each line of ``divide`` undoing one line of ``multiply``, in reverse order. The information buffer
is one arbitrary-precision integer B_i >= 0 per coordinate: push r in base b is B <- b B + r, pop
in base b returns B mod b and sets B <- B // b. Each step pushes log2(d) bits and pops log2(n), so
B grows by about log2(1/gamma) bits per parameter per step (0.15 at gamma = 0.9, 0.029 at 0.98);
storing w_t would cost 64. Exactly: bits(B_t) <= t log2(d/n) + log2((d-1)/(d-n)) + 1.

The price is rounding: ``multiply`` is off from gamma x by up to n grid units (the pop), so the
fixed-point run is the float run plus up to n 2^-52 per step; finite differences of it need
eps ~1e-4 rather than 1e-6 when n is large (49 at gamma = 0.98). The reverse pass in
``back_gradient`` uses the float ``gd.momentum``; n/d equals it to within about 1/(d 2^16) (exactly,
as a float, for short decimals such as 0.9 or 0.98).

w_0 itself rarely lies on the grid. Training starts from q(w_0); the bits of w_0 below the grid,
w_0 - q(w_0) 2^-52 (an exact float, zero when w_0 is on the grid, e.g. w_0 = 0), are kept so that
the reconstructed w_0 is the caller's, bit for bit.
"""
from fractions import Fraction

import numpy as np

from . import checks
from .reversal import Reversal

SCALE_BITS = 52
SCALE = 2.0 ** SCALE_BITS          # grid spacing 2^-52
LIMIT = 2 ** 62                    # |integer| < LIMIT, so a sum of two stays inside int64
MAX_VALUE = LIMIT / SCALE          # = 1024.0, the largest representable |w| or |v|
MAX_DENOMINATOR = 2 ** 16          # gamma = Fraction(momentum).limit_denominator(MAX_DENOMINATOR)


class RangeError(checks.DivergenceError, OverflowError):
    """A value does not fit the fixed-point grid: not finite, or |value| >= MAX_VALUE (a
    DivergenceError: the run left the range training can reach with a sensible eta)."""


def as_fraction(gamma, max_denominator=MAX_DENOMINATOR):
    """gamma as an exact Fraction n/d in (0, 1): a Fraction as given, a float via
    ``Fraction(gamma).limit_denominator(max_denominator)`` (0.9 -> 9/10, 0.98 -> 49/50)."""
    if isinstance(gamma, Fraction):
        exact = gamma
    elif np.isfinite(float(gamma)):
        exact = Fraction(float(gamma)).limit_denominator(max_denominator)
    else:
        raise ValueError(f"momentum gamma must be a finite number in (0, 1); got {gamma!r}")
    if not 0 < exact < 1:
        raise ValueError(
            f"exact reversal needs momentum gamma in (0, 1); got {gamma!r} (as a fraction "
            f"{exact}). With gamma = 0 the step v_{{t+1}} = -g_t forgets v_t, so it cannot be "
            f"undone; use reversal='stored' or 'checkpoint' for plain gradient descent")
    return exact


def to_fixed(a, what="value"):
    """q(a): float array -> int64 grid integers round(a * 2^52); RangeError if |a| >= 1024."""
    a = np.asarray(a, dtype=np.float64)
    inside = np.abs(a) < MAX_VALUE                       # False for NaN and inf too
    if not inside.all():
        raise RangeError(
            f"{what} must be finite with |value| < {MAX_VALUE:g} to fit int64 at scale "
            f"2^{SCALE_BITS}; got {np.size(a) - np.count_nonzero(inside)} value(s) outside, "
            f"max |value| {np.max(np.abs(a)):.4g}")
    return np.rint(a * SCALE).astype(np.int64)          # a * 2^52 is exact: a power of two


def to_float(x):
    """Grid integers -> float64 x * 2^-52 (rounded to 53 bits when |x| > 2^53)."""
    return x.astype(np.float64) / SCALE


class InformationBuffer:
    """One non-negative Python int per coordinate (a NumPy object array), used as a stack of
    digits in mixed bases: ``push(r, b)``: B <- b B + r;  ``pop(b)``: r = B mod b, B <- B // b."""

    def __init__(self, size):
        self.B = np.zeros(size, dtype=object)            # Python int 0 in every cell

    def push(self, digits, base):
        self.B = self.B * base + digits.astype(object)   # digits int64 in [0, base)

    def pop(self, base):
        digits = (self.B % base).astype(np.int64)
        self.B = self.B // base
        return digits

    def bits(self):
        """Bits held: sum over coordinates of bit_length(B_i)."""
        return sum(b.bit_length() for b in self.B)


def multiply(x, gamma, buffer):
    """x <- x * gamma, gamma = n/d, exactly reversibly: the digit lost by x // d is pushed."""
    n, d = gamma.numerator, gamma.denominator
    buffer.push(x % d, d)                                # x = d (x // d) + (x mod d)
    return (x // d) * n + buffer.pop(n)                  # |result| <= gamma |x| + n


def divide(x, gamma, buffer):
    """Inverse of ``multiply``: x <- x / gamma, popping the digit ``multiply`` pushed."""
    n, d = gamma.numerator, gamma.denominator
    buffer.push(x % n, n)                                # undo: x <- n x + pop (base n)
    return (x // n) * d + buffer.pop(d)                  # undo: x <- x // d, push x mod d


def _checked(x, what, t):
    if np.any(np.abs(x) >= LIMIT):
        raise RangeError(f"{what} left the fixed-point range |value| < {MAX_VALUE:g} at step "
                         f"{t}; try a smaller learning rate or smaller inputs")
    return x


class Exact(Reversal):
    """Momentum training on the 2^-52 grid, undone bit for bit: w and v (2 vectors, plus w_0's
    bits below the grid unless w_0 lies on it) and a buffer of ~log2(1/gamma) bits per
    parameter per step. The one strategy with a training loop of its own: its steps are the
    grid version of ``GradientDescent.update``.

    gamma         the exact Fraction n/d used (``as_fraction(gd.momentum, max_denominator)``)
    buffer_bits   (T,) int: bits in the buffer after step t = 1..T (peak: ``buffer_bits.max()``)
    state         (w, v) as int64 grid integers: (w_T, v_T) after forward, (w_t, v_t) going back
    w0_residual   w_0 - q(w_0) 2^-52, the bits of w_0 below the grid
    """

    name = "exact"

    def __init__(self, model, gd, X, Y, max_denominator=MAX_DENOMINATOR):
        super().__init__(model, gd, X, Y)
        self.gamma = as_fraction(gd.momentum, max_denominator)   # the exact gamma = n/d
        self.decay = float(1 - self.gamma)                       # 1 - gamma, as used by q()
        self.buffer_bits = np.zeros(0, dtype=np.int64)

    def _grad(self, w, t):
        """(g_t(w), acts) on the batch of step t, w a float vector."""
        X_t, Y_t = self.gd.rows(t, self.X, self.Y)
        acts = self.model.forward(w, X_t)
        return self.model.backward(w, X_t, Y_t, acts), acts

    def forward(self, w0, callback=None):
        """Train from q(w_0) and return w_T as float64; ``callback(t, w_t)`` for t = 1..T."""
        w0 = np.asarray(w0, dtype=np.float64)
        w = to_fixed(w0, "w_0")                                  # (p,) grid integers
        self.w0_residual = w0 - to_float(w)                      # exact: bits of w_0 below grid
        v = np.zeros_like(w)                                     # v_0 = 0
        self.buffer = InformationBuffer(w.size)
        bits, start = [], None
        for t in range(self.gd.n_steps):
            g, acts = self._grad(to_float(w), t)                 # g_t = grad_w L(w_t; B_t)
            if checks.loss_due(t, self.gd.n_steps):              # as ``descend`` checks it
                X_t, Y_t = self.gd.rows(t, self.X, self.Y)
                loss = checks.check_loss(self.model.loss_from(to_float(w), acts, Y_t), start,
                                         t, self.gd)
                start = loss if t == 0 else start
            try:
                v = multiply(v, self.gamma, self.buffer)         # gamma v_t
                v = _checked(v - to_fixed(self.decay * g, f"(1 - gamma) g_{t}"), "v", t)
                w = _checked(w + to_fixed(self.gd.lr * to_float(v), f"eta v_{t + 1}"), "w", t)
            except RangeError as err:                            # v_{t+1}, w_{t+1} off the grid
                raise RangeError(f"gradient descent diverged at step {t} of {self.gd.n_steps}: "
                                 f"{err}; try a smaller learning rate than lr={self.gd.lr:g}") \
                    from None
            bits.append(self.buffer.bits())
            if callback is not None:
                callback(t + 1, to_float(w))
        self.state = (w, v)                                      # (w_T, v_T) as integers
        self.buffer_bits = np.array(bits, dtype=np.int64)
        return to_float(w)

    @property
    def vectors_held(self):
        return 2 + bool(np.any(self.w0_residual))

    def previous(self, t, w_next, acts_next):
        """(w_t, acts_t), undoing the lines of forward step t in reverse order."""
        w, v = self.state
        w = w - to_fixed(self.gd.lr * to_float(v))               # undo w_{t+1} = w_t + q(eta v)
        g, acts = self._grad(to_float(w), t)                     # g_t at the restored w_t
        v = v + to_fixed(self.decay * g)                         # undo v -= q((1 - gamma) g_t)
        v = divide(v, self.gamma, self.buffer)                   # undo v <- gamma v_t
        self.state = (w, v)                                      # at t = 0: q(w_0) and 0
        if t == 0:                       # the caller's w_0, bit for bit (training, and so acts,
            return to_float(w) + self.w0_residual, acts   # started from its grid point q(w_0))
        return to_float(w), acts


def buffer_bits_per_step(model, gd, w0, X, y, max_denominator=MAX_DENOMINATOR):
    """Memory of exact reversal for training ``model`` on (X, y) with ``gd``, as a dict:

    bits_per_step            peak buffer bits / T (all parameters)
    bits_per_step_per_param  the same per parameter; about log2(1/gamma)
    log2_inverse_gamma       log2(d/n) for the exact gamma = n/d
    stored_bits_per_step     64 n_params, what storing w_t every step costs
    """
    w0, X, y = model.check(w0, X, y)
    run = Exact(model, gd, X, model.targets(y), max_denominator)
    run.forward(w0)
    per_step = int(run.buffer_bits.max()) / gd.n_steps
    return {"bits_per_step": per_step,
            "bits_per_step_per_param": per_step / model.n_params,
            "log2_inverse_gamma": float(np.log2(run.gamma.denominator / run.gamma.numerator)),
            "stored_bits_per_step": 64 * model.n_params}

"""The errors bgpoison raises, and the checks that raise them: the lowest module of the package.

Input checks (every public entry point calls them once, then runs unchecked code): each returns
a clean float64 / int64 value or raises ``ValueError`` saying what was expected and what came.

Guards (one line each in training, the reversals and the back-gradient), so that no computation
returns silent garbage:

    check_loss            L(w_t) finite and not far above L(w_0): gradient descent with a
                          suitable eta does not raise the loss; a run that does is diverging
    check_preimage        a w_t recovered by the fixed-point reversal steps forward onto w_{t+1}
    check_reconstruction  the fixed-point reversal's reconstructed w_0 is not far off
    check_hypergradient   A and dA/dX_c are finite
    check_memory          the trajectory a reversal keeps fits in the memory available
"""
import os

import numpy as np


class DivergenceError(ValueError):
    """Training produced a non-finite or soaring loss, or a non-finite hypergradient."""


class ConvergenceError(RuntimeError):
    """A reversal could not recover the trajectory (the fixed-point iteration failed)."""


class ReversalWarning(RuntimeWarning):
    """The paper's reversal drifted so far from the trajectory that its hypergradient cannot be
    trusted (its reconstructed w_0 is far from the true one)."""


GROWTH = 1e4           # L(w_t) > L(w_0) + GROWTH (1 + |L(w_0)|) at any step: blowing up
END_GROWTH = 1.0       # ... at the last step, full batch: a descent that ends above its start
END_GROWTH_BATCH = 10.0   # ... mini-batch: one batch's mean loss is noisy, so 10x the margin
RECONSTRUCTION = 3.0   # w_0 error over 3x the trajectory's scale: the reversal lost it
PREIMAGE_RTOL = 1e-9   # relative miss of a verified forward step; ~1e4 ulps, far below a wrong one


# ---- input checks ---------------------------------------------------------------------------
def real(a, name):
    """``a`` as a float64 array; ValueError for complex numbers or anything not numeric."""
    if np.iscomplexobj(a):
        raise ValueError(f"{name} must hold real numbers; got complex values")
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold numbers; {err}") from None


def generator(rng, name="rng"):
    """``rng`` as a numpy Generator: a Generator, or an int seed (not a bool)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise ValueError(f"{name} must be a numpy.random.Generator or an int seed; got "
                         f"{type(rng).__name__} {rng!r}")
    return np.random.default_rng(rng)


def as_matrix(X, name, n_features=None):
    """``X`` as a finite float64 array of shape (n, n_features)."""
    X = real(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features); got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (n_features); got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row; got shape {X.shape}")
    finite(X, name)
    return X


def as_vector(v, name, size):
    """``v`` as a finite float64 vector of length ``size``."""
    v = real(v, name)
    if v.shape != (size,):
        raise ValueError(f"{name} must be a flat vector of shape ({size},); got shape {v.shape}")
    finite(v, name)
    return v


def as_labels(y, name, n_classes, n_rows):
    """``y`` as int64 labels in 0..n_classes-1 (any label >= 0 if n_classes is None)."""
    y = np.asarray(y)
    if np.iscomplexobj(y):
        raise ValueError(f"{name} must hold integer labels; got complex values")
    if y.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), one label per row; got {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)) \
                or np.any(y != np.round(y)):
            raise ValueError(f"{name} must hold integer labels; got {y.dtype} values")
    y = y.astype(np.int64)
    top = np.iinfo(np.int64).max if n_classes is None else n_classes - 1
    if y.size and (y.min() < 0 or y.max() > top):
        expected = "labels >= 0" if n_classes is None else f"labels in 0..{top}"
        raise ValueError(f"{name} must hold {expected}; got values from {y.min()} to {y.max()}")
    return y


def finite(a, name):
    if not np.all(np.isfinite(a)):
        bad = np.size(a) - np.count_nonzero(np.isfinite(a))
        raise ValueError(f"{name} must be finite; it holds {bad} NaN or infinite value(s)")


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def nonnegative(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}") from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return value


# ---- guards ---------------------------------------------------------------------------------
def loss_due(t, n_steps):
    """Whether training checks L(w_t) at step t: t = 0, 1, 2, 4, 8, ... and the last step.

    A too large eta blows up in the first steps and a diverging run grows geometrically, so
    these log2(T) + 2 checks stop it within a few steps, from the forward pass each step
    computes anyway (about 1 % of training; checking every step would cost 10-20 %)."""
    return t & (t - 1) == 0 or t == n_steps - 1


def check_loss(loss, start, t, gd):
    """``loss`` = L(w_t), after a DivergenceError naming step ``t`` unless it is finite and,
    given the starting loss ``start`` = L(w_0), not above start + g (1 + |start|).

    g = GROWTH (10^4) at any step stops a run that blows up. At the last step g = END_GROWTH
    (1): gradient descent with a stable eta lowers the loss, so a run that ends above twice
    its start (plus 1) has diverged, even if its loss grew only linearly (cross-entropy grows
    like |w|: softmax at lr 50 ends near 91 from 1.39). With mini-batches L is one batch's
    mean, which can sit far above the start for a sound run (a batch of one misclassified
    point), so the last step allows END_GROWTH_BATCH (10)."""
    last = t is not None and t == gd.n_steps - 1
    growth = GROWTH if not last else END_GROWTH if gd.batch_size is None else END_GROWTH_BATCH
    if not np.isfinite(loss):
        why = f"the training loss is {loss}"
    elif start is not None and loss > start + growth * (1.0 + abs(start)):
        why = f"the training loss grew from {start:.4g} to {loss:.4g}"
    else:
        return loss
    raise DivergenceError(f"gradient descent diverged at step {t} of {gd.n_steps}: {why}; "
                          f"try a smaller learning rate than lr={gd.lr:g}")


def check_weights(w, t, gd):
    """DivergenceError naming step ``t`` unless the new weights w_{t+1} are finite."""
    if not np.isfinite(w).all():
        raise DivergenceError(
            f"gradient descent diverged at step {t} of {gd.n_steps}: the loss or gradient "
            f"is not finite; try a smaller learning rate than lr={gd.lr:g}")


def check_preimage(w_forward, w_next, t, lr, rtol=PREIMAGE_RTOL):
    """ConvergenceError unless ``w_forward`` (the recovered w_t stepped forward again) lands on
    w_{t+1}: max |w_forward - w_{t+1}| <= rtol (1 + max |w_{t+1}|)."""
    miss = float(np.max(np.abs(w_forward - w_next)))
    scale = 1.0 + float(np.max(np.abs(w_next)))
    if not miss <= rtol * scale:
        raise ConvergenceError(
            f"fixed-point reversal failed at step {t}: the recovered w_{t} steps forward to a "
            f"point {miss:.3e} away from w_{t + 1} (the iteration settled on a point that is "
            f"not a preimage; it contracts only while lr * L_smooth < 1, lr={lr:g}); use a "
            f"smaller lr or reversal='stored' or 'checkpoint'")


def lost_trajectory(w0_error, w0, w_T):
    """Whether a reversal's reconstructed w_0 is off by more than RECONSTRUCTION times
    (1 + max |w_0| + max |w_T - w_0|), the scale of the trajectory: then it has lost the
    trajectory and its gradient is unreliable. The w_0 error overstates the gradient's error
    (the adjoint shrinks going back), so the bar is loose. Measured on 8x8 digits
    (``results/reversal-limits``): up to 3 times the scale the fixed-point reversal's cosine
    with the exact gradient stayed >= 0.985, beyond it 0.85-0.93; the paper reversal's fell
    from 0.97 (1.5 times) to 0.94 (3 times), 0.85 (29 times) and 0.41 (108 times)."""
    return not w0_error <= RECONSTRUCTION * _scale(w0, w_T)


def _scale(w0, w_T):
    """The scale of a trajectory: 1 + max |w_0| + max |w_T - w_0|."""
    return 1.0 + float(np.max(np.abs(w0))) + float(np.max(np.abs(w_T - w0)))


def check_reconstruction(w0_error, w0, w_T, lr):
    """ConvergenceError if the fixed-point reversal lost the trajectory (``lost_trajectory``)."""
    if lost_trajectory(w0_error, w0, w_T):
        scale = _scale(w0, w_T)
        raise ConvergenceError(
            f"fixed-point reversal lost the trajectory: the reconstructed w_0 is off by "
            f"{w0_error:.3g}, over {RECONSTRUCTION:g} times the scale of the run ({scale:.3g}), "
            f"so its gradient is unreliable; it contracts only while lr * L_smooth < 1 "
            f"(lr={lr:g}): use a smaller lr or reversal='stored' or 'checkpoint'")


def check_hypergradient(value, dX_c):
    """DivergenceError unless the attacker's value A and its gradient dA/dX_c are finite."""
    if not np.isfinite(value) or not np.all(np.isfinite(dX_c)):
        bad = np.size(dX_c) - np.count_nonzero(np.isfinite(dX_c))
        raise DivergenceError(f"the hypergradient is not finite (A = {value}, {bad} of "
                              f"{np.size(dX_c)} entries of dA/dX_c NaN or infinite); training "
                              f"is at the edge of stability: try a smaller learning rate")


def check_value(value):
    """``value`` after a DivergenceError unless the attacker's objective A is finite (an
    attack records only finite values)."""
    if not np.isfinite(value):
        raise DivergenceError(f"the attacker's objective A is {value} at the initial points: "
                              f"training is unstable; try a smaller learning rate")
    return value


def available_memory():
    """Bytes of memory available now (MemAvailable on Linux), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n_steps, bytes_per_step, name):
    """MemoryError, before allocating, if keeping ``bytes_per_step`` bytes (a weight vector and
    the activations of one forward pass) for each of ``n_steps`` steps does not fit in the
    memory available."""
    need = int(n_steps) * int(bytes_per_step)
    free = available_memory()
    if free is not None and need > free:
        raise MemoryError(f"reversal={name!r} would keep {n_steps} weight vectors and their "
                          f"activations, {need / 2**30:.3g} GiB, but only "
                          f"{free / 2**30:.3g} GiB of memory is available; use "
                          f"reversal='checkpoint' (~2 sqrt(T) steps kept) or 'exact' (momentum)")

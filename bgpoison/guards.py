"""Checks that stop a computation from returning silent garbage.

Training, the reversals and the back-gradient call these at one line each:

    check_step          L(w_t) must be finite and not grown far above L(w_0): gradient descent
                        with a suitable eta never raises the loss; a run that does is diverging
    check_preimage      a w_t recovered by the fixed-point reversal must step forward onto
                        w_{t+1}: w_t - eta g(w_t) = w_{t+1} up to round-off
    check_reconstruction  the fixed-point reversal's reconstructed w_0 must not be far off
    check_hypergradient A and dA/dX_c must be finite
    check_memory        the trajectory a reversal keeps must fit in the memory available
"""
import os

import numpy as np

GROWTH = 1e4      # L(w_t) > L(w_0) + GROWTH (1 + |L(w_0)|): diverging (a descent never rises)
RECONSTRUCTION = 10.0  # w_0 error over 10x the trajectory's scale: the reversal lost it
PREIMAGE_RTOL = 1e-9   # relative miss of a verified forward step; ~1e4 ulps, far below a wrong one


def training_loss(model, w, acts, Y):
    """L(w; X) from the activations of ``model.forward(w, X)``."""
    with np.errstate(over="ignore", invalid="ignore"):
        return model.data_loss(acts, Y) + model.penalty(w)


def check_step(model, w, acts, Y, start, t, gd):
    """``check_loss`` at w_t for t = 0, 1, 2, 4, 8, ... (powers of two) and the last step T-1,
    from the activations the step has computed anyway (no forward pass of its own).

    A too large eta blows up in the first steps, and a diverging run grows geometrically, so
    these checks still stop it within a few steps: log2(T) + 2 loss evaluations per run, about
    1 % of training (every 16 steps and an extra forward pass at w_T cost 14-22 %). Non-finite
    weights, w_T included, are caught at every step by ``GradientDescent.step``.
    """
    if t is None or t & (t - 1) == 0 or t == gd.n_steps - 1:
        check_loss(training_loss(model, w, acts, Y), start, t, gd)


def check_loss(loss, start, t, gd):
    """DivergenceError naming step ``t`` unless ``loss`` = L(w_t) is finite and, given the
    starting loss ``start`` = L(w_0), not above start + GROWTH (1 + |start|)."""
    from .training import DivergenceError
    if not np.isfinite(loss):
        why = f"the training loss is {loss}"
    elif start is not None and loss > start + GROWTH * (1.0 + abs(start)):
        why = f"the training loss grew from {start:.4g} to {loss:.4g}"
    else:
        return loss
    raise DivergenceError(f"gradient descent diverged at step {t} of {gd.n_steps}: {why}; "
                          f"try a smaller learning rate than lr={gd.lr:g}")


def check_preimage(w_forward, w_next, t, lr, rtol=PREIMAGE_RTOL):
    """ConvergenceError unless ``w_forward`` (the recovered w_t stepped forward again) lands on
    w_{t+1}: max |w_forward - w_{t+1}| <= rtol (1 + max |w_{t+1}|)."""
    from .reversal import ConvergenceError
    miss = float(np.max(np.abs(w_forward - w_next)))
    scale = 1.0 + float(np.max(np.abs(w_next)))
    if not miss <= rtol * scale:
        raise ConvergenceError(
            f"fixed-point reversal failed at step {t}: the recovered w_{t} steps forward to a "
            f"point {miss:.3e} away from w_{t + 1} (the iteration settled on a point that is "
            f"not a preimage; it contracts only while lr * L_smooth < 1, lr={lr:g}); use a "
            f"smaller lr or reversal='stored' or 'checkpoint'")


def check_reconstruction(w0_error, w0, w_T, lr):
    """ConvergenceError if a reversal's reconstructed w_0 is off by more than RECONSTRUCTION
    times (1 + max |w_0| + max |w_T - w_0|), the scale of the trajectory: the reversal has lost
    it and its gradient points anywhere (measured on digits: cosine with the exact one 0.7 at
    10 percent over 20 times that scale, -0.2 at 1000 times; 0.99 at 7 times)."""
    from .reversal import ConvergenceError
    scale = 1.0 + float(np.max(np.abs(w0))) + float(np.max(np.abs(w_T - w0)))
    if not w0_error <= RECONSTRUCTION * scale:
        raise ConvergenceError(
            f"fixed-point reversal lost the trajectory: the reconstructed w_0 is off by "
            f"{w0_error:.3g}, over {RECONSTRUCTION:g} times the scale of the run ({scale:.3g}), "
            f"so its gradient is unreliable; it contracts only while lr * L_smooth < 1 "
            f"(lr={lr:g}): use a smaller lr or reversal='stored' or 'checkpoint'")


def check_hypergradient(value, grad):
    """DivergenceError unless the attacker's value A and its gradient dA/dX_c are finite."""
    from .training import DivergenceError
    if not np.isfinite(value) or not np.all(np.isfinite(grad)):
        bad = np.size(grad) - np.count_nonzero(np.isfinite(grad))
        raise DivergenceError(f"the hypergradient is not finite (A = {value}, {bad} of "
                              f"{np.size(grad)} entries of dA/dX_c NaN or infinite); training "
                              f"is at the edge of stability: try a smaller learning rate")


def check_value(value):
    """DivergenceError unless the attacker's objective A is finite (an attack records only
    finite values)."""
    from .training import DivergenceError
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


def check_memory(n_vectors, n_params, name):
    """MemoryError, before allocating, if ``n_vectors`` float64 vectors of ``n_params`` entries
    do not fit in the memory available."""
    need = 8 * int(n_vectors) * int(n_params)
    free = available_memory()
    if free is not None and need > free:
        raise MemoryError(f"reversal={name!r} would keep {n_vectors} weight vectors of "
                          f"{n_params} parameters, {need / 2**30:.3g} GiB, but only "
                          f"{free / 2**30:.3g} GiB of memory is available; use "
                          f"reversal='checkpoint' (~2 sqrt(T) vectors) or 'exact' (momentum)")

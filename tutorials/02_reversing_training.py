# %% [markdown]
# # 02 · Training, and running it backwards
#
# The back-gradient (tutorial 03) walks the training run backwards, from w_T to w_0, and at each
# step needs the weights w_t that the forward step started from. This tutorial looks only at that
# sub-problem: **how to get w_{T-1}, ..., w_0 back**, how accurately, and at what memory cost.
#
# Training is the paper's full-batch gradient descent, `w_{t+1} = w_t - eta grad_w L(w_t)`. The
# reversal strategies in `bgpoison.reversal` are
#
# | name | how it recovers w_t | memory |
# |---|---|---|
# | `stored` | keeps every w_t from the forward run | T+1 vectors |
# | `checkpoint` | keeps every k-th w_t, re-runs each segment forwards | about 2 sqrt(T) |
# | `paper` | w_t ≈ w_{t+1} + eta grad L(w_{t+1}): the gradient at the wrong end of the step | 1 |
# | `fixed-point` | solves w_t = w_{t+1} + eta grad L(w_t) by iteration | 2 |
#
# and, for training with momentum only, `exact` (Maclaurin et al.): integer arithmetic plus a
# buffer of the bits that multiplying by the momentum gamma throws away.
#
# Run it as a script (`python tutorials/02_reversing_training.py`, add `--fast` for a smoke run)
# or open it as a notebook with jupytext. Figures go to `tutorials/out/` (or
# `$BGPOISON_TUTORIAL_OUT`).

# %%
import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import bgpoison as bg
from bgpoison import datasets
from bgpoison.models import smoothness
from bgpoison.exact import Exact, buffer_bits_per_step
from bgpoison.back_gradient import REVERSALS
from bgpoison.reversal import ConvergenceError
from bgpoison.experiments.plots import show            # prints the path; inline in a notebook

FAST = os.environ.get("BGPOISON_FAST") == "1" or "--fast" in sys.argv
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()   # notebooks: no __file__
OUT = Path(os.environ.get("BGPOISON_TUTORIAL_OUT", HERE / "out"))
OUT.mkdir(parents=True, exist_ok=True)


# %% [markdown]
# ## The problem
#
# Logistic regression (l2 = 0.01) on 100 training images of the digits 1 and 7 (scikit-learn's
# bundled 8x8 digits, 64 pixels in [0, 1]). The step size is set relative to the curvature:
# L_smooth is the largest eigenvalue of the Hessian at w_0, found by power iteration on
# `hvp_ww` (`bgpoison.models.smoothness`), and eta = c / L_smooth for c = eta * L_smooth in
# {0.1, 0.5, 0.9}. Gradient descent is stable for any c < 2.

# %%
data = datasets.digits(classes=(1, 7))
(X, y), _, _ = datasets.split(data.X, data.y, (100, 0, 0), rng=0)
model = bg.LogisticRegression(n_features=64, l2=0.01)
Y = model.targets(y)                            # labels as the model's float targets, (n, 1)
w0 = model.init_params(rng=None)                # zeros: the model is convex
L_smooth = smoothness(model, w0, X, y, np.random.default_rng(0))
n_steps = 80 if FAST else 200
ETA_L = (0.1, 0.5, 0.9)
print(f"{len(y)} training rows, {model.n_params} parameters, L_smooth(w_0) = {L_smooth:.3f}, "
      f"T = {n_steps}")

# %% [markdown]
# ## Reconstruction error along the path
#
# For each step size we train once, keeping the true iterates through `GradientDescent.run`'s
# `callback`, then let each strategy walk back as the reverse pass does (`.forward(w0)`, then
# `w_t, acts_t = .previous(t, w_{t+1}, acts_{t+1})` for t = T-1, ..., 0) and record
# max |reconstructed w_t - true w_t|.


# %%
def true_path(gd):
    """[w_0, w_1, ..., w_T] from the forward run."""
    path = [w0]
    gd.run(model, w0, X, y, callback=lambda t, w_t: path.append(w_t))
    return path


def reversal_errors(name, gd, path):
    """max |w_t - true w_t| for t = 0..T-1 as recovered by reversal ``name``; NaN if it fails."""
    reversal = REVERSALS[name](model, gd, X, Y)
    w_t, acts = reversal.forward(w0), None
    errors = np.full(gd.n_steps, np.nan)
    try:
        for t in reversed(range(gd.n_steps)):
            w_t, acts = reversal.previous(t, w_t, acts)
            errors[t] = np.max(np.abs(w_t - path[t]))
    except ConvergenceError as err:
        print(f"    {name}: {err}")
    return errors


runs = {}
for c in ETA_L:
    gd = bg.GradientDescent(lr=c / L_smooth, n_steps=n_steps)
    path = true_path(gd)
    runs[c] = gd, path, {name: reversal_errors(name, gd, path)
                         for name in ("stored", "checkpoint", "paper", "fixed-point")}

print(f"{'eta*L':>6} {'strategy':12} {'error at w_T-1':>15} {'error at w_T/2':>15} "
      f"{'error at w_0':>13}")
for c, (gd, path, errors) in runs.items():
    for name, e in errors.items():
        print(f"{c:6.1f} {name:12} {e[-1]:15.1e} {e[n_steps // 2]:15.1e} {e[0]:13.1e}")

# %% [markdown]
# `stored` and `checkpoint` are exact (error 0.0 everywhere), so they do not appear on the log
# plot below. `paper` is off after the very first step back and the error compounds. `fixed-point`
# solves each step to round-off, yet at the larger step sizes it ends far from w_0 as well.
#
# **Why.** Take two nearby weight vectors, w_t and w_t + delta. One forward step maps the
# difference delta to about (I - eta H) delta, with H the Hessian at w_t. Along a Hessian
# eigenvector with eigenvalue lambda > 0 that multiplies delta by 1 - eta lambda, less than 1 in
# size: the forward map *contracts* (that is why training converges). The backward map divides
# by the same factor, so it *expands*: a deviation of size delta at w_{t+1} becomes
# delta / (1 - eta lambda) at w_t. Every reversed step makes a small error (for `paper`,
# O(eta^2) because it uses the gradient at the wrong end; for `fixed-point`, a rounding error of
# about machine epsilon), and every later step back amplifies it. An error made at the first
# step back, along the stiffest direction, has grown by the time the reverse pass reaches w_t by
#
#     prod_{s=t}^{T-1} 1 / (1 - eta lambda_max(w_s)),
#
# where lambda_max(w_s) is the largest Hessian eigenvalue at w_s. The dashed lines plot
# eps_machine times that product, with lambda_max(w_s) from power iteration at every true w_s.
# It is **not a bound**: it is the growth of one error of size eps_machine made at the first step
# back, a reference slope. The real error starts larger (a rounding error is eps_machine times
# |w|, and the fixed-point iteration stops a few ulps from its fixed point) and every step back
# adds a new one, so the fixed-point curve can sit above the dashed line (here at
# eta * L_smooth = 0.5 and 0.9; at 0.1 the roundings partly cancel and it ends below). What to
# compare is the slope, which it follows until the error is so large that the linear picture no
# longer holds.


# %%
def roundoff_slope(gd, path):
    """eps * prod_{s=t}^{T-1} 1/(1 - eta lambda_max(w_s)) for t = 0..T-1."""
    lam = np.array([smoothness(model, w_s, X, y, np.random.default_rng(0), iters=30)
                    for w_s in path[:-1]])                        # (T,)
    growth = 1.0 / (1.0 - gd.lr * lam)                            # > 1 for every step back
    return np.finfo(float).eps * np.cumprod(growth[::-1])[::-1]  # product from s = t to T-1


fig = Figure(figsize=(13, 3.8), layout="constrained")
axes = fig.subplots(1, len(ETA_L), sharey=True)
for ax, (c, (gd, path, errors)) in zip(axes, runs.items()):
    t = np.arange(n_steps)
    for name, style in (("paper", "C3-"), ("fixed-point", "C0-")):
        ax.semilogy(t, errors[name], style, label=name)
    slope = roundoff_slope(gd, path)
    ax.semilogy(t, slope, "C0--", lw=1,
                label=r"$\epsilon\,\prod_{s\geq t} 1/(1-\eta\lambda_{max})$ (reference slope)")
    ax.set_ylim(1e-17, 1e3)
    ax.set_title(f"eta * L_smooth = {c}")
    ax.set_xlabel("t (the reverse pass runs from right to left)")
    print(f"eta*L = {c}: fixed-point error at w_0 {errors['fixed-point'][0]:.1e}, "
          f"reference slope eps * prod at w_0 {slope[0]:.1e}")
axes[0].set_ylabel("max |reconstructed w_t - true w_t|")
axes[0].legend(loc="lower left", fontsize=8)
fig.suptitle("stored and checkpoint: error exactly 0 (not drawn)")
fig.savefig(OUT / "02_reversal_error.png", dpi=110)
show(OUT / "02_reversal_error.png")

# %% [markdown]
# No float64 reversal of plain gradient descent can be exact in general: the information is
# destroyed by rounding in the forward run, and the backward map magnifies whatever is lost. The
# only honest check is the one `bgpoison` reports with every back-gradient, the distance between
# the reconstructed and the true w_0 (`BackGradientResult.w0_error`).
#
# ## Memory against T
#
# What each strategy keeps: `vectors_held` is the peak number of parameter vectors held to recover
# the trajectory (for `checkpoint` it is only known once the reverse pass has run). For the exact
# reversal of momentum training (next section) we count its two vectors (w, v) plus its
# information buffer converted to 64-bit vectors, as measured by
# `bgpoison.exact.buffer_bits_per_step`.

# %%
lr = 0.1 / L_smooth
horizons = [10, 30, 100] if FAST else [10, 30, 100, 300, 1000]
held = {name: [] for name in ("stored", "checkpoint", "paper", "fixed-point")}
for T in horizons:
    gd = bg.GradientDescent(lr=lr, n_steps=T)
    for name in held:
        reversal = REVERSALS[name](model, gd, X, Y)
        reversal.forward(w0)
        held[name].append(reversal.vectors_held)
# the exact reversal (momentum gamma = 0.9): 2 vectors (w, v) plus its buffer, in 64-bit vectors
bits_per_vector = 64 * model.n_params
exact_held = []
for T in horizons:
    gd = bg.GradientDescent(lr=lr, n_steps=T, momentum=0.9)
    buffer_bits = buffer_bits_per_step(model, gd, w0, X, y)["bits_per_step"] * T
    exact_held.append(2 + buffer_bits / bits_per_vector)
print(f"{'T':>6} " + " ".join(f"{name:>11}" for name in held) + "  exact (gamma=0.9)")
for i, T in enumerate(horizons):
    print(f"{T:6d} " + " ".join(f"{held[name][i]:11d}" for name in held)
          + f"  {exact_held[i]:17.2f}")

# %% [markdown]
# ## Momentum, and the exact reversal
#
# With momentum, v_{t+1} = gamma v_t - (1 - gamma) g(w_t) and w_{t+1} = w_t + eta v_{t+1}. In
# float64 the step back is v_t = (v_{t+1} + (1 - gamma) g(w_t)) / gamma: dividing by gamma < 1
# multiplies the rounding error by 1/gamma at every step, on top of the curvature effect above.
# The few lines below are that naive float reversal, written here for comparison only.
#
# Maclaurin et al. make the reversal exact: w and v live on a fixed-point grid (int64 integers
# times 2^-52), where additions are exact, and the one lossy operation, v <- gamma v, pushes the
# lost remainder onto an *information buffer* that the reverse pass pops (`bgpoison.exact`).
# The buffer grows by about log2(1/gamma) bits per parameter per step, against the 64 bits that
# storing w_t would cost.


# %%
def naive_momentum_reversal_errors(gd):
    """Train with momentum, then undo each step in float64; max |w_t - true w_t| per t."""
    path, w, v = [w0], w0, np.zeros_like(w0)
    for t in range(gd.n_steps):
        w, v = gd.step(model, w, v, X, Y, t)
        path.append(w)
    errors = np.zeros(gd.n_steps)
    for t in reversed(range(gd.n_steps)):
        w = w - gd.lr * v                                            # undo w_{t+1} = w_t + eta v
        g = model.backward(w, X, Y, model.forward(w, X))     # g(w_t)
        v = (v + (1.0 - gd.momentum) * g) / gd.momentum              # undo v_{t+1} = gamma v_t ...
        errors[t] = np.max(np.abs(w - path[t]))
    return errors


def exact_reversal_errors(gd):
    """The same with ``bgpoison.exact.Exact``: compare with its own forward trajectory."""
    reversal = Exact(model, gd, X, Y)
    path = [w0]
    w_t, acts = reversal.forward(w0, callback=lambda t, w_t: path.append(w_t)), None
    path[0] = w0                                      # previous(0) gives the caller's w_0
    errors = np.zeros(gd.n_steps)
    for t in reversed(range(gd.n_steps)):
        w_t, acts = reversal.previous(t, w_t, acts)
        errors[t] = np.max(np.abs(w_t - path[t]))
    return errors, float(np.max(np.abs(w_t - w0)))


GAMMAS = (0.9, 0.5)
momentum_runs = {}
for gamma in GAMMAS:
    gd = bg.GradientDescent(lr=0.5 / L_smooth, n_steps=n_steps, momentum=gamma)
    naive = naive_momentum_reversal_errors(gd)
    exact, exact_w0_error = exact_reversal_errors(gd)
    bits = buffer_bits_per_step(model, gd, w0, X, y)
    momentum_runs[gamma] = naive, exact, bits
    print(f"gamma = {gamma}: naive float reversal error at w_0 {naive[0]:.1e}; exact reversal: "
          f"max error along the path {exact.max():.1e}, w_0 error {exact_w0_error:.1e}")
    print(f"    buffer: {bits['bits_per_step_per_param']:.3f} bits per parameter per step "
          f"(log2(1/gamma) = {bits['log2_inverse_gamma']:.3f}), {bits['bits_per_step']:.1f} bits "
          f"per step in all, against {bits['stored_bits_per_step']} for storing w_t")

# %% [markdown]
# ## The figure: memory and momentum

# %%
fig = Figure(figsize=(12, 4.2), layout="constrained")
ax_mem, ax_mom = fig.subplots(1, 2)
for name, style, marker in (("stored", "k-", "o"), ("checkpoint", "C2-", "s"),
                            ("paper", "C3--", "^"), ("fixed-point", "C0:", "v")):
    ax_mem.loglog(horizons, held[name], style, marker=marker, ms=8, mfc="none", mew=1.5,
                  label=name)
ax_mem.loglog(horizons, exact_held, "C1-.", marker="D", ms=6,
              label="exact (momentum 0.9): 2 + buffer")
ax_mem.set_xlabel("T (training steps)")
ax_mem.set_ylabel("parameter vectors held (64-bit words per parameter)")
ax_mem.set_title("memory of the reverse pass")
ax_mem.legend(fontsize=8)

t = np.arange(n_steps)
for gamma, colour in zip(GAMMAS, ("C0", "C3")):
    naive, exact, _ = momentum_runs[gamma]
    ax_mom.semilogy(t, naive, f"{colour}-", label=f"float reversal, gamma={gamma}")
    ax_mom.semilogy(t, np.finfo(float).eps * gamma ** -(n_steps - t), f"{colour}:", lw=1,
                    label=rf"$\epsilon\,\gamma^{{-(T-t)}}$, gamma={gamma}")
ax_mom.set_ylim(1e-17, 1e3)
ax_mom.set_xlabel("t")
ax_mom.set_ylabel("max |reconstructed w_t - true w_t|")
ax_mom.set_title("momentum: exact reversal has error 0 (not drawn)")
ax_mom.legend(fontsize=8)
fig.savefig(OUT / "02_memory_and_momentum.png", dpi=110)
show(OUT / "02_memory_and_momentum.png")

# %% [markdown]
# **What to take away.** Exact reversal costs memory: all T iterates (`stored`), about 2 sqrt(T)
# and a second forward run (`checkpoint`), or, for momentum, a buffer of log2(1/gamma) bits per
# parameter per step (`exact`). The O(1)-memory reversals of plain gradient descent are only as
# good as the backward map is tame: fine at small eta * L_smooth, useless near 1. Tutorial 03
# shows what that does to the hypergradient.

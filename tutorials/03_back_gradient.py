# %% [markdown]
# # 03 · The back-gradient, line by line
#
# The attacker wants dA/dX_c: how the objective A (say, the validation loss) of the *trained*
# weights w_T changes when the poisoning points X_c move. Training is T steps of gradient descent
# on the training rows plus the poisoning rows,
#
#     w_{t+1} = w_t - eta g(w_t, X_c),        g = grad_w L(w; X_tr, X_c),
#
# so w_T is a long composition of functions of X_c. Reverse-mode differentiation walks the steps
# backwards (Muñoz-González et al. 2017, Algorithm "back-gradient"). Differentiating one step
# w_{t+1} = w_t - eta g(w_t, X_c) with dw_{t+1} = dA/dw_{t+1} known:
#
#     dw_t  = dw_{t+1} - eta H_ww(w_t) dw_{t+1}           (w_t enters through w_t itself and g)
#     dX_c += -eta H_xw(w_t) dw_{t+1}                      (X_c enters through g at every step)
#
# starting from dw_T = grad_w A(w_T), dX_c = 0. H_ww v and H_xw v are the two products of
# tutorial 01; both are taken at w_t, where the forward step took its gradient (tutorial 02 is
# about getting w_t back).
#
# This tutorial does one step by hand, shows the library's loop, checks it against finite
# differences of the whole training run, and compares it with the implicit-function (KKT)
# gradient: equal when training has converged, different when it is truncated.
#
# Run it as a script (`python tutorials/03_back_gradient.py`, `--fast` for a smoke run) or open
# it as a notebook with jupytext. Figures go to `tutorials/out/` (or `$BGPOISON_TUTORIAL_OUT`).

# %%
import inspect
import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import bgpoison as bg
from bgpoison import datasets, gradcheck
from bgpoison.models import smoothness
from bgpoison.implicit import implicit_gradient, train_to_optimum
from bgpoison.experiments.plots import show            # prints the path; inline in a notebook

FAST = os.environ.get("BGPOISON_FAST") == "1" or "--fast" in sys.argv
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()   # notebooks: no __file__
OUT = Path(os.environ.get("BGPOISON_TUTORIAL_OUT", HERE / "out"))
OUT.mkdir(parents=True, exist_ok=True)


# %% [markdown]
# ## The problem
#
# Logistic regression (l2 = 0.1) on 100 training images of the digits 1 and 7, 100 validation
# images for the attacker's objective A = mean validation loss (`bg.ErrorGeneric`), and 5
# poisoning points: copies of random training images with the other label (`bg.flip_labels`,
# the attack's usual starting point). The step size is eta = 0.9 / L_smooth.

# %%
data = datasets.digits(classes=(1, 7))
(X_tr, y_tr), (X_val, y_val), _ = datasets.split(data.X, data.y, (100, 100, 0), rng=0)
rng = np.random.default_rng(1)
X_c, y_c = bg.flip_labels(X_tr, y_tr, n_points=5, n_classes=2, rng=rng)     # (5, 64), (5,)
n = len(y_tr)
X, y = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])                  # D_tr and D_c
model = bg.LogisticRegression(n_features=64, l2=0.1)
objective = bg.ErrorGeneric(X_val, y_val)
w0 = model.init_params(rng=None)                                             # zeros
L_smooth = smoothness(model, w0, X, y, np.random.default_rng(0))
lr = 0.9 / L_smooth
print(f"{n} training rows + {len(y_c)} poisoning rows, {model.n_params} parameters, "
      f"L_smooth = {L_smooth:.3f}, eta = {lr:.4f}")

# %% [markdown]
# ## One step by hand
#
# With T = 1 there is a single forward step, w_1 = w_0 - eta g(w_0), and a single reverse step:
# dw_1 = grad_w A(w_1), then dX_c = -eta H_xw(w_0) dw_1 (only the poisoning rows) and
# dw_0 = dw_1 - eta H_ww(w_0) dw_1. (Course version: this cell is the exercise.)

# %%
one_step = bg.GradientDescent(lr=lr, n_steps=1)
### BEGIN SOLUTION
w1 = w0 - lr * model.grad_w(w0, X, y)                        # forward
_, dw1 = objective.value_and_grad(model, w1)                 # dA/dw_1
dX_c_by_hand = -lr * model.hvp_xw(w0, X, y, dw1)[n:]         # (5, 64): poisoning rows only
dw0_by_hand = dw1 - lr * model.hvp_ww(w0, X, y, dw1)         # (65,)
### END SOLUTION
r1 = bg.back_gradient(model, one_step, w0, X_tr, y_tr, X_c, y_c, objective)
print(f"T = 1: max |by hand - library| for dA/dX_c {np.max(np.abs(dX_c_by_hand - r1.dX_c)):.1e}, "
      f"for dA/dw_0 {np.max(np.abs(dw0_by_hand - r1.dw0)):.1e}")

### BEGIN HINT
# %% [markdown]
# ## The library's reverse loop
#
# `bg.back_gradient` trains (`train_forward`) and then runs the reverse loop, `reverse`, which
# repeats that step T times. It also handles momentum (dv, gamma; with gamma = 0 the lines of
# the loop reduce to the two formulas above) and takes w_t from a reversal strategy
# (`trajectory.previous`). `model.r_backward` returns both products at once, sharing one
# forward pass. Each line of the loop names the forward line it undoes:

# %%
from bgpoison.back_gradient import reverse  # noqa: E402  (the function that holds the loop)

print(inspect.getsource(reverse))
### END HINT

# %% [markdown]
# ## Checked against finite differences of the whole training run
#
# A(X_c) = A(train(X_tr, X_c)) is an ordinary function of X_c: retrain from scratch for every
# evaluation. `gradcheck.check_gradient` differentiates it centrally along random directions
# and compares with the back-gradient.
#
# The paper's printed algorithm takes both products at w_{t+1} (before stepping back) rather
# than at w_t. `products_at="end"` reproduces that order: it is close, but not the derivative.

# %%
T_check = 30 if FAST else 100
gd = bg.GradientDescent(lr=lr, n_steps=T_check)


def attacker_objective(X_c_):
    """A after training from w0 on D_tr and the poisoning points X_c_ (one full training run)."""
    return objective.value(model, gd.run(model, w0, np.vstack([X_tr, X_c_]), y))


r = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
worst = gradcheck.check_gradient(attacker_objective, lambda _: r.dX_c, X_c, rng=rng,
                                 name="back_gradient", arg="X_c")
print(f"T = {T_check}: back-gradient passes the check, worst error {worst:.2g} of its tolerance")

u = rng.standard_normal(X_c.shape)
u /= np.linalg.norm(u)
fd = (attacker_objective(X_c + 1e-6 * u) - attacker_objective(X_c - 1e-6 * u)) / 2e-6
late = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, products_at="end")
for name, result in (("products at w_t (start)", r), ("products at w_t+1 (end)", late)):
    claimed = np.sum(result.dX_c * u)
    print(f"  {name}: <dA/dX_c, u> = {claimed:.10f}, finite difference {fd:.10f}, "
          f"relative error {abs(claimed - fd) / abs(fd):.1e}")

# %% [markdown]
# ## Reversal strategies and the hypergradient
#
# Tutorial 02 showed the paper's reversal and, at larger eta * L_smooth, the fixed-point
# reversal drifting away from the true trajectory. Products taken at the wrong weights give a
# wrong gradient: the relative error of <dA/dX_c, u> against a finite difference of the whole
# training run, for three step sizes. Near eta * L_smooth = 1 the fixed-point iteration contracts
# so slowly that it may also give up (`ConvergenceError`, after `max_iter` = 100 iterations in a
# step) rather than return a wrong w_t.
#
# The table also shows `w0_error`, the distance between the reconstructed and the true w_0. It
# can be large while the hypergradient is still accurate: the reverse pass carries dA/dw_t back
# through dw_t = (I - eta H) dw_{t+1}, which *shrinks* the adjoint along every curvature
# direction (the same factor 1 - eta lambda < 1 that makes the backward map of the weights
# expand, tutorial 02). The large errors in w_t occur early in the run (small t), where the
# adjoint, and with it the weight of those steps' products in dA/dX_c, has already decayed.
# Errors in w_t late in the run, near w_T, where dw is large, are the ones that matter, and
# those are small.

# %%
print(f"{'eta*L':>6} {'reversal':12} {'relative error':>15} {'w0 error':>9}")
for c in (0.1, 0.5, 0.9):
    gd_c = bg.GradientDescent(lr=c / L_smooth, n_steps=T_check)
    A_c = lambda X_c_: objective.value(model, gd_c.run(model, w0, np.vstack([X_tr, X_c_]), y))
    fd_c = (A_c(X_c + 1e-6 * u) - A_c(X_c - 1e-6 * u)) / 2e-6
    for reversal in ("stored", "paper", "fixed-point"):
        try:
            result = bg.back_gradient(model, gd_c, w0, X_tr, y_tr, X_c, y_c, objective,
                                      reversal=reversal)
        except bg.ConvergenceError as err:
            print(f"{c:6.1f} {reversal:12} ConvergenceError: {str(err)[:60]}...")
            continue
        error = abs(np.sum(result.dX_c * u) - fd_c) / abs(fd_c)
        print(f"{c:6.1f} {reversal:12} {error:15.1e} {result.w0_error:9.1e}")

# %% [markdown]
# ## Back-gradient against the KKT (implicit) gradient
#
# The classical alternative assumes training is solved exactly: at the optimum w*,
# grad_w L(w*, X_c) = 0, and the implicit function theorem gives
#
#     dA/dX_c = -H_xw(w*)^T H_ww(w*)^{-1} grad_w A(w*)
#
# (`bgpoison.implicit`; `bg.KKTGradient` trains to optimality by L-BFGS and solves the system).
# The back-gradient is the exact gradient of a *different* function, A after T steps. The two
# agree when T steps have converged, and differ when training is truncated: with few steps, the
# poisoning points have not yet pulled the weights where they eventually will.

# %%
kkt_value, kkt_grad = bg.KKTGradient().value_and_grad(model, None, w0, X_tr, y_tr, X_c, y_c,
                                                      objective)
w_star = train_to_optimum(model, w0, X, model.targets(y))
_, kkt_again = implicit_gradient(model, w_star, X, model.targets(y), slice(n, None), objective)
print(f"KKTGradient and implicit_gradient at the same optimum: max difference "
      f"{np.max(np.abs(kkt_grad - kkt_again)):.1e}")


def cosine(a, b):
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


horizons = [1, 3, 10, 30, 100, 300] if FAST else [1, 3, 10, 30, 100, 300, 1000, 3000]
rows = []
for T in horizons:
    result = bg.back_gradient(model, bg.GradientDescent(lr=lr, n_steps=T), w0, X_tr, y_tr,
                              X_c, y_c, objective)
    rows.append((T, cosine(result.dX_c, kkt_grad),
                 np.linalg.norm(result.dX_c - kkt_grad) / np.linalg.norm(kkt_grad),
                 np.max(np.abs(result.w_T - w_star))))
print(f"{'T':>5} {'cosine(back, KKT)':>18} {'relative difference':>20} {'max |w_T - w*|':>15}")
for T, cos, diff, dist in rows:
    print(f"{T:5d} {cos:18.9f} {diff:20.2e} {dist:15.2e}")
T_last, cos_last, diff_last, _ = rows[-1]
print(f"after T = {T_last} steps the two gradients differ by {diff_last:.1e} (relative); "
      f"after T = 1, by {rows[0][2]:.2f}")

# %%
fig = Figure(figsize=(14, 4), layout="constrained")
ax_cos, ax_diff, ax_w = fig.subplots(1, 3)
Ts = [row[0] for row in rows]
ax_cos.loglog(Ts, [1 - row[1] for row in rows], "C0o-")
ax_cos.set_ylabel("1 - cosine(back-gradient, KKT gradient)")
ax_cos.set_title("the directions agree as T grows")
ax_diff.loglog(Ts, [row[2] for row in rows], "C3o-")
ax_diff.set_ylabel("||back-gradient - KKT|| / ||KKT||  (relative)")
ax_diff.set_title("so do the gradients themselves")
ax_w.loglog(Ts, [row[3] for row in rows], "C2s-")
ax_w.set_ylabel("max |w_T - w*|  (absolute, weights)")
ax_w.set_title("because training converges")
for ax in (ax_cos, ax_diff, ax_w):
    ax.set_xlabel("T (training steps of the back-gradient)")
fig.savefig(OUT / "03_back_gradient_vs_kkt.png", dpi=110)
show(OUT / "03_back_gradient_vs_kkt.png")

# %% [markdown]
# **What to take away.** The back-gradient is the exact derivative of what the attacker actually
# trains (T steps, this step size, this w_0), checked here against finite differences of the
# whole run, provided the reverse pass sees the right w_t. The KKT gradient needs training
# solved to optimality and a linear system in H_ww: cheap for 65 parameters, O(p^3) for a direct
# solve in general, and undefined for the non-convex MLP of tutorial 06, where the back-gradient
# works unchanged.

# %% [markdown]
# # 01 · Derivatives by hand, checked by finite differences
#
# A back-gradient attack differentiates *through* training. Besides the loss and its gradient it
# needs two second-order products of the training objective L(w; X):
#
# * the **Hessian-vector product** H_ww v = grad_w <grad_w L, v>, to carry dA/dw_t back one step;
# * the **mixed product** H_xw v = grad_X <grad_w L, v>, how the gradient step moves when a
#   training point (a poisoning point) moves.
#
# This tutorial derives all four for binary logistic regression, implements them from the
# formulas in a few lines of NumPy, checks them with the library's finite-difference checker
# `bgpoison.gradcheck`, compares them with the library's results and code, and shows what the
# checker says about a derivative with a term missing. Last, a figure shows why the checker uses
# central differences, and where their error is smallest.
#
# Run it as a script (`python tutorials/01_derivatives.py`, `--fast` for a smoke run) or open
# it as a notebook with jupytext. Figures go to `tutorials/out/` (or `$BGPOISON_TUTORIAL_OUT`).

# %%
import inspect
import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import bgpoison as bg
from bgpoison import gradcheck
from bgpoison.models.linear import LinearModel, sigmoid, softplus
from bgpoison.experiments.plots import show            # prints the path; inline in a notebook

FAST = os.environ.get("BGPOISON_FAST") == "1" or "--fast" in sys.argv
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()   # notebooks: no __file__
OUT = Path(os.environ.get("BGPOISON_TUTORIAL_OUT", HERE / "out"))
OUT.mkdir(parents=True, exist_ok=True)


# %% [markdown]
# ## The model and a tiny data set
#
# With n rows x_i (d features), labels y_i in {0, 1}, weights W (d,) and bias b:
#
#     z_i = x_i^T W + b,     s_i = sigmoid(z_i) = p(y = 1 | x_i)
#     loss_i = -log p(y_i | x_i) = softplus(z_i) - y_i z_i
#     L(w; X) = (1/n) sum_i loss_i + (l2/2) ||W||^2          (the bias is not penalised)
#
# The library stores w = (W, b) as one flat vector; `model.unpack(w)` gives named views with
# W of shape (d, 1) and b of shape (1,). Six rows and three features keep every number printable.

# %%
rng = np.random.default_rng(0)
n, d, l2 = 6, 3, 0.1
X = rng.standard_normal((n, d))                 # (n, d)
y = rng.integers(0, 2, n)                       # (n,)
model = bg.LogisticRegression(n_features=d, l2=l2)
w = 0.5 * rng.standard_normal(model.n_params)   # (d + 1,): W then b
v = rng.standard_normal(model.n_params)         # a direction in weight space


def split_w(w):
    """(W (d,), b scalar) from the flat vector, in the library's order."""
    return w[:d], w[d]


def loss_by_hand(w, X=X):
    W, b = split_w(w)
    z = X @ W + b                                       # (n,)
    return np.mean(softplus(z) - y * z) + 0.5 * l2 * W @ W


print(f"L(w) by hand {loss_by_hand(w):.12f}, library {model.loss(w, X, y):.12f}")

# %% [markdown]
# ## The gradient
#
# d loss_i / d z_i = sigmoid(z_i) - y_i = s_i - y_i (the derivative of softplus is sigmoid).
# The chain rule through z_i = x_i^T W + b then gives
#
#     grad_W L = (1/n) sum_i (s_i - y_i) x_i + l2 W  = X^T (s - y) / n + l2 W
#     grad_b L = (1/n) sum_i (s_i - y_i)
#
# `gradcheck.check_gradient(f, grad, x, rng=...)` compares `grad(x)` with central differences
# (f(x + eps u) - f(x - eps u)) / (2 eps) along random unit directions u, and along every
# coordinate when x has at most 12 entries. It returns the worst error as a fraction of its
# tolerance (below 1 means it passed) and raises `AssertionError` otherwise.


# %%
def grad_by_hand(w, X=X):
    W, b = split_w(w)
    r = sigmoid(X @ W + b) - y                          # (n,) residuals s - y
    return np.append(X.T @ r / n + l2 * W, np.mean(r))  # (d + 1,)


worst = gradcheck.check_gradient(loss_by_hand, grad_by_hand, w, rng=rng, name="grad_by_hand",
                                 arg="w")
print(f"gradient: checker passed, worst error {worst:.2g} of its tolerance; "
      f"max |by hand - library| = {np.max(np.abs(grad_by_hand(w) - model.grad_w(w, X, y))):.1e}")

# %% [markdown]
# ## The Hessian-vector product, by the R-operator
#
# Never form the Hessian: differentiate the *gradient code* along v = (V, c). Pearlmutter's
# R-operator is R{f} = d/da f(w + a v) at a = 0. Apply it to every line of the gradient:
#
#     R{z_i} = x_i^T V + c
#     R{s_i - y_i} = s_i (1 - s_i) R{z_i}                  (sigmoid' = s (1 - s))
#     H_ww v = ( X^T R{s - y} / n + l2 V ,  (1/n) sum_i R{s_i - y_i} )
#
# The check: H u is the directional derivative of the gradient along u, so
# `check_directional(grad, lambda u: H u, w)` compares it with differences of `grad`.


# %%
def hvp_by_hand(w, v, X=X):
    W, b = split_w(w)
    V, c = split_w(v)
    s = sigmoid(X @ W + b)                              # (n,)
    Rr = s * (1 - s) * (X @ V + c)                      # (n,) R{s - y}
    return np.append(X.T @ Rr / n + l2 * V, np.mean(Rr))


worst = gradcheck.check_directional(grad_by_hand, lambda u: hvp_by_hand(w, u), w, rng=rng,
                                    name="hvp_by_hand", arg="w")
print(f"Hessian-vector product: checker passed, worst error {worst:.2g} of its tolerance; "
      f"max |by hand - library| = "
      f"{np.max(np.abs(hvp_by_hand(w, v) - model.hvp_ww(w, X, y, v))):.1e}")

# %% [markdown]
# ## The mixed product d/dX <grad_w L, v>
#
# Fix v and look at the scalar g(X) = <grad_w L(w; X), v>:
#
#     g(X) = (1/n) sum_i (s_i - y_i) (x_i^T V + c) + l2 <W, V>
#
# Row x_i appears twice in term i: inside s_i (through z_i) and in the factor x_i^T V. The product
# rule gives one term for each. In a reverse pass only the poisoning rows are needed. (Course
# version: the next cell is the exercise.)
### BEGIN HINT
#
# With d s_i / d x_i = s_i (1 - s_i) W:
#
#     d g / d x_i = (1/n) [ s_i (1 - s_i) (x_i^T V + c) W  +  (s_i - y_i) V ]        (d,) per row
#
# Stacked over rows that is R{s - y} W^T / n + (s - y) V^T / n, of shape (n, d).
### END HINT


# %%
def mixed_by_hand(w, v, X=X):
    """d/dX <grad_w L(w; X), v>, shape (n, d)."""
    W, b = split_w(w)
    V, c = split_w(v)
    ### BEGIN SOLUTION
    s = sigmoid(X @ W + b)                              # (n,)
    Rz = X @ V + c                                      # (n,)
    through_s = (s * (1 - s) * Rz)[:, None] * W         # (n, d): x_i inside sigmoid
    direct = (s - y)[:, None] * V                       # (n, d): x_i in the factor x_i^T V
    return (through_s + direct) / n
    ### END SOLUTION


worst = gradcheck.check_gradient(lambda X_: grad_by_hand(w, X_) @ v,
                                 lambda X_: mixed_by_hand(w, v, X_), X, rng=rng,
                                 name="mixed_by_hand", arg="X")
print(f"mixed product: checker passed, worst error {worst:.2g} of its tolerance; "
      f"max |by hand - library| = "
      f"{np.max(np.abs(mixed_by_hand(w, v) - model.hvp_xw(w, X, y, v))):.1e}")

### BEGIN HINT
# %% [markdown]
# ## The library's version
#
# `bgpoison` writes the same three lines once for all linear models (ADALINE, logistic and
# softmax regression) in `LinearModel.r_backward`; each model only supplies the second derivative
# of its loss in z, `d2loss`. Here are both, straight from the installed source:

# %%
print(inspect.getsource(bg.LogisticRegression.d2loss))
print(inspect.getsource(LinearModel.r_backward))

# %% [markdown]
# `RdZ[rows] @ W.T` is our `through_s` and `dZ_r @ q["W"].T` is our `direct` term.
### END HINT

# %% [markdown]
# ## The library's own check
#
# `gradcheck.check_model` checks the library's gradient and both products in one call:

# %%
worst = gradcheck.check_model(model, w, X, y, rng=rng)
print(f"gradcheck.check_model(LogisticRegression): passed, worst error {worst:.2g} of tolerance")

### BEGIN HINT
# %% [markdown]
# ## What a wrong derivative looks like
#
# The classic mistake in the mixed product is to differentiate only through the sigmoid and
# forget that x_i also multiplies V directly. The checker names the function, the argument,
# the direction and both numbers:


# %%
def mixed_missing_term(w, v, X=X):
    W, b = split_w(w)
    V, c = split_w(v)
    s = sigmoid(X @ W + b)
    return (s * (1 - s) * (X @ V + c))[:, None] * W / n    # the (s_i - y_i) V term is missing


try:
    gradcheck.check_gradient(lambda X_: grad_by_hand(w, X_) @ v,
                             lambda X_: mixed_missing_term(w, v, X_), X, rng=rng,
                             name="mixed_missing_term", arg="X")
    raise RuntimeError("the checker should have rejected mixed_missing_term")
except AssertionError as err:
    print("AssertionError:", err)
### END HINT

# %% [markdown]
# ## Why central differences, and which eps
#
# A difference quotient has two errors: truncation (it is only a Taylor approximation) and
# round-off (f is known to about machine epsilon times |f|, and dividing by eps magnifies that).
#
# * forward, (f(x + eps u) - f(x)) / eps: truncation O(eps), round-off O(1e-16 / eps); best near
#   eps = 1e-8, where both are about 1e-8: half the 16 digits are lost. (The paper's authors
#   formed their Hessian products this way.)
# * central, (f(x + eps u) - f(x - eps u)) / (2 eps): truncation O(eps^2), so the valley is
#   deeper and sits at larger eps: balancing eps^2 against 1e-16 / eps puts it near
#   eps = 1e-5, with an error of about 1e-11.
#
# Below, both estimate the Hessian-vector product H v from differences of the gradient and are
# compared with the exact product. The measurement agrees: the central valley bottoms out near
# eps = 1e-5 (over 20 random problems of this size the best eps lay between 2e-6 and 3e-5).
# The checker's `gradcheck.EPS` = 1e-6 sits a decade to the left of the bottom, on the
# round-off side, where the error is about 1e-10 to 1e-9: ten to a hundred times the minimum,
# but still thousands of times below its relative tolerance `gradcheck.RTOL` = 1e-6, and a
# little safer where the third derivative is large (saturated sigmoids, the MLP). A real mistake
# (like the missing term above) cannot hide under that tolerance.

# %%
exact = model.hvp_ww(w, X, y, v)
grad = lambda w_: model.grad_w(w_, X, y)
forward_hv = lambda e: (grad(w + e * v) - grad(w)) / e
central_hv = lambda e: (grad(w + e * v) - grad(w - e * v)) / (2 * e)
rel = lambda approx: np.max(np.abs(approx - exact)) / np.max(np.abs(exact))

epsilons = np.logspace(-12, -1, 12 if FAST else 45)
forward_err = [rel(forward_hv(e)) for e in epsilons]
central_err = [rel(central_hv(e)) for e in epsilons]
print(f"forward differences at eps = 1e-8: relative error {rel(forward_hv(1e-8)):.1e}")
print(f"central differences at eps = {gradcheck.EPS:g}: relative error "
      f"{rel(central_hv(gradcheck.EPS)):.1e}")
print(f"best over the grid of eps: forward {min(forward_err):.1e} at eps = "
      f"{epsilons[np.argmin(forward_err)]:.0e}, central {min(central_err):.1e} at eps = "
      f"{epsilons[np.argmin(central_err)]:.0e}")

fig = Figure(figsize=(6.5, 4.2), layout="constrained")
ax = fig.subplots()
ax.loglog(epsilons, forward_err, "C3o-", ms=3, label="forward differences")
ax.loglog(epsilons, central_err, "C0o-", ms=3, label="central differences")
ax.axvline(gradcheck.EPS, color="C0", ls=":", label=f"gradcheck.EPS = {gradcheck.EPS:g}")
ax.axvline(1e-8, color="C3", ls=":", label="1e-8 (the authors' forward differences)")
ax.axhline(gradcheck.RTOL, color="0.5", ls="--", lw=1, label=f"gradcheck.RTOL = {gradcheck.RTOL:g}")
ax.axvspan(1e-12, 1e-9, color="0.85", alpha=0.5, lw=0)
ax.axvspan(1e-3, 1e-1, color="C1", alpha=0.12, lw=0)
ax.text(2e-12, 3e-11, "round-off\ndominates", fontsize=8, va="center")
ax.text(1.3e-3, 3e-11, "truncation\ndominates", fontsize=8, va="center")
ax.set_xlabel("eps")
ax.set_ylabel("relative error of the estimated H v")
ax.set_title("finite-difference Hessian-vector products, logistic regression")
ax.legend(fontsize=8)
fig.savefig(OUT / "01_finite_difference_error.png", dpi=110)
show(OUT / "01_finite_difference_error.png")

# %% [markdown]
# **What to take away.** Write each derivative as a small function of the forward quantities,
# apply the R-operator line by line for second-order products, and check every one of them with
# central differences before using it: the back-gradient of tutorial 03 multiplies these products
# T times, so a wrong term would be invisible in the final attack but fatal to it.

# %% [markdown]
# # 07 · Deep models: the R-pass layer by layer, convolutions, mini-batches
#
# The paper's title is about deep learning: back-gradients need only the gradient of the
# training loss and two Hessian-vector products, H_ww v and H_xw v, and Pearlmutter's R-pass
# gives both for any network at the cost of about two more backward passes. This tutorial
# follows that R-pass through a deep MLP (`bgpoison/models/mlp.py`: one loop over layers) and a
# small convolutional network (`bgpoison/models/cnn.py`), checks every product with
# `bgpoison.gradcheck`, trains by mini-batch gradient descent and reverses it, and ends with a
# back-gradient attack on a CNN.
#
# Run it as a script (`python tutorials/07_deep.py`, `--fast` for a smoke run) or open it as a
# notebook with jupytext. Figures go to `tutorials/out/` (or `$BGPOISON_TUTORIAL_OUT`).

# %%
import os
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import bgpoison as bg
from bgpoison import datasets, gradcheck
from bgpoison.models import cnn as cnn_module
from bgpoison.models import mlp as mlp_module
from bgpoison.experiments.plots import show            # prints the path; inline in a notebook

FAST = os.environ.get("BGPOISON_FAST") == "1" or "--fast" in sys.argv
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()   # notebooks: no __file__
OUT = Path(os.environ.get("BGPOISON_TUTORIAL_OUT", HERE / "out"))
OUT.mkdir(parents=True, exist_ok=True)


# %% [markdown]
# ## 1. The R-pass of a deep MLP
#
# The formulas are in the module's docstring, printed here rather than copied (so they cannot
# drift from the code): the forward pass, the backward pass, and the R-pass that differentiates
# every line of both along a direction v in weight space.

# %%
print(mlp_module.__doc__)

# %% [markdown]
# Two hidden layers, widths (5, 4), on a tiny data set. `unpack` gives named views
# W1, b1, W2, b2, W3, b3 with the `X @ W` convention:

# %%
rng = np.random.default_rng(0)
deep = bg.MLP(6, (5, 4), 3, activation="tanh", l2=0.01)
X = rng.standard_normal((8, 6))                             # (n, d)
y = rng.integers(0, 3, 8)                                   # (n,)
w = 0.8 * rng.standard_normal(deep.n_params)                # (p,)
v = rng.standard_normal(deep.n_params)                      # a direction in weight space
print({name: part.shape for name, part in deep.unpack(w).items()})

# %% [markdown]
# ### Layer by layer
#
# H_ww v is the derivative of grad_w L along v. Its block for W_l is the derivative of the
# gradient block gW_l; central differences of `grad_w` give each block separately, so we can see
# that every layer's line of the R-pass is right, not just their sum:
#
#     (grad_w L(w + eps v) - grad_w L(w - eps v)) / (2 eps)   ~=   H_ww v

# %%
eps = 1e-6
fd = (deep.grad_w(w + eps * v, X, y) - deep.grad_w(w - eps * v, X, y)) / (2 * eps)
Hv = deep.hvp_ww(w, X, y, v)
block_errors = {}
for name in deep.shapes:
    a, b = deep.unpack(Hv)[name], deep.unpack(fd)[name]
    block_errors[name] = np.max(np.abs(a - b)) / np.max(np.abs(b))
    print(f"{name:3s} {str(a.shape):8s} max |H v|: {np.max(np.abs(a)):.3e}   "
          f"relative difference from central differences: {block_errors[name]:.1e}")

# %% [markdown]
# Relative differences of about 1e-10 (measured 2e-11 to 2e-10): the round-off of central
# differences at eps = 1e-6, not a mistake. The library's checker does this along random
# directions for all three products (`grad_w`, `hvp_ww`, `hvp_xw`) and raises on a mismatch;
# the number it returns is the largest error over its tolerance (below 1: passed).

# %%
for hidden in (3, (5, 4), (4, 4, 3)):
    model = bg.MLP(6, hidden, 3, l2=0.01)
    w_h = 0.8 * rng.standard_normal(model.n_params)
    print(f"hidden={hidden!s:10s} {model.n_layers} layers, {model.n_params:3d} parameters, "
          f"check_model: {gradcheck.check_model(model, w_h, X, y, rng=rng):.3f}")

# %% [markdown]
# A planted mistake: the second derivative of tanh is f'' = -2 A f'. Drop the factor 2 and the
# term dA * DD * RZ of the R-pass is half what it should be; the checker names the product.

# %%
f, df, _ = mlp_module.ACTIVATIONS["tanh"]
right = mlp_module.ACTIVATIONS["tanh"]
mlp_module.ACTIVATIONS["tanh"] = (f, df, lambda A, D1: -A * D1)   # wrong on purpose
try:
    gradcheck.check_model(deep, w, X, y, rng=np.random.default_rng(1))
    caught = None
except AssertionError as err:
    caught = str(err)
finally:
    mlp_module.ACTIVATIONS["tanh"] = right
print("caught:", caught[:160] if caught else None)
assert caught is not None

# %% [markdown]
# ## 2. A convolution and its adjoint
#
# A valid k x k convolution is a matrix product once every window of the image is laid out as a
# row: `im2col` takes the windows as a strided view (`sliding_window_view`, no copy) and one
# reshape copies them into a (n * oh * ow, C k k) matrix P. Then Z = P W + b with W of shape
# (C k k, C_out): the same X @ W as a dense layer. The backward pass needs the adjoint of
# `im2col`, `col2im`, which adds each row's gradient back onto the pixels of its window. The
# defining identity is <im2col(S), G> = <S, col2im(G)> for every S and G:

# %%
S = rng.standard_normal((2, 6, 5, 1))                      # two 6 x 5 images, one channel
G = rng.standard_normal((2 * 4 * 3, 9))                     # a gradient for each 3 x 3 window
lhs = np.sum(cnn_module.im2col(S, 3) * G)
rhs = np.sum(S * cnn_module.col2im(G, S.shape, 3))
print(f"<im2col(S), G> = {lhs:.12f}   <S, col2im(G)> = {rhs:.12f}")
print(f"each pixel is in this many windows:\n{cnn_module.col2im(np.ones_like(G), S.shape, 3)[0, :, :, 0]}")

# %% [markdown]
# The CNN stacks blocks (convolution, activation, average pooling) and a dense softmax layer.
# Its docstring gives the forward pass, the backward pass, the R-pass and the weight layout:
# W_l[c, a, b, j] multiplies channel c of the pixel a rows down and b columns right of the
# window's corner, for filter j.

# %%
print(cnn_module.__doc__)
cnn = bg.CNN(64, (8, 8), 3, channels=(3, 2), kernel=3, pool=1, l2=0.01)   # 8 -> 6 -> 4
# (the pool must divide each convolution's output: 2 x 2 pooling is checked with `small` below)
Xi = rng.uniform(0, 1, (5, 64))
yi = rng.integers(0, 3, 5)
wc = 1.5 * cnn.init_params(rng)
print({name: part.shape for name, part in cnn.unpack(wc).items()})
print(f"check_model (grad_w, H_ww v, H_xw v on the pixels): "
      f"{gradcheck.check_model(cnn, wc, Xi, yi, rng=rng):.3f}")

# %% [markdown]
# The R-pass gives d/dX <grad_w L, v> for each pixel of each image: the direction in which a
# poisoning image moves the training step. Its rows are images again:

# %%
vc = rng.standard_normal(cnn.n_params)
pixels = cnn.hvp_xw(wc, Xi, yi, vc)                          # (5, 64)
fd_pixel = []
for i in range(64):                                          # every pixel of image 0
    e = np.zeros_like(Xi)
    e[0, i] = eps
    fd_pixel.append((cnn.grad_w(wc, Xi + e, yi) @ vc - cnn.grad_w(wc, Xi - e, yi) @ vc) / (2 * eps))
fd_pixel = np.array(fd_pixel)
print(f"H_xw v, image 0: max relative difference from differences, pixel by pixel: "
      f"{np.max(np.abs(pixels[0] - fd_pixel)) / np.max(np.abs(fd_pixel)):.1e}")

fig = Figure(figsize=(8, 3))
axes = fig.subplots(1, 3)
axes[0].bar(range(len(block_errors)), list(block_errors.values()), color="tab:blue")
axes[0].set_xticks(range(len(block_errors)), list(block_errors), fontsize=8)
axes[0].set_yscale("log")
axes[0].set_title("MLP (5, 4): H_ww v per block\nvs central differences", fontsize=9)
for ax, image, title in ((axes[1], pixels[0], "H_xw v, image 0 (R-pass)"),
                         (axes[2], fd_pixel, "central differences")):
    ax.imshow(image.reshape(8, 8), cmap="RdBu_r")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
fig.tight_layout()
fig.savefig(OUT / "07_rpass_checks.png", dpi=110)
show(OUT / "07_rpass_checks.png")

# %% [markdown]
# ## 3. Mini-batch gradient descent, reversed
#
# `GradientDescent(lr, n_steps, batch_size=b, seed=s)` trains step t on b rows of
# [X_tr; X_c] drawn by `np.random.default_rng([s, t])`: a pure function of (seed, t), so the
# reverse pass regenerates the batch of step t instead of storing it, and takes both Hessian
# products on that batch. A poisoning point gets gradient only from the steps whose batch drew
# it. The back-gradient is the derivative of the whole stochastic run with the same seed:

# %%
digits = datasets.digits((1, 5, 6))
(X_tr, y_tr), (X_val, y_val), (X_te, y_te) = datasets.split(
    digits.X, digits.y, (60, 60, None) if FAST else (150, 150, None), rng=0)
X_c, y_c = bg.flip_labels(X_tr, y_tr, 3, 3, np.random.default_rng(0))
objective = bg.ErrorGeneric(X_val, y_val)
small = bg.CNN(64, (8, 8), 3, channels=(4,), kernel=3, pool=2, l2=0.01)
w0 = small.init_params(np.random.default_rng(0))
sgd = bg.GradientDescent(0.5, 10, batch_size=16, seed=3)
print("batches of the first steps:", [sgd.batch(t, len(X_tr) + 3)[:6].tolist() for t in range(2)])
for reversal in ("stored", "checkpoint"):
    r = bg.back_gradient(small, sgd, w0, X_tr, y_tr, X_c, y_c, objective, reversal=reversal)

    def A(X_c_):
        w_T = sgd.run(small, w0, np.vstack([X_tr, X_c_]), np.concatenate([y_tr, y_c]))
        return objective.value_and_grad(small, w_T)[0]           # A(w_T)
    worst = gradcheck.check_gradient(A, lambda _: r.dX_c, X_c, rng=np.random.default_rng(2),
                                     n_directions=3, name=reversal, arg="X_c")
    print(f"{reversal:10s} back-gradient of 10 mini-batch steps vs differences: {worst:.3f}")

# %% [markdown]
# ## 4. Poisoning a CNN
#
# The paper's CNN proof of concept poisoned digits 1, 5 and 6 with 10 points and saw a small
# effect. Here the same attack runs on scikit-learn's 8x8 digits 1, 5 and 6 (no download), a
# CNN with 4 filters of 3 x 3, 2 x 2 average pooling and tanh, against logistic (softmax)
# regression in the same setting: 10 poisoning points started from random flipped-label
# training images, joint updates, the victim retrained from the same w_0 on training and
# poisoning points. (`results/deep/README.md` has the MNIST version.)

# %%
n_points, hypergradients = (4, 2) if FAST else (10, 15)
gd = bg.GradientDescent(0.5, 20 if FAST else 60)
rows = {}
points = {}
for name, model in (("softmax", bg.SoftmaxRegression(64, 3, l2=0.01)), ("CNN", small)):
    w0 = model.init_params(np.random.default_rng(0))
    clean = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, w0=w0).test_error
    X_f, y_f = bg.flip_labels(X_tr, y_tr, n_points, 3, np.random.default_rng(1))
    flips = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, X_f, y_f, w0=w0).test_error
    attack = bg.PoisoningAttack(model, gd, objective, n_points, lb=0, ub=1, update="joint",
                                reversal="checkpoint", max_hypergradients=hypergradients)
    start = time.process_time()
    result = attack.run(X_tr, y_tr, rng=1, X_c=X_f, y_c=y_f, w0=w0)
    seconds = time.process_time() - start
    poisoned = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, result.X_c, result.y_c,
                           w0=w0).test_error
    rows[name] = (clean, flips, poisoned, seconds / max(result.n_hypergradients, 1))
    points[name] = result
    print(f"{name:8s} test error: clean {100 * clean:.1f}%  random flips {100 * flips:.1f}%  "
          f"attack {100 * poisoned:.1f}%   ({rows[name][3]:.2f} s CPU per hypergradient)")

# %%
fig = Figure(figsize=(8, 3.2))
axes = fig.subplots(2, n_points)
for r, name in enumerate(points):
    for k in range(n_points):
        axes[r, k].imshow(points[name].X_c[k].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[r, k].set_title(f"label {digits.classes[points[name].y_c[k]]}", fontsize=7)
        axes[r, k].set_axis_off()
    axes[r, 0].text(-4, 4, name, fontsize=9, ha="right", va="center")
fig.suptitle("poisoning points after the attack (top: softmax, bottom: CNN)", fontsize=9)
fig.savefig(OUT / "07_cnn_poisoning_points.png", dpi=110)
show(OUT / "07_cnn_poisoning_points.png")

# %% [markdown]
# The two rows above (one split, 10 points) show the attack moving both models far more than
# random label flips do; over five splits on MNIST the CNN moves less than softmax regression,
# as in the paper (RESULTS.md, section 6). The CNN costs far more per hypergradient (the
# printed seconds): every training step and every reverse step (an R-pass through the
# convolution, 1.9 to 2.3 training steps in `results/deep/bench_deep.py`) handles one row per
# k x k window of every image, and a hypergradient takes T of each.

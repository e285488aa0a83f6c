# %% [markdown]
# # 04 · Poisoning a binary classifier in 2-D
#
# Tutorial 03 computed dA/dX_c, the gradient of the attacker's objective with respect to the
# poisoning points, through a whole training run. Here we *use* it: we climb that gradient to
# craft poisoning points against logistic regression, on data with only two features so that
# every point, every step of the attack and the decision boundary fit on one picture.
#
# **The attack is a bilevel problem.** The attacker adds m points D_c = (X_c, y_c) to the n
# training points and wants the model the victim trains on them to be bad:
#
#     maximise over X_c in Phi:   A(w_T(X_c))           (outer problem: the attacker)
#     where w_T(X_c) = T steps of gradient descent on L(D_tr ∪ D_c, w)   (inner: the learner)
#
# A is the error-generic objective, the mean cross-entropy on the attacker's validation set with
# the *true* labels. It is a smooth stand-in for the validation error, which is piecewise constant
# and so has no useful gradient. The labels y_c stay fixed (each point starts as a copy of a
# training point with its label flipped); only the positions X_c move, inside the feasible box
# Phi = [0, 1]^2 (the data are scaled to it, and a point outside the data's range would be
# easy to filter out).
#
# Back-gradient gives dA/dX_c; the attack takes projected ascent steps along it,
# `x_c <- clip(x_c + s * g / ||g||)`, one point at a time as in the paper, with a backtracking line
# search on s that only accepts moves that raise A. Last, we measure what we care about: the
# test error of a victim retrained on the poisoned data, for a growing number of points, against
# the cheapest attack there is, random label flips.
#
# Run it as a script (`python tutorials/04_binary_2d.py`, add `--fast` for a smoke run) or open
# it as a notebook with jupytext. Figures go to `tutorials/out/` (or `$BGPOISON_TUTORIAL_OUT`).

# %%
import os
import sys
import time
from pathlib import Path

import numpy as np

import bgpoison as bg
from bgpoison import attack, datasets
from bgpoison.experiments import plots
from bgpoison.experiments.plots import show            # prints the path; inline in a notebook

FAST = os.environ.get("BGPOISON_FAST") == "1" or "--fast" in sys.argv
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()   # notebooks: no __file__
OUT = Path(os.environ.get("BGPOISON_TUTORIAL_OUT", HERE / "out"))
OUT.mkdir(parents=True, exist_ok=True)
START = time.perf_counter()


# %% [markdown]
# ## Data, model and the clean baseline
#
# Two Gaussian blobs, 3 noise standard deviations apart, scaled to [0, 1]^2. As in the paper the
# learner sees few points (40) and the attacker has its own validation set (200 points); the
# test set (the rest) is only used to score victims. The learner is logistic regression,
#
#     p(y = 1 | x) = sigmoid(z),   z = x^T W + b,
#     L = (1/n) sum_i [softplus(z_i) - y_i z_i] + (l2/2) ||W||^2,
#
# trained by T full-batch gradient steps from w_0 = 0. Its decision boundary is the line
# x^T W + b = 0. The step is large (eta L_smooth ≈ 1 at w_0; any value below 2 is stable) so
# that 100 steps train the model to confident predictions: an under-trained victim behaves
# differently, see the end.

# %%
N_TRAIN, N_VAL = 40, 200
data = datasets.blobs(1000, n_features=2, n_classes=2, separation=3.0, rng=0)
model = bg.LogisticRegression(n_features=2, l2=0.001)
gd = bg.GradientDescent(lr=2.5, n_steps=100)


def make_split(seed):
    """A stratified train / validation / test split of the blobs; one seed, one split."""
    return datasets.split(data.X, data.y, (N_TRAIN, N_VAL, None), rng=seed)


(X_tr, y_tr), (X_val, y_val), (X_te, y_te) = make_split(0)
clean = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, rng=0)
print(f"{len(y_tr)} training, {len(y_val)} validation, {len(y_te)} test points; "
      f"T = {gd.n_steps}, eta = {gd.lr}")
print(f"clean test error: {clean.test_error:.3f}")

# %% [markdown]
# ## The attack, one point at a time
#
# `PoisoningAttack` runs the loop below (its module docstring, quoted so it cannot drift). Each
# hypergradient is one training run forwards and one reverse pass (tutorial 03); the line search
# costs one more training run per trial step. `callback(result)` is called after every accepted
# move, so recording `result.X_c` gives the path of every point.

# %%
print(attack.__doc__)

# %%
N_POINTS = 4 if FAST else 6
objective = bg.ErrorGeneric(X_val, y_val)
recorded = []
poisoner = bg.PoisoningAttack(model, gd, objective, N_POINTS, lb=0.0, ub=1.0,
                              max_passes=10,
                              callback=lambda result: recorded.append(result.X_c.copy()))
result = poisoner.run(X_tr, y_tr, rng=1)
paths = np.array([result.X_c0] + recorded)                 # (accepted moves + 1, m, 2)
poisoned = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, result.X_c, result.y_c, rng=0)
flipped = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, result.X_c0, result.y_c, rng=0)
print(f"{N_POINTS} poisoning points ({N_POINTS / (N_TRAIN + N_POINTS):.0%} of the training set): "
      f"A rose from {result.history[0]:.3f} to {result.history[-1]:.3f} in "
      f"{len(result.history) - 1} accepted moves, {result.n_hypergradients} hypergradients, "
      f"{result.n_trainings} training runs")
print(f"test error: clean {clean.test_error:.3f}, label flips only (the starting points) "
      f"{flipped.test_error:.3f}, poisoned {poisoned.test_error:.3f}")

# %% [markdown]
# ## Before and after
#
# Left: the model trained on the clean 40 points. Right: the model trained with the poisoning
# points (stars, coloured by the label they carry), each line the path of one point from its
# starting copy (small circle) to where the attack left it.

# %%
path = plots.decision_boundary(
    OUT / "04_decision_boundary.png", model, clean.w, poisoned.w, X_tr, y_tr, result.X_c,
    result.y_c, paths=paths,
    title="Logistic regression on 2-D blobs, feasible box Φ = [0, 1]²",
    panel_titles=(f"clean: test error {clean.test_error:.1%}",
                  f"{N_POINTS} poisoning points: test error {poisoned.test_error:.1%}"))
show(path)
on_edge = np.mean(np.any((result.X_c == 0) | (result.X_c == 1), axis=1))
spread = max(np.ptp(result.X_c[result.y_c == k], axis=0).max() for k in set(result.y_c))
print(f"{on_edge:.0%} of the poisoning points ended on the boundary of the box; points with the "
      f"same label ended within {spread:.3f} of each other")

# %% [markdown]
# **Why the boundary of the box?** A training point pulls on the weights through its gradient,
# grad_W loss = (sigmoid(z) - y) x. For a point on the wrong side of the decision boundary the
# first factor is close to +-1, so the pull grows with the distance of x from the origin: the
# further out a wrongly labelled point sits, the more it tilts the boundary. The ascent pushes
# each point outwards until the projection stops it on an edge of Phi, then slides it along the
# edge to where the tilt hurts the validation set most. That is why the feasible set matters:
# without the box (or with a defence that removes outliers) the attacker could push points
# arbitrarily far. Points with the same label tend to end at the same place, since they face
# the same optimisation problem. The starting points alone (the same labels, not moved) do
# much less: a flipped label near its own class barely moves the boundary.
#
# ## Test error against the number of poisoning points
#
# One attack on one split is an anecdote. Below, for several splits, we add m = 0, 2, 4, ...
# points, crafted by the attack or drawn as random label flips (`flip_labels`, clones of
# training points with the other label), retrain the victim and average its test error. The
# x-axis is the fraction m / (n + m) of the poisoned training set.

# %%
COUNTS = (0, 4) if FAST else (0, 2, 4, 6, 8)
N_SPLITS = 2 if FAST else 8
errors = {"back-gradient attack": np.zeros((N_SPLITS, len(COUNTS))),
          "random label flips": np.zeros((N_SPLITS, len(COUNTS)))}
for s in range(N_SPLITS):
    (X_tr, y_tr), (X_val, y_val), (X_te, y_te) = make_split(s)
    victim_error = lambda *poison: bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te,
                                               *poison, rng=0).test_error
    for j, m in enumerate(COUNTS):
        if m == 0:
            errors["back-gradient attack"][s, j] = errors["random label flips"][s, j] = \
                victim_error()
            continue
        crafted = bg.PoisoningAttack(model, gd, bg.ErrorGeneric(X_val, y_val), m,
                                     max_passes=4 if FAST else 10).run(X_tr, y_tr, rng=100 + s)
        errors["back-gradient attack"][s, j] = victim_error(crafted.X_c, crafted.y_c)
        flips = bg.flip_labels(X_tr, y_tr, m, 2, np.random.default_rng(200 + s))
        errors["random label flips"][s, j] = victim_error(*flips)

fractions = np.array(COUNTS) / (N_TRAIN + np.array(COUNTS))
print(f"mean test error over {N_SPLITS} splits (± std)")
print("points  fraction  " + "  ".join(f"{name:>22}" for name in errors))
for j, m in enumerate(COUNTS):
    print(f"{m:6d}  {fractions[j]:8.1%}  " + "  ".join(
        f"{e[:, j].mean():15.3f} ± {e[:, j].std():.3f}" for e in errors.values()))
path = plots.error_curves(
    OUT / "04_error_vs_points.png",
    {name: dict(fractions=fractions, mean=e.mean(axis=0), std=e.std(axis=0))
     for name, e in errors.items()},
    title=f"Logistic regression, 2-D blobs, n = {N_TRAIN} ({N_SPLITS} splits)",
    ylabel="test error: mean (line) ± 1 std (band)")
show(path)

# %% [markdown]
# ## What to take away
#
# * Poisoning points are not just mislabelled points: *where* they sit matters far more than the
#   label flip itself, and the back-gradient tells the attacker which way to move them.
# * Against a linear model the crafted points end on the boundary of the feasible set, so the
#   box Phi is the attacker's real budget, together with m.
# * The attacker maximised validation *loss*, a proxy; the victim is judged on test *error*.
#   The two usually move together, but not always. Try `lr=0.5`: the clean model is then
#   unsure (validation loss about 0.5, not far below log 2 ≈ 0.69, the loss of predicting 1/2
#   everywhere), part of what the attack gains in A comes from flattening the model, which costs
#   no errors, and on some splits the test error does not rise at all.
#
# Other things to try: move the blobs closer (`separation=2.0`) or further apart; shrink the
# box (`ub=0.8`); raise `l2`, which limits how far any single point can tilt the boundary; and
# count the hypergradients the attack needs with `update="joint"` (all points per
# hypergradient) instead of the paper's one point at a time.

# %%
print(f"done in {time.perf_counter() - START:.1f} s")

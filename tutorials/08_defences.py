# %% [markdown]
# # 08 · Defences, and attacks that adapt to them
#
# Tutorial 04 crafted poisoning points against logistic regression in 2-D and watched them run
# to the corners of the feasible box. A defender who looks at the training set would notice:
# those points sit far from every other point of their class. Here we put four sanitisers
# between the received training set and the learner, see what each removes, and then let the
# attacker respond by keeping its points where the defence accepts them.
#
# **The defences** (`bgpoison.defences`, each formula in its docstring) all share one
# interface: `fitted = defence.fit(X, y)` on what the defender has, then
# `fitted.sanitise(X, y) -> (X', y', keep)` gives what the learner trains on, where `keep` is
# False on every row the defence acted on.
#
# - `Sphere(q)`: per class y, the centroid mu_y and the q-quantile r_y of the distances
#   ||x - mu_y||; keep x if ||x - mu_y|| <= r_y (Koh, Steinhardt and Liang's L2 defence).
# - `Slab(q)`: the same along one line only: |<x - mu_y, u_y>| <= s_y, u_y the unit vector
#   between the class centroids.
# - `LossFilter(model, gd, fraction)`: train, drop the rows of highest loss, retrain (TRIM,
#   when iterated).
# - `KNNLabels(k, agreement)`: give a row the label of its k nearest neighbours when enough of
#   them agree (Paudice et al.'s label sanitisation); nothing is removed, labels change.
#
# **The adaptive attack** changes one line of the attack: its projection. Instead of clipping to
# the box, it projects onto box ∩ C, where C is the region the defence accepts, fitted on the
# data the attacker knows (`Sphere().constraint(X_tr, y_tr)`). A distance limit
# (`constraints.Distance(eps)`) is another such C: each point stays within eps of the training
# point it was cloned from.
#
# Run it as a script (`python tutorials/08_defences.py`, `--fast` for a smoke run) or open it
# as a notebook with jupytext. Figures go to `tutorials/out/` (or `$BGPOISON_TUTORIAL_OUT`).

# %%
import inspect
import os
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import bgpoison as bg
from bgpoison import constraints, datasets, defences
from bgpoison.experiments.plots import show            # prints the path; inline in a notebook

FAST = os.environ.get("BGPOISON_FAST") == "1" or "--fast" in sys.argv
HERE = Path(__file__).parent if "__file__" in globals() else Path.cwd()   # notebooks: no __file__
OUT = Path(os.environ.get("BGPOISON_TUTORIAL_OUT", HERE / "out"))
OUT.mkdir(parents=True, exist_ok=True)
START = time.perf_counter()

# %% [markdown]
# ## Data, victim and a plain attack
#
# Tutorial 04's set-up: two Gaussian blobs scaled to [0, 1]^2, 40 training points, an attacker
# with 200 validation points, logistic regression trained by 100 full-batch steps. The attacker
# adds m = 8 points (17 % of the poisoned training set), all moved at once ("joint" updates).

# %%
N_TRAIN, N_VAL, M = 40, 200, 8
PASSES = 4 if FAST else 15
SEEDS = range(1 if FAST else 5)
data = datasets.blobs(1000, n_features=2, n_classes=2, separation=3.0, rng=0)
model = bg.LogisticRegression(n_features=2, l2=0.001)
gd = bg.GradientDescent(lr=2.5, n_steps=100)


def make_split(seed):
    return datasets.split(data.X, data.y, (N_TRAIN, N_VAL, None), rng=seed)


def attack(split, seed, constraint=None):
    """The poisoning points (X_c, y_c) of a joint attack, optionally inside ``constraint``."""
    (X_tr, y_tr), (X_val, y_val), _ = split
    result = bg.PoisoningAttack(model, gd, bg.ErrorGeneric(X_val, y_val), M, update="joint",
                                max_passes=PASSES, constraint=constraint).run(X_tr, y_tr, rng=seed)
    return result.X_c, result.y_c


split = make_split(0)
(X_tr, y_tr), _, (X_te, y_te) = split
X_c, y_c = attack(split, 0)
for name, points in (("clean", (None, None)), ("plain attack", (X_c, y_c))):
    error = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, *points, rng=0).test_error
    print(f"{name:13s} test error {error:.3f}")

# %% [markdown]
# ## What each defence removes
#
# Each defence is fitted on the received set D_tr ∪ D_c, because the defender cannot tell the
# rows apart (a defender with a trusted clean subset would fit on that instead, and pass the
# fitted defence to `evaluate`). The quantile filters keep 95 % of each class, so they also
# remove about 5 % of the clean rows: that is their false-positive rate by construction.

# %%
DEFENCES = {"sphere": defences.Sphere(0.95), "slab": defences.Slab(0.95),
            "loss": defences.LossFilter(model, gd, 0.05),
            "knn": defences.KNNLabels(k=10, agreement=0.5)}
X_all, y_all = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
poison = np.arange(len(y_all)) >= len(y_tr)

fig, axes = plt.subplots(1, 4, figsize=(16, 4.6), sharex=True, sharey=True,
                         layout="constrained")
for ax, (name, defence) in zip(axes, DEFENCES.items()):
    fitted = defence.fit(X_all, y_all)
    _, _, keep = fitted.sanitise(X_all, y_all)
    ax.scatter(*X_tr.T, c=y_tr, cmap="coolwarm", s=18, label="training")
    ax.scatter(*X_c.T, c=y_c, cmap="coolwarm", marker="X", s=90, edgecolor="k",
               label="poisoning")
    ax.scatter(*X_all[~keep].T, s=260, facecolor="none", edgecolor="green", lw=2,
               label="removed / relabelled")
    if name == "sphere":
        for mu, r in zip(fitted.fitted["centres"], fitted.fitted["radii"]):
            ax.add_patch(plt.Circle(mu, r, fill=False, ls="--", color="gray"))
    if name == "slab":
        f = fitted.fitted
        for mu, u, s in zip(f["centres"], f["directions"], f["widths"]):
            normal = np.array([-u[1], u[0]])               # the slab's edges run along this
            for edge in (mu + s * u, mu - s * u):
                ax.plot(*np.array([edge - 2 * normal, edge + 2 * normal]).T, "--", color="gray")
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), aspect="equal",
           title=f"{name}: caught {np.sum(~keep[poison])} of {M} poisoning points,\n"
                 f"{np.sum(~keep[~poison])} of {N_TRAIN} clean ones")
axes[0].legend(loc="lower left", fontsize=7)
path = OUT / "08_what_each_defence_removes.png"
fig.savefig(path, dpi=90)
plt.close(fig)
show(path)

# %% [markdown]
# **Why the plain attack's points are easy to catch.** The attack only maximises the victim's
# validation loss; nothing tells it to look like data. Its best moves push the points to the
# edges of the box, far out along the line between the classes, where one point with the
# wrong label tilts the boundary most; the joint attack even stacks several points on the same
# spot (8 points, 2 places above). That is exactly where the sphere and the slab look: the
# distance of a poisoning point to its label's centroid is several times the clean rows'.

# %%
sphere = defences.Sphere(0.95).fit(X_tr, y_tr)              # fitted on clean data, to compare
mu = sphere.fitted["centres"]
print("clean rows' 95 % radius per class:", np.round(sphere.fitted["radii"], 3))
print("poisoning points' distance to their label's centroid:",
      np.round(np.linalg.norm(X_c - mu[y_c], axis=1), 3))

# %% [markdown]
# ## How the constraint enters the projection
#
# The attack's ascent step is `X_c <- Proj(X_c + s d)`. With a constraint C the projection is
# onto box ∩ C, which has no closed form for a ball and a box. `constraints.project_box`
# alternates the two projections a few times and ends with a pull toward C's centre c, which
# lies in the box: the segment from c to a point of the box stays in the box, and far enough
# along it the point is inside C as well. The result is always feasible, though not always the
# nearest feasible point:

# %%
print(inspect.getsource(constraints.project_box))
region = sphere.constraint(X_tr, y_tr)
rng = np.random.default_rng(1)
raw = -0.3 + 1.6 * rng.random((12, 2))                       # trial points, in and out
labels = rng.integers(0, 2, 12)
projected = constraints.project_box(region, raw, labels, None, 0.0, 1.0)
assert region.contains(projected, labels, None).all()

fig, ax = plt.subplots(figsize=(5, 5))
ax.add_patch(plt.Rectangle((0, 0), 1, 1, fill=False, color="k", label="box"))
for k, (c, r) in enumerate(zip(region.centres, region.radii)):
    ax.add_patch(plt.Circle(c, r, fill=False, ls="--", color=plt.cm.coolwarm(float(k))))
for a, b, k in zip(raw, projected, labels):
    ax.annotate("", b, a, arrowprops=dict(arrowstyle="->", color=plt.cm.coolwarm(float(k))))
ax.scatter(*projected.T, c=labels, cmap="coolwarm", edgecolor="k", zorder=3)
ax.set(xlim=(-0.35, 1.35), ylim=(-0.35, 1.35), aspect="equal",
       title="box ∩ sphere of each point's class")
fig.tight_layout()
path = OUT / "08_projection.png"
fig.savefig(path, dpi=90)
plt.close(fig)
show(path)

# %% [markdown]
# ## The adaptive attack, and what it gives up
#
# The adaptive attacker fits the defence on D_tr (the data it knows) and crafts its points
# inside that region. Over several splits we compare, for the sphere and the slab, the test error
# of a victim trained behind the defence (its detection rate in brackets) for clean training,
# random flips, the plain attack and the adaptive one, and the error of the adaptive points
# with no defence at all: the price of hiding.

# %%
def scores(split, seed, points, defence):
    (X_tr, y_tr), _, (X_te, y_te) = split
    return bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, *points, rng=seed, defence=defence)


results = {}
for seed in SEEDS:
    split = make_split(seed)
    (X_tr, y_tr), _, _ = split
    plain = attack(split, seed)
    flips = bg.flip_labels(X_tr, y_tr, M, 2, np.random.default_rng([seed, 1]))
    for name in ("sphere", "slab"):
        defence = DEFENCES[name]
        adaptive = attack(split, seed, defence.constraint(X_tr, y_tr))
        for case, points, d in (("clean", (None, None), defence), ("flips", flips, defence),
                                ("plain", plain, defence), ("adaptive", adaptive, defence),
                                ("plain, undefended", plain, None),
                                ("adaptive, undefended", adaptive, None)):
            ev = scores(split, seed, points, d)
            results.setdefault((name, case), []).append((ev.test_error, ev.detection_rate))

print(f"test error over {len(SEEDS)} split(s), mean ± std [detection rate]")
for (name, case), values in results.items():
    errors = np.array([e for e, _ in values])
    caught = [c for _, c in values if c is not None and not np.isnan(c)]
    extra = f"  [{np.mean(caught):.2f}]" if caught else ""
    print(f"{name:7s} {case:22s} {errors.mean():.3f} ± {errors.std():.3f}{extra}")

# %% [markdown]
# What to read in the table (run it in full mode for five splits):
#
# - *Behind a defence the plain attack loses much of its effect.* The sphere and the slab catch
#   about half of its points, the ones furthest out.
# - *The adaptive points are not caught*, even though the defender fits on the poisoned set,
#   whose centroids and radii move with the poisoning points.
# - *Hiding has a price.* Undefended, the adaptive points do far less harm than the plain ones:
#   confined to the region of typical points, they cannot reach the edges of the box where a
#   point tilts the boundary most. Here that price is about as large as what the defence
#   takes from the plain attack, so behind the defence the two end up close: an adaptive attack
#   is not automatically the stronger one. It pays when the defence would catch (nearly) all
#   plain points, and a quantile filter does not: it removes a fixed share, about 5 % (at least
#   one row) of each class, whatever the class holds, so once the poisoning points outnumber
#   that share some plain points must pass.
#
# Where the three attacks put their points on the first split:

# %%
split = make_split(0)
(X_tr, y_tr), _, _ = split
panels = {"plain": attack(split, 0),
          "adaptive (sphere)": attack(split, 0, DEFENCES["sphere"].constraint(X_tr, y_tr)),
          "distance <= 0.1": attack(split, 0, constraints.Distance(0.1))}
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), sharex=True, sharey=True, layout="constrained")
for ax, (name, (X_p, y_p)) in zip(axes, panels.items()):
    ax.scatter(*X_tr.T, c=y_tr, cmap="coolwarm", s=18)
    ax.scatter(*X_p.T, c=y_p, cmap="coolwarm", marker="X", s=90, edgecolor="k")
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), aspect="equal", title=name)
path = OUT / "08_plain_adaptive_distance.png"
fig.savefig(path, dpi=90)
plt.close(fig)
show(path)

# %% [markdown]
# ## A distance limit
#
# `constraints.Distance(eps)` keeps each point within eps (L2) of its starting clone, so the
# points stay close to real data. The error of an undefended victim against eps:

# %%
EPS = (0.05, 0.2) if FAST else (0.02, 0.05, 0.1, 0.2, 0.4)
curve = []
for eps in EPS:
    errors = [scores(make_split(seed), seed, attack(make_split(seed), seed,
                                                    constraints.Distance(eps)), None).test_error
              for seed in SEEDS]
    curve.append((np.mean(errors), np.std(errors)))
    print(f"eps {eps:5.2f}: test error {curve[-1][0]:.3f} ± {curve[-1][1]:.3f}")

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.errorbar(EPS, [m for m, _ in curve], yerr=[s for _, s in curve], marker="o", capsize=3)
ax.set(xlabel="eps (L2 distance to the starting clone)", ylabel="test error",
       title=f"{M} points, mean ± std over {len(SEEDS)} split(s)")
fig.tight_layout()
path = OUT / "08_error_vs_eps.png"
fig.savefig(path, dpi=90)
plt.close(fig)
show(path)
print(f"done in {time.perf_counter() - START:.1f} s")

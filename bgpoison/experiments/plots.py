"""Figures for poisoning experiments, saved straight to PNG files (headless).

    error_curves(path, curves)                   test error against the fraction of poisoning points
    poisoning_images(path, X_before, X_after, image_shape)   starting vs crafted points as images
    decision_boundary(path, model, w_before, w_after, ...)   2-D class regions, clean vs poisoned

Only matplotlib's object API is used (``Figure`` and ``Figure.savefig``): no pyplot, no global
backend or state, so the functions are safe in scripts, tests and servers. This is the only
module of bgpoison that imports matplotlib. Each function returns the path it wrote.
"""
import sys
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

COLOURS = [f"C{k}" for k in range(10)]        # class k is drawn in colour C<k>


def show(path):
    """Say where a figure was saved (``path``); inside a Jupyter kernel also display it inline.

    The tutorials call it after each saved figure, so a script prints the path and a notebook
    shows the picture; returns ``path``.
    """
    print(f"saved {path}")
    if "ipykernel" in sys.modules:
        from IPython.display import Image, display
        display(Image(filename=str(path)))
    return path


def _save(fig, path, dpi):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def error_curves(path, curves, *, title=None, xlabel="fraction of poisoning points",
                 ylabel="test error", dpi=120):
    """One line per label (the mean) with a labelled band of +-1 standard deviation around it.

    ``curves``: dict label -> dict(fractions=(F,), mean=(F,), std=(F,)), e.g. the mean and
    standard deviation of the test error over several splits at F poisoning fractions.
    """
    if not curves:
        raise ValueError("curves must hold at least one label -> dict(fractions, mean, std)")
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    for label, curve in curves.items():
        if not {"fractions", "mean", "std"} <= set(curve):
            raise ValueError(f"curve {label!r} must have keys fractions, mean and std; got "
                             f"{sorted(curve)}")
        x, mean, std = (np.asarray(curve[key], dtype=float) for key in ("fractions", "mean", "std"))
        if not x.ndim == 1 or mean.shape != x.shape or std.shape != x.shape:
            raise ValueError(f"curve {label!r}: fractions, mean and std must be 1-D arrays of one "
                             f"length; got shapes {x.shape}, {mean.shape}, {std.shape}")
        line, = ax.plot(x, mean, marker="o", label=f"{label} (mean)")
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0,
                        label=f"{label} ± 1 std")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path, dpi)


def poisoning_images(path, X_before, X_after, image_shape, *, labels_before=None,
                     labels_after=None, max_points=10, title=None, dpi=120):
    """Two rows of grey images, pixels in [0, 1] (0 white, 1 black): the starting points on top,
    the crafted poisoning points below, at most ``max_points`` columns. Column j is titled
    ``labels_before[j]→labels_after[j]`` (whichever of the two is given)."""
    X_before, X_after = np.asarray(X_before, dtype=float), np.asarray(X_after, dtype=float)
    if X_before.ndim != 2 or X_before.shape != X_after.shape:
        raise ValueError(f"X_before and X_after must be 2-D arrays of one shape (m, d); got "
                         f"{X_before.shape} and {X_after.shape}")
    if int(np.prod(image_shape)) != X_before.shape[1]:
        raise ValueError(f"image_shape {tuple(image_shape)} does not hold the "
                         f"{X_before.shape[1]} features of a row")
    if int(max_points) < 1:
        raise ValueError(f"max_points must be at least 1; got {max_points!r}")
    m = min(len(X_before), int(max_points))
    fig = Figure(figsize=(1.1 * m + 0.8, 2.6), layout="constrained")
    axes = fig.subplots(2, m, squeeze=False)                      # (2, m)
    for j in range(m):
        names = [str(np.asarray(ls)[j]) for ls in (labels_before, labels_after) if ls is not None]
        axes[0, j].set_title("→".join(names), fontsize=10)
        for row, X in enumerate((X_before, X_after)):
            axes[row, j].imshow(X[j].reshape(image_shape), cmap="gray_r", vmin=0, vmax=1)
            axes[row, j].set(xticks=[], yticks=[])
    axes[0, 0].set_ylabel("start")
    axes[1, 0].set_ylabel("poison")
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)


def decision_boundary(path, model, w_before, w_after, X_tr, y_tr, X_c, y_c, *, paths=None,
                      lb=0.0, ub=1.0, title=None, panel_titles=("clean", "poisoned"),
                      resolution=200, dpi=120):
    """Two panels of the box [lb, ub]^2 (dashed) coloured by ``model.predict`` at ``w_before``
    (trained on D_tr) and ``w_after`` (trained on D_tr and D_c), with black lines on the class
    boundaries. Training points are dots coloured by class; the poisoning points (right panel)
    are black-edged stars in their label's colour. ``paths`` (steps, m, 2), e.g. X_c after every
    accepted update, are drawn as lines from a small circle (the start) to the stars."""
    X_tr, X_c = np.asarray(X_tr, dtype=float), np.asarray(X_c, dtype=float)
    for name, X in (("X_tr", X_tr), ("X_c", X_c)):
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"decision_boundary draws 2-D data only: {name} must have shape "
                             f"(n, 2); got {X.shape}")
    if paths is not None:
        paths = np.asarray(paths, dtype=float)
        if paths.ndim != 3 or paths.shape[1:] != X_c.shape:
            raise ValueError(f"paths must have shape (steps, {len(X_c)}, 2); got {paths.shape}")
    lb, ub = np.broadcast_to(lb, (2,)).astype(float), np.broadcast_to(ub, (2,)).astype(float)
    pad = 0.05 * (ub - lb)                                        # so points on the box show
    lo, hi = lb - pad, ub + pad
    g0, g1 = (np.linspace(lo[i], hi[i], resolution) for i in range(2))
    grid = np.stack(np.meshgrid(g0, g1), axis=-1).reshape(-1, 2)  # (r^2, 2), row-major in g1
    K = model.n_classes
    pale = ListedColormap([0.65 * np.array(to_rgb("w")) + 0.35 * np.array(to_rgb(c))
                           for c in COLOURS[:K]])
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, w, name in zip(axes, (w_before, w_after), panel_titles):
        regions = model.predict(w, grid).reshape(resolution, resolution)   # (r, r)
        ax.imshow(regions, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap=pale,
                  vmin=-0.5, vmax=K - 0.5, interpolation="nearest", aspect="auto")
        scores = model.scores(w, grid)       # binary: the boundary is the level set score = 0
        edges, levels = (scores, [0.0]) if scores.ndim == 1 else (regions, np.arange(K - 1) + 0.5)
        edges = edges.reshape(resolution, resolution)
        if np.ptp(regions) > 0:                          # a boundary crosses the view
            ax.contour(g0, g1, edges, levels=levels, colors="k", linewidths=1)
        ax.add_patch(Rectangle(lb, *(ub - lb), fill=False, ls="--", lw=0.8, color="0.4"))
        ax.scatter(X_tr[:, 0], X_tr[:, 1], c=[COLOURS[k] for k in np.asarray(y_tr)], s=14,
                   edgecolors="w", linewidths=0.4)
        ax.set(title=name, xlabel="$x_1$", xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    ax = axes[1]
    if paths is not None:
        for j in range(paths.shape[1]):
            ax.plot(paths[:, j, 0], paths[:, j, 1], color="k", lw=1, alpha=0.7)
            ax.plot(*paths[0, j], "o", color="k", ms=3)
    ax.scatter(X_c[:, 0], X_c[:, 1], c=[COLOURS[k] for k in np.asarray(y_c)], marker="*", s=220,
               edgecolors="k", linewidths=1.2, zorder=3)
    axes[0].set_ylabel("$x_2$")
    handles = [Line2D([], [], ls="", marker="o", color="0.5", mec="w", label="training point "
                      "(colour: class)"),
               Line2D([], [], ls="", marker="*", ms=12, color="0.5", mec="k",
                      label="poisoning point (colour: its label)"),
               Line2D([], [], color="k", lw=1, label="decision boundary"),
               Line2D([], [], color="0.4", lw=0.8, ls="--", label="feasible box Φ")]
    if paths is not None:
        handles.insert(2, Line2D([], [], color="k", lw=1, alpha=0.7, marker="o", ms=3,
                                 markevery=[0], label="path of a point from its start (circle)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)

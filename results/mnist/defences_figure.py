"""The figure of the defences preset: test error under each defence (random flips, the plain
attack, the adaptive attack), and the poisoning digits of the plain, adaptive and
distance-limited attacks side by side (split 0, 20 points).

    bgpoison run --preset defences --out results/mnist/defences     # the cases (a few minutes)
    python results/mnist/defences_figure.py results/mnist/defences     # defences.png
    python results/mnist/defences_figure.py results/mnist/defences --strip   # keep it small

``--strip`` drops the poisoning points from every row except the first 6 points of the three
cases the figure draws (rounded to 3 decimals), so the committed file still draws it.
"""
import json
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bgpoison.experiments.results import RESULTS, atomic_write, load

DEFENCES = ("sphere", "slab", "loss", "knn")
DIGITS = {"plain attack": "logistic generic", "adaptive (sphere)":
          "logistic generic, defence=sphere, adaptive", "distance 1 (L2)":
          "logistic generic, max distance 1 (L2)"}
SHOWN = 6


def drawn(rows):
    """The rows whose points the figure shows: split 0, the most points."""
    top = max(r["n_points"] for r in rows)
    return {label: next(r for r in rows if r["label"] == label and r["seed"] == 0
                        and r["n_points"] == top) for label in DIGITS.values()}


def mean(rows, label, key):
    top = max(r["n_points"] for r in rows)
    values = [r[key] for r in rows if r["label"] == label and r["n_points"] == top]
    return float(np.mean(values)), float(np.std(values))


def main(folder, strip=False):
    folder = Path(folder)
    rows = load(folder / RESULTS)
    fig = Figure(figsize=(11, 4.2))
    ax = fig.add_subplot(1, 2, 1)
    names = ["none"] + list(DEFENCES)
    bars = {"random flips": "flip_error", "plain attack": "attack_error",
            "adaptive attack": "attack_error"}
    for k, (name, key) in enumerate(bars.items()):
        for j, defence in enumerate(names):
            label = "logistic generic" + ("" if defence == "none" else f", defence={defence}")
            if name == "adaptive attack":
                if defence not in ("sphere", "slab"):
                    continue
                label += ", adaptive"
            m, s = mean(rows, label, key)
            ax.bar(j + 0.27 * (k - 1), m, 0.27, yerr=s, color=f"C{k}",
                   label=name if j == (1 if name == "adaptive attack" else 0) else None)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("test error, 20 points (17 %), mean ± std over 5 splits")
    ax.set_title("logistic regression, MNIST 1 vs 7, behind each defence")
    ax.legend()
    for i, (title, row) in enumerate(zip(DIGITS, drawn(rows).values())):
        for j, x in enumerate(np.array(row["X_c"])[:SHOWN]):
            sub = fig.add_subplot(3, 2 * SHOWN, i * 2 * SHOWN + SHOWN + j + 1)
            sub.imshow(x.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
            sub.set_xticks([]), sub.set_yticks([])
            if j == 0:
                sub.set_ylabel(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "defences.png", dpi=110)
    print(f"wrote {folder / 'defences.png'}")
    if strip:
        keep = {r["case"] for r in drawn(rows).values()}
        for r in rows:
            for key in ("X_c", "X_c0", "paths"):
                if r["case"] in keep and key != "paths":
                    r[key] = [[round(v, 3) for v in p] for p in r[key][:SHOWN]]
                else:
                    r.pop(key, None)
        atomic_write(folder / RESULTS, "".join(json.dumps(r, sort_keys=True) + "\n"
                                               for r in rows))


if __name__ == "__main__":
    main(sys.argv[1], strip="--strip" in sys.argv[2:])

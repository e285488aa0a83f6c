"""Markdown tables for RESULTS.md from the MNIST result folders (mean ± std over splits).

    python results/mnist/tables.py results/mnist/multiclass [more folders ...]

One row per (setting, fraction): points, splits, test error of the attack, of random label flips
and of clean training; for error-specific runs also the error on 8s, the 8 -> 3 rate and the error
on 3s; then the hypergradients and the seconds each case cost (mean over its splits).
"""
import sys
from pathlib import Path

import numpy as np

from bgpoison.experiments.results import RESULTS, load


def pm(values):
    values = [v for v in values if v is not None]
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "-"


def table(folder):
    rows = load(Path(folder) / RESULTS)
    groups = {}
    for r in rows:
        groups.setdefault((r["label"], r["fraction"]), []).append(r)
    specific = any(r["settings"]["objective"] == "specific" for r in rows)
    head = ["setting", "fraction", "points", "splits", "attack", "random flips", "clean"]
    if specific:
        pairs = [tuple(p) for p in rows[0]["settings"]["class_map"]]
        (a, b), = pairs
        head += [f"attack: error on {a}s", f"{a}→{b} rate", f"error on {b}s",
                 f"flips: error on {a}s", f"{a}→{b} rate", f"clean: error on {a}s"]
    head += ["hypergradients", "s / case"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (label, fraction), g in groups.items():
        cells = [label, f"{100 * fraction:.1f} %", str(g[0]["n_points"]), str(len(g)),
                 pm([r["attack_error"] for r in g]), pm([r["flip_error"] for r in g]),
                 pm([r["clean_error"] for r in g])]
        if specific:
            cells += [pm([r["attack_per_class"][a] for r in g]),
                      pm([r["attack_target_rate"] for r in g]),
                      pm([r["attack_per_class"][b] for r in g]),
                      pm([r["flip_per_class"][a] for r in g]),
                      pm([r["flip_target_rate"] for r in g]),
                      pm([r["clean_per_class"][a] for r in g])]
        cells += [f"{np.mean([r['n_hypergradients'] for r in g]):.0f}",
                  f"{np.mean([r['seconds'] for r in g]):.1f}"]
        print("| " + " | ".join(cells) + " |")


def matrix(folder):
    """Transfer runs: attacker (rows) x victim (columns), test error at the top fraction, then
    random flips and clean per victim."""
    rows = load(Path(folder) / RESULTS)
    top = max(r["fraction"] for r in rows)
    rows = [r for r in rows if r["fraction"] == top]
    name = lambda r, key: r["settings"][key] or r["settings"]["model"]
    models = list(dict.fromkeys(name(r, "model") for r in rows))
    cell = lambda a, v, key: pm([r[key] for r in rows if name(r, "model") == a and
                                 name(r, "victim") == v])
    print(f"| crafted on ↓ / victim → ({rows[0]['n_points']} points) | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for a in models:
        print(f"| {a} | " + " | ".join(cell(a, v, "attack_error") for v in models) + " |")
    for label, key in (("random flips", "flip_error"), ("clean", "clean_error")):
        print(f"| {label} | " + " | ".join(pm([r[key] for r in rows if name(r, "victim") == v])
                                          for v in models) + " |")


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        print(f"\n{folder}\n")
        if len({r["settings"]["victim"] for r in load(Path(folder) / RESULTS)}) > 1:
            matrix(folder)
        else:
            table(folder)

"""Keep committed results small: drop the poisoning points (X_c, X_c0: m x 784 numbers each)
from every row of a finished results.jsonl except the one its poisoning-points figure draws
(the most points, lowest seed; see bgpoison/experiments/report.py), and keep there only the 10 points the
figure shows, rounded to 3 decimals (a grey level needs no more): ``bgpoison plot`` still works.

    python results/mnist/strip.py results/mnist/multiclass [...]
"""
import json
import sys
from pathlib import Path

from bgpoison.experiments.results import RESULTS, atomic_write, load

for folder in sys.argv[1:]:
    path = Path(folder) / RESULTS
    rows = load(path)
    poisoned = [r for r in rows if r["n_points"] > 0]
    keep = max(poisoned, key=lambda r: (r["n_points"], -r["seed"]))["case"] if poisoned else None
    for r in rows:
        if r["case"] == keep:
            for key in ("X_c", "X_c0"):
                r[key] = [[round(v, 3) for v in row] for row in r[key][:10]]
        else:
            for key in ("X_c", "X_c0", "paths"):
                r.pop(key, None)
    atomic_write(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    print(f"{path}: {path.stat().st_size / 1e3:.0f} kB")

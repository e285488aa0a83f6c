"""Count the distinct lines of bgpoison that one hypergradient executes, per file.

    python results/readability/count_lines.py

One ``back_gradient`` call (softmax regression, reversal "stored", full batch, 8x8-sized
random data), traced with ``sys.settrace``: every (file, line) the interpreter executes inside
the ``bgpoison`` package while the call runs, counted once. Model, schedule, data and objective
are built before tracing starts, as a user would have them.
"""
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

import bgpoison as bg

PACKAGE = Path(bg.__file__).parent
rng = np.random.default_rng(0)
X_tr, y_tr = rng.random((200, 64)), rng.integers(0, 10, 200)
X_c, y_c = rng.random((5, 64)), rng.integers(0, 10, 5)
objective = bg.ErrorGeneric(rng.random((100, 64)), rng.integers(0, 10, 100))
model, gd = bg.SoftmaxRegression(64, 10, l2=0.01), bg.GradientDescent(0.1, 20)
w0 = model.init_params(rng)

seen = defaultdict(set)


def trace(frame, event, arg):
    path = Path(frame.f_code.co_filename)
    if PACKAGE in path.parents:
        if event == "line":
            seen[path.relative_to(PACKAGE.parent)].add(frame.f_lineno)
        return trace
    return None


sys.settrace(trace)
bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal="stored")
sys.settrace(None)
for path, lines in sorted(seen.items()):
    print(f"{len(lines):4d}  {path}")
print(f"{sum(map(len, seen.values())):4d}  distinct lines in {len(seen)} files")

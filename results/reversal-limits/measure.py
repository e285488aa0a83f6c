"""How far the paper's and the fixed-point reversal drift, and what it does to the gradient.

    python results/reversal-limits/measure.py > results/reversal-limits/measure.txt

Softmax and logistic regression on 8x8 digits (200 training rows, 10 poisoning points, 200
validation rows, l2 = 0.01, T = 100), for lr * L_smooth(w_0) from 0.1 to 2: the reconstructed
w_0's error relative to the trajectory's scale (1 + max |w_0| + max |w_T - w_0|, the measure
``bgpoison.checks.lost_trajectory`` compares with RECONSTRUCTION) and the cosine of each
reversal's dA/dX_c with the exact one ("stored"). "refused" is a ConvergenceError.
"""
import warnings

import numpy as np

import bgpoison as bg
from bgpoison import checks, datasets

warnings.simplefilter("ignore", checks.ReversalWarning)
data = datasets.digits()
rng = np.random.default_rng(0)
(X, y), (X_val, y_val), _ = datasets.split(data.X, data.y, (200, 200, 100), rng=rng)
print("| model | lr * L | reversal | w0 error / scale | cosine with stored |")
print("|---|---|---|---|---|")
for name in ("softmax", "logistic"):
    yy, yv = (y, y_val) if name == "softmax" else (y % 2, y_val % 2)
    model = bg.SoftmaxRegression(64, 10, l2=0.01) if name == "softmax" else \
        bg.LogisticRegression(64, l2=0.01)
    X_c, y_c = X[:10].copy(), (yy[:10] + 1) % model.n_classes
    objective = bg.ErrorGeneric(X_val, yv)
    w0 = model.init_params(rng)
    L = bg.smoothness(model, w0, np.vstack([X, X_c]), np.concatenate([yy, y_c]), 0)
    for c in (0.1, 0.3, 0.5, 0.9, 1.0, 1.33, 2.0):
        gd = bg.GradientDescent(c / L, 100)
        exact = bg.back_gradient(model, gd, w0, X, yy, X_c, y_c, objective)
        scale = 1 + np.max(np.abs(w0)) + np.max(np.abs(exact.w_T - w0))
        for reversal in ("paper", "fixed-point"):
            try:
                r = bg.back_gradient(model, gd, w0, X, yy, X_c, y_c, objective,
                                     reversal=reversal)
            except bg.ConvergenceError:
                print(f"| {name} | {c} | {reversal} | refused | - |")
                continue
            cos = np.sum(r.dX_c * exact.dX_c) / np.linalg.norm(r.dX_c) / np.linalg.norm(exact.dX_c)
            print(f"| {name} | {c} | {reversal} | {r.w0_error / scale:.3g} | {cos:.3f} |")

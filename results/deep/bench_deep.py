"""Benchmark rows for the deep models: training and one hypergradient against their floor.

    OMP_NUM_THREADS=1 python results/deep/bench_deep.py [--fast] [--cnn-only] [--repeats N]

Same method and scales as ``bgpoison.experiments.bench_speed`` (n = 1000 training rows, m = 20 poisoning
rows of digits 8x8, T = 200, or of the MNIST sample 28x28, T = 60; lr = 0.1 / L_smooth(w_0)),
for the MLP with two hidden layers and the CNN (4 filters 5x5 on MNIST, 3x3 on digits, 2x2
pooling). The floor is the time of the bare matrix products of T training steps (and of T
reverse steps, "stored"), on arrays of the same shapes, timed here: every layer's forward
product, its weight-gradient product and (above the first) its input-gradient product; the
reverse step has twice as many (each R-line has two terms where both factors vary) plus the
poisoning rows' input gradient. For the CNN the products are those of the im2col matrices.
"""
import sys

import numpy as np

import bgpoison as bg
from bgpoison.experiments.bench import smoothness
from bgpoison.experiments.bench_speed import best_time, load, product_time

FAST = "--fast" in sys.argv
SCALES = {"digits": dict(n=1000, m=20, n_val=500, T=200, hidden=(64, 32), kernel=3),
          "mnist": dict(n=1000, m=20, n_val=1000, T=60, hidden=(64, 32), kernel=5)}
if FAST:
    SCALES = {"digits": dict(n=100, m=5, n_val=50, T=10, hidden=(16, 8), kernel=3)}


def layer_shapes(model, N):
    """(rows, fan_in, fan_out) of each layer's matrix product X W for N rows."""
    if isinstance(model, bg.MLP):
        sizes = (model.n_features,) + tuple(model.hidden) + (model.n_classes,)
        return [(N, sizes[l], sizes[l + 1]) for l in range(len(sizes) - 1)]
    out = []
    for c_in, _, _, c_out, oh, ow in model.blocks:                   # im2col products
        out.append((N * oh * ow, c_in * model.kernel ** 2, c_out))
    m = model.shapes[f"W{model.n_layers}"][0]
    return out + [(N, m, model.n_classes)]


def products(model, N, m):
    """(left, right) operand pairs of one training step and one reverse step."""
    rng = np.random.default_rng(0)
    train, reverse = [], []
    for l, (rows, a, b) in enumerate(layer_shapes(model, N)):
        A, W, G = rng.standard_normal((rows, a)), rng.standard_normal((a, b)), \
            rng.standard_normal((rows, b))
        fwd, grad, back = (A, W), (A.T, G), (G, W.T)
        train += [fwd, grad] + ([back] if l else [])
        reverse += [fwd] * (2 if l else 1) + [grad] * (2 if l else 1) + [back] * (3 if l else 0)
    rows, a, b = layer_shapes(model, m)[0]                           # H_xw v, poisoning rows
    G, W = rng.standard_normal((rows, b)), rng.standard_normal((a, b))
    reverse += [(G, W.T)] * 2
    return train, reverse


def rows(repeats=3):
    out = []
    for scale, cfg in SCALES.items():
        (X_tr, y_tr), (X_c, y_c), (X_val, y_val) = load(scale, cfg["n"], cfg["m"], cfg["n_val"])
        d = X_tr.shape[1]
        side = int(round(np.sqrt(d)))
        objective = bg.ErrorGeneric(X_val, y_val)
        X_all, y_all = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
        models = (bg.MLP(d, cfg["hidden"], 10, l2=1e-3),
                  bg.CNN(d, (side, side), 10, channels=(4,), kernel=cfg["kernel"], pool=2,
                         l2=1e-3))
        for model in models[1:] if "--cnn-only" in sys.argv else models:
            w0 = model.init_params(np.random.default_rng(0))
            lr = 0.1 / smoothness(model, w0, X_tr, y_tr, np.random.default_rng(0))
            gd = bg.GradientDescent(lr, cfg["T"])
            train_pairs, reverse_pairs = products(model, len(y_all), cfg["m"])
            floor_train = cfg["T"] * product_time(train_pairs, repeats)
            floor_hyper = floor_train + cfg["T"] * product_time(reverse_pairs, repeats)
            t_train, _ = best_time(lambda: gd.run(model, w0, X_all, y_all), repeats)
            hyper = {}
            for reversal in ("stored", "checkpoint"):
                hyper[reversal], _ = best_time(lambda: bg.back_gradient(
                    model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal=reversal), repeats)
            name = f"MLP {cfg['hidden']}" if isinstance(model, bg.MLP) else \
                f"CNN 4x{cfg['kernel']}x{cfg['kernel']}"
            out.append((scale, name, cfg["T"], t_train, t_train / floor_train, hyper["stored"],
                        hyper["stored"] / floor_hyper, (hyper["stored"] - t_train) / t_train,
                        (hyper["checkpoint"] - t_train) / t_train))
            print(_row(out[-1]), flush=True)
    return out


def _row(r):
    return ("| {} | {} | {} | {:.1f} | {:.2f} | {:.1f} | {:.2f} | {:.2f}, {:.2f} |"
            .format(r[0], r[1], r[2], 1e3 * r[3], r[4], 1e3 * r[5], r[6], r[7], r[8]))


if __name__ == "__main__":
    print("| scale | model | T | training (ms) | training / floor | hypergradient 'stored' (ms) "
          "| hypergradient / floor | reverse / training: stored, checkpoint |")
    print("|---|---|---|---|---|---|---|---|")
    repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
    rows(1 if FAST else repeats)

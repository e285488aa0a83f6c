"""Benchmark: ``python -m bgpoison.bench``. Prints ratios, never asserts.

Reverse pass: for each model at digits scale (n = 1000 rows, d = 64, K = 10 classes, MLP with
32 hidden units, T = 200 steps, float64) it times one training run and, for each reversal,
``back_gradient`` minus that training run (the reverse pass proper), as a ratio to training.
It also prints the peak parameter vectors held and the error of the reconstructed w_0. The data
are synthetic class clusters in [0, 1] drawn from a fixed seed; the learning rate is set so that
lr * L_smooth(w_0) = ``--eta-l`` (L_smooth estimated by power iteration on ``hvp_ww``).
"""
import argparse
import time

import numpy as np

import bgpoison as bg

REVERSALS = ("stored", "checkpoint", "paper", "fixed-point")


def clusters(rng, n, d, K):
    """n points in [0, 1]^d around K random centres, labels 0..K-1."""
    centres = rng.uniform(0.2, 0.8, (K, d))
    y = rng.integers(0, K, n)
    return np.clip(centres[y] + 0.15 * rng.standard_normal((n, d)), 0, 1), y


def smoothness(model, w, X, y, rng, iters=50):
    """Largest |eigenvalue| of the Hessian at w, by power iteration on hvp_ww."""
    v = rng.standard_normal(model.n_params)
    for _ in range(iters):
        Hv = model.hvp_ww(w, X, y, v)
        lam = np.linalg.norm(Hv) / np.linalg.norm(v)
        v = Hv / np.linalg.norm(Hv)
    return lam


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def reverse_pass_table(n=1000, d=64, K=10, hidden=32, T=200, m=20, eta_l=0.1, repeats=3, seed=0):
    rng = np.random.default_rng(seed)
    X, y = clusters(rng, n + m + 500, d, K)
    models = {"adaline": bg.Adaline(d, l2=1e-3), "logistic": bg.LogisticRegression(d, l2=1e-3),
              "softmax": bg.SoftmaxRegression(d, K, l2=1e-3),
              "mlp": bg.MLP(d, hidden, K, l2=1e-3)}
    rows = []
    for name, model in models.items():
        labels = y % model.n_classes
        X_tr, y_tr = X[:n], labels[:n]
        X_c, y_c = X[n:n + m], labels[n:n + m]
        objective = bg.ErrorGeneric(X[n + m:], labels[n + m:])
        w0 = model.init_params(np.random.default_rng(seed))
        lam = smoothness(model, w0, X_tr, y_tr, np.random.default_rng(seed))
        gd = bg.GradientDescent(eta_l / lam, T)
        X_all, y_all = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
        t_train, _ = best_time(lambda: gd.run(model, w0, X_all, y_all), repeats)
        for reversal in REVERSALS:
            t_total, r = best_time(lambda: bg.back_gradient(
                model, gd, w0, X_tr, y_tr, X_c, y_c, objective, reversal=reversal), repeats)
            rows.append((name, reversal, t_train, (t_total - t_train) / t_train,
                         r.vectors_held, r.w0_error, r.iterations / T))
    return rows, dict(n=n, d=d, K=K, hidden=hidden, T=T, m=m, eta_l=eta_l)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bgpoison.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--eta-l", type=float, default=0.1, help="lr * L_smooth(w_0)")
    args = parser.parse_args(argv)
    sizes = dict(n=100, d=8, K=3, hidden=4, T=20, m=3) if args.fast else {}
    rows, cfg = reverse_pass_table(eta_l=args.eta_l, repeats=args.repeats, **sizes)
    print(f"# reverse pass / training time  (n={cfg['n']}, d={cfg['d']}, K={cfg['K']}, "
          f"MLP hidden={cfg['hidden']}, T={cfg['T']}, m={cfg['m']} poisoning rows, "
          f"lr*L={cfg['eta_l']:g}, best of {args.repeats})")
    print("| model | reversal | training (ms) | reverse / training | vectors held "
          "| w0 error (max) | fixed-point iters / step |")
    print("|---|---|---|---|---|---|---|")
    for name, rev, t_train, ratio, held, err, iters in rows:
        print(f"| {name} | {rev} | {1e3 * t_train:.1f} | {ratio:.2f} | {held} | {err:.1e} "
              f"| {iters:.1f} |" if rev == "fixed-point" else
              f"| {name} | {rev} | {1e3 * t_train:.1f} | {ratio:.2f} | {held} | {err:.1e} | - |")


if __name__ == "__main__":
    main()

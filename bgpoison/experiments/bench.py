"""Benchmark: ``python -m bgpoison.experiments.bench``. Prints ratios, never asserts.

Hypergradient sources: on one convex problem (softmax, digits scale, training long enough to
converge) the time of dA/dX_c by back-gradient, by the KKT/implicit gradient (L-BFGS to
optimality, then CG or a direct solve) and by central differences over all d coordinates of one
poisoning point, with the cosine of each against the back-gradient. Attack: the time and gain of
one joint pass (one hypergradient) against one sequential pass (one per point).

Reverse pass: for each model at digits scale (n = 1000 rows, d = 64, K = 10 classes, MLP with
32 hidden units, T = 200 steps, float64) it times one training run and, for each reversal,
``back_gradient`` minus that training run (the reverse pass proper), as a ratio to training.
It also prints the peak parameter vectors held and the error of the reconstructed w_0. The data
are synthetic class clusters in [0, 1] drawn from a fixed seed; the learning rate is set so that
lr * L_smooth(w_0) = ``--eta-l`` (L_smooth estimated by power iteration on ``hvp_ww``).

Floor (``bench_speed``): softmax and the MLP on real digits and MNIST images, training and one
hypergradient against the time of their bare matrix products, reverse / training per reversal
and the peak memory of each reversal. ``--baseline DIR`` times the same runs, and one step of the
MNIST multiclass attack, in the package in DIR too (another version: ``git archive REV bgpoison
| tar -x -C /tmp/old``, then ``--baseline /tmp/old/bgpoison``), loaded side by side, and prints
new / old.

BLAS runs on ``--threads`` threads (default 1): with more, a matmul's threads wait for each
other, and any other load on the machine makes the ratios swing by 2x. The thread count must be
set before NumPy loads, so the command re-executes itself once with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set (``--threads default``: unset, the machine's default). A full run
ends with the floor section again at the machine's default threads, in a child process
(``--fast`` runs the other sections only; ``--only floor --fast`` the floor at digits scale).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

import bgpoison as bg
from bgpoison.experiments.bench_sources import (attack_pass_table, clusters, exact_table,
                                                hypergradient_table)
from bgpoison.experiments.bench_speed import (best_time, floor_table, print_attack_step_table,
                                              print_floor_table)
from bgpoison.models import smoothness

REVERSALS = ("stored", "checkpoint", "paper", "fixed-point")


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
    parser = argparse.ArgumentParser(prog="python -m bgpoison.experiments.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--eta-l", type=float, default=0.1, help="lr * L_smooth(w_0)")
    parser.add_argument("--only", choices=("reverse", "hypergradient", "attack", "exact",
                                            "floor", "attack-step"),
                        help="run one section (attack-step: only the --baseline comparison)")
    parser.add_argument("--threads", default="1",
                        help="BLAS threads, a number or 'default' (the machine's; default 1)")
    parser.add_argument("--baseline", help="directory of another bgpoison package to time one "
                                           "MNIST attack step against (e.g. today's main)")
    args = parser.parse_args(argv)
    _pin_blas_threads(args.threads, argv)
    label = _threads_label()
    print(f"# BLAS threads: {label}, NumPy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    sizes = dict(n=100, d=8, K=3, hidden=4, T=20, m=3) if args.fast else {}
    if args.only == "floor" or args.only is None and not args.fast:   # --fast: the old smoke
        print_floor_table(floor_table(("digits",) if args.fast else ("digits", "mnist"),
                                      repeats=args.repeats, baseline=args.baseline), label)
    if args.baseline:
        print_attack_step_table(args.baseline, args.repeats)
    if args.only in (None, "reverse"):
        rows, c = reverse_pass_table(eta_l=args.eta_l, repeats=args.repeats, **sizes)
        table(f"reverse pass / training time  (n={c['n']}, d={c['d']}, K={c['K']}, MLP hidden="
              f"{c['hidden']}, T={c['T']}, m={c['m']} poisoning rows, lr*L={c['eta_l']:g}, "
              f"best of {args.repeats})", ("model", "reversal", "training (ms)",
              "reverse / training", "vectors held", "w0 error (max)", "fixed-point iters / step"),
              [(name, rev, f"{1e3 * t:.1f}", f"{ratio:.2f}", held, f"{err:.1e}",
                f"{iters:.1f}" if rev == "fixed-point" else "-")
               for name, rev, t, ratio, held, err, iters in rows])
    if args.only in (None, "hypergradient"):
        rows, c = hypergradient_table(repeats=args.repeats, **{
            k: v for k, v in sizes.items() if k != "hidden"})
        table(f"one hypergradient dA/dX_c  (softmax, n={c['n']}, d={c['d']}, K={c['K']}, "
              f"T={c['T']}, m={c['m']}, lr*L=1, l2=0.05)",
              ("method", "time (ms)", "time / back-gradient", "cosine with back-gradient"),
              [(name, f"{1e3 * t:.1f}", f"{t / rows[0][1]:.2f}", f"{cos:.6f}")
               for name, t, cos in rows])
    if args.only in (None, "exact"):
        rows, c = exact_table(repeats=args.repeats, **(
            dict(n=100, d=8, K=3, m=3, steps=(10, 20)) if args.fast else {}))
        table(f"exact momentum reversal  (softmax, n={c['n']}, d={c['d']}, K={c['K']}, "
              f"p={c['p']} parameters, lr*L=0.1)",
              ("gamma", "T", "reversal", "reverse / training", "w0 error", "peak memory (KiB)",
               "buffer bits / step / parameter"),
              [(gamma, T, rev, f"{ratio:.2f}", f"{err:.1e}", f"{kib:.1f}",
                f"{bits:.3f}" if rev == "exact" else "-")
               for gamma, T, rev, ratio, err, kib, bits in rows])
    if args.only in (None, "attack"):
        c = dict(n=30, d=8, m=3, T=20) if args.fast else dict(n=100, d=64, m=10, T=100)
        table(f"one attack pass  (logistic, d={c['d']}, {c['n']} training rows, {c['m']} "
              f"points, T={c['T']})",
              ("update", "time (s)", "gain in A", "hypergradients", "training runs"),
              [(update, f"{t:.2f}", f"{gain:.4f}", n_hyper, n_train)
               for update, t, gain, n_hyper, n_train in attack_pass_table(**c)])
    if args.only is None and not args.fast:
        _default_threads_floor(argv)


BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _pin_blas_threads(threads, argv):
    """Re-run this command with the BLAS thread count in the environment, unless it is set
    (``threads="default"``: with the variables removed, unless none is set)."""
    if threads == "default":
        if not any(v in os.environ for v in BLAS_VARIABLES):
            return
        env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
    else:
        wanted = str(int(threads))
        if all(os.environ.get(v) == wanted for v in BLAS_VARIABLES[:2]):
            return
        env = {**os.environ, **{v: wanted for v in BLAS_VARIABLES}}
    args = sys.argv[1:] if argv is None else list(argv)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "bgpoison.experiments.bench", *args], env)


def _threads_label():
    """'1' (pinned by OMP_NUM_THREADS) or 'machine default (N threads)' as the BLAS says."""
    if os.environ.get("OMP_NUM_THREADS"):
        return os.environ["OMP_NUM_THREADS"]
    try:
        from threadpoolctl import threadpool_info
        n = max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")
    except (ImportError, ValueError):
        n = "?"
    return f"machine default ({n} threads)"


def _default_threads_floor(argv):
    """The floor section again in a child process at the machine's default BLAS threads."""
    sys.stdout.flush()
    args = list(sys.argv[1:] if argv is None else argv)
    if "--baseline" in args:                                   # the attack step: once is enough
        i = args.index("--baseline")
        del args[i:i + 2]
    subprocess.run([sys.executable, "-m", "bgpoison.experiments.bench", *args, "--only", "floor",
                    "--threads", "default"], check=True)


def table(title, columns, rows):
    """Print a markdown table under a ``# title`` line."""
    print(f"\n# {title}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


if __name__ == "__main__":
    main()

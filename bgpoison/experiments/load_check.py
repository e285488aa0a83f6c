"""Load check: ``python -m bgpoison.experiments.load_check``. Prints times and ratios, never asserts.

Does the ``bgpoison`` command stay fast when the machine is busy? Beside one busy
single-threaded process (``while True: pass``; ``--busy N`` for more) it runs the same command twice, in fresh output
folders:

    pinned    with OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1 (one BLAS thread,
              fixed before NumPy loads: the reference)
    default   with those variables removed: whatever the command does by itself

and prints default / pinned; the goal is at most 1.5. OpenBLAS's threads spin while they wait
for each other, so on a machine whose cores are taken a small product on two threads can be
10x slower than on one; every product in bgpoison is small.

Then it times one 'stored' hypergradient at digits scale (softmax, 1000 rows of 8x8 digits and
30 poisoning points, T = 200, as in ``bench``) in a child process: pinned, default, and default inside
``bgpoison.blas_threads(1)`` (the library's way to limit threads; skipped where it is missing).

    python -m bgpoison.experiments.load_check                  # headline preset, 2 seeds
    python -m bgpoison.experiments.load_check --cap 120 -- run --preset headline --fast

The command after ``--`` is the ``bgpoison`` command line (default ``run --preset headline
--seeds 2``); ``--out`` and ``--no-progress`` are added. A run still going after ``--cap``
seconds is stopped and reported as "> cap". Needs the ``datasets`` extra. Leave OPENBLAS_CORETYPE
as the machine sets it. Results of a run: ``results/load/``.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_COMMAND = ["run", "--preset", "headline", "--seeds", "2"]


def environment(pinned):
    """This process's environment with the BLAS thread variables set to 1 or removed."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
    env["MPLBACKEND"] = "Agg"
    return {**env, **{v: "1" for v in BLAS_VARIABLES}} if pinned else env


def timed(argv, env, cap):
    """Wall-clock seconds of ``argv`` (None if it ran past ``cap``); raises if it failed."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        _, err = proc.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    if proc.returncode != 0:
        raise SystemExit(f"load_check: {' '.join(argv)} failed ({proc.returncode}): {err}")
    return time.perf_counter() - start


def show(label, seconds, cap):
    return f"{label:9} {'> %.0f' % cap if seconds is None else '%.1f' % seconds:>8} s"


def ratio(slow, fast, cap):
    if fast is None:
        return "n/a (the pinned run passed the cap)"
    value = (cap if slow is None else slow) / fast
    return f"{'>' if slow is None else ''}{value:.2f}x ({'ok' if value <= 1.5 else 'over'} " \
           "the goal of 1.5x)"


def hypergradient_child(limit):
    """In a child process: print the best of 3 times of one stored hypergradient."""
    import contextlib

    import numpy as np

    import bgpoison as bg
    from bgpoison import datasets
    d = datasets.digits()
    rng = np.random.default_rng(0)
    (X, y), (X_val, y_val), _ = datasets.split(d.X, d.y, (1000, 500, 100), rng=rng)
    model, gd = bg.SoftmaxRegression(64, 10, l2=0.01), bg.GradientDescent(0.5, 200)
    X_c, y_c = X[:30].copy(), (y[:30] + 1) % 10
    limited = bg.blas_threads(1) if limit else contextlib.nullcontext()
    best = np.inf
    with limited:
        for _ in range(3):
            start = time.perf_counter()
            bg.back_gradient(model, gd, model.init_params(0), X, y, X_c, y_c,
                             bg.ErrorGeneric(X_val, y_val), reversal="stored")
            best = min(best, time.perf_counter() - start)
    print(best)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bgpoison.experiments.load_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=300.0,
                        help="stop a run after this many seconds (default 300)")
    parser.add_argument("--busy", type=int, default=1,
                        help="busy single-threaded processes beside the runs (default 1)")
    parser.add_argument("--child", choices=("plain", "limited"), help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help="the bgpoison command line (after --)")
    args = parser.parse_args(argv)
    if args.child:
        return hypergradient_child(args.child == "limited")
    command = args.command or DEFAULT_COMMAND
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.busy)]
    try:
        print(f"# beside {args.busy} busy process(es), {os.cpu_count()} CPUs: bgpoison "
              f"{' '.join(command)}")
        times = {}
        for label, pinned in (("pinned", True), ("default", False)):
            with tempfile.TemporaryDirectory() as out:
                times[label] = timed([sys.executable, "-m", "bgpoison", *command, "--out", out,
                                      "--no-progress"], environment(pinned), args.cap)
            print(show(label, times[label], args.cap), flush=True)
        print(f"default / pinned: {ratio(times['default'], times['pinned'], args.cap)}")
        print("# one 'stored' hypergradient, digits scale (best of 3)")
        child = [sys.executable, "-m", "bgpoison.experiments.load_check", "--child"]
        hyper = {}
        for label, pinned, mode in (("pinned", True, "plain"), ("default", False, "plain"),
                                    ("limited", False, "limited")):
            proc = subprocess.run(child + [mode], env=environment(pinned), capture_output=True,
                                  text=True, timeout=args.cap)
            if proc.returncode != 0:
                print(f"{label:9} skipped: {proc.stderr.strip().splitlines()[-1]}")
                continue
            hyper[label] = float(proc.stdout)
            print(f"{label:9} {1000 * hyper[label]:8.0f} ms")
        for label in ("default", "limited"):
            if label in hyper:
                print(f"{label} / pinned: {hyper[label] / hyper['pinned']:.2f}x")
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())

"""The ``bgpoison`` command: ``bgpoison run`` runs an experiment, ``bgpoison plot`` redraws it.

Errors in what the user typed or pointed at exit with status 2 and one line on stderr, never a
traceback, before any case runs (output files in the way or a folder where nothing can be
written included); a setting that cannot train (divergence, a reversal past its limit, an attack
whose points never moved because its first hypergradient failed, a trajectory too large for
memory) or a lost worker or Dask scheduler exits with status 1 and one line.
Results are appended case by case; rerunning the same command skips finished cases, so Ctrl-C,
SIGTERM or a kill lose nothing that had finished. Worker processes (``--workers``) stop with
the command; ``--scheduler`` sends the cases to Dask (``bgpoison.experiments.cluster``).
The command and each worker run BLAS on one thread (``--blas-threads N`` for more; see
``bgpoison.threads``): on a busy machine more threads can make it many times slower.
"""
import dataclasses
import os
import signal
import sys
import time
from concurrent.futures import BrokenExecutor, CancelledError
from dataclasses import replace
from pathlib import Path

from . import cluster, experiment, presets
from ..checks import ConvergenceError, DivergenceError
from ..threads import blas_threads
from .flags import DEFAULT_FRACTIONS, UsageError, build_parser, floats
from .preflight import blas_limit, check_data_path, check_out
from .settings import Settings
from .results import RESULTS, ResultStore

def explicit_settings(args):
    """The Settings fields the user typed (the run flags default to None, "not given")."""
    names = {f.name for f in dataclasses.fields(Settings)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, enabled):
        self.enabled, self.start = enabled and sys.stderr.isatty(), time.monotonic()

    def __call__(self, done, total):
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        eta = f"  eta {elapsed / done * (total - done):4.0f}s" if 0 < done < total else ""
        bar = "#" * int(30 * done / max(total, 1))
        sys.stderr.write(f"\r[{bar:30}] {done}/{total} cases{eta}   ")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run_settings(args):
    """(settings, fractions, seeds) from the flags: a preset, or one setting; --fast shrinks
    the sizes, and flags the user typed override both."""
    explicit = explicit_settings(args)
    if args.preset:
        settings, fractions, seeds = presets.get(args.preset, args.fast, args.data_path,
                                                 args.dataset, args.strongest)
        settings = [replace(s, **explicit) for s in settings]
    else:
        settings, fractions, seeds = [Settings(**explicit)], floats(DEFAULT_FRACTIONS), range(5)
        if args.fast:
            settings = [replace(presets.shrink(s), **explicit) for s in settings]
    fractions = fractions if args.fractions is None else args.fractions
    if args.seeds is not None:
        if args.seeds < 1:
            raise UsageError(f"--seeds must be at least 1; got {args.seeds}")
        seeds = range(args.seeds)
    return settings, fractions, seeds


ONLY_FOR = {"data_path": ("--data-path", "--dataset mnist or csv", ("mnist", "csv")),
            "label_column": ("--label-column", "--dataset csv", ("csv",))}


def check_flags(args):
    """UsageError for a flag that the chosen run would silently ignore."""
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1; got {args.workers}")
    if args.strongest and not args.preset:
        raise UsageError("--strongest applies to a preset: add --preset NAME")
    if args.scheduler not in (None, "local") and args.workers != 1:
        raise UsageError("--workers applies only without --scheduler or with --scheduler "
                         "local; a cluster's workers are started with the cluster")
    if args.preset:
        return
    dataset = args.dataset or Settings().dataset
    for name, (flag, where, datasets) in ONLY_FOR.items():
        if getattr(args, name) is not None and dataset not in datasets:
            raise UsageError(f"{flag} applies only to {where}; got --dataset {dataset}")
    if args.hidden is not None and "mlp" not in (args.model, args.victim):
        raise UsageError("--hidden applies only to --model mlp or --victim mlp")
    for flag in ("channels", "kernel", "pool"):
        if getattr(args, flag) is not None and "cnn" not in (args.model, args.victim):
            raise UsageError(f"--{flag} applies only to --model cnn or --victim cnn")
    if args.batch_seed is not None and args.batch_size is None:
        raise UsageError("--batch-seed applies only with --batch-size")
    if args.class_map is not None and args.objective != "specific":
        raise UsageError("--class-map applies only to --objective specific")


def cmd_run(args):
    check_flags(args)
    threads = blas_limit(args)
    if args.data_path is not None:            # workers may start in another folder
        args.data_path = os.path.abspath(args.data_path)
    check_data_path(args.data_path)
    settings, fractions, seeds = run_settings(args)
    for f in fractions:
        experiment.n_points(f, settings[0].n_train)         # ValueError for f outside [0, 1)
    for s in settings:
        experiment.check_sizes(s, fractions)                # bad path, format or sizes: now
    out = check_out(args.out or ("bgpoison-out/" + args.preset if args.preset else
                                 "bgpoison-out"))
    store = ResultStore(out)                                 # cleans up after a killed run
    if store.torn:
        print(f"bgpoison: note: {out / RESULTS} ended in a partial line (an interrupted "
              f"write); dropped it, that case runs again", file=sys.stderr)
    if store.incomplete():
        print(f"bgpoison: note: {len(store.incomplete())} row(s) of {out / RESULTS} lack fields "
              "this version needs (another version of bgpoison?); tables and figures leave "
              "them out, and those of this command's cases run again", file=sys.stderr)
    progress = Progress(not args.no_progress)
    signal.signal(signal.SIGTERM, _on_sigterm)               # stop like Ctrl-C, keep results
    try:
        with blas_threads(threads), \
                cluster.executor_for(args.scheduler, args.workers, threads) as executor:
            summary = experiment.run_experiment(settings, fractions, seeds, out,   # executor
                                                executor=executor, progress=progress)  # stopped
                                                                # before the except runs
    except (KeyboardInterrupt, Terminated) as err:
        done = len(ResultStore(out).rows)
        print(f"\ninterrupted: {done} finished case(s) are saved in {out}; rerun the same "
              "command to continue", file=sys.stderr)
        return 130 if isinstance(err, KeyboardInterrupt) else 128 + signal.SIGTERM
    except (CancelledError, cluster.SchedulerLost) as err:    # Dask: the scheduler went away
        if not args.scheduler:
            raise
        done = len(ResultStore(out).rows)
        raise LostWorker(f"lost the Dask scheduler at {args.scheduler} (it cancelled the "
                         f"cases); {done} finished case(s) are saved in {out}; rerun the same "
                         "command to continue") from err
    except Exception as err:
        if not isinstance(err, BrokenExecutor) and type(err).__name__ != "KilledWorker":
            raise                                             # Dask: a case killed its workers
        done = len(ResultStore(out).rows)
        raise LostWorker(f"a worker process died ({err or 'killed, or out of memory?'}); "
                         f"{done} finished case(s) are saved in {out}; rerun the same "
                         "command to continue")
    from .report import print_table, draw_figures
    print_table(summary)
    stopped = [r["attack_stopped"] for r in ResultStore(out).rows if r.get("attack_stopped")]
    if stopped:
        print(f"bgpoison: note: the attack stopped early in {len(stopped)} case(s), keeping "
              f"its points so far; first: {_one_line(stopped[0])}", file=sys.stderr)
    try:
        written = draw_figures(out)
    except OSError as err:                           # e.g. the disk filled up meanwhile
        raise OSError(f"cannot write the figures in {out}: {err.strerror or err}; every case "
                      f"is saved in {out / RESULTS}: 'bgpoison plot {out}' draws them") from err
    for path in written:
        print(f"wrote {path}")
    return 0


class Terminated(Exception):
    """SIGTERM arrived: stop like Ctrl-C (workers stopped, finished cases kept)."""


class LostWorker(Exception):
    """A worker process or the Dask scheduler died; the finished cases are saved."""


def _on_sigterm(signum, frame):
    raise Terminated()


def cmd_plot(args):
    from .report import draw_figures
    path = Path(args.results)
    if not path.exists():
        raise UsageError(f"no results found: {path} does not exist")
    folder = path.parent if path.is_file() else path
    if not (folder / RESULTS).is_file():
        raise UsageError(f"no results found: expected {folder / RESULTS}")
    for written in draw_figures(folder):
        print(f"wrote {written}")
    return 0


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return cmd_run(args) if args.command == "run" else cmd_plot(args)
    except BrokenPipeError:                          # e.g. piped into head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ConvergenceError, DivergenceError, experiment.AttackFailed, LostWorker,
            MemoryError) as err:
        print(f"bgpoison: failed: {_one_line(err)}", file=sys.stderr)   # cannot train / run
        return 1
    except (UsageError, ValueError, OSError, ImportError) as err:
        print(f"bgpoison: error: {_one_line(err)}", file=sys.stderr)
        return 2


def _one_line(err):
    text = " ".join(str(err).split())
    return text or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())

"""The ``bgpoison`` command: ``bgpoison run`` runs an experiment, ``bgpoison plot`` redraws it.

Errors in what the user typed or pointed at exit with status 2 and one line on stderr, never a
traceback. Results are stored case by case; rerunning the same command skips finished cases, so
Ctrl-C loses nothing that had finished.
"""
import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import experiment, presets
from .reversal import ConvergenceError
from .training import DivergenceError
from .experiment import Settings
from .results import RESULTS, ResultStore

DEFAULT_FRACTIONS = "0,0.02,0.04,0.06"


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _floats(text):
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas; got {text!r}")


def _ints(text):
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas; got {text!r}")


def _class_map(text):
    try:
        return tuple(tuple(int(c) for c in pair.split(":")) for pair in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected pairs like 8:3,1:7; got {text!r}")


def build_parser():
    parser = _Parser(prog="bgpoison", description="Data poisoning by back-gradient "
                     "optimisation: run experiments and plot them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run an experiment (default: digits, softmax, 0-6%%)",
                         description="Run the cases (setting x fraction x seed) not yet in the "
                         "output folder; print a table; write results.jsonl, summary.csv and "
                         "figures.")
    s = Settings()
    g = run.add_argument_group("data")
    g.add_argument("--dataset", choices=experiment.DATASETS,
                   help=f"default: {s.dataset}; with --preset: mnist (digits for the 8x8 version)")
    g.add_argument("--data-path", help="MNIST folder of IDX files (default: the bundled 5,000-image sample) or CSV file")
    g.add_argument("--label-column", type=int, default=s.label_column, help="CSV label column")
    g.add_argument("--classes", type=_ints, help="keep these classes, e.g. 1,7")
    g.add_argument("--n-train", type=int, default=s.n_train)
    g.add_argument("--n-val", type=int, default=s.n_val)
    g.add_argument("--n-test", type=int, help="default: all remaining rows")
    g = run.add_argument_group("attack")
    g.add_argument("--model", choices=experiment.MODELS, default=s.model)
    g.add_argument("--hidden", type=int, default=s.hidden, help="MLP hidden units")
    g.add_argument("--l2", type=float, default=s.l2)
    g.add_argument("--objective", choices=experiment.OBJECTIVES, default=s.objective)
    g.add_argument("--class-map", type=_class_map, default=(),
                   help="error-specific targets: validation class a counts as b, e.g. 8:3")
    g.add_argument("--steps", "-T", type=int, default=s.steps, help="training steps T")
    g.add_argument("--lr", type=float, default=s.lr, help="learning rate eta")
    g.add_argument("--reversal", default=s.reversal,
                   choices=("stored", "checkpoint", "paper", "fixed-point"))
    g.add_argument("--update", choices=("joint", "sequential"), default=s.update)
    g.add_argument("--gradient", choices=("back-gradient", "kkt"), default=s.gradient)
    g.add_argument("--passes", type=int, default=s.passes)
    g.add_argument("--step", type=float, default=s.step,
                   help="first trial step of each line search (halved up to 6 times)")
    g.add_argument("--warm-start", action="store_true", default=None,
                   help="start each update's training where the previous update's ended")
    g.add_argument("--victim", choices=experiment.MODELS,
                   help="model retrained on the poisoned data (default: --model)")
    g.add_argument("--victim-steps", type=int)
    g.add_argument("--victim-lr", type=float)
    g = run.add_argument_group("experiment")
    g.add_argument("--preset", choices=list(presets.PRESETS) + ["spambase"],
                   help="one of the paper's experiments (see RESULTS.md); sets data, models, "
                   "fractions and seeds")
    g.add_argument("--strongest", action="store_true",
                   help="with --preset: bgpoison's strongest attack settings instead of the paper's")
    g.add_argument("--fast", action="store_true", help="tiny sizes: a smoke run in seconds")
    g.add_argument("--fractions", type=_floats, default=_floats(DEFAULT_FRACTIONS),
                   help=f"poisoning fractions m/(n+m) in [0, 1) (default {DEFAULT_FRACTIONS})")
    g.add_argument("--seeds", type=int, default=5, help="number of splits / seeds 0..N-1")
    g.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    g.add_argument("--out", help="output folder (default bgpoison-out, or bgpoison-out/PRESET)")
    g.add_argument("--no-progress", action="store_true")
    plot = sub.add_parser("plot", help="redraw figures from saved results")
    plot.add_argument("results", help="an output folder or its results.jsonl")
    return parser


def settings_from(args):
    names = {f.name for f in experiment.dataclasses.fields(Settings)}
    return Settings(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def check_out(out):
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output folder {out}: {err.strerror}")
    if not os.access(out, os.W_OK):
        raise UsageError(f"output folder {out} is not writable")
    return out


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


def cmd_run(args):
    if args.strongest and not args.preset:
        raise UsageError("--strongest applies to a preset: add --preset NAME")
    if args.preset:
        settings, fractions, seeds = presets.get(args.preset, args.fast, args.data_path,
                                                 args.dataset, args.strongest)
    else:
        settings, fractions, seeds = [settings_from(args)], args.fractions, range(args.seeds)
        settings = [presets.shrink(s) for s in settings] if args.fast else settings
    for f in fractions:
        experiment.n_points(f, settings[0].n_train)         # ValueError for f outside [0, 1)
    if len(seeds) < 1 or args.workers < 1:
        raise UsageError("--seeds and --workers must be at least 1")
    for s in settings:
        experiment.load_data(s)                             # fail now on a bad path or format
    out = check_out(args.out or ("bgpoison-out/" + args.preset if args.preset else
                                 "bgpoison-out"))
    progress = Progress(not args.no_progress)
    executor = ProcessPoolExecutor(args.workers) if args.workers > 1 else None
    try:
        summary = experiment.run_experiment(settings, fractions, seeds, out,
                                            executor=executor, progress=progress)
    except KeyboardInterrupt:
        done = len(ResultStore(out).rows)
        print(f"\ninterrupted: {done} finished case(s) are saved in {out}; rerun the same "
              "command to continue", file=sys.stderr)
        return 130
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    from .report import print_table, draw_figures
    print_table(summary)
    for path in draw_figures(out):
        print(f"wrote {path}")
    return 0


def cmd_plot(args):
    from .report import draw_figures
    path = Path(args.results)
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
    except (ConvergenceError, DivergenceError) as err:          # a setting that cannot train
        print(f"bgpoison: failed: {err}", file=sys.stderr)
        return 1
    except (UsageError, ValueError, OSError, ImportError) as err:
        print(f"bgpoison: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

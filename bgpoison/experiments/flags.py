"""The flags of the ``bgpoison`` command: ``build_parser`` and the parsers of its values.

A run flag that names a ``Settings`` field defaults to None ("not given"), so what the user
types can be told from the defaults (``cli.explicit_settings``); its help shows the real default.
Bad flags raise ``UsageError``: one line, exit status 2.
"""
import argparse

from . import presets
from .settings import DATASETS, DEFENCES, MODELS, NORMS, OBJECTIVES, Settings

DEFAULT_FRACTIONS = "0,0.02,0.04,0.06"


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def floats(text):
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas; got {text!r}")
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number; got {text!r}")
    return values


def _ints(text):
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas; got {text!r}")


def _hidden(text):
    """--hidden: "64" -> 64 (one layer), "64,32" -> (64, 32) (one entry per hidden layer)."""
    widths = _ints(text)
    return widths[0] if len(widths) == 1 else widths


def _class_map(text):
    try:
        pairs = tuple(tuple(int(c) for c in pair.split(":")) for pair in text.split(","))
    except ValueError:
        pairs = ()
    if not pairs or any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError(f"expected pairs like 8:3,1:7; got {text!r}")
    return pairs


def _threads(text):
    """--blas-threads: "2" -> 2, or "default" (the machine's default) as it is."""
    if text == "default":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'default'; got {text!r}")
    return n


def build_parser():
    parser = _Parser(prog="bgpoison", description="Data poisoning by back-gradient "
                     "optimisation: run experiments and plot them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run an experiment (default: digits, softmax, 0-6%%)",
                         description="Run the cases (setting x fraction x seed) not yet in the "
                         "output folder; print a table; write results.jsonl, summary.csv and "
                         "figures.")
    s = Settings()

    def option(group, *flags, help="", **kwargs):
        """A flag for a Settings field: default None ("not given"), the real default in help."""
        field = flags[0][2:].replace("-", "_")
        shown = getattr(s, field, None)
        if shown not in (None, ()):
            help = f"{help} (default: {shown})" if help else f"default: {shown}"
        group.add_argument(*flags, help=help, **kwargs)

    g = run.add_argument_group("data")
    option(g, "--dataset", choices=DATASETS,
           help="with --preset: mnist (the preset's own) or digits for the quick 8x8 version")
    option(g, "--data-path", help="MNIST folder of IDX files (default: the bundled 5,000-image "
           "sample) or CSV file")
    option(g, "--label-column", type=int, help="CSV label column")
    option(g, "--classes", type=_ints, help="keep these classes, e.g. 1,7")
    option(g, "--n-train", type=int)
    option(g, "--n-val", type=int)
    option(g, "--n-test", type=int, help="default: all remaining rows")
    g = run.add_argument_group("attack")
    option(g, "--model", choices=MODELS)
    option(g, "--hidden", type=_hidden,
           help="MLP hidden units, e.g. 64, or one width per layer: 64,32")
    option(g, "--l2", type=float)
    option(g, "--objective", choices=OBJECTIVES)
    option(g, "--class-map", type=_class_map,
           help="error-specific targets: validation class a counts as b, e.g. 8:3")
    option(g, "--steps", "-T", type=int, help="training steps T")
    option(g, "--lr", type=float, help="learning rate eta")
    option(g, "--reversal", choices=("stored", "checkpoint", "paper", "fixed-point"))
    option(g, "--update", choices=("joint", "sequential"))
    option(g, "--gradient", choices=("back-gradient", "kkt"))
    option(g, "--passes", type=int)
    option(g, "--step", type=float,
           help="first trial step of each line search (halved up to 6 times)")
    option(g, "--warm-start", action="store_true", default=None,
           help="start each update's training where the previous update's ended")
    option(g, "--batch-size", type=int, help="mini-batch SGD with batches of this many rows "
           "(default: full batch)")
    option(g, "--batch-seed", type=int, help="seed of the batches (batch t is drawn from "
           "(seed, t))")
    option(g, "--channels", type=_ints, help="cnn: filters of each convolution block, e.g. 4 "
           "or 4,8")
    option(g, "--kernel", type=int, help="cnn: kernel size")
    option(g, "--pool", type=int, help="cnn: average-pooling size")
    option(g, "--victim", choices=MODELS,
           help="model retrained on the poisoned data (default: --model)")
    option(g, "--victim-steps", type=int, help="default: --steps")
    option(g, "--victim-lr", type=float, help="default: --lr")
    g = run.add_argument_group("defences")
    option(g, "--defence", choices=DEFENCES, help="sanitise the training set (and the "
           "poisoning points) before every victim trains; reports detection rates")
    option(g, "--adaptive", action="store_true", default=None,
           help="the attack keeps its points where --defence sphere or slab accepts them")
    option(g, "--max-distance", type=float, metavar="EPS",
           help="the attack keeps each point within EPS of the training point it cloned")
    option(g, "--norm", choices=NORMS, help="the norm of --max-distance")
    g = run.add_argument_group("experiment")
    g.add_argument("--preset", choices=list(presets.PRESETS) + ["spambase"],
                   help="one of the paper's experiments (see RESULTS.md); sets data, models, "
                   "fractions and seeds (flags you give override it)")
    g.add_argument("--strongest", action="store_true",
                   help="with --preset: bgpoison's strongest attack settings instead of the paper's")
    g.add_argument("--fast", action="store_true", help="tiny sizes: a smoke run in seconds "
                   "(flags you give win)")
    g.add_argument("--fractions", type=floats,
                   help=f"poisoning fractions m/(n+m) in [0, 1) (default {DEFAULT_FRACTIONS})")
    g.add_argument("--seeds", type=int, help="number of splits / seeds 0..N-1 (default 5)")
    g.add_argument("--workers", type=int, default=1,
                   help="processes, or Dask workers with --scheduler local (default 1)")
    g.add_argument("--scheduler", help="run the cases on Dask: 'local' starts a LocalCluster "
                   "of --workers processes; an address (tcp://host:8786) uses that cluster")
    g.add_argument("--blas-threads", type=_threads, metavar="N",
                   help="BLAS threads of this process and of each worker (default 1: small "
                   "products on more threads slow down badly when other work runs; 'default' "
                   "for the machine's)")
    g.add_argument("--out", help="output folder (default bgpoison-out, or bgpoison-out/PRESET)")
    g.add_argument("--no-progress", action="store_true")
    plot = sub.add_parser("plot", help="redraw figures from saved results")
    plot.add_argument("results", help="an output folder or its results.jsonl")
    return parser

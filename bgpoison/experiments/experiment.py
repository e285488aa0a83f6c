"""Experiments: a grid of cases (setting x poisoning fraction x seed), each run independently.

A case loads the data, splits it with its seed (train / validation / test), crafts
m poisoning points, the given ``fraction`` of the poisoned training set (m / (n_train + m), so
m = round(fraction * n_train / (1 - fraction)) and fractions lie in [0, 1)), with ``PoisoningAttack``, draws the same number of
random label flips, and retrains the victim on each to measure test error. ``run_case`` is a pure
function of its arguments, so cases can run in any order, in other processes, or on a cluster:
``run_experiment`` takes any ``concurrent.futures.Executor`` (a ``ProcessPoolExecutor``, or e.g.
Dask's ``distributed.Client.get_executor()`` or Ray's ``ray.util.ActorPool``-backed executors).
Finished cases are stored as they complete; a rerun skips them.
"""
import dataclasses
import hashlib
import json
import os
import time
from math import inf
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

import bgpoison as bg
from .. import datasets, guards
from .results import ResultStore, summarise

DATASETS = ("digits", "blobs", "mnist", "csv")
MODELS = ("adaline", "logistic", "softmax", "mlp", "cnn")
OBJECTIVES = ("generic", "specific")


@dataclass(frozen=True)
class Settings:
    """Everything that defines an experiment except the fraction and the seed."""

    dataset: str = "digits"
    data_path: str = None            # folder of IDX files (mnist; None: the sample) or file (csv)
    classes: tuple = None            # keep these classes, relabelled 0..k-1, e.g. (1, 7)
    label_column: int = -1           # csv only
    n_features: int = 2              # blobs only
    n_train: int = 300
    n_val: int = 300
    n_test: int = None               # None: the rest
    model: str = "softmax"
    hidden: int = 10                 # MLP hidden units, or a tuple: one width per layer
    l2: float = 0.01
    objective: str = "generic"
    class_map: tuple = ()            # error-specific: ((8, 3),) relabels validation 8s as 3s
    steps: int = 60
    lr: float = 0.5
    reversal: str = "stored"
    update: str = "joint"
    gradient: str = "back-gradient"  # or "kkt"
    passes: int = 30
    step: float = 1.0
    grid: float = None
    victim: str = None               # None: the attacker's model
    victim_steps: int = None         # None: steps
    victim_lr: float = None          # None: lr
    warm_start: bool = False         # each update's training starts where the last one ended
    name: str = None                 # a prefix for the label, e.g. "paper" or "strongest"
    batch_size: int = None           # None: full batch; else mini-batch SGD, batches from
    batch_seed: int = 0              # (batch_seed, t) (attacker and victim alike)
    channels: tuple = (4,)           # cnn: filters of each convolution block
    kernel: int = 5                  # cnn: kernel x kernel filters
    pool: int = 2                    # cnn: pool x pool average pooling

    def __post_init__(self):
        for name, value, allowed in (("dataset", self.dataset, DATASETS),
                                     ("model", self.model, MODELS),
                                     ("victim", self.victim or self.model, MODELS),
                                     ("objective", self.objective, OBJECTIVES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.dataset == "csv" and not self.data_path:
            raise ValueError(f"dataset {self.dataset!r} needs a data path (--data-path)")
        if self.objective == "specific" and not self.class_map:
            raise ValueError("the error-specific objective needs a class map, e.g. 8:3")
        if self.classes is not None and len(self.classes) < 2:
            raise ValueError(f"classes must name at least two classes, e.g. 1,7; "
                             f"got {self.classes}")
        if self.class_map and all(a == b for a, b in self.class_map):
            raise ValueError(f"class map {self.class_map} changes no class; map a class to "
                             f"another, e.g. 8:3")
        if isinstance(self.hidden, (tuple, list)):               # one width per hidden layer
            widths = tuple(self.hidden)
            if not widths or any(isinstance(h, bool) or not isinstance(h, (int, np.integer))
                                 or h < 1 for h in widths):
                raise ValueError(f"hidden must be a width >= 1 or a tuple of them, e.g. "
                                 f"(64, 32); got {self.hidden!r}")
            object.__setattr__(self, "hidden", tuple(int(h) for h in widths) if len(widths) > 1
                               else int(widths[0]))
        if not isinstance(self.channels, (tuple, list)) or not self.channels or any(
                isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1
                for c in self.channels):
            raise ValueError(f"channels must be a tuple of integers >= 1, e.g. (4,); "
                             f"got {self.channels!r}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if isinstance(self.batch_seed, bool) or not isinstance(self.batch_seed, (int, np.integer)) \
                or self.batch_seed < 0:
            raise ValueError(f"batch-seed must be an integer >= 0; got {self.batch_seed!r}")
        object.__setattr__(self, "batch_seed", int(self.batch_seed))
        for name in ("n_train", "n_val", "n_test", "steps", "passes", "hidden", "n_features",
                     "victim_steps", "batch_size", "kernel", "pool"):
            value = getattr(self, name)
            if name == "hidden" and isinstance(value, tuple):
                continue                                        # widths checked above
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name.replace('_', '-')} must be an integer >= 1; "
                                 f"got {value!r}")
            if value is not None:
                object.__setattr__(self, name, int(value))     # numpy ints: JSON-ready
        for name, least in (("lr", 0), ("victim_lr", 0), ("step", 0), ("l2", None)):
            value = getattr(self, name)
            if value is None and least is not None:
                continue                                        # not given
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or \
                    not (0 < value < inf if least is not None else 0 <= value < inf):
                raise ValueError(f"{name.replace('_', '-')} must be a finite number "
                                 f"{'>' if least is not None else '>='} 0; got {value!r}")
            object.__setattr__(self, name, float(value))

    def label(self):
        """A short name for tables and legends, e.g. 'softmax generic', 'mlp -> logistic
        generic' or 'softmax generic, reversal=paper' (every non-default method choice)."""
        victim = f" -> {self.victim}" if self.victim and self.victim != self.model else ""
        default = Settings()
        extra = [f"{k}={getattr(self, k)}" for k in ("gradient", "reversal", "update")
                 if getattr(self, k) != getattr(default, k)] + ["warm start"] * self.warm_start
        name = f"{self.name}: " if self.name else ""
        return f"{name}{self.model}{victim} {self.objective}" + "".join(f", {e}" for e in extra)

    @classmethod
    def from_dict(cls, fields):
        """Settings from ``dataclasses.asdict`` output after a JSON round trip (a results row's
        "settings"): JSON lists become tuples again."""
        return cls(**{k: tuple(map(tuple, v)) if k == "class_map" else
                      (tuple(v) if isinstance(v, list) else v) for k, v in fields.items()})

    def identity(self):
        """The fields that name this setting: every field, except those added after version 0.1
        while they hold their defaults, so that earlier results keep their ids and resume."""
        fields = dataclasses.asdict(self)
        for name, default in LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        return fields

    def id(self):
        """A short hash of ``identity()``: cases of one setting share it."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


LATER_FIELDS = {"warm_start": False, "name": None, "batch_size": None, "batch_seed": 0,
                "channels": (4,), "kernel": 5, "pool": 2}


@dataclass(frozen=True)
class Case:
    settings: Settings
    fraction: float
    seed: int
    id: str = field(init=False)

    def __post_init__(self):
        text = json.dumps([self.settings.identity(), self.fraction, self.seed],
                          sort_keys=True)
        object.__setattr__(self, "id", hashlib.sha1(text.encode()).hexdigest()[:16])


def load_data(s):
    """The settings' Dataset (all rows), read once per process for each source: the cases of an
    experiment share it (its arrays are read-only). A file or folder is read again once it
    changes (its modification time and size are part of the key)."""
    stamp = None
    if s.data_path is not None and os.path.exists(s.data_path):
        info = os.stat(s.data_path)
        stamp = (info.st_mtime_ns, info.st_size)
    return _load_data(s.dataset, s.data_path, stamp, s.classes, s.label_column, s.n_features)


@lru_cache(maxsize=4)
def _load_data(dataset, data_path, stamp, classes, label_column, n_features):
    if dataset == "digits":
        data = datasets.digits()
    elif dataset == "blobs":
        data = datasets.blobs(3000, n_features, len(classes or (0, 1)), rng=12345)
    elif dataset == "mnist":
        data = datasets.mnist(data_path)
    else:
        data = datasets.csv(data_path, label_column=label_column)
    if classes and dataset != "blobs":
        data = datasets.select_classes(data, classes)
    data.X.flags.writeable = data.y.flags.writeable = False    # shared by every case
    return data


def make_model(name, d, K, s, image_shape=None):
    """A model named ``name`` for d features and K classes with the settings' l2, hidden
    (MLP) and channels, kernel, pool (CNN, which needs the data's ``image_shape``)."""
    if name in ("adaline", "logistic") and K != 2:
        raise ValueError(f"model {name!r} is binary but the data have {K} classes; "
                         f"choose two with --classes, e.g. 1,7")
    if name == "cnn":
        if image_shape is None:
            raise ValueError(f"model 'cnn' needs images (--dataset digits or mnist); "
                             f"{s.dataset} has none")
        return bg.CNN(d, tuple(image_shape), K, channels=s.channels, kernel=s.kernel,
                      pool=s.pool, l2=s.l2)
    return {"adaline": lambda: bg.Adaline(d, l2=s.l2),
            "logistic": lambda: bg.LogisticRegression(d, l2=s.l2),
            "softmax": lambda: bg.SoftmaxRegression(d, K, l2=s.l2),
            "mlp": lambda: bg.MLP(d, s.hidden, K, l2=s.l2)}[name]()


def split_case(s, seed):
    """(data, (train, val, test) split, rng): the split is a function of the seed alone; the
    returned generator is the one the case's attack continues with."""
    rng = np.random.default_rng(seed)
    data = load_data(s)
    return data, datasets.split(data.X, data.y, (s.n_train, s.n_val, s.n_test), rng=rng), rng


def run_case(case):
    """Run one case and return its result row (a JSON-ready dict)."""
    s, start = case.settings, time.perf_counter()
    data, ((X_tr, y_tr), (X_val, y_val), (X_te, y_te)), rng = split_case(s, case.seed)
    lb, ub = (0.0, 1.0) if s.dataset in ("digits", "blobs", "mnist") else datasets.bounds(X_tr)
    d, K = X_tr.shape[1], data.n_classes
    model = make_model(s.model, d, K, s, data.image_shape)
    victim = make_model(s.victim or s.model, d, K, s, data.image_shape)
    batches = dict(batch_size=s.batch_size, seed=s.batch_seed)
    gd = bg.GradientDescent(s.lr, s.steps, **batches)
    victim_gd = bg.GradientDescent(s.lr if s.victim_lr is None else s.victim_lr,
                                   s.steps if s.victim_steps is None else s.victim_steps,
                                   **batches)
    retarget = _retarget(s, K)
    objective = bg.ErrorGeneric(X_val, y_val) if s.objective == "generic" else \
        bg.ErrorSpecific(X_val, retarget(y_val), y_true=y_val)
    m = n_points(case.fraction, s.n_train)
    y_target = None if s.objective == "generic" else retarget(y_te)

    def score(X_c=None, y_c=None):
        ev = bg.evaluate(victim, victim_gd, X_tr, y_tr, X_te, y_te, X_c, y_c,
                         rng=case.seed, y_target=y_target)
        return ev.test_error, ev.per_class_error.tolist(), ev.target_rate

    row = {"case": case.id, "setting_id": s.id(), "settings": dataclasses.asdict(s),
           "label": s.label(),
           "fraction": case.fraction, "seed": case.seed, "n_points": m}
    clean = score()
    row.update(_scores("clean", clean))
    if m == 0:
        row.update(_scores("attack", clean), **_scores("flip", clean), history=[],
                   n_hypergradients=0, n_trainings=0)
    else:
        paths = []
        gradient = bg.KKTGradient() if s.gradient == "kkt" else bg.BackGradient(s.reversal)
        attack = bg.PoisoningAttack(model, gd, objective, m, lb, ub, update=s.update,
                                    gradient=gradient, step=s.step, max_passes=s.passes,
                                    grid=s.grid, callback=lambda r: paths.append(r.X_c.copy()),
                                    warm_start=s.warm_start)
        result = attack.run(X_tr, y_tr, rng=rng)
        # the baseline draws from its own stream, so every setting of a seed gets the same flips
        flips = bg.flip_labels(X_tr, y_tr, m, K, np.random.default_rng([case.seed, 1]),
                               attack.label_map)
        row.update(_scores("attack", score(result.X_c, result.y_c)),
                   **_scores("flip", score(*flips)), history=result.history,
                   n_hypergradients=result.n_hypergradients, n_trainings=result.n_trainings,
                   X_c=_round(result.X_c), X_c0=_round(result.X_c0),
                   y_c=result.y_c.tolist(), y_c0=y_tr[result.source].tolist(),
                   image_shape=data.image_shape, classes=list(data.classes),
                   attack_stopped=result.stopped)
        if d == 2:
            row["paths"] = _round(np.array([result.X_c0] + paths))
    row["seconds"] = time.perf_counter() - start
    return row


def run_experiment(settings, fractions, seeds, out, executor=None, progress=None):
    """Run every (settings, fraction, seed) case not yet stored in folder ``out``.

    ``settings``: one Settings or a list. ``executor``: any concurrent.futures.Executor (e.g. a
    ``ProcessPoolExecutor`` or Dask's ``client.get_executor()``), or None to run here.
    ``progress(done, total)`` is called as cases finish. Every case's sizes are checked before
    any case runs. Rows are written here, by the calling process, as cases finish; if a case
    fails, the cases that finished are kept and the first error is raised once the running ones
    are done. Returns the summary.
    """
    store = ResultStore(out)
    settings = [settings] if isinstance(settings, Settings) else list(settings)
    cases = [Case(s, float(f), int(seed)) for s in settings for f in fractions for seed in seeds]
    cases = list({c.id: c for c in cases}.values())       # a fraction given twice runs once
    if not cases:
        raise ValueError("no cases to run: give at least one setting, fraction and seed")
    for s in dict.fromkeys(settings):
        check_sizes(s, fractions)
    todo = [c for c in cases if c.id not in store.done()]
    done = len(cases) - len(todo)
    if progress:
        progress(done, len(cases))
    error = None
    if executor is None:
        for case in todo:
            store.add(run_case(case))
            done += 1
            if progress:
                progress(done, len(cases))
    else:
        futures = [executor.submit(run_case, c) for c in todo]
        for future in as_completed(futures):
            try:
                row = future.result()
            except Exception as err:                   # keep the others; raise the first later
                if error is None:
                    error = err
                    for f in futures:
                        f.cancel()                     # those not started yet
                continue
            store.add(row)
            done += 1
            if progress:
                progress(done, len(cases))
    ids = {c.id for c in cases}
    summary = summarise([r for r in store.reload() if r["case"] in ids])
    store.write_summary(summary)
    if error is not None:
        raise error
    return summary


def check_sizes(s, fractions):
    """ValueError unless the data hold n_train + n_val (+ n_test) rows, every fraction's
    poisoning points fit in the training set (points are cloned from distinct training rows),
    and the models and class map suit the data's classes."""
    data = load_data(s)
    if data.n_classes < 2:
        raise ValueError(f"{data.name} holds a single class ({data.classes[0]}); poisoning "
                         f"needs at least two")
    for name in (s.model, s.victim or s.model):          # ValueError if it does not suit the data
        make_model(name, data.X.shape[1], data.n_classes, s, data.image_shape)
    _retarget(s, data.n_classes)
    if s.gradient == "back-gradient" and s.reversal == "stored":        # not after hours
        guards.check_memory(s.steps + 1, make_model(s.model, data.X.shape[1], data.n_classes,
                                                    s, data.image_shape).n_params, s.reversal)
    if s.batch_size is not None and s.batch_size > s.n_train:
        raise ValueError(f"batch-size {s.batch_size} is larger than the {s.n_train} training "
                         f"rows; use at most n-train")
    need = s.n_train + s.n_val + (s.n_test or 0)
    if need > len(data.y):
        raise ValueError(f"n_train + n_val + n_test = {need} rows are needed but {data.name} "
                         f"holds {len(data.y)}")
    for f in fractions:
        m = n_points(f, s.n_train)
        if m > s.n_train:
            raise ValueError(f"fraction {f} needs {m} poisoning points, cloned from distinct "
                             f"training rows, but n_train is {s.n_train}; use a fraction of at "
                             f"most 0.5 or more training rows")


def _retarget(s, K):
    mapping = dict(s.class_map)
    bad = [c for pair in mapping.items() for c in pair if not 0 <= c < K]
    if bad:
        raise ValueError(f"class map {s.class_map} names classes outside 0..{K - 1}: {bad}")
    return lambda y: np.array([mapping.get(k, k) for k in y.tolist()], dtype=np.int64)


def _scores(prefix, scores):
    error, per_class, target = scores                   # NaN (a class absent) -> null in JSON
    return {f"{prefix}_error": error,
            f"{prefix}_per_class": [None if np.isnan(e) else e for e in per_class],
            f"{prefix}_target_rate": None if target is None or np.isnan(target) else target}


def _round(a):
    return np.round(np.asarray(a, dtype=float), 6).tolist()


def n_points(fraction, n_train):
    """m with m / (n_train + m) closest to ``fraction``: round(fraction n / (1 - fraction))."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"poisoning fractions must lie in [0, 1); got {fraction}")
    return int(round(fraction * n_train / (1.0 - fraction)))

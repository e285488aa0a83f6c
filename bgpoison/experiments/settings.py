"""What names an experiment: ``Settings`` (everything but the fraction and the seed) and a
``Case`` (a setting at one poisoning fraction and one seed), each with a stable id.

A setting checks its fields on creation and gives one-line errors; its id is a hash of its
fields, so a rerun finds the cases already stored. ``bgpoison.experiments.experiment`` runs them.
"""
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from math import inf

import numpy as np

DATASETS = ("digits", "blobs", "mnist", "csv")
MODELS = ("adaline", "logistic", "svm", "softmax", "mlp", "cnn")
OBJECTIVES = ("generic", "specific")
DEFENCES = ("sphere", "slab", "loss", "knn")
NORMS = ("2", "inf")


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
    defence: str = None              # sanitise D_tr ∪ D_c before every victim trains (DEFENCES)
    adaptive: bool = False           # the attack stays in the defence's region (sphere, slab)
    max_distance: float = None       # the attack stays within this distance of its clones
    norm: str = "2"                  # ... in this norm, "2" or "inf"

    def __post_init__(self):
        for name, value, allowed in (("dataset", self.dataset, DATASETS),
                                     ("model", self.model, MODELS),
                                     ("victim", self.victim or self.model, MODELS),
                                     ("objective", self.objective, OBJECTIVES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if not isinstance(self.norm, str) and self.norm in (2, inf):        # 2 or np.inf
            object.__setattr__(self, "norm", "2" if self.norm == 2 else "inf")
        if self.defence not in (None,) + DEFENCES or self.norm not in NORMS:
            name, value, allowed = ("defence", self.defence, DEFENCES) if self.norm in NORMS \
                else ("norm", self.norm, NORMS)
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.adaptive and self.defence not in ("sphere", "slab"):
            raise ValueError(f"adaptive attacks adapt to a defence with a region, sphere or "
                             f"slab; got defence {self.defence!r}")
        if self.adaptive and self.max_distance is not None:
            raise ValueError("give an adaptive attack or a max distance, not both (the attack "
                             "takes one constraint)")
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
        for name, least in (("lr", 0), ("victim_lr", 0), ("step", 0), ("l2", None),
                            ("max_distance", 0)):
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
        extra += [f"defence={self.defence}"] * bool(self.defence) + ["adaptive"] * self.adaptive
        if self.max_distance is not None:
            extra.append(f"max distance {self.max_distance:g} (L{self.norm})")
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
                "channels": (4,), "kernel": 5, "pool": 2, "defence": None, "adaptive": False,
                "max_distance": None, "norm": "2"}


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

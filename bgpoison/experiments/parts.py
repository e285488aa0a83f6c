"""The parts of a case, built from its Settings: the data set (read once per process), the
attacker's and the victim's models, the defence and the region an adaptive attack stays in."""
import os
from functools import lru_cache

import numpy as np

import bgpoison as bg
from .. import constraints, datasets, defences


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
    if name in ("adaline", "logistic", "svm") and K != 2:
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
            "svm": lambda: bg.LinearSVM(d, l2=s.l2),
            "softmax": lambda: bg.SoftmaxRegression(d, K, l2=s.l2),
            "mlp": lambda: bg.MLP(d, s.hidden, K, l2=s.l2)}[name]()


# Every defence rejects about the same share of clean rows: the filters keep the 95 % quantile
# of their score, the loss filter drops 5 % (k-NN relabelling has no such knob; Paudice et
# al.'s k = 10, agreement 0.5).
DEFENCE_LEVEL = 0.95


def make_defence(s, victim, victim_gd):
    """The settings' defence (None without one); the loss filter trains the victim's model."""
    return {None: lambda: None, "sphere": lambda: defences.Sphere(DEFENCE_LEVEL),
            "slab": lambda: defences.Slab(DEFENCE_LEVEL),
            "loss": lambda: defences.LossFilter(victim, victim_gd, 1 - DEFENCE_LEVEL),
            "knn": lambda: defences.KNNLabels(10, 0.5)}[s.defence]()


def make_constraint(s, defence, X_tr, y_tr):
    """The attack's region: the defence's, fitted on D_tr (adaptive), a distance limit, or None."""
    if s.adaptive:
        return defence.constraint(X_tr, y_tr)
    if s.max_distance is not None:
        return constraints.Distance(s.max_distance, 2 if s.norm == "2" else np.inf)
    return None

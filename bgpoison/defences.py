"""Defences: sanitisers the defender runs on the training set before the learner trains.

One interface for all four:

    fitted = defence.fit(X, y)          a fitted copy (``defence`` itself stays unfitted), on
                                        what the defender has: the received training set, or
                                        a trusted clean subset
    fitted.keep(X, y)      -> (n,) bool True where a row reaches the learner unchanged
    fitted.sanitise(X, y)  -> (X', y', keep)   what the learner trains on
    defence.constraint(X, y) -> region  what the defence accepts when fitted on (X, y)
                                        (Sphere, Slab; see ``bgpoison.constraints``)

The filters (Sphere, Slab, LossFilter) drop the rows that fail: X' = X[keep]. KNNLabels drops
nothing; it relabels, and ``keep`` is False on the relabelled rows. Either way ``~keep`` marks
the rows the defence acted on, which is what a detection rate counts.
"""
from dataclasses import dataclass, field, replace

import numpy as np

from . import checks
from .constraints import ClassBall, ClassSlab


def _fraction(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in the open interval (0, 1); got {value!r}")
    return float(value)


def _data(X, y, n_features=None, n_classes=None):
    X = checks.as_matrix(X, "X", n_features)
    return X, checks.as_labels(y, "y", n_classes, X.shape[0])


def _centroids(X, y):
    """mu_k = mean of the rows of class k, (K, d); every class 0..K-1 needs a row."""
    K = int(y.max()) + 1
    counts = np.bincount(y, minlength=K)
    if np.any(counts == 0):
        raise ValueError(f"every class 0..{K - 1} needs at least one row to fit on; class(es) "
                         f"{np.flatnonzero(counts == 0).tolist()} have none")
    return np.stack([X[y == k].mean(axis=0) for k in range(K)])


def _class_quantiles(values, y, K, q):
    """r_k = the q-quantile of ``values`` over the rows of class k, (K,)."""
    return np.array([np.quantile(values[y == k], q) for k in range(K)])


class _Filter:
    """Shared by the filters: sanitise = drop the rows ``keep`` rejects."""

    def sanitise(self, X, y):
        keep = self.keep(X, y)
        X, y = _data(X, y)
        return X[keep], y[keep], keep

    def _fitted(self):
        if self.fitted is None:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(X, y) first, "
                             f"and use the copy it returns")
        return self.fitted


@dataclass(frozen=True, eq=False)
class _RegionFilter(_Filter):
    """Shared by Sphere and Slab: keep = the fitted region contains the row."""

    quantile: float = 0.95
    fitted: dict = field(default=None, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "quantile", _fraction(self.quantile, "quantile"))

    def keep(self, X, y):
        region = self.region()
        X, y = _data(X, y, region.n_features, region.n_classes)
        return region.contains(X, y, None)

    def constraint(self, X, y):
        """The region this defence accepts when fitted on (X, y): the adaptive attack's."""
        return self.fit(X, y).region()


@dataclass(frozen=True, eq=False)
class Sphere(_RegionFilter):
    """Keep x if ||x - mu_y||_2 <= r_y; mu_y the class centroid of the fitted data, r_y the
    ``quantile`` of its rows' distances to it (Koh et al.'s L2 defence). Any number of classes."""

    def fit(self, X, y):
        X, y = _data(X, y)
        mu = _centroids(X, y)                                          # (K, d)
        dist = np.linalg.norm(X - mu[y], axis=1)                       # (n,)
        return replace(self, fitted={"centres": mu, "radii": _class_quantiles(
            dist, y, len(mu), self.quantile)})

    def region(self):
        f = self._fitted()
        return ClassBall(f["centres"], f["radii"])


@dataclass(frozen=True, eq=False)
class Slab(_RegionFilter):
    """Keep x if |<x - mu_y, u_y>| <= s_y, with u_y the unit vector from the mean of the other
    classes' centroids to mu_y, and s_y the ``quantile`` of |<x_i - mu_y, u_y>| over class y.

    Binary, u_1 = -u_0 = (mu_1 - mu_0) / ||mu_1 - mu_0||: Koh et al.'s slab. With K classes
    each class gets its own slab against the mean of the other K - 1 centroids."""

    def fit(self, X, y):
        X, y = _data(X, y)
        mu = _centroids(X, y)                                          # (K, d)
        K = len(mu)
        if K < 2:
            raise ValueError("Slab needs at least two classes to fit on; got one")
        others = (mu.sum(axis=0) - mu) / (K - 1)                       # (K, d)
        u = mu - others
        norms = np.linalg.norm(u, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("Slab: two class centroids coincide, so the slab has no direction")
        u = u / norms                                                  # (K, d) unit rows
        offset = np.abs(np.sum((X - mu[y]) * u[y], axis=1))            # (n,)
        return replace(self, fitted={"centres": mu, "directions": u,
                                     "widths": _class_quantiles(offset, y, K, self.quantile)})

    def region(self):
        f = self._fitted()
        return ClassSlab(f["centres"], f["directions"], f["widths"])


@dataclass(frozen=True, eq=False)
class LossFilter(_Filter):
    """Train ``model`` with ``gd`` on the fitted data, drop the ``fraction`` of rows with the
    highest loss ell(x_i, y_i; w); with ``iterations`` > 1 retrain on the kept rows and drop
    again from all rows, each time (the TRIM idea, Jagielski et al. 2018). The learner then
    retrains on what is kept. ``keep`` on new data: loss <= the fitted data's threshold.
    ``seed`` gives w_0 (``model.init_params``)."""

    model: object
    gd: object
    fraction: float
    iterations: int = 1
    seed: int = 0
    fitted: dict = field(default=None, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "fraction", _fraction(self.fraction, "fraction"))
        object.__setattr__(self, "iterations",
                           checks.positive_int(self.iterations, "iterations"))

    def _losses(self, w, X, y):
        return self.model.sample_losses(self.model.forward(w, X), self.model.targets(y))  # (n,)

    def fit(self, X, y):
        X, y = _data(X, y, self.model.n_features, self.model.n_classes)
        n = len(y)
        n_kept = n - int(round(self.fraction * n))
        if n_kept < 1:
            raise ValueError(f"fraction {self.fraction} of {n} rows drops them all; use a "
                             f"smaller fraction or more rows")
        w0 = self.model.init_params(np.random.default_rng(self.seed))
        kept = np.ones(n, dtype=bool)
        for _ in range(self.iterations):
            w = self.gd.run(self.model, w0, X[kept], y[kept])
            losses = self._losses(w, X, y)
            threshold = np.sort(losses)[n_kept - 1]                   # the largest kept loss
            kept = losses <= threshold
        return replace(self, fitted={"w": w, "threshold": threshold})

    def keep(self, X, y):
        f = self._fitted()
        X, y = _data(X, y, self.model.n_features, self.model.n_classes)
        return self._losses(f["w"], X, y) <= f["threshold"]


@dataclass(frozen=True, eq=False)
class KNNLabels:
    """Label sanitisation (Paudice, Muñoz-González and Lupu, 2018): among the k nearest fitted
    rows of x (Euclidean; x itself left out when relabelling the fitted data), let f_j be the
    fraction with label j and j* = argmax_j f_j; relabel y -> j* if f_j* >= ``agreement`` and
    f_j* > f_y (a tie keeps y). Nothing is removed: ``keep`` is False on relabelled rows."""

    k: int = 10
    agreement: float = 0.5
    fitted: dict = field(default=None, repr=False)
    chunk = 1024                                    # rows per block of the distance matrix

    def __post_init__(self):
        object.__setattr__(self, "k", checks.positive_int(self.k, "k"))
        a = self.agreement
        if isinstance(a, bool) or not isinstance(a, (int, float, np.number)) or not 0 < a <= 1:
            raise ValueError(f"agreement must be a number in (0, 1]; got {a!r}")

    def fit(self, X, y):
        X, y = _data(X, y)
        return replace(self, fitted={"X": X.copy(), "y": y.copy()})

    def relabel(self, X, y):
        """The sanitised labels, (n,)."""
        if self.fitted is None:
            raise ValueError("KNNLabels is not fitted: call fit(X, y) first, and use the copy "
                             "it returns")
        R, y_R = self.fitted["X"], self.fitted["y"]                    # (N, d), (N,)
        X, y = _data(X, y, R.shape[1])
        itself = X.shape == R.shape and np.array_equal(X, R)           # relabelling the fit data
        if self.k > len(y_R) - itself:
            raise ValueError(f"k must be at most {len(y_R) - itself} (the fitted rows "
                             f"{'other than the row itself' if itself else ''}); got {self.k}")
        K = int(max(y.max(), y_R.max())) + 1
        out = y.copy()
        for start in range(0, len(y), self.chunk):
            rows = slice(start, start + self.chunk)
            D2 = (np.sum(X[rows] ** 2, axis=1)[:, None] - 2.0 * X[rows] @ R.T
                  + np.sum(R ** 2, axis=1)[None, :])                   # (c, N) squared distances
            if itself:
                D2[np.arange(D2.shape[0]), start + np.arange(D2.shape[0])] = np.inf
            near = np.argpartition(D2, self.k - 1, axis=1)[:, :self.k]  # (c, k)
            f = np.stack([np.bincount(l, minlength=K) for l in y_R[near]]) / self.k   # (c, K)
            best = f.argmax(axis=1)
            own = f[np.arange(len(best)), y[rows]]
            change = (f.max(axis=1) >= self.agreement) & (f.max(axis=1) > own)
            out[rows] = np.where(change, best, y[rows])
        return out

    def keep(self, X, y):
        return self.relabel(X, y) == _data(X, y)[1]

    def sanitise(self, X, y):
        y_new = self.relabel(X, y)
        return checks.as_matrix(X, "X"), y_new, y_new == _data(X, y)[1]

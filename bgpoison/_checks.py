"""Input checks shared by every public entry point.

Each check returns a clean float64 / int64 array or raises ``ValueError`` with a message that
says what was expected and what arrived. Internal loops call the unchecked building blocks
after their entry point has checked once.
"""
import numpy as np


def real(a, name):
    """``a`` as a float64 array; ValueError for complex numbers or anything not numeric."""
    if np.iscomplexobj(a):
        raise ValueError(f"{name} must hold real numbers; got complex values")
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold numbers; {err}") from None


def generator(rng, name="rng"):
    """``rng`` as a numpy Generator: a Generator, or an int seed (not a bool)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise ValueError(f"{name} must be a numpy.random.Generator or an int seed; got "
                         f"{type(rng).__name__} {rng!r}")
    return np.random.default_rng(rng)


def as_matrix(X, name, n_features=None):
    """``X`` as a finite float64 array of shape (n, n_features)."""
    X = real(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features); got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (n_features); got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row; got shape {X.shape}")
    finite(X, name)
    return X


def as_vector(v, name, size):
    """``v`` as a finite float64 vector of length ``size``."""
    v = real(v, name)
    if v.shape != (size,):
        raise ValueError(f"{name} must be a flat vector of shape ({size},); got shape {v.shape}")
    finite(v, name)
    return v


def as_labels(y, name, n_classes, n_rows):
    """``y`` as int64 labels in 0..n_classes-1 (any label >= 0 if n_classes is None)."""
    y = np.asarray(y)
    if np.iscomplexobj(y):
        raise ValueError(f"{name} must hold integer labels; got complex values")
    if y.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), one label per row; got {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)) \
                or np.any(y != np.round(y)):
            raise ValueError(f"{name} must hold integer labels; got {y.dtype} values")
    y = y.astype(np.int64)
    top = np.iinfo(np.int64).max if n_classes is None else n_classes - 1
    if y.size and (y.min() < 0 or y.max() > top):
        expected = "labels >= 0" if n_classes is None else f"labels in 0..{top}"
        raise ValueError(f"{name} must hold {expected}; got values from {y.min()} to {y.max()}")
    return y


def finite(a, name):
    if not np.all(np.isfinite(a)):
        bad = np.size(a) - np.count_nonzero(np.isfinite(a))
        raise ValueError(f"{name} must be finite; it holds {bad} NaN or infinite value(s)")


def positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def nonnegative(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}") from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return value

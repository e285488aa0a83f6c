"""Judge an attack: retrain a victim on D_tr and D_c and measure its test error.

The victim may be another model or a longer training schedule than the attacker assumed
(transferability: craft on one model, evaluate on another). With a ``defence`` (see
``bgpoison.defences``) the victim trains on what the defence lets through, and the evaluation
counts what it caught:

    detection rate       = |poisoning rows removed or relabelled| / m
    false-positive rate  = |clean training rows removed or relabelled| / n
"""
from dataclasses import dataclass

import numpy as np

from . import checks


@dataclass
class Evaluation:
    """test_error: overall; per_class_error[k]: error on test rows of class k (NaN if none);
    target_rate: for error-specific attacks, the fraction of targeted rows predicted as their
    target label (None otherwise); w: the victim's trained weights. With a defence:
    detection_rate (NaN without poisoning rows), false_positive_rate, and kept, the (n + m,)
    mask over [D_tr; D_c] of the rows that reached the victim unchanged (None without one)."""

    test_error: float
    per_class_error: np.ndarray
    target_rate: float
    w: np.ndarray
    detection_rate: float = None
    false_positive_rate: float = None
    kept: np.ndarray = None


def evaluate(model, gd, X_tr, y_tr, X_test, y_test, X_c=None, y_c=None, *, rng=None, w0=None,
             y_target=None, defence=None):
    """Train ``model`` with ``gd`` on D_tr (plus D_c if given) and score it on the test set.

    ``w0`` (or ``model.init_params(rng)``) starts training. ``y_target`` gives, per test row,
    the label an error-specific attacker wants; rows whose target equals the true label are
    left out of ``target_rate``. ``defence`` sanitises D_tr ∪ D_c before training: a fitted
    one (e.g. on a trusted clean set) is used as it is; an unfitted one is first fitted on
    D_tr ∪ D_c, the received training set (the defender cannot tell the rows apart).
    """
    X_tr = checks.as_matrix(X_tr, "X_tr", model.n_features)
    y_tr = checks.as_labels(y_tr, "y_tr", model.n_classes, X_tr.shape[0])
    X_test = checks.as_matrix(X_test, "X_test", model.n_features)
    y_test = checks.as_labels(y_test, "y_test", model.n_classes, X_test.shape[0])
    if X_c is not None:
        X_c = checks.as_matrix(X_c, "X_c", model.n_features)
        y_c = checks.as_labels(y_c, "y_c", model.n_classes, X_c.shape[0])
        X_tr, y_tr = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
    poison = np.arange(len(y_tr)) >= len(y_tr) - (0 if X_c is None else len(y_c))   # (n + m,)
    kept = detection = false_positive = None
    if defence is not None:
        if defence.fitted is None:
            defence = defence.fit(X_tr, y_tr)
        X_tr, y_tr, kept = defence.sanitise(X_tr, y_tr)
        detection = float(np.mean(~kept[poison])) if poison.any() else float("nan")
        false_positive = float(np.mean(~kept[~poison]))
    if y_target is not None:
        y_target = checks.as_labels(y_target, "y_target", model.n_classes, len(y_test))
    if w0 is None:
        if rng is None:                              # no unseeded randomness: results repeat
            raise ValueError("evaluate needs rng (a numpy Generator or an int seed) to draw the "
                             "victim's initial weights, or w0 to start from")
        w0 = model.init_params(checks.generator(rng))
    w = gd.run(model, w0, X_tr, y_tr)
    predicted = model.predict(w, X_test)                                # (n_test,)
    wrong = predicted != y_test
    per_class = np.array([wrong[y_test == k].mean() if np.any(y_test == k) else np.nan
                          for k in range(model.n_classes)])
    target_rate = None
    if y_target is not None:
        aimed = y_target != y_test                   # rows whose target differs from the truth
        hits = predicted[aimed] == y_target[aimed]
        target_rate = float(hits.mean()) if aimed.any() else float("nan")
    return Evaluation(float(wrong.mean()), per_class, target_rate, w, detection, false_positive,
                      kept)

"""Experiments: a grid of cases (setting x poisoning fraction x seed), each run independently
(``Settings`` and ``Case`` are defined in ``bgpoison.experiments.settings``).

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
import time
from concurrent.futures import as_completed

import numpy as np

import bgpoison as bg
from .. import checks, datasets
from .parts import load_data, make_constraint, make_defence, make_model  # noqa: F401
from .results import ResultStore, summarise
from .settings import Case, Settings


class AttackFailed(RuntimeError):
    """The attack stopped before it moved its points (its first hypergradient failed): its
    "attack" would be the random starting points, so the case has no result."""


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
    defence = make_defence(s, victim, victim_gd)     # fitted on D_tr ∪ D_c of each victim

    def score(X_c=None, y_c=None):
        return bg.evaluate(victim, victim_gd, X_tr, y_tr, X_te, y_te, X_c, y_c,
                           rng=case.seed, y_target=y_target, defence=defence)

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
        # the settings' fixed step and pass-gain stop (the paper's), not the library's
        # adaptive step and relative stop: the presets reproduce the paper's protocol
        attack = bg.PoisoningAttack(model, gd, objective, m, lb, ub, update=s.update,
                                    gradient=gradient, step=s.step, max_passes=s.passes,
                                    adapt_step=False, rel_tol=0.0, grid=s.grid,
                                    callback=lambda r: paths.append(r.X_c.copy()),
                                    warm_start=s.warm_start,
                                    constraint=make_constraint(s, defence, X_tr, y_tr))
        result = attack.run(X_tr, y_tr, rng=rng)
        if result.stopped and len(result.history) == 1:          # not one accepted move
            raise AttackFailed(f"the attack never moved its points (they would be stored as "
                               f"the un-optimised start): {result.stopped}")
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
        model = make_model(s.model, data.X.shape[1], data.n_classes, s, data.image_shape)
        acts = model.forward(np.zeros(model.n_params), data.X[:s.n_train])   # one step's
        checks.check_memory(s.steps, 8 * model.n_params + sum(a.nbytes for a in acts.values()),
                            s.reversal)
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


def _scores(prefix, ev):
    """A row's fields for one evaluation; NaN (a class absent) -> null in JSON. With a defence
    also the detection and false-positive rates."""
    target = ev.target_rate
    out = {f"{prefix}_error": ev.test_error,
           f"{prefix}_per_class": [None if np.isnan(e) else e for e in ev.per_class_error.tolist()],
           f"{prefix}_target_rate": None if target is None or np.isnan(target) else target}
    if ev.kept is not None:
        out[f"{prefix}_detection"] = None if np.isnan(ev.detection_rate) else ev.detection_rate
        out[f"{prefix}_false_positive"] = ev.false_positive_rate
    return out


def _round(a):
    return np.round(np.asarray(a, dtype=float), 6).tolist()


def n_points(fraction, n_train):
    """m with m / (n_train + m) closest to ``fraction``: round(fraction n / (1 - fraction))."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"poisoning fractions must lie in [0, 1); got {fraction}")
    return int(round(fraction * n_train / (1.0 - fraction)))

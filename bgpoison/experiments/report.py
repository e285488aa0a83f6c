"""Tables and figures from an experiment's saved results (``results.jsonl``).

Figures (PNG, headless): test error vs poisoning fraction (attack vs random flips, one line per
setting); for image data the poisoning points next to the points they started from; for 2-D data
the decision boundary before and after, with the points' paths.
"""
from pathlib import Path

import numpy as np

from .results import RESULTS, complete, load, summarise

MAX_CURVE_SETTINGS = 4      # more settings than this: the table and summary.csv only


def print_table(summary, file=None):
    """Fraction -> mean ± std test error (attack, random flips, clean), one block per setting;
    the target rates of an error-specific attack, and the detection rate of the poisoning
    points and the share of clean points removed, where a defence ran."""
    specific = any("attack_target_rate_mean" in e for e in summary)
    defended = any("attack_false_positive_mean" in e for e in summary)
    width = max([len("setting")] + [len(e["setting"]) for e in summary])
    head = f"{'setting':{width}} {'fraction':>8} {'points':>6} {'attack':>15} " \
           f"{'random flips':>15} {'clean':>15}" + \
           (f" {'target rate':>15} {'flip target':>15}" if specific else "") + \
           (f" {'detected':>15} {'clean removed':>15}" if defended else "")
    print(head, file=file)
    for e in summary:
        cells = [_pm(e, "attack_error"), _pm(e, "flip_error"), _pm(e, "clean_error")]
        if specific:
            cells += [_pm(e, "attack_target_rate"), _pm(e, "flip_target_rate")]
        if defended:
            cells += [_pm(e, "attack_detection"), _pm(e, "attack_false_positive")]
        print(f"{e['setting']:{width}} {e['fraction']:8.3f} {e['n_points']:6d} " +
              " ".join(f"{c:>15}" for c in cells), file=file)


def _pm(entry, key):
    if key + "_mean" not in entry:
        return "-"
    return f"{entry[key + '_mean']:.3f} ± {entry[key + '_std']:.3f}"


FIGURES = ("error_vs_fraction.png", "poisoning_points.png", "decision_boundary.png")


def draw_figures(folder):
    """Draw every figure the results in ``folder`` support; returns the paths written. Rows
    that lack a field (another version's) are left out, unless no other row is left."""
    folder = Path(folder)
    rows = load(folder / RESULTS)
    if not rows:
        raise ValueError(f"{folder / RESULTS} holds no finished cases yet")
    rows = [row for row in rows if complete(row)] or rows
    summary = summarise(rows)                          # ValueError if a row lacks a field
    try:
        return _draw(folder, rows, summary)
    except (KeyError, TypeError, IndexError) as err:
        raise ValueError(f"{folder / RESULTS}: a results row lacks or garbles a field the "
                         f"figures need ({type(err).__name__}: {err}); was it written by this "
                         f"version of bgpoison?") from err


def _draw(folder, rows, summary):
    from . import plots
    curves = {}
    for label in dict.fromkeys(e["setting"] for e in summary):
        entries = [e for e in summary if e["setting"] == label]
        for kind, name in (("attack_error", f"{label}: attack"),
                           ("flip_error", f"{label}: random flips")):
            curves[name] = {k: np.array([e[f"{kind}{suffix}"] for e in entries])
                            for k, suffix in (("mean", "_mean"), ("std", "_std"))}
            curves[name]["fractions"] = np.array([e["fraction"] for e in entries])
    written = []
    if len(curves) <= 2 * MAX_CURVE_SETTINGS:          # more lines than that are unreadable
        written.append(plots.error_curves(folder / "error_vs_fraction.png", curves,
                                          title="test error vs poisoning (mean ± std over seeds)"))
    poisoned = [r for r in rows if r["n_points"] > 0]
    if poisoned:
        best = max(poisoned, key=lambda r: (r["n_points"], -r["seed"]))
        if best.get("image_shape"):
            name = best.get("classes") or list(range(max(best["y_c"] + best["y_c0"]) + 1))
            written.append(plots.poisoning_images(
                folder / "poisoning_points.png", np.array(best["X_c0"]), np.array(best["X_c"]),
                tuple(best["image_shape"]), labels_before=[name[k] for k in best["y_c0"]],
                labels_after=[name[k] for k in best["y_c"]],
                title=f"{best['label']}, seed {best['seed']}"))
        if "paths" in best:
            written.append(_boundary(folder / "decision_boundary.png", best))
    return written


def _boundary(path, row):
    """Re-create the case's split (it is a function of the seed) and retrain clean/poisoned."""
    import bgpoison as bg
    from . import experiment, plots
    s = experiment.Settings.from_dict(row["settings"])
    data, ((X_tr, y_tr), _, _), _ = experiment.split_case(s, row["seed"])
    victim = experiment.make_model(s.victim or s.model, 2, data.n_classes, s)
    gd = bg.GradientDescent(s.lr if s.victim_lr is None else s.victim_lr,
                            s.steps if s.victim_steps is None else s.victim_steps)
    X_c, y_c = np.array(row["X_c"]), np.array(row["y_c"])
    w_clean = bg.evaluate(victim, gd, X_tr, y_tr, X_tr, y_tr, rng=row["seed"]).w
    w_poisoned = bg.evaluate(victim, gd, X_tr, y_tr, X_tr, y_tr, X_c, y_c, rng=row["seed"]).w
    return plots.decision_boundary(path, victim, w_clean, w_poisoned, X_tr, y_tr, X_c, y_c,
                                   paths=np.array(row["paths"]),
                                   title=f"{row['label']}, {row['n_points']} points")

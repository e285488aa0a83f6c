"""Defences in the experiments: Settings fields that keep old ids, the CLI flags, the preset."""
import io
import json

import numpy as np
import pytest

from bgpoison.experiments import presets, report
from bgpoison.experiments.experiment import run_case, run_experiment
from bgpoison.experiments.flags import build_parser
from bgpoison.experiments.cli import explicit_settings
from bgpoison.experiments.settings import Case, Settings


def test_new_fields_at_their_defaults_keep_the_stored_ids():
    # ids computed before the defence fields existed (commit a81a420)
    assert Settings().id() == "141021e797bf"
    assert [s.id() for s in presets.get("binary")[0]] == \
        ["7742692a7730", "02c2ba0aa0bb", "2cdeec4acb01"]
    assert Settings(defence="sphere").id() != Settings().id()


@pytest.mark.parametrize("fields, match", [
    (dict(defence="median"), "defence must be one of"),
    (dict(adaptive=True), "adaptive attacks adapt to a defence with a region"),
    (dict(defence="knn", adaptive=True), "sphere or slab"),
    (dict(defence="sphere", adaptive=True, max_distance=1.0), "not both"),
    (dict(max_distance=0.0), "max-distance must be a finite number > 0"),
    (dict(norm="1"), "norm must be one of 2, inf"),
])
def test_bad_defence_settings_get_one_clear_value_error(fields, match):
    with pytest.raises(ValueError, match=match):
        Settings(**fields)


def test_norm_given_as_a_number_is_stored_as_its_name():
    assert Settings(max_distance=1.0, norm=np.inf).norm == "inf"
    assert Settings(max_distance=1.0, norm=2).norm == "2"


def test_cli_flags_name_the_settings_fields():
    args = build_parser().parse_args(["run", "--defence", "slab", "--adaptive",
                                      "--model", "svm", "--classes", "1,7"])
    assert explicit_settings(args) == {"defence": "slab", "adaptive": True, "model": "svm",
                                       "classes": (1, 7)}
    args = build_parser().parse_args(["run", "--max-distance", "0.5", "--norm", "inf"])
    assert explicit_settings(args) == {"max_distance": 0.5, "norm": "inf"}


SMALL = dict(dataset="digits", classes=(1, 7), n_train=60, n_val=60, n_test=100,
             model="logistic", steps=30, lr=0.3, passes=2)


def test_a_case_with_a_defence_reports_its_rates_for_every_victim():
    row = run_case(Case(Settings(**SMALL, defence="sphere", adaptive=True), 0.1, 0))
    json.dumps(row)                                          # JSON-ready
    for prefix in ("clean", "flip", "attack"):
        assert 0.0 <= row[f"{prefix}_false_positive"] <= 1.0
    assert row["clean_detection"] is None                    # no poisoning rows to detect
    for prefix in ("flip", "attack"):
        assert 0.0 <= row[f"{prefix}_detection"] <= 1.0


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_a_distance_limited_case_keeps_its_points_within_eps(norm):
    eps = 0.3
    row = run_case(Case(Settings(**SMALL, max_distance=eps, norm=norm), 0.1, 0))
    moved = np.linalg.norm(np.array(row["X_c"]) - np.array(row["X_c0"]), axis=1,
                           ord=2 if norm == "2" else np.inf)
    # stored rounded to 6 decimals: up to 0.5e-6 per coordinate, sqrt(64) of them in L2
    assert np.all(moved <= eps + 8 * 0.5e-6)
    assert moved.max() > eps / 2                             # the attack did move


def test_the_defences_preset_runs_fast_on_digits(tmp_path):
    settings, fractions, seeds = presets.get("defences", fast=True, dataset="digits")
    assert {s.defence for s in settings} == {None, "sphere", "slab", "loss", "knn"}
    assert sum(s.adaptive for s in settings) == 2 and any(s.max_distance for s in settings)
    summary = run_experiment(settings, fractions, seeds, tmp_path)
    assert len(summary) == len(settings) * len(fractions)
    # the summary and the printed table carry the defence's rates, and only where one ran
    defended = [e for e in summary if "sphere" in e["setting"] and e["n_points"]]
    assert defended and all(0 <= e["attack_detection_mean"] <= 1 for e in defended)
    assert all("attack_detection_mean" not in e for e in summary if "defence" not in e["setting"])
    out = io.StringIO()
    report.print_table(summary, file=out)
    assert "detected" in out.getvalue().splitlines()[0]

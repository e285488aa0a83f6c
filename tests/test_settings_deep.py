"""Deep models and mini-batches in experiments: Settings fields, case ids, the command line."""
import glob
import json
import os
from dataclasses import asdict

import pytest

from bgpoison.experiments.experiment import Case, Settings, make_model
from test_cli import TINY, _rows, bgpoison


def test_committed_results_keep_their_ids():
    # fields added after 0.1 (batch_size, channels, ...) are left out of the hash at their
    # defaults, so every stored case is still found on resume
    root = os.path.join(os.path.dirname(__file__), "..", "results")
    files = sorted(glob.glob(os.path.join(root, "**", "results.jsonl"), recursive=True))
    assert files
    for path in files:
        for line in open(path):
            row = json.loads(line)
            s = Settings.from_dict(row["settings"])
            assert s.id() == row["setting_id"], path
            assert Case(s, row["fraction"], row["seed"]).id == row["case"], path


@pytest.mark.parametrize("change", [dict(batch_size=32), dict(batch_seed=1, batch_size=32),
                                    dict(model="cnn", kernel=3), dict(model="cnn", pool=1),
                                    dict(model="cnn", channels=(2, 3))])
def test_a_new_field_away_from_its_default_names_a_new_setting(change):
    s = Settings(**change)
    assert s.id() != Settings().id()
    again = Settings.from_dict(json.loads(json.dumps(asdict(s))))   # a results row's round trip
    assert again == s and again.id() == s.id()


def test_hidden_takes_one_width_per_layer():
    s = Settings(model="mlp", hidden=[8, 4])
    assert s.hidden == (8, 4) and make_model("mlp", 6, 3, s).hidden == (8, 4)
    assert Settings(model="mlp", hidden=(8,)).hidden == 8     # one layer: the 0.1 setting
    with pytest.raises(ValueError, match="hidden must be"):
        Settings(model="mlp", hidden=(8, 0))


def test_cnn_needs_images():
    with pytest.raises(ValueError, match="needs images"):
        make_model("cnn", 4, 2, Settings(model="cnn"), image_shape=None)


@pytest.mark.parametrize("value, field", [(0, "batch_size"), (-1, "batch_seed"), (0, "kernel"),
                                          ((), "channels"), ((4, 0), "channels")])
def test_bad_deep_settings_are_refused(value, field):
    with pytest.raises(ValueError, match=field.replace("_", "-") if "batch" in field else field):
        Settings(model="cnn", **{field: value})


def test_cnn_with_mini_batches_runs_from_the_command_line(tmp_path):
    r = bgpoison("run", *TINY, "--dataset", "digits", "--classes", "1,5,6", "--model", "cnn",
                 "--channels", "2", "--kernel", "3", "--batch-size", "16", "--fractions",
                 "0,0.05", "--seeds", "1", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = _rows(tmp_path)
    assert {row["settings"]["model"] for row in rows} == {"cnn"}
    assert {row["settings"]["batch_size"] for row in rows} == {16}
    assert all(0 <= row["attack_error"] <= 1 for row in rows)


@pytest.mark.parametrize("args, message", [
    (["--kernel", "3"], "--kernel applies only to --model cnn"),
    (["--batch-seed", "2"], "--batch-seed applies only with --batch-size"),
    (["--batch-size", "500"], "larger than the 40 training rows"),
    (["--model", "cnn", "--dataset", "blobs"], "needs images"),
])
def test_bad_deep_flags_exit_2_with_one_line(tmp_path, args, message):
    r = bgpoison("run", *TINY, *args, "--out", str(tmp_path))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, \
        r.stderr

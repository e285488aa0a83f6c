"""The Python experiment API: any Executor, a new output folder, progress and resume."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from bgpoison.experiments import experiment, results
from bgpoison.experiments.experiment import Settings, n_points, run_experiment

TINY = Settings(dataset="blobs", model="logistic", n_train=30, n_val=40, n_test=60, steps=10,
                passes=2)


def test_run_experiment_with_an_executor_creates_the_folder_and_resumes(tmp_path):
    out = tmp_path / "a" / "b"
    seen = []
    with ThreadPoolExecutor(2) as pool:
        summary = run_experiment(TINY, [0.0, 0.1], range(2), out, executor=pool,
                                 progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert [(e["fraction"], e["n_seeds"]) for e in summary] == [(0.0, 2), (0.1, 2)]
    rows = results.load(out / results.RESULTS)
    seen.clear()
    again = run_experiment(TINY, [0.0, 0.1], range(2), out,
                           progress=lambda done, total: seen.append((done, total)))
    assert seen == [(4, 4)] and again == summary          # nothing recomputed
    assert results.load(out / results.RESULTS) == rows


def test_fraction_is_the_share_of_the_poisoned_training_set():
    assert n_points(0.0, 300) == 0
    assert n_points(0.06, 300) == 19                       # 19 / 319 = 0.0596
    assert n_points(0.5, 100) == 100
    with pytest.raises(ValueError, match=r"fractions must lie in \[0, 1\)"):
        n_points(1.0, 100)


def test_settings_reject_unknown_names():
    with pytest.raises(ValueError, match="model must be one of"):
        Settings(model="forest")         # "svm" became a model with LinearSVM
    with pytest.raises(ValueError, match="victim must be one of"):
        Settings(victim="forest")
    assert experiment.Case(TINY, 0.1, 0).id == experiment.Case(TINY, 0.1, 0).id
    assert experiment.Case(TINY, 0.1, 0).id != experiment.Case(TINY, 0.1, 1).id


class _Stream:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_progress_bar_is_drawn_only_on_a_terminal(monkeypatch, tty):
    from bgpoison.experiments.cli import Progress
    stream = _Stream(tty)
    monkeypatch.setattr("sys.stderr", stream)
    progress = Progress(enabled=True)
    for done in range(4):
        progress(done, 3)
    if tty:
        assert "3/3 cases" in stream.text and stream.text.endswith("\n")
        assert "[" + "#" * 30 + "]" in stream.text
    else:
        assert stream.text == ""


def test_settings_survive_a_json_round_trip():
    import dataclasses
    import json
    s = Settings(classes=(1, 7), class_map=((8, 3), (1, 7)), objective="specific")
    assert Settings.from_dict(json.loads(json.dumps(dataclasses.asdict(s)))) == s


def test_cases_of_one_data_set_share_its_load_and_a_changed_file_is_read_again(tmp_path):
    import os
    import numpy as np
    a = experiment.load_data(Settings(dataset="blobs", classes=(0, 1), lr=0.1))
    b = experiment.load_data(Settings(dataset="blobs", classes=(0, 1), lr=0.2))
    assert a is b                                           # one load for both settings
    with pytest.raises(ValueError, match="read-only"):
        a.X[0, 0] = 1.0                                     # no case can change another's data
    path = tmp_path / "d.csv"
    path.write_text("0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,0\n")
    s = Settings(dataset="csv", data_path=str(path))
    first = experiment.load_data(s)
    assert experiment.load_data(s) is first
    path.write_text("0.9,0.8,1\n0.7,0.6,0\n0.5,0.4,1\n0.3,0.2,0\n")
    os.utime(path, ns=(0, 10 ** 9))                         # a new stamp whatever the clock
    second = experiment.load_data(s)
    assert len(second.y) == 4 and np.allclose(second.X[0], [0.9, 0.8])

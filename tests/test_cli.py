"""The command line end to end (subprocesses), resume after Ctrl-C, and bad input."""
import re
import json
import os
import signal
import subprocess
import sys
import time

import pytest

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--n-train", "40", "--n-val", "60", "--n-test", "100", "--steps", "15", "--passes", "3",
        "--no-progress"]


def bgpoison(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "bgpoison", *args], capture_output=True,
                          text=True, env={**os.environ, "MPLBACKEND": "Agg"}, **kwargs)


def _rows(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _is_png(path):
    return path.read_bytes()[:8] == PNG and path.stat().st_size > 1000


def test_run_on_digits_prints_the_table_and_writes_results_and_figures(tmp_path):
    out = tmp_path / "out"
    r = bgpoison("run", *TINY, "--fractions", "0,0.1", "--seeds", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["setting", "fraction", "points"]
    assert [line.split()[2:4] for line in lines[1:3]] == [["0.000", "0"], ["0.100", "4"]]
    rows = _rows(out)
    assert len(rows) == 4 and {(r["fraction"], r["seed"]) for r in rows} == \
        {(0.0, 0), (0.0, 1), (0.1, 0), (0.1, 1)}
    assert all(0 <= r["attack_error"] <= 1 for r in rows)
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("setting,fraction,n_points,n_seeds") and len(summary) == 3
    assert _is_png(out / "error_vs_fraction.png") and _is_png(out / "poisoning_points.png")


def test_two_dimensional_data_get_a_decision_boundary_and_plot_redraws(tmp_path):
    out = tmp_path / "blobs"
    r = bgpoison("run", "--dataset", "blobs", "--model", "logistic", *TINY, "--fractions",
                 "0.1", "--seeds", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert _is_png(out / "decision_boundary.png")
    # the figure draws each point's path: its start, then its place after every accepted update
    row = [r for r in _rows(out) if r["n_points"]][0]
    assert len(row["paths"]) == len(row["history"]) >= 2
    assert row["paths"][0] == row["X_c0"] and row["paths"][-1] == row["X_c"]
    for png in out.glob("*.png"):
        png.unlink()
    r = bgpoison("plot", str(out / "results.jsonl"))
    assert r.returncode == 0, r.stderr
    assert _is_png(out / "decision_boundary.png") and _is_png(out / "error_vs_fraction.png")


def test_error_specific_run_reports_the_target_rate(tmp_path):
    r = bgpoison("run", *TINY, "--objective", "specific", "--class-map", "8:3", "--fractions",
                 "0.1", "--seeds", "1", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "target rate" in r.stdout.splitlines()[0]
    row = _rows(tmp_path)[0]
    assert set(row["y_c"]) <= {3, 8} and 0 <= row["attack_target_rate"] <= 1


def test_workers_give_the_same_results_as_one_process(tmp_path):
    args = [*TINY, "--fractions", "0.05,0.1", "--seeds", "2"]
    assert bgpoison("run", *args, "--out", str(tmp_path / "a")).returncode == 0
    assert bgpoison("run", *args, "--workers", "2", "--out", str(tmp_path / "b")).returncode == 0
    key = lambda r: (r["fraction"], r["seed"])
    a, b = sorted(_rows(tmp_path / "a"), key=key), sorted(_rows(tmp_path / "b"), key=key)
    assert [(r["case"], r["attack_error"], r["X_c"]) for r in a] == \
        [(r["case"], r["attack_error"], r["X_c"]) for r in b]


def test_interrupted_run_resumes_without_duplicates_or_lost_cases(tmp_path):
    out = tmp_path / "out"
    args = ["run", *TINY, "--fractions", "0.05,0.1,0.15", "--seeds", "4", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "bgpoison", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while (not results.exists() or len(results.read_text().splitlines()) < 2) \
            and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    first = _rows(out)
    assert proc.returncode == 130 and "rerun the same command" in err
    assert 2 <= len(first) < 12
    r = bgpoison(*args)
    assert r.returncode == 0, r.stderr
    rows = _rows(out)
    assert len(rows) == 12 and len({row["case"] for row in rows}) == 12
    kept = {row["case"]: row for row in rows}
    assert all(kept[row["case"]] == row for row in first)     # finished cases were not redone


@pytest.mark.parametrize("args, message", [
    (["run", "--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
    (["run", "--model", "forest"], "argument --model: invalid choice"),
    (["run", "--objective", "targeted"], "argument --objective: invalid choice"),
    (["run", "--fractions", "0,1.0"], r"fractions must lie in [0, 1); got 1.0"),
    (["run", "--fractions", "-0.1"], "fractions must lie in [0, 1)"),
    (["run", "--fractions", "a,b"], "expected numbers separated by commas"),
    (["run", "--dataset", "csv", "--data-path", "/nonexistent/spam.csv"], "No such file"),
    (["run", "--dataset", "mnist", "--data-path", "/nonexistent"], "MNIST file not found"),
    (["run", "--dataset", "csv"], "needs a data path"),
    (["run", "--objective", "specific"], "needs a class map"),
    (["run", "--model", "logistic"], "is binary but the data have 10 classes"),
    (["plot", "/nonexistent/folder"], "no results found"),
    (["run", "--victim-lr", "0"], "victim-lr must be a finite number > 0; got 0.0"),
    (["run", "--victim-steps", "0"], "victim-steps must be an integer >= 1; got 0"),
    (["run", "--fast", "--passes", "0"], "passes must be an integer >= 1; got 0"),
    (["run", "--fast", "--n-train", "-5"], "n-train must be an integer >= 1"),
    (["run", "--fractions", ""], "--fractions: expected at least one number"),
    (["run", "--objective", "specific", "--class-map", "8:8"], "changes no class"),
    (["run", "--class-map", "8"], "expected pairs like 8:3"),
    (["run", "--n-train", "100", "--fractions", "0,0.6"], "fraction 0.6 needs 150 poisoning"),
    (["run", "--n-train", "2000"], "2300 rows are needed but digits holds 1797"),
    (["run", "--dataset", "csv", "--data-path", "/dev/zero"], "is not a regular file or a folder"),
    (["run", "--seeds", "0"], "--seeds must be at least 1"),
    (["run", "--workers", "0"], "--workers must be at least 1"),
    (["run", "--classes", "1"], "classes must name at least two classes"),
    (["run", "--dataset", "blobs", "--label-column", "5"], "--label-column applies only to"),
    (["run", "--data-path", "x"], "--data-path applies only to --dataset mnist or csv"),
    (["run", "--hidden", "5"], "--hidden applies only to --model mlp"),
    (["run", "--class-map", "8:3"], "--class-map applies only to --objective specific"),
    (["run", "--victim", "logistic"], "model 'logistic' is binary"),
    (["run", "--n-test", "0"], "n-test must be an integer >= 1"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    r = bgpoison(*args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert message in r.stderr


def test_an_output_folder_that_cannot_be_created_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = bgpoison("run", *TINY, "--fractions", "0", "--seeds", "1", "--out", str(blocker / "x"))
    assert r.returncode == 2 and "cannot create output folder" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_benchmark_command_runs_and_prints_every_table():
    r = subprocess.run([sys.executable, "-m", "bgpoison.experiments.bench", "--fast", "--repeats", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    titles = [line for line in r.stdout.splitlines() if line.startswith("# ")]
    assert re.match(r"# BLAS threads: 1\b", titles[0]), titles[0]
    assert [t.split()[1] for t in titles[1:]] == ["reverse", "one", "exact", "one"]


@pytest.mark.parametrize("preset", ["binary", "multiclass", "specific", "transfer", "kkt",
                                    "reversal"])
def test_every_preset_runs_end_to_end_in_fast_mode(preset, tmp_path):
    r = bgpoison("run", "--preset", preset, "--fast", "--no-progress", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = _rows(tmp_path)
    labels = {row["label"] for row in rows}
    expected = {"binary": 3, "multiclass": 1, "specific": 1, "transfer": 9, "kkt": 2,
                "reversal": 3}[preset]
    assert len(labels) == expected                      # one distinct label per setting
    assert len(rows) == 2 * expected                    # fast: lowest and highest fraction, 1 seed
    curves = tmp_path / "error_vs_fraction.png"         # over 4 settings: table only
    assert _is_png(curves) if expected <= 4 else not curves.exists()


def test_spambase_preset_needs_a_path():
    r = bgpoison("run", "--preset", "spambase")
    assert r.returncode == 2 and "needs --data-path" in r.stderr


def test_a_fifo_as_data_path_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    r = bgpoison("run", "--dataset", "csv", "--data-path", str(tmp_path / "fifo"), timeout=60)
    assert r.returncode == 2 and "is not a regular file or a folder" in r.stderr


def test_a_diverging_learning_rate_fails_in_one_line_instead_of_a_clean_result(tmp_path):
    r = bgpoison("run", *TINY, "--lr", "1e6", "--fractions", "0.1", "--seeds", "1", "--out",
                 str(tmp_path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "diverged at step" in r.stderr and "smaller learning rate" in r.stderr


def test_flags_typed_with_fast_win_over_its_sizes(tmp_path):
    r = bgpoison("run", "--fast", "--steps", "7", "--passes", "1", "--n-test", "50",
                 "--victim-steps", "9", "--fractions", "0.1", "--seeds", "1", "--no-progress",
                 "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    [row] = _rows(tmp_path)
    s = row["settings"]
    assert (s["steps"], s["passes"], s["n_test"], s["victim_steps"]) == (7, 1, 50, 9)
    from bgpoison.experiments import presets
    from bgpoison.experiments.experiment import Settings
    assert s["n_train"] == presets.shrink(Settings()).n_train      # from --fast
    assert s["victim_lr"] is None                                  # not given


@pytest.mark.parametrize("content, message", [
    ('{"case": "a", "fraction": 0.1}\n', "lacks the field"),
    ("", "holds no finished cases"),
    ("\xff\n", "not UTF-8"),
])
def test_plot_on_bad_results_exits_2_with_one_line(tmp_path, content, message):
    (tmp_path / "results.jsonl").write_bytes(content.encode("latin-1"))
    r = bgpoison("plot", str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr


def test_a_trajectory_too_large_for_memory_fails_before_any_case_runs(tmp_path):
    r = bgpoison("run", *TINY, "--steps", str(10 ** 13), "--fractions", "0.1", "--seeds", "1",
                 "--out", str(tmp_path), timeout=60)
    assert r.returncode == 1 and "GiB" in r.stderr and "'checkpoint'" in r.stderr
    assert not (tmp_path / "results.jsonl").exists()


def test_an_attack_that_stopped_before_it_moved_is_not_hidden(tmp_path):
    # its first hypergradient fails, so its points never moved: a failure, not a result
    r = bgpoison("run", *TINY, "--reversal", "fixed-point", "--lr", "5", "--fractions", "0.1",
                 "--seeds", "1", "--out", str(tmp_path))
    assert r.returncode == 1 and "never moved its points" in r.stderr
    assert "fixed-point" in r.stderr

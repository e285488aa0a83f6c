"""Reliable under load and at the edges (issue 19): BLAS threads limited in the command and its
workers, an attack that never moved is not a result, and bad files or folders found before any
case runs, each in one line."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import bgpoison as bg
from bgpoison import datasets
from bgpoison.experiments import cli, cluster, preflight

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
TINY = ["--n-train", "40", "--n-val", "60", "--n-test", "100", "--steps", "15", "--passes", "3",
        "--no-progress"]


def bgpoison(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, "-m", "bgpoison", *args], capture_output=True,
                          text=True, env=ENV, cwd=cwd, timeout=timeout)


def one_line(r):
    return len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def blas_threads_now():
    """The largest thread count of the BLAS libraries loaded in this process."""
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


# ---- BLAS threads --------------------------------------------------------------------------

def test_blas_threads_limits_inside_the_block_and_restores_after():
    with threadpool_limits(2, user_api="blas"):           # as an unpinned 2-core machine
        assert blas_threads_now() == 2
        with bg.blas_threads(1):
            assert blas_threads_now() == 1
        assert blas_threads_now() == 2
        with bg.blas_threads(None):                       # None: the default, unchanged
            assert blas_threads_now() == 2


@pytest.mark.parametrize("n", [0, -1, 1.5, "2", True])
def test_blas_threads_refuses_a_count_that_is_not_a_positive_integer(n):
    with pytest.raises(ValueError, match="BLAS threads must be an integer >= 1 or None"):
        with bg.blas_threads(n):
            pass


def test_blas_threads_without_threadpoolctl_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)      # import now fails
    with pytest.raises(ImportError, match=r'pip install "bgpoison\[threads\]"'):
        with bg.blas_threads(1):
            pass


def _threads_in_worker():
    return os.getpid(), blas_threads_now()


@pytest.mark.parametrize("n", [1, 2])
def test_each_case_in_a_worker_process_runs_on_the_requested_threads(n):
    with threadpool_limits(2, user_api="blas"), ProcessPoolExecutor(2) as pool:
        limited = cluster.ThreadLimited(pool, n)
        seen = [limited.submit(_threads_in_worker).result() for _ in range(4)]
        after = pool.submit(_threads_in_worker).result()         # the worker is left as it was
    assert {threads for _, threads in seen} == {n}
    assert after[1] == 2


def _record_threads_and_stop(seen):
    def fake_run_experiment(*args, **kwargs):
        seen.append(blas_threads_now())
        raise KeyboardInterrupt
    return fake_run_experiment


@pytest.mark.parametrize("flag, expected", [([], 1), (["--blas-threads", "2"], 2),
                                            (["--blas-threads", "default"], 2)])
def test_the_command_runs_its_cases_on_one_blas_thread_unless_told(monkeypatch, tmp_path,
                                                                   flag, expected):
    seen = []
    monkeypatch.setattr(cli.experiment, "run_experiment", _record_threads_and_stop(seen))
    with threadpool_limits(2, user_api="blas"):             # the machine's default: 2
        code = cli.main(["run", *TINY, "--fractions", "0.1", "--seeds", "1", *flag,
                         "--out", str(tmp_path)])
    assert code == 130 and seen == [expected]


def test_without_threadpoolctl_the_command_says_so_and_runs(monkeypatch, tmp_path, capsys):
    seen = []
    monkeypatch.setattr(cli.experiment, "run_experiment", _record_threads_and_stop(seen))
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    for name in preflight.BLAS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["run", *TINY, "--out", str(tmp_path)]) == 130 and len(seen) == 1
    assert "threadpoolctl is not installed" in capsys.readouterr().err
    code = cli.main(["run", *TINY, "--blas-threads", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and '--blas-threads needs threadpoolctl; install it with pip install ' \
        '"bgpoison[threads]"' in err


@pytest.mark.parametrize("value", ["0", "two"])
def test_a_bad_thread_count_exits_2_with_one_line(value):
    r = bgpoison("run", "--blas-threads", value)
    assert r.returncode == 2 and one_line(r)
    assert "--blas-threads: expected an integer >= 1 or 'default'" in r.stderr


# ---- an attack that never moved is not a result --------------------------------------------

def test_an_attack_that_failed_at_its_first_hypergradient_is_an_error_not_a_row(tmp_path):
    from bgpoison.experiments.experiment import AttackFailed, Settings, run_experiment
    s = Settings(n_train=40, n_val=60, n_test=100, steps=15, passes=3, lr=2.5,
                 reversal="fixed-point")
    with pytest.raises(AttackFailed, match="never moved its points .* hypergradient 1 failed: "
                       "fixed-point reversal"):
        run_experiment(s, [0.0, 0.1], [0], tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["fraction"] for r in rows] == [0.0]            # the clean case is kept


def test_the_command_exits_1_for_an_attack_that_never_moved(tmp_path):
    r = bgpoison("run", "--fast", "--seeds", "1", "--fractions", "0.1", "--lr", "2.5",
                 "--reversal", "fixed-point", "--no-progress", "--out", str(tmp_path))
    assert r.returncode == 1 and one_line(r)
    assert r.stderr.startswith("bgpoison: failed: the attack never moved its points")
    assert "smaller lr" in r.stderr and not (tmp_path / "results.jsonl").exists()


# ---- files that are not regular files, CSV separators --------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero"])
def test_an_images_file_that_is_not_a_regular_file_is_named_as_such(tmp_path, kind):
    images = tmp_path / "train-images-idx3-ubyte"
    if kind == "fifo":
        os.mkfifo(images)
    else:
        images.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is not a regular file"):
        datasets.mnist(tmp_path)
    r = bgpoison("run", "--dataset", "mnist", "--data-path", str(tmp_path), timeout=60)
    assert r.returncode == 2 and one_line(r) and "is not a regular file" in r.stderr
    assert "not found" not in r.stderr


SEMICOLONS = "a;b;label\n" + "".join(f"{i / 10};{(i * 7) % 5};{i % 2}\n" for i in range(20))


def test_a_semicolon_csv_says_its_separator_looks_like_a_semicolon(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(SEMICOLONS)
    with pytest.raises(ValueError, match="the separator looks like ';'"):
        datasets.csv(path)
    assert datasets.csv(path, delimiter=";").X.shape == (20, 2)      # read when told
    r = bgpoison("run", "--dataset", "csv", "--data-path", str(path))
    assert r.returncode == 2 and one_line(r) and "the separator looks like ';'" in r.stderr
    assert "label_column" not in r.stderr


def test_a_relative_data_path_is_sent_to_the_cases_as_an_absolute_one(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("".join(f"{i / 60},{(i * 7 % 11) / 11},{i % 2}\n" for i in range(60)))
    out = tmp_path / "out"
    r = bgpoison("run", "--dataset", "csv", "--data-path", "data.csv", "--model", "logistic",
                 "--n-train", "20", "--n-val", "20", "--steps", "5", "--passes", "1",
                 "--fractions", "0", "--seeds", "1", "--no-progress", "--out", str(out),
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [row] = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert row["settings"]["data_path"] == str(data)


# ---- results and output files --------------------------------------------------------------

RUN = ["run", *TINY, "--fractions", "0,0.1", "--seeds", "1"]


def test_a_row_from_another_version_does_not_fail_a_rerun_of_a_finished_command(tmp_path):
    out = tmp_path / "out"
    assert bgpoison(*RUN, "--out", str(out)).returncode == 0
    path = out / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    old = {k: v for k, v in rows[0].items() if k != "label"}            # same case, old format
    stranger = {"case": "from-0.0.1", "fraction": 0.5}                 # another setting
    path.write_text("".join(json.dumps(r) + "\n" for r in [rows[1], old, stranger]))
    r = bgpoison(*RUN, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "2 row(s) of" in r.stderr and "lack fields" in r.stderr
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert kept[:3] == [rows[1], old, stranger]                        # nothing dropped
    assert kept[3]["case"] == old["case"] and "label" in kept[3]       # ran again, complete
    assert len((out / "summary.csv").read_text().splitlines()) == 3    # header + 2 fractions
    from bgpoison.experiments.results import ResultStore
    assert ResultStore(out).done() == {rows[0]["case"], rows[1]["case"]}


def test_a_summary_that_is_a_folder_is_found_before_any_case_runs(tmp_path):
    (tmp_path / "summary.csv").mkdir()
    r = bgpoison(*RUN, "--out", str(tmp_path))
    assert r.returncode == 2 and one_line(r)
    assert f"{tmp_path / 'summary.csv'} is in the way" in r.stderr
    assert not (tmp_path / "results.jsonl").exists()


def test_an_output_folder_where_no_file_can_be_written_is_found_before_any_case_runs(
        tmp_path, monkeypatch, capsys):
    import errno
    import tempfile

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(tempfile, "mkstemp", full_disk)           # as root, chmod cannot
    ran = []
    monkeypatch.setattr(cli.experiment, "run_experiment", lambda *a, **k: ran.append(1))
    assert cli.main(RUN + ["--out", str(tmp_path)]) == 2 and ran == []
    err = capsys.readouterr().err
    assert err.strip() == f"bgpoison: error: cannot write files in output folder {tmp_path}: " \
        "No space left on device"


# ---- Dask: Ctrl-C with a local cluster, a scheduler that goes away -------------------------

DASK_SWEEP = ["run", "--dataset", "blobs", "--model", "logistic", "--n-train", "30", "--n-val",
              "40", "--n-test", "60", "--steps", "40", "--passes", "4", "--fractions",
              "0.05,0.1", "--seeds", "6", "--no-progress"]


def _wait_for_a_row(proc, out, timeout=120):
    path = out / "results.jsonl"
    deadline = time.monotonic() + timeout
    while (not path.exists() or not path.read_text().count("\n")) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None and path.exists(), "the sweep ended or stalled too early"


def test_ctrl_c_with_a_local_dask_cluster_is_one_clean_message(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "bgpoison", *DASK_SWEEP, "--scheduler",
                             "local", "--workers", "2", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            cwd=ROOT, start_new_session=True)
    _wait_for_a_row(proc, out)
    os.killpg(proc.pid, signal.SIGINT)                # a terminal's Ctrl-C: the whole group
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err   # was: four tracebacks
    assert err.strip().splitlines() == [err.strip()] and err.strip().startswith("interrupted:")


@pytest.mark.slow
def test_a_dask_scheduler_that_dies_is_one_line_and_the_finished_cases_stay(tmp_path):
    pytest.importorskip("distributed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address, quiet = f"tcp://127.0.0.1:{port}", dict(stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL, env=ENV)
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                  "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], **quiet)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--nthreads", "1", "--no-dashboard"], **quiet)
    out = tmp_path / "out"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "bgpoison", *DASK_SWEEP, "--scheduler",
                                 address, "--out", str(out)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
        _wait_for_a_row(proc, out)
        scheduler.kill()
        _, err = proc.communicate(timeout=120)
    finally:
        for p in (scheduler, worker, *([proc] if "proc" in locals() else [])):
            p.kill()                                   # each started here; no-op if ended
            p.wait(timeout=30)
    assert proc.returncode == 1 and "Traceback" not in err, err     # was: CancelledError
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"bgpoison: failed: lost the Dask scheduler at {address}")
    assert "rerun the same command" in err and (out / "results.jsonl").read_text().count("\n")


def test_figures_that_cannot_be_written_after_the_cases_ran_are_one_line_keeping_the_results(
        tmp_path, monkeypatch, capsys):
    import errno

    from bgpoison.experiments import report

    def full_disk(folder):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(report, "draw_figures", full_disk)
    assert cli.main(["run", *TINY, "--fractions", "0", "--seeds", "1", "--out",
                     str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"bgpoison: error: cannot write the figures in {tmp_path}: No space left on " \
        f"device; every case is saved in {tmp_path / 'results.jsonl'}: 'bgpoison plot " \
        f"{tmp_path}' draws them"
    assert (tmp_path / "results.jsonl").read_text().count("\n") == 1

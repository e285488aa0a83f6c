"""Reliable under load and at the edges (issue 19): BLAS threads limited in the command and its
workers, an attack that never moved is not a result, and bad files or folders found before any
case runs, each in one line."""
import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import bgpoison as bg
from bgpoison.experiments import cli, cluster

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
    for name in cli.BLAS_VARIABLES:
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

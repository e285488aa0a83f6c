"""Cases on a real Dask LocalCluster (2 worker processes): the same results as a serial run,
the Python API with ``client.get_executor()``, and a worker killed mid-run."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from bgpoison.experiments import results                            # noqa: E402
from bgpoison.experiments.experiment import Settings, run_experiment            # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = Settings(dataset="blobs", model="logistic", n_train=30, n_val=40, n_test=60, steps=10,
                passes=2)


def _by_case(out):
    return {r["case"]: {k: v for k, v in r.items() if k != "seconds"}
            for r in results.load(out / results.RESULTS)}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_the_api_on_a_dask_executor_matches_a_serial_run(client, tmp_path):
    serial = run_experiment(TINY, [0.0, 0.1], range(2), tmp_path / "serial")
    dask = run_experiment(TINY, [0.0, 0.1], range(2), tmp_path / "dask",
                          executor=client.get_executor())
    assert dask == serial
    assert _by_case(tmp_path / "dask") == _by_case(tmp_path / "serial")


def test_a_worker_killed_mid_run_loses_no_finished_case_and_the_run_completes(client, tmp_path):
    out = tmp_path / "out"
    slow = Settings(**{**TINY.__dict__, "steps": 40, "passes": 4})
    pids = list(client.run(os.getpid).values())
    errors = []

    def sweep():
        try:
            run_experiment(slow, [0.05, 0.1], range(5), out, executor=client.get_executor())
        except Exception as err:                   # reported below, in the test's thread
            errors.append(err)
    thread = threading.Thread(target=sweep)
    thread.start()
    deadline = time.monotonic() + 120
    path = out / results.RESULTS
    while (not path.exists() or not path.read_text().count("\n")) and thread.is_alive() \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    finished_before = _by_case(out)
    assert finished_before and thread.is_alive(), "the sweep ended before a worker was killed"
    os.kill(pids[0], signal.SIGKILL)               # the nanny starts a new worker
    thread.join(timeout=240)
    assert not thread.is_alive() and errors == []
    after = _by_case(out)
    assert len(after) == 10                        # Dask ran the lost worker's case again
    assert all(after[case] == row for case, row in finished_before.items())


def test_the_command_line_runs_on_a_local_cluster_like_one_process(tmp_path):
    args = ["run", "--dataset", "blobs", "--model", "logistic", "--n-train", "30", "--n-val",
            "40", "--n-test", "60", "--steps", "10", "--passes", "2", "--fractions", "0,0.1",
            "--seeds", "2", "--no-progress"]
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    for extra, name in (([], "serial"), (["--scheduler", "local", "--workers", "2"], "dask")):
        r = subprocess.run([sys.executable, "-m", "bgpoison", *args, *extra, "--out",
                            str(tmp_path / name)], capture_output=True, text=True, env=env,
                           timeout=300)
        assert r.returncode == 0, r.stderr
    assert _by_case(tmp_path / "dask") == _by_case(tmp_path / "serial")
    assert (tmp_path / "dask" / "summary.csv").read_text() == \
        (tmp_path / "serial" / "summary.csv").read_text()


def test_a_scheduler_address_that_cannot_work_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "bgpoison", "run", "--fast", "--scheduler",
                        "foo:bar", "--out", str(tmp_path)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("bgpoison: error: cannot reach the Dask scheduler at 'foo:bar'")

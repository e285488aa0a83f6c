"""Process faults, with real processes and signals: SIGTERM and SIGKILL of the parent, a worker
killed mid-run, two runs writing into one folder at once, a torn last line and a stale
temporary file left by a kill. Every wait is bounded."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-train", "40", "--n-val", "60", "--n-test", "100", "--steps", "15", "--passes", "3",
        "--no-progress"]
SWEEP = ["run", *TINY, "--fractions", "0.05,0.1", "--seeds", "6"]       # 12 cases, ~10 s
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "bgpoison", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)


def run(*args):
    return subprocess.run([sys.executable, "-m", "bgpoison", *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, timeout=300)


def rows(out):
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_rows(proc, out, n, timeout=120):
    deadline = time.monotonic() + timeout
    while len(rows(out)) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None and len(rows(out)) >= n, "the run ended or stalled too early"


def children(pid):
    """Ids of the worker processes of ``pid``: its children running bgpoison (from /proc;
    forked workers share the parent's command line, a resource tracker does not)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"bgpoison" in command:
            found.append(int(stat.parent.name))
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def sweep_with_two_workers(out):
    """A sweep on two worker processes into ``out``, once its first case is stored:
    (the parent process, the pids of its workers)."""
    proc = start(*SWEEP, "--workers", "2", "--out", str(out))
    wait_for_rows(proc, out, 1)
    workers = children(proc.pid)
    assert len(workers) >= 2
    return proc, workers


def test_sigterm_to_the_parent_stops_the_workers_and_keeps_finished_cases(tmp_path):
    out = tmp_path / "out"
    proc, workers = sweep_with_two_workers(out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM and "rerun the same command" in err
    assert "Traceback" not in err
    assert wait_gone(workers) == []
    kept = rows(out)
    assert 1 <= len(kept) < 12
    r = run(*SWEEP, "--workers", "2", "--out", str(out))            # resumes
    assert r.returncode == 0, r.stderr
    assert len(rows(out)) == 12 and {r["case"]: r for r in rows(out)} | \
        {r["case"]: r for r in kept} == {r["case"]: r for r in rows(out)}


def test_ctrl_c_to_the_whole_process_group_with_workers_is_one_clean_message(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "bgpoison", *SWEEP, "--workers", "2",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, cwd=ROOT, start_new_session=True)
    wait_for_rows(proc, out, 1)
    workers = children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)                # what a terminal's Ctrl-C does
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1].startswith("interrupted:") and "Traceback" not in err
    assert wait_gone(workers) == []


def test_workers_exit_when_the_parent_is_killed_with_sigkill(tmp_path):
    out = tmp_path / "out"
    proc, workers = sweep_with_two_workers(out)
    proc.kill()
    proc.communicate(timeout=30)
    assert wait_gone(workers) == []                    # they watch their parent


def test_a_worker_killed_mid_run_is_one_line_and_the_rerun_resumes(tmp_path):
    out = tmp_path / "out"
    proc, workers = sweep_with_two_workers(out)
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert "worker process died" in err and "rerun the same command" in err
    kept = rows(out)
    assert 1 <= len(kept) < 12
    r = run(*SWEEP, "--workers", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert len({row["case"] for row in rows(out)}) == 12 == len(rows(out))


def test_two_runs_writing_into_one_folder_at_once_keep_every_case(tmp_path):
    out = tmp_path / "out"
    a = start("run", *TINY, "--fractions", "0.05,0.1", "--seeds", "3", "--out", str(out))
    b = start("run", *TINY, "--fractions", "0.05,0.15", "--seeds", "3", "--out", str(out))
    for proc in (a, b):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    cases = [(row["fraction"], row["seed"]) for row in rows(out)]
    assert {f for f, _ in cases} == {0.05, 0.1, 0.15}
    assert len(set(cases)) == 9                       # 3 fractions x 3 seeds, none lost
    r = run("plot", str(out))                         # duplicates (0.05 by both) count once
    assert r.returncode == 0, r.stderr
    summary = (out / "summary.csv").read_text().splitlines()
    assert all(line.split(",")[3] == "3" for line in summary[1:])


def test_sigterm_in_a_serial_run_keeps_every_finished_case(tmp_path):
    out = tmp_path / "out"
    proc = start(*SWEEP, "--out", str(out))
    wait_for_rows(proc, out, 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM and "rerun the same command" in err
    lines = (out / "results.jsonl").read_bytes()
    assert lines.endswith(b"\n") and len(rows(out)) >= 2


def test_a_torn_last_line_and_a_stale_temporary_file_are_cleaned_on_the_next_run(tmp_path):
    out = tmp_path / "out"
    args = ["run", *TINY, "--fractions", "0.1", "--seeds", "2", "--out", str(out)]
    assert run(*args).returncode == 0
    full = (out / "results.jsonl").read_bytes()
    first, second = full.splitlines(keepends=True)
    (out / "results.jsonl").write_bytes(first + second[:len(second) // 2])   # killed mid-write
    stale = out / ".results.jsonl.abc123.tmp"
    stale.write_text("half of an old rewrite")
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert "partial line" in r.stderr and not stale.exists()
    again = rows(out)
    assert len(again) == 2 and again[0] == json.loads(first)       # the torn case ran again

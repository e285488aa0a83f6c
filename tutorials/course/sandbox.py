"""The grader's sandbox: scratch folders, the child process, its limits, and its answers.

``grade.py`` runs every group of tasks of a submission through ``run_calls``: a scratch copy of
the submission's folder, a request file holding only the calls' inputs, and a child
(``grade_child.py``) started under ``unshare`` (Linux, as root) or as a plain process in its own
session; the child's answers are read here line by line, under the time limits, and the child's
process group is killed afterwards. ``Sandbox.describe`` says which of these applies.
"""
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOBODY = 65534                      # the unprivileged user a root grader runs children as
MAX_ANSWER_BYTES = 64 << 20         # a child that sends more is stopped


def _usable_unshare():
    """unshare(1) with mount, network and PID namespaces, if this process may create them."""
    tool = shutil.which("unshare")
    if not (sys.platform.startswith("linux") and tool and os.geteuid() == 0):
        return None
    probe = subprocess.run([tool, "--mount", "--net", "--pid", "--fork", "--kill-child",
                            "true"], capture_output=True, timeout=30)
    return tool if probe.returncode == 0 else None


class Sandbox:
    """Where and how children run: one scratch root per grading run, a copy of the library."""

    def __init__(self, grader_dir, course_dir, hide=()):
        self.root = Path(tempfile.mkdtemp(prefix="bgpoison-grading-"))
        os.chmod(self.root, 0o711)                  # others cannot list the scratch folders
        plain = os.environ.get("BGPOISON_GRADE_SANDBOX") == "plain"    # try the fallback
        self.unshare = None if plain else _usable_unshare()
        self.as_nobody = hasattr(os, "geteuid") and os.geteuid() == 0
        self.limits = hasattr(os, "fork")           # resource limits: Unix only
        import bgpoison
        package = Path(bgpoison.__file__).resolve().parent
        self.lib = self.root / "lib"
        shutil.copytree(package, self.lib / "bgpoison",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        import compileall
        compileall.compile_dir(str(self.lib), quiet=2, workers=1)
        for path in [self.lib, *self.lib.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.site = [p for p in sys.path if p and Path(p).is_dir() and
                     ("site-packages" in p or "dist-packages" in p)]
        protected = [Path(p).resolve() for p in [sys.prefix, sys.base_prefix, *self.site,
                                                 tempfile.gettempdir(), "/"]]
        candidates = {grader_dir, course_dir, grader_dir.parent, package.parent, *map(Path, hide)}
        self.hide = sorted({str(p.resolve()) for p in candidates if p.resolve().is_dir()
                            and not any(q.is_relative_to(p.resolve()) for q in protected)})
        self.hide.append(str(self.root))
        # the interpreter's own folders must stay readable: a folder on their way that others
        # cannot enter (e.g. /root holding pyenv) is covered too, and they are bound back
        self.needed = sorted({p for p in sys.path if p and Path(p).is_dir()
                              and Path(p).resolve().is_relative_to(Path(sys.base_prefix).resolve())}
                             | set(self.site))
        self.cover = sorted({str(a) for p in self.needed for a in Path(p).resolve().parents
                             if a != Path("/") and not a.stat().st_mode & 0o001})
        if self.cover and not self.unshare:
            self.as_nobody = False                  # nobody could not even read the stdlib
        self.child = self.root / "grade_child.py"
        shutil.copy(course_dir / "grade_child.py", self.child)
        self.child.chmod(0o644)

    def describe(self):
        """What the children run under, in one line (printed with every grading run)."""
        if self.unshare and self.as_nobody:
            return ("child processes run as nobody in private mount, network and PID "
                    "namespaces, with resource limits")
        if self.as_nobody:
            return ("child processes run as nobody with resource limits; no namespaces here, "
                    "so other folders are protected by file permissions and the audit hook")
        if self.limits:
            return ("child processes run as this user with resource limits and an audit hook; "
                    "not isolated from your files by the operating system")
        return "child processes run as this user with an audit hook only (no resource limits)"

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


def _scratch_copy(folder, work, max_bytes=20 << 20):
    """Copy the submission folder (helpers and sub-packages included), skipping caches, hidden
    folders (.git, .venv), virtual environments, links and anything beyond ``max_bytes``."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")
                       and not os.path.islink(os.path.join(dirpath, d))
                       and not os.path.isfile(os.path.join(dirpath, d, "pyvenv.cfg"))]
        target = work / Path(dirpath).relative_to(folder)
        target.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            source = Path(dirpath) / name
            if source.is_symlink() or not source.is_file():
                continue
            total += source.stat().st_size
            if total > max_bytes:
                return
            shutil.copyfile(source, target / name)


def _chown_tree(path, uid):
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, uid)


def decode(value):
    """An answer from the child: floats and float arrays only (anything else is refused)."""
    import numpy as np
    if isinstance(value, list):
        return tuple(decode(v) for v in value)
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and value.get("$") == "float":
        return float(value["repr"])
    if isinstance(value, dict) and value.get("$") == "array":
        data = np.array([float(x) for x in value["data"]], dtype=float)
        return data.reshape([int(s) for s in value["shape"]])
    if isinstance(value, dict) and value.get("$") == "object":
        return f"<not numbers: {value.get('repr', '')[:200]}>"
    raise ValueError("malformed answer")


def _kill(process):
    """End the child and its whole process group (and, in a PID namespace, everything in it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)      # the child leads its own session
    except (ProcessLookupError, PermissionError, AttributeError):
        pass
    try:
        process.kill()
    except ProcessLookupError:
        pass
    process.wait()


def run_calls(sandbox, folder, task, calls, first_limit, time_limit, deadline):
    """Run ``calls`` (a list of lists: the calls of each test) of ``task`` on the submission in
    one child. Yields ("ready" | "answer" | "stopped" | "ended", payload) events."""
    box = Path(tempfile.mkdtemp(dir=sandbox.root))
    work = box / "work"
    try:
        _scratch_copy(folder, work)
        flat = [c for test in calls for c in test]
        request = {"task": task.name,
                   "allowed": list(task.allowed), "library": task.library, "calls": flat,
                   "work": str(work), "lib": str(sandbox.lib), "site": sandbox.site,
                   "hide": sandbox.hide, "cover": sandbox.cover,
                   "keep": [str(box), str(sandbox.lib)] + (sandbox.needed if sandbox.cover
                                                           else []),
                   "namespace": bool(sandbox.unshare),
                   "uid": NOBODY if sandbox.as_nobody else None, "gid": NOBODY,
                   "cpu_seconds": None if deadline == float("inf") else
                   max(2, int(max(0.0, deadline - time.monotonic())) + 2),
                   "memory_bytes": 2 << 30, "file_bytes": 16 << 20}
        (box / "request.json").write_text(json.dumps(request))
        os.chmod(box, 0o711)
        if sandbox.as_nobody:
            _chown_tree(work, NOBODY)
        read, write = os.pipe()
        command = [sys.executable, "-S", "-I", str(sandbox.child), str(box / "request.json"),
                   str(write)]
        if sandbox.unshare:
            command = [sandbox.unshare, "--mount", "--net", "--pid", "--fork", "--kill-child",
                       "--"] + command
        env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "HOME": str(work), "LANG": "C.UTF-8"}
        with open(box / "stderr.txt", "wb") as err:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=err, env=env,
                                       pass_fds=(write,), start_new_session=True)
        os.close(write)
        try:
            yield from _read_answers(process, read, len(flat), first_limit, time_limit,
                                     deadline, [len(c) for c in calls])
        finally:
            os.close(read)
            _kill(process)
            tail = (box / "stderr.txt").read_text(errors="replace")[-800:]
            if process.returncode not in (0, None) and tail.strip():
                yield "stderr", tail
    finally:
        shutil.rmtree(box, ignore_errors=True)


def _read_answers(process, fd, n_calls, first_limit, time_limit, deadline, sizes):
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    buffer, received, ready = b"", 0, False
    boundaries = [sum(sizes[:k + 1]) for k in range(len(sizes))]
    test_started = time.monotonic()
    while True:
        now = time.monotonic()
        limit = (first_limit if not ready else time_limit) or float("inf")
        wait = min(test_started + limit, deadline) - now
        if wait <= 0:
            yield "stopped", ("student limit" if deadline <= test_started + limit
                              else "time limit")
            return
        events = selector.select(timeout=wait)
        if not events:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            process.wait()
            yield "ended", process.returncode
            return
        buffer += chunk
        if len(buffer) > MAX_ANSWER_BYTES:
            yield "ended", "answers too large"
            return
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue                                # not the grader's: ignored
            if not isinstance(record, dict):
                continue
            if "ready" in record and not ready:
                ready = True
                test_started = time.monotonic()
                yield "ready", record
                if not record["ready"]:
                    return
            elif record.get("index") == received and ready:
                received += 1
                yield "answer", record
                if received in boundaries:
                    test_started = time.monotonic()     # the next test's clock starts
                if received == n_calls:
                    return

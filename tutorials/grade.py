"""Grade the course exercises: one submission folder, or a folder of many students' folders.

    python tutorials/grade.py SUBMISSION_DIR                 one student: a report and a table
    python tutorials/grade.py --batch SUBMISSIONS_DIR --csv grades.csv
                                                   one folder per student, one CSV row each

A submission folder holds the student's ``logistic.py`` and ``reverse_loop.py`` (the files that
``tutorials/make_exercises.py`` hands out, completed). The folder is a required argument: the
command never falls back to the teacher's solutions, refuses a folder without exercise files,
and prints the folder it graded. (``tutorials/course`` itself grades the solutions.)

Each test runs under a time limit (``--time-limit``, seconds): a test that runs longer fails,
and so do the remaining tests of its task, without running, so that an infinite loop costs one
limit per task. The tests are in ``grader_tests.py`` (``tutorials/course/`` in the repository,
next to this file in a handout); they hold no solution code, so students may run this command on
their own folder: ``python grade.py .``.

Exit status: 0 when every graded task passed (with --batch: when the CSV was written), 1 when a
task failed, 2 when nothing could be graded.
"""
import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FILES = ("logistic.py", "reverse_loop.py")
# task -> points for passing it (all of its tests); teachers may change the weights
POINTS = {"task_grad": 2, "task_hvp": 3, "task_reverse_loop": 3}


def tests_file():
    """grader_tests.py: in tutorials/course/ (repository) or next to this file (handout)."""
    for path in (HERE / "course" / "grader_tests.py", HERE / "grader_tests.py"):
        if path.is_file():
            return path
    raise SystemExit(f"grade.py: grader_tests.py not found next to {__file__} or in course/")


def exercise_files(folder):
    """The exercise files present in ``folder`` (NAME.py, or NAME_solution.py for the teacher)."""
    found = []
    for name in FILES:
        for candidate in (name, name.replace(".py", "_solution.py")):
            if (folder / candidate).is_file():
                found.append(candidate)
                break
    return found


class TimeLimitExceeded(BaseException):
    """Raised inside a test that ran too long. Not an ``Exception``: ``except Exception`` in a
    student's loop cannot swallow it."""


class Grader:
    """A pytest plugin: a time limit per test, and the outcome of every test by task."""

    def __init__(self, time_limit, folder):
        self.time_limit = time_limit
        self.folder = Path(folder).resolve()
        self.results = {task: [] for task in POINTS}      # task -> [(test id, passed, message)]
        self.timed_out = set()

    def pytest_configure(self, config):
        for task in POINTS:
            config.addinivalue_line("markers", f"{task}: course task (grader_tests.py)")

    @staticmethod
    def task_of(item_or_report):
        names = item_or_report.keywords
        return next((task for task in POINTS if task in names), None)

    def _limited(self, task):
        """Run the wrapped phase of a test under the time limit (main thread, Unix only)."""
        if not hasattr(signal, "setitimer") or not self.time_limit:
            yield
            return

        def expire(signum, frame):
            self.timed_out.add(task)
            raise TimeLimitExceeded(f"stopped after the time limit of {self.time_limit:g} s "
                                    f"(an infinite loop?)")
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.time_limit)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        task = self.task_of(item)
        if task in self.timed_out:
            pytest.fail("not run: an earlier test of this task hit the time limit",
                        pytrace=False)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        yield from self._limited(self.task_of(item))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        yield from self._limited(self.task_of(request.node))   # e.g. importing the submission

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        if report.failed and call.excinfo is not None:
            report.grader_message = self.describe(call.excinfo)

    def describe(self, excinfo):
        """A short failure message: the grader's own message, or the exception with the lines
        of the submission's files it passed through (not the grader's or the library's)."""
        value = excinfo.value
        if isinstance(value, pytest.fail.Exception):
            return str(value)
        lines = []
        for entry in excinfo.traceback:
            path = Path(str(entry.path))
            if path.parent.resolve() == self.folder and path.name not in ("grader_tests.py",
                                                                          "grade.py"):
                code = str(entry.statement).strip().splitlines()
                lines.append(f"{path.name}:{entry.lineno + 1} in {entry.name}: "
                             f"{code[0] if code else ''}")
        return "\n".join(lines + [f"{type(value).__name__}: {value}"])

    def pytest_runtest_logreport(self, report):
        task = self.task_of(report)
        if task is None or not (report.when == "call" or report.failed):
            return
        name = report.nodeid.split("::", 1)[-1]
        message = "" if report.passed else getattr(report, "grader_message",
                                                      _short(report.longreprtext))
        entries = self.results[task]
        if entries and entries[-1][0] == name:           # a teardown error after the call
            entries[-1] = (name, entries[-1][1] and report.passed, entries[-1][2] or message)
        else:
            entries.append((name, report.passed, message))


def _short(text, lines=12):
    """The last ``lines`` lines of a failure report: the assertion, not the whole traceback."""
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def grade(folder, time_limit=10.0, tasks=None):
    """Grade ``folder`` in this process; print a report and a table; return the summary dict."""
    tasks = list(tasks or POINTS)
    os.environ["BGPOISON_COURSE_DIR"] = str(folder)
    grader = Grader(time_limit, folder)
    args = [str(tests_file()), "-q", "--tb=no", "-rN", "-p", "no:cacheprovider", "-m",
            " or ".join(tasks), "-W", "ignore::DeprecationWarning",
            f"--rootdir={tests_file().parent}"]
    start = time.perf_counter()
    pytest.main(args, plugins=[grader])
    summary = {"folder": str(folder), "files": exercise_files(folder), "tasks": {},
               "seconds": round(time.perf_counter() - start, 2)}
    for task in tasks:
        entries = grader.results[task]
        passed = sum(ok for _, ok, _ in entries)
        ok = bool(entries) and passed == len(entries)
        summary["tasks"][task] = {
            "result": "PASS" if ok else "FAIL", "passed": passed, "total": len(entries),
            "points": POINTS[task] if ok else 0, "max_points": POINTS[task],
            "timed_out": task in grader.timed_out,
            "failures": [{"test": name, "message": message}
                         for name, passed_, message in entries if not passed_]}
    print_summary(summary)
    return summary


def print_summary(summary):
    for task, row in summary["tasks"].items():
        if row["failures"]:
            print(f"\n---- {task}: {row['total'] - row['passed']} of {row['total']} tests failed")
        for failure in row["failures"]:
            print(f"{failure['test']}\n    " + failure["message"].replace("\n", "\n    "))
    print(f"\ngraded folder: {summary['folder']}  (files: {', '.join(summary['files'])})")
    print(f"{'task':20} {'tests passed':>12}  result  points")
    for task, row in summary["tasks"].items():
        note = "  (time limit hit)" if row["timed_out"] else ""
        print(f"{task:20} {row['passed']:>5}/{row['total']:<6}  {row['result']:6}  "
              f"{row['points']}/{row['max_points']}{note}")
    total = sum(row["points"] for row in summary["tasks"].values())
    top = sum(row["max_points"] for row in summary["tasks"].values())
    print(f"{'total':20} {'':12}  {'':6}  {total}/{top}   ({summary['seconds']:.1f} s)")


def grade_batch(root, csv_path, time_limit, jobs=1, student_timeout=300.0, tasks=None):
    """Grade every sub-folder of ``root`` in its own process; write one CSV row per student and
    each student's full report to ``<csv stem>_reports/<student>.txt``. Returns the rows."""
    students = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not students:
        raise SystemExit(f"grade.py: no student folders in {root}")
    reports = csv_path.with_name(csv_path.stem + "_reports")
    reports.mkdir(parents=True, exist_ok=True)
    print(f"grading {len(students)} student folders in {root.resolve()}")

    def one(student):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "summary.json"
            command = [sys.executable, str(Path(__file__).resolve()), str(student.resolve()),
                       "--time-limit", str(time_limit), "--json", str(out)]
            for task in tasks or ():
                command += ["--task", task]
            note = ""
            try:
                run = subprocess.run(command, capture_output=True, text=True,
                                     timeout=student_timeout)
                log = run.stdout + run.stderr
            except subprocess.TimeoutExpired as err:
                log = f"{err.stdout or ''}\nstopped after {student_timeout:g} s"
                note = f"grading stopped after {student_timeout:g} s"
            (reports / f"{student.name}.txt").write_text(log)
            summary = json.loads(out.read_text()) if out.is_file() else None
        if summary is None:
            note = note or (log.strip().splitlines() or ["grading failed"])[-1]
        row = {"student": student.name}
        graded = list(tasks or POINTS)
        for task in graded:
            info = (summary or {}).get("tasks", {}).get(task)
            row[task] = info["result"] if info else "FAIL"
            row[f"{task}_tests"] = f"{info['passed']}/{info['total']}" if info else "0/0"
            row[f"{task}_points"] = info["points"] if info else 0
        row["total_points"] = sum(row[f"{task}_points"] for task in graded)
        row["max_points"] = sum(POINTS[task] for task in graded)
        row["note"] = note
        print(f"  {student.name:24} " + " ".join(f"{row[t]:4}" for t in graded)
              + f"  {row['total_points']}/{row['max_points']} {note}")
        return row

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(one, students))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {csv_path} ({len(rows)} rows) and the reports in {reports}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path,
                        help="the submission folder (with --batch: a folder of student folders)")
    parser.add_argument("--batch", action="store_true",
                        help="grade every sub-folder of FOLDER, one CSV row per student")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"),
                        help="with --batch: the CSV to write (default grades.csv)")
    parser.add_argument("--task", action="append", choices=list(POINTS),
                        help="grade only this task (repeatable)")
    parser.add_argument("--time-limit", type=float, default=10.0,
                        help="seconds per test (default 10; 0: no limit)")
    parser.add_argument("--jobs", type=int, default=1, help="with --batch: students in parallel")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    args = parser.parse_args(argv)

    folder = args.folder
    if not folder.is_dir():
        print(f"grade.py: {folder} is not a folder: nothing graded", file=sys.stderr)
        return 2
    if args.batch:
        grade_batch(folder, args.csv, args.time_limit, args.jobs, tasks=args.task)
        return 0
    if not exercise_files(folder):
        inside = [p.name for p in folder.iterdir() if p.is_dir() and exercise_files(p)]
        hint = f"; it holds student folders ({', '.join(inside[:3])}, ...): use --batch" \
            if inside else ""
        print(f"grade.py: no {' or '.join(FILES)} in {folder.resolve()}: nothing graded{hint}",
              file=sys.stderr)
        return 2
    print(f"grading folder: {folder.resolve()}")
    summary = grade(folder.resolve(), args.time_limit, args.task)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if all(row["result"] == "PASS" for row in summary["tasks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

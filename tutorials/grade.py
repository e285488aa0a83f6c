"""Grade the course exercises: one submission folder, or a folder of many students' folders.

    python tutorials/grade.py SUBMISSION_DIR                 one student: a report and a table
    python tutorials/grade.py --batch SUBMISSIONS_DIR --csv grades.csv
                                                   one folder per student, one CSV row each
    python tutorials/grade.py --bench 30                     time a class of 30 correct students

The folder is a required argument: the command never falls back to the teacher's solutions,
refuses a folder without exercise files, and prints the folder it graded.

Each task of each submission runs in its own child process (``grade_child.py``), in a scratch
copy of the submission's folder, under resource limits, and is sent only the *inputs* of its
calls; it returns the numbers the student's functions produced. The tests, the reference values
and the grade stay in this process, so nothing the submission prints, writes or patches can
change a grade. On Linux as root the child also runs as ``nobody`` in private mount, network
and PID namespaces where the teacher's folders and the other students' are empty. The tests are
in ``grader_tests.py`` (``tutorials/course/`` in the repository, beside this file in a
handout); they hold no solution code, so students run ``python grade.py .`` on their own folder.

Exit status: 0 when every graded task passed (with --batch: when the CSV was written), 1 when a
task failed, 2 when nothing could be graded (no such folder, no exercise files, no students).
"""
import argparse
import csv
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
COURSE = HERE / "course" if (HERE / "course" / "grader_tests.py").is_file() else HERE


def _module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sandbox = _module(COURSE / "sandbox.py", "grader_sandbox")
Sandbox, run_calls, decode_answer = sandbox.Sandbox, sandbox.run_calls, sandbox.decode


def load_course(hidden=None, weights=None):
    """The tasks (grader_tests.tasks()), with the hidden tests added and the weights applied.

    ``hidden``: a teacher-only file defining ``TESTS = {task: [Test, ...]}`` (default: the
    repository's ``tutorials/course/hidden_tests.py`` when it exists; never in a handout).
    ``weights``: {task: points, "task::test name": weight}."""
    gt = _module(COURSE / "grader_tests.py", "grader_tests")
    tasks = {task.name: task for task in gt.tasks()}
    if hidden is None and (COURSE / "hidden_tests.py").is_file():
        hidden = COURSE / "hidden_tests.py"
    if hidden is not None:
        extra = _module(Path(hidden), "grader_hidden_tests").TESTS
        for name, tests in extra.items():
            if name not in tasks:
                raise SystemExit(f"grade.py: {hidden} adds tests to an unknown task {name!r}")
            for test in tests:
                test.name = f"hidden: {test.name}"
            tasks[name].tests += tests
    for key, value in (weights or {}).items():
        name, _, test_name = key.partition("::")
        if name not in tasks:
            raise SystemExit(f"grade.py: --weights names an unknown task {name!r}")
        if not test_name:
            tasks[name].points = float(value)
            continue
        matching = [t for t in tasks[name].tests if t.name == test_name]
        if not matching:
            raise SystemExit(f"grade.py: --weights: task {name} has no test {test_name!r}")
        for test in matching:
            test.weight = float(value)
    return gt, tasks


def exercise_files(folder, tasks):
    """The exercise files present in ``folder`` (NAME.py, or NAME_solution.py for the teacher)."""
    found = []
    for stem in dict.fromkeys(m for task in tasks.values() for m in task.modules):
        for candidate in (f"{stem}.py", f"{stem}_solution.py"):
            if (folder / candidate).is_file():
                found.append(candidate)
                break
    return found


# ---- grading one submission ----------------------------------------------------------------

def _prefixed(value, prefix):
    """A call or library spec with every library reference renamed ``prefix:key``."""
    if isinstance(value, list):
        return [_prefixed(v, prefix) for v in value]
    if isinstance(value, dict):
        if value.get("$") == "library":
            return {"$": "library", "id": f"{prefix}:{value['id']}"}
        return {k: _prefixed(v, prefix) for k, v in value.items()}
    return value


class Group:
    """Tasks that forbid the same library modules share one child per submission (fewer
    interpreter starts); each task's library objects are renamed ``task:key``."""

    def __init__(self, tasks):
        self.name = "+".join(task.name for task in tasks)
        self.allowed = tasks[0].allowed
        self.library = {f"{task.name}:{key}": _prefixed(spec, task.name)
                        for task in tasks for key, spec in task.library.items()}
        self.entries = [(task.name, test, _prefixed(test.calls, task.name))
                        for task in tasks for test in task.tests]


def groups_of(tasks):
    by_allowed = {}
    for task in tasks:
        by_allowed.setdefault(tuple(task.allowed), []).append(task)
    return [Group(members) for members in by_allowed.values()]


def grade_group(sandbox, folder, group, entries, time_limit, deadline, startup=15.0):
    """Outcomes {id(test): (status, message)} for ``entries`` [(task, test, calls)] of one
    group, run in one child (restarted after a test that hangs or ends it), and the forbidden
    calls tried by task. status: "passed", "failed" or "not run"."""
    outcomes, forbidden, start = {}, {}, 0
    child = type("Child", (), {"name": group.name, "allowed": group.allowed,
                               "library": group.library, "modules": ()})
    while start < len(entries):
        if time.monotonic() >= deadline:
            for _, test, _ in entries[start:]:
                outcomes[id(test)] = ("not run", "the submission used up its --student-limit")
            break
        answers, current, note = [], start, None
        for kind, payload in run_calls(sandbox, folder, child,
                                       [calls for _, _, calls in entries[start:]],
                                       startup + time_limit, time_limit, deadline):
            if kind == "ready" and not payload["ready"]:
                note = f"the grader could not start: {payload.get('error', '')}"
            elif kind == "answer":
                task, test, calls = entries[current]
                forbidden.setdefault(task, []).extend(payload.get("forbidden", []))
                answers.append(payload)
                if len(answers) == len(calls):
                    outcomes[id(test)] = _check(test, answers)
                    answers, current = [], current + 1
            elif kind == "stopped":
                note = (f"stopped after the time limit of {time_limit:g} s (an infinite loop?)"
                        if payload == "time limit" else
                        "stopped: the submission used up its --student-limit")
            elif kind == "ended":
                note = (f"the submission's process ended (exit status {payload}) before "
                        f"answering: sys.exit, os._exit or a crash in your code?")
            elif kind == "stderr" and note:
                note += "\n" + payload.strip().splitlines()[-1]
        if current < len(entries):
            outcomes[id(entries[current][1])] = ("failed", note or "the child stopped answering")
            start = current + 1
            if "student-limit" in (note or ""):
                continue                                # the loop's first line marks the rest
        else:
            start = current
    return outcomes, forbidden


def _check(test, answers):
    """Run a test's check on the child's answers: (status, message)."""
    values = []
    for answer in answers:
        if "error" in answer:
            where = "\n".join(answer.get("where", []))
            return "failed", (f"{where}\n" if where else "") + answer["error"]
        if test.keep_inputs and answer.get("changed"):
            return "failed", (f"your code changed its argument(s) number "
                              f"{', '.join(str(i + 1) for i in answer['changed'])} in place: "
                              f"they belong to the caller (write dw = dw - ..., not dw -= ...)")
        try:
            values.append(decode_answer(answer["value"]))
        except (ValueError, KeyError, TypeError):
            return "failed", "the answer was not numbers"
    gt = sys.modules["grader_tests"]
    try:
        test.check(values)
    except gt.Failure as failure:
        return "failed", str(failure)
    except Exception as error:                       # noqa: BLE001 (shapes, tuples, ...)
        return "failed", f"your result has the wrong form: {type(error).__name__}: {error}"
    return "passed", ""


def grade(folder, tasks, sandbox, time_limit=10.0, student_limit=120.0, name=None):
    """Grade one submission; return the summary dict (printable by ``report``)."""
    start = time.monotonic()
    deadline = start + (student_limit or float("inf"))
    summary = {"folder": name or str(folder), "files": exercise_files(folder, tasks),
               "tasks": {}}
    present = {task.name for task in tasks.values() if any(
        (folder / f"{m}.py").is_file() or (folder / f"{m}_solution.py").is_file()
        for m in task.modules)}
    outcomes, forbidden = {}, {}
    for group in groups_of(list(tasks.values())):
        entries = [entry for entry in group.entries if entry[0] in present]
        if entries:
            done, tried = grade_group(sandbox, folder, group, entries, time_limit, deadline)
            outcomes.update(done)
            forbidden.update(tried)
    for task in tasks.values():
        results = [(t, *outcomes.get(id(t), ("not run", f"no {task.modules[0]}.py in the "
                                                          f"folder"))) for t in task.tests]
        total = sum(t.weight for t in task.tests) or 1.0
        earned = sum(t.weight for t, status, _ in results if status == "passed")
        points = round(task.points * earned / total, 2)
        note, tried = "", forbidden.get(task.name)
        if tried:
            points, note = 0, (f"0 points: the task forbids the library's implementation and "
                               f"your code used it ({tried[0]})")
        passed = sum(status == "passed" for _, status, _ in results)
        summary["tasks"][task.name] = {
            "passed": passed, "total": len(task.tests), "points": points,
            "max_points": task.points, "note": note,
            "result": "PASS" if passed == len(task.tests) and not tried else "FAIL",
            "failures": [{"test": t.name, "status": status, "message": message}
                         for t, status, message in results if status != "passed"]}
    summary["seconds"] = round(time.monotonic() - start, 2)
    return summary


def report(summary):
    lines = []
    for task, row in summary["tasks"].items():
        if row["failures"] or row["note"]:
            lines.append(f"\n---- {task}: {row['total'] - row['passed']} of {row['total']} "
                         f"tests did not pass" + (f"; {row['note']}" if row["note"] else ""))
        not_run = [f for f in row["failures"] if f["status"] == "not run"]
        for failure in row["failures"]:
            if failure["status"] == "failed":
                lines.append(f"{failure['test']}\n    "
                             + failure["message"].replace("\n", "\n    "))
        if not_run:
            reasons = sorted({f["message"] for f in not_run})
            lines.append(f"{len(not_run)} test(s) did not run: " + "; ".join(reasons))
            lines += [f"    not run: {f['test']}" for f in not_run[:3]]
            if len(not_run) > 3:
                lines.append(f"    ... and {len(not_run) - 3} more")
    lines.append(f"\ngraded folder: {summary['folder']}  (files: {', '.join(summary['files'])})")
    lines.append(f"{'task':24} {'tests passed':>12}  result  points")
    for task, row in summary["tasks"].items():
        lines.append(f"{task:24} {row['passed']:>5}/{row['total']:<6}  {row['result']:6}  "
                     f"{row['points']:g}/{row['max_points']:g}")
    total = sum(row["points"] for row in summary["tasks"].values())
    top = sum(row["max_points"] for row in summary["tasks"].values())
    lines.append(f"{'total':24} {'':12}  {'':6}  {total:g}/{top:g}   ({summary['seconds']:.1f} s)")
    return "\n".join(lines)


def grade_batch(root, csv_path, tasks, sandbox, time_limit, student_limit, jobs):
    """Grade every sub-folder of ``root``; one CSV row per student, each student's report in
    ``<csv stem>_reports/<student>.txt``. Returns the rows, or None when there are none."""
    students = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not students:
        return None
    reports = csv_path.with_name(csv_path.stem + "_reports")
    reports.mkdir(parents=True, exist_ok=True)
    print(f"grading {len(students)} student folders in {root} ({sandbox.describe()})")
    lock = threading.Lock()

    def one(student):
        try:
            summary = grade(student, tasks, sandbox, time_limit, student_limit,
                            name=student.name)
            note = ""
        except Exception as error:                   # noqa: BLE001 (one row per student)
            summary, note = None, f"grading failed: {type(error).__name__}: {error}"
        row = {"student": student.name}
        for task in tasks.values():
            info = (summary or {"tasks": {}})["tasks"].get(task.name)
            row[f"{task.name}_points"] = info["points"] if info else 0
            row[f"{task.name}_passed"] = info["passed"] if info else 0
            row[f"{task.name}_total"] = info["total"] if info else len(task.tests)
        row["total_points"] = round(sum(row[f"{t}_points"] for t in tasks), 2)
        row["max_points"] = float(sum(task.points for task in tasks.values()))
        notes = [f"{t}: {info['note']}" for t, info in (summary or {"tasks": {}})["tasks"].items()
                 if info["note"]]
        row["note"] = "; ".join([note] + notes if note else notes)
        (reports / f"{student.name}.txt").write_text(report(summary) if summary else note)
        with lock:
            print(f"  {student.name:24} {row['total_points']:g}/{row['max_points']:g} "
                  f"{row['note'][:80]}")
        return row

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(one, students))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {csv_path} ({len(rows)} rows) and the reports in {reports}")
    return rows


def bench(n, tasks, sandbox, time_limit, student_limit, jobs):
    """Grade a class of ``n`` copies of the solutions in a scratch folder; print the times."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "class"
        for k in range(n):
            shutil.copytree(COURSE, root / f"student_{k:02d}",
                            ignore=shutil.ignore_patterns("__pycache__", "student*", "grade*",
                                                          "sandbox.py", "hidden*"))
        start = time.monotonic()
        rows = grade_batch(root, Path(tmp) / "grades.csv", tasks, sandbox, time_limit,
                           student_limit, jobs)
        seconds = time.monotonic() - start
    print(f"bench: {n} students, --jobs {jobs}: {seconds:.1f} s in all, "
          f"{seconds / n:.2f} s per student ({os.cpu_count()} cores)")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, nargs="?",
                        help="the submission folder (with --batch: a folder of student folders)")
    parser.add_argument("--batch", action="store_true",
                        help="grade every sub-folder of FOLDER, one CSV row per student")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"),
                        help="with --batch: the CSV to write (default grades.csv)")
    parser.add_argument("--task", action="append", help="grade only this task (repeatable)")
    parser.add_argument("--time-limit", type=float, default=10.0,
                        help="seconds per test (default 10; 0: no limit)")
    parser.add_argument("--student-limit", type=float, default=120.0,
                        help="seconds per submission, all tasks together (default 120)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="with --batch: students graded at once (default: the cores)")
    parser.add_argument("--hidden", type=Path,
                        help="a teacher-only test file (default: course/hidden_tests.py if any)")
    parser.add_argument("--weights", type=Path,
                        help='JSON: {"task": points, "task::test name": weight}')
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument("--bench", type=int, metavar="N",
                        help="grade N copies of the solutions and print the time")
    args = parser.parse_args(argv)
    if args.folder is None and args.bench is None:
        parser.error("the folder is required")
    weights = json.loads(args.weights.read_text()) if args.weights else None
    _, tasks = load_course(args.hidden, weights)
    if args.task:
        unknown = [t for t in args.task if t not in tasks]
        if unknown:
            parser.error(f"unknown task(s) {unknown}; the tasks are {list(tasks)}")
        tasks = {name: tasks[name] for name in args.task}
    if args.bench:
        sandbox = Sandbox(HERE, COURSE)
        try:
            bench(args.bench, tasks, sandbox, args.time_limit, args.student_limit, args.jobs)
        finally:
            sandbox.close()
        return 0
    folder = args.folder
    if not folder.is_dir():
        print(f"grade.py: {folder} is not a folder: nothing graded", file=sys.stderr)
        return 2
    if not args.batch and not exercise_files(folder, tasks):
        inside = [p.name for p in folder.iterdir() if p.is_dir() and exercise_files(p, tasks)]
        hint = f"; it holds student folders ({', '.join(inside[:3])}, ...): use --batch" \
            if inside else ""
        names = sorted({f"{m}.py" for t in tasks.values() for m in t.modules})
        print(f"grade.py: none of {', '.join(names)} in {folder}: nothing graded{hint}",
              file=sys.stderr)
        return 2
    sandbox = Sandbox(HERE, COURSE, hide=[folder.resolve(), folder.resolve().parent])
    try:
        if args.batch:
            rows = grade_batch(folder, args.csv, tasks, sandbox, args.time_limit,
                               args.student_limit, args.jobs)
            if rows is None:
                print(f"grade.py: no student folders in {folder}: nothing graded",
                      file=sys.stderr)
                return 2
            return 0
        print(f"grading folder: {folder} ({sandbox.describe()})")
        summary = grade(folder, tasks, sandbox, args.time_limit, args.student_limit)
    finally:
        sandbox.close()
    print(report(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if all(row["result"] == "PASS" for row in summary["tasks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

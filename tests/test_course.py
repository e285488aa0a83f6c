"""Tests of the course material: the handout generator, and the grader on known submissions.

The grader (``tutorials/grade.py`` running ``tutorials/course/grader_tests.py``) is checked from
the outside, as a teacher uses it: one batch run over a folder of made-up students (the
solutions, an equivalent rewrite of them, the stubs, folders with planted mistakes, a submission
that delegates to the library, one with an infinite loop) and the CSV it writes. The planted
mistakes contain solution code, so they live here, in the teacher's tests, and never in the
handout.
"""
import csv
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
SOLUTIONS = TUTORIALS / "course"
TASKS = ("task_grad", "task_hvp", "task_reverse_loop")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}


def _module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool():
    return _module(TUTORIALS / "make_exercises.py", "make_exercises_under_test")


@pytest.fixture(scope="module")
def grade():
    return _module(TUTORIALS / "grade.py", "grade_under_test")


# ---- the handout generator ---------------------------------------------------------------------

def test_strip_solutions_replaces_each_block_with_an_indented_stub(tool):
    text = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n"
            "    ### END SOLUTION\n\n### BEGIN SOLUTION\nz = 2\n### END SOLUTION\nprint(z)\n")
    assert tool.strip_solutions(text) == (
        f"def f(x):\n    y = 1\n    {tool.STUB}\n\n{tool.STUB}\nprint(z)\n")


def test_hint_blocks_are_kept_when_guided_and_removed_when_hard(tool):
    text = "a = 1\n### BEGIN HINT\n# the formula\n### END HINT\nb = 2\n"
    assert tool.strip_solutions(text, level="guided") == "a = 1\n# the formula\nb = 2\n"
    assert tool.strip_solutions(text, level="hard") == "a = 1\nb = 2\n"
    with pytest.raises(ValueError, match="level"):
        tool.strip_solutions(text, level="easy")


@pytest.mark.parametrize("text, problem", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the block"),
    ("### BEGIN HINT\nx = 1\n### END SOLUTION\n", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN HINT\n### END HINT\n### END SOLUTION\n", "inside the block"),
])
def test_strip_solutions_rejects_unmatched_markers(tool, text, problem):
    with pytest.raises(ValueError, match=problem):
        tool.strip_solutions(text, source="lesson.py")


def _blocks(text, begin, end):
    """(lines inside the marked blocks, lines outside them) of ``text``, stripped."""
    inside, outside, open_ = [], [], False
    for line in text.splitlines():
        marker = line.strip()
        if marker in (begin, end):
            open_ = marker == begin
        elif marker.startswith("### "):
            continue
        else:
            (inside if open_ else outside).append(line.strip())
    return inside, outside


def _secret_lines(tool, begin, end):
    """Lines of the marked blocks of every source that the source does not also give away
    outside them: the code part of each line (comments dropped), at least 8 characters long."""
    secrets = set()
    for path, _ in tool.sources():
        inside, outside = _blocks(path.read_text(), begin, end)
        given = "\n".join(outside)
        for line in inside:
            code = line.split("  #")[0].strip()
            if len(code) >= 8 and not code.startswith("#") and code not in given:
                secrets.add(code)
    return secrets


@pytest.mark.parametrize("level", ["guided", "hard"])
def test_the_handout_contains_no_solution_code(tool, tmp_path, level):
    written = tool.main([str(tmp_path), "--level", level])
    names = {path.name for path in written}
    assert {"logistic.py", "reverse_loop.py", "01_derivatives.py", "03_back_gradient.py",
            "grade.py", "grader_tests.py", "README.md"} <= names
    secrets = _secret_lines(tool, tool.BEGIN, tool.END)
    assert len(secrets) >= 15, secrets                       # the search has something to find
    hints = _secret_lines(tool, tool.HINT_BEGIN, tool.HINT_END)
    assert any("getsource" in line for line in hints), "the source-printing cells are hints"
    for path in written:
        text = path.read_text()
        assert "### BEGIN" not in text and "### END" not in text, path.name
        if path.name not in ("grade.py", "grader_tests.py"):    # they accept NAME_solution.py
            assert "_solution.py" not in text, f"{path.name} names a solution file"
        leaked = [line for line in secrets if line in text]
        assert not leaked, f"{path.name} contains solution code: {leaked}"
        if level == "hard" and path.name not in ("grade.py", "grader_tests.py"):
            leaked = [line for line in hints if line in text]
            assert not leaked, f"{path.name} (hard level) contains hint lines: {leaked}"
            assert "inspect.getsource" not in text, path.name
        if path.suffix == ".py":
            compile(text, str(path), "exec")                  # valid Python


def test_the_guided_handout_keeps_the_formulas_and_the_hard_one_does_not(tool, tmp_path):
    guided = tool.main([str(tmp_path / "guided")])
    hard = tool.main([str(tmp_path / "hard"), "--level", "hard"])
    formula = "H_xw v   = RdZ W^T + dZ V^T"
    assert formula in (tmp_path / "guided" / "logistic.py").read_text()
    assert formula not in (tmp_path / "hard" / "logistic.py").read_text()
    assert "inspect.getsource(LinearModel.r_backward)" in \
        (tmp_path / "guided" / "01_derivatives.py").read_text()
    assert len(guided) == len(hard)


def test_the_student_readme_says_how_to_set_up_check_and_run(tool, tmp_path):
    tool.main([str(tmp_path), "--level", "hard"])
    readme = (tmp_path / "README.md").read_text()
    for needle in ("pip install", "gradcheck.check_model", "python grade.py .", "task_grad",
                   "task_hvp", "task_reverse_loop", "01_derivatives.py", "03_back_gradient.py",
                   "jupytext --to notebook", "hard level"):
        assert needle in readme, needle


def test_the_student_files_import_and_raise_where_work_is_missing(tool, tmp_path):
    tool.main([str(tmp_path)])
    module = _module(tmp_path / "logistic.py", "student_logistic_stub")
    model = module.LogisticRegression(2)
    with pytest.raises(NotImplementedError):
        model.grad_w(np.zeros(3), np.ones((1, 2)), [1])


# ---- the grading command -------------------------------------------------------------------

def test_grade_refuses_a_missing_or_empty_folder_and_never_grades_the_solutions(grade, tmp_path,
                                                                                capsys):
    assert grade.main([str(tmp_path / "no-such-folder")]) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert grade.main([str(tmp_path / "empty")]) == 2
    assert "nothing graded" in capsys.readouterr().err
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / "logistic.py").write_text("")
    assert grade.main([str(tmp_path / "class")]) == 2
    assert "--batch" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        grade.main([])                                       # the folder is required


def test_grader_tests_refuse_to_run_without_a_folder(tmp_path):
    """Run directly by pytest, without grade.py: no variable, no grading (not the solutions)."""
    env = {key: value for key, value in ENV.items() if key != "BGPOISON_COURSE_DIR"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(SOLUTIONS / "grader_tests.py"), "-k", "test_gradient_equals"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout
    assert "BGPOISON_COURSE_DIR is not set" in run.stdout


# One plausible mistake per line, planted in a copy of the solutions:
# (task, file, correct text, wrong text, a phrase the failure report should contain).
MISTAKES = [
    ("task_grad", "logistic", '"W": X.T @ dZ + self.l2 * W,', '"W": X.T @ dZ,',
     "l2 penalty"),                                                        # no penalty
    ("task_grad", "logistic", 'dZ = (acts["S"] - Y) / X.shape[0]',
     'dZ = (Y - acts["S"]) / X.shape[0]', "a sign is flipped"),            # s - y reversed
    ("task_grad", "logistic", 'dZ = (acts["S"] - Y) / X.shape[0]', 'dZ = (acts["S"] - Y)',
     "the 1/n of the mean is missing"),                                    # sum, not mean
    ("task_grad", "logistic", '"b": dZ.sum(axis=0)})', '"b": dZ.mean(axis=0)})',
     "grad_w L"),                                                          # 1/n twice on b
    ("task_grad", "logistic", '"W": X.T @ dZ + self.l2 * W,',
     '"W": X.T @ dZ + 0.5 * self.l2 * W,', "l2 penalty"),                  # (l2/2) kept
    ("task_hvp", "logistic", 'dX_r = RdZ[rows] @ W.T + dZ_r @ q["W"].T',
     "dX_r = RdZ[rows] @ W.T", "H_xw v"),                                  # x_i in sigmoid only
    ("task_hvp", "logistic", 'Hv = self.pack({"W": X.T @ RdZ + self.l2 * q["W"],',
     'Hv = self.pack({"W": X.T @ RdZ,', "l2 penalty"),                     # no l2 V
    ("task_hvp", "logistic", "dZ_r = (S[rows] - Y[rows]) / n ",
     "dZ_r = (S[rows] - Y[rows]) / max(1, len(S[rows])) ", "rows="),       # 1/r, not 1/n
    ("task_hvp", "logistic", "RdZ = S * (1.0 - S) * RZ / n", "RdZ = S * RZ / n",
     "H_ww v"),                                                            # sigmoid' wrong
    ("task_hvp", "logistic", "dX_r = RdZ[rows] @ W.T + dZ_r", "dX_r = RdZ[rows] @ W.T - dZ_r",
     "H_xw v"),                                                            # sign of one term
    ("task_hvp", "logistic", 'RZ = X @ q["W"] + q["b"]', 'RZ = X @ q["W"]',
     "H_ww v"),                                                            # c forgotten
    ("task_reverse_loop", "reverse_loop", "w_t = ws[t]\n", "w_t = ws[t + 1]\n",
     "dX_c = dA/dX_c"),                                                    # products at w_{t+1}
    ("task_reverse_loop", "reverse_loop", "dX_rows = dX_rows - lr * dX_t",
     "dX_rows = dX_rows + lr * dX_t", "a sign is flipped"),
    ("task_reverse_loop", "reverse_loop", "dw = dw - lr * Hdw", "dw -= lr * Hdw",
     "in place"),                                                          # caller's dw changed
    ("task_reverse_loop", "reverse_loop", "dX_rows = dX_rows - lr * dX_t",
     "dX_rows = -lr * dX_t", "dX_c = dA/dX_c"),                            # no accumulation
    ("task_reverse_loop", "reverse_loop", "for t in reversed(range(len(ws) - 1)):",
     "for t in reversed(range(1, len(ws) - 1)):", "dX_c = dA/dX_c"),       # step 0 skipped
    ("task_reverse_loop", "reverse_loop", "dX_rows = dX_rows - lr * dX_t",
     "dX_rows = dX_rows - dX_t", "the factor eta is missing"),
    ("task_reverse_loop", "reverse_loop", "dw = dw - lr * Hdw", "dw = -lr * Hdw",
     "dw0 = dA/dw_0"),                                                     # identity part lost
]

# The same answers written differently: loops, outer products, a while loop.
REWRITE = {
    ("logistic", 0): '''
        n = X.shape[0]
        residual = (acts["S"] - Y)[:, 0]                                     # (n,)
        grad_W = sum(r_i * x_i for r_i, x_i in zip(residual, X)) / n
        grad_W = grad_W + self.l2 * self.unpack(w)["W"][:, 0]
        return np.append(grad_W, residual.sum() / n)
''',
    ("logistic", 1): '''
        n = len(X)
        p, q = self.unpack(w), self.unpack(v)
        s = acts["S"][:, 0]
        curvature = s * (1 - s) * (X @ q["W"][:, 0] + q["b"][0]) / n       # (n,)
        Hv = np.concatenate([X.T @ curvature + self.l2 * q["W"][:, 0], [curvature.sum()]])
        residual = (s - Y[:, 0]) / n
        index = np.arange(n)[rows]
        dX = np.outer(curvature[index], p["W"][:, 0]) + np.outer(residual[index], q["W"][:, 0])
        return Hv, dX
''',
    ("reverse_loop", 0): '''
    dX_rows = 0.0 * X[rows]
    t = len(ws) - 1
    while t > 0:
        t -= 1
        Hdw, dX_t = model.r_backward(ws[t], X, Y, model.forward(ws[t], X), dw, rows)
        dX_rows = dX_rows + (-lr) * dX_t
        dw = dw + (-lr) * Hdw
    return dX_rows, dw
''',
}
DELEGATE = {
    ("logistic", 0): "\n        return bg.LogisticRegression(self.n_features, l2=self.l2)"
                     ".backward(w, X, Y, acts)\n",
    ("logistic", 1): "\n        return bg.LogisticRegression(self.n_features, l2=self.l2)"
                     ".r_backward(w, X, Y, acts, v, rows)\n",
}
LOOP = {("logistic", 0): "\n        while True:\n            pass\n"}
BLOCK = re.compile(r"\n[ \t]*### BEGIN SOLUTION\n.*?\n[ \t]*### END SOLUTION\n", re.S)


def _student(folder, replace=None, blocks=None):
    """A student folder from the solutions, with text replaced ({file: [(correct, wrong)]})
    or whole solution blocks replaced ({(file, index): code})."""
    folder.mkdir(parents=True)
    for name in ("logistic", "reverse_loop"):
        text = (SOLUTIONS / f"{name}_solution.py").read_text()
        for correct, wrong in (replace or {}).get(name, []):
            assert text.count(correct) == 1, f"{correct!r} not found once in {name}_solution.py"
            text = text.replace(correct, wrong)
        if blocks:
            found = iter(range(100))
            text = BLOCK.sub(lambda m, name=name: blocks.get((name, next(found)), m.group(0)),
                             text)
        (folder / f"{name}.py").write_text(text)


def _planted_folders():
    """Folders of at most one mistake per task: mistake k of every task goes into folder k."""
    by_task = {task: [m for m in MISTAKES if m[0] == task] for task in TASKS}
    folders = []
    for k in range(max(len(ms) for ms in by_task.values())):
        chosen = [ms[k] for ms in by_task.values() if k < len(ms)]
        folders.append((f"mistakes_{k}", chosen))
    return folders


@pytest.fixture(scope="module")
def batch(tmp_path_factory, tool):
    """One batch run of grade.py over all the made-up students: (rows by student, reports
    folder, seconds, planted folders)."""
    root = tmp_path_factory.mktemp("class")
    tool.main([str(root / "stubs")])
    _student(root / "solutions")
    _student(root / "rewrite", blocks=REWRITE)
    _student(root / "delegates", blocks=DELEGATE)
    _student(root / "infinite_loop", blocks=LOOP)
    planted = _planted_folders()
    for name, mistakes in planted:
        replace = {}
        for _, file, correct, wrong, _ in mistakes:
            replace.setdefault(file, []).append((correct, wrong))
        _student(root / name, replace=replace)
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    start = time.perf_counter()
    run = subprocess.run([sys.executable, str(TUTORIALS / "grade.py"), "--batch", str(root),
                          "--csv", str(out), "--time-limit", "2", "--jobs", "2"],
                         env=ENV, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    assert run.returncode == 0, run.stdout + run.stderr
    with open(out, newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return rows, out.with_name("grades_reports"), seconds, planted


def test_batch_writes_one_row_per_student_and_one_column_per_task(batch):
    rows, reports, _, planted = batch
    assert set(rows) == {"stubs", "solutions", "rewrite", "delegates", "infinite_loop"} | {
        name for name, _ in planted}
    for row in rows.values():
        assert {*TASKS, *(f"{t}_points" for t in TASKS), "total_points"} <= set(row)
        assert (reports / f"{row['student']}.txt").is_file()


def test_the_solutions_and_a_rewrite_of_them_pass_every_task(batch):
    rows, reports, _, _ = batch
    for student in ("solutions", "rewrite"):
        assert all(rows[student][task] == "PASS" for task in TASKS), rows[student]
        assert rows[student]["total_points"] == rows[student]["max_points"]
    report = (reports / "rewrite.txt").read_text()
    assert "grading folder:" in report and "rewrite" in report   # it names what it graded


def test_the_stubs_fail_every_task(batch):
    rows, _, _, _ = batch
    assert all(rows["stubs"][task] == "FAIL" for task in TASKS)
    assert rows["stubs"]["total_points"] == "0"


def test_every_planted_mistake_fails_its_task_only_with_a_telling_report(batch):
    rows, reports, _, planted = batch
    assert sum(len(mistakes) for _, mistakes in planted) == len(MISTAKES) >= 18
    for name, mistakes in planted:
        report = (reports / f"{name}.txt").read_text()
        failing = {task for task, *_ in mistakes}
        for task in TASKS:
            expected = "FAIL" if task in failing else "PASS"
            assert rows[name][task] == expected, (name, task, mistakes)
        for task, _, _, wrong, phrase in mistakes:
            assert phrase in report, f"{name}: no {phrase!r} in the report for {wrong!r}"
        assert re.search(r"\[n=\d+, d=\d+, l2=[\d.]+", report) or "T=" in report


def test_delegating_to_the_library_model_fails(batch):
    rows, reports, _, _ = batch
    assert rows["delegates"]["task_grad"] == "FAIL" and rows["delegates"]["task_hvp"] == "FAIL"
    assert rows["delegates"]["task_reverse_loop"] == "PASS"
    assert "calls the library's" in (reports / "delegates.txt").read_text()


def test_an_infinite_loop_fails_its_task_within_the_time_limit(batch):
    rows, reports, seconds, _ = batch
    assert rows["infinite_loop"]["task_grad"] == "FAIL"
    assert rows["infinite_loop"]["task_hvp"] == "PASS"
    assert rows["infinite_loop"]["task_reverse_loop"] == "PASS"
    report = (reports / "infinite_loop.txt").read_text()
    assert "time limit of 2 s" in report and "logistic.py" in report   # where it was stopped
    assert "(time limit hit)" in report
    assert seconds < 120                                # one 2 s limit, not one per test

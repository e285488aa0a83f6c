"""Tests of the course material: the handout generator, and the grader on known submissions.

The grader (``tutorials/grade.py``, its child ``tutorials/course/grade_child.py`` and the tests
in ``tutorials/course/grader_tests.py``) is checked from the outside, as a teacher uses it: one
batch run over a folder of made-up students (the solutions, an equivalent rewrite of them, the
stubs, folders with planted mistakes, and hostile submissions that attack the grader) and the
CSV it writes. The planted mistakes contain solution code, so they live here, in the teacher's
tests, and never in the handout. ``python tutorials/grade.py --bench 30`` prints the time of a
class of 30 (not asserted here).
"""
import csv
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
SOLUTIONS = TUTORIALS / "course"
TASKS = ("task_grad", "task_hvp", "task_softmax_grad", "task_softmax_hvp", "task_mlp_rpass",
         "task_reverse_loop", "task_momentum_reverse", "task_attack_update")
FILES = ("logistic", "softmax", "mlp", "reverse_loop", "momentum", "attack_update")
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


def _exercise_function_lines(tool):
    """The code lines of the tutorial functions that the handout turns into exercises."""
    import ast
    lines = set()
    for name, functions in tool.EXERCISE_FUNCTIONS.items():
        text = (TUTORIALS / name).read_text()
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and node.name in functions:
                for line in text.splitlines()[node.body[0].lineno - 1:node.end_lineno]:
                    code = line.split("  #")[0].strip()
                    if len(code) >= 8 and code not in tool.stub_functions(text, functions):
                        lines.add(code)                    # not also given elsewhere
    return lines


def _secret_lines(tool, begin, end):
    """Lines of the marked blocks of every source that the source does not also give away
    outside them: the code part of each line (comments dropped), at least 8 characters long."""
    secrets, blocks = set(), [_blocks(path.read_text(), begin, end) for path, _ in tool.sources()]
    given = "\n".join(line for _, outside in blocks for line in outside)   # in any handout
    for inside, _ in blocks:
        for line in inside:
            code = line.split("  #")[0].strip()
            if len(code) >= 8 and not code.startswith("#") and code not in given:
                secrets.add(code)
    return secrets


@pytest.mark.parametrize("level", ["guided", "hard"])
def test_the_handout_contains_no_solution_code(tool, tmp_path, level):
    written = tool.main([str(tmp_path), "--level", level])
    names = {path.name for path in written}
    assert {*(f"{f}.py" for f in FILES), "01_derivatives.py", "03_back_gradient.py",
            "grade.py", "grader_tests.py", "sandbox.py", "grade_child.py", "README.md"} <= names
    secrets = _secret_lines(tool, tool.BEGIN, tool.END) | _exercise_function_lines(tool)
    assert len(secrets) >= 15, secrets                       # the search has something to find
    hints = _secret_lines(tool, tool.HINT_BEGIN, tool.HINT_END)
    assert any("getsource" in line for line in hints), "the source-printing cells are hints"
    for path in written:
        text = path.read_text()
        assert "### BEGIN" not in text and "### END" not in text, path.name
        grader = ("grade.py", "grader_tests.py", "sandbox.py", "grade_child.py")
        if path.name not in grader:                              # they accept NAME_solution.py
            assert "_solution.py" not in text, f"{path.name} names a solution file"
        leaked = [line for line in secrets if line in text]
        assert not leaked, f"{path.name} contains solution code: {leaked}"
        if level == "hard" and path.name not in grader:
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
    for needle in ("pip install bgpoison-", "pip install jupytext jupyterlab", "jupyter lab",
                   "gradcheck.check_model", "python grade.py .", *TASKS, "01_derivatives.py",
                   "03_back_gradient.py", "jupytext --to notebook", "hard level"):
        assert needle in readme, needle
    assert "-e " not in readme and "REPOSITORY" not in readme   # never the repository


def test_the_student_files_import_and_raise_where_work_is_missing(tool, tmp_path):
    tool.main([str(tmp_path)])
    module = _module(tmp_path / "logistic.py", "student_logistic_stub")
    model = module.LogisticRegression(2)
    with pytest.raises(NotImplementedError):
        model.grad_w(np.zeros(3), np.ones((1, 2)), [1])


def test_make_exercises_builds_the_wheel_students_install(tool, tmp_path):
    written = tool.main([str(tmp_path), "--wheel"])
    wheels = [p for p in written if p.suffix == ".whl"]
    assert len(wheels) == 1 and wheels[0].name.startswith("bgpoison-")
    assert f"pip install {wheels[0].name}" in (tmp_path / "README.md").read_text()


# ---- the grading command -------------------------------------------------------------------

def _grade(*args, cwd=None):
    return subprocess.run([sys.executable, str(TUTORIALS / "grade.py"), *map(str, args)],
                          env=ENV, capture_output=True, text=True, timeout=600, cwd=cwd)


def test_grade_refuses_a_missing_or_empty_folder_and_never_grades_the_solutions(tmp_path):
    run = _grade(tmp_path / "no-such-folder")
    assert run.returncode == 2 and "not a folder" in run.stderr
    (tmp_path / "empty").mkdir()
    run = _grade(tmp_path / "empty")
    assert run.returncode == 2 and "nothing graded" in run.stderr
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / "logistic.py").write_text("")
    run = _grade(tmp_path / "class")
    assert run.returncode == 2 and "--batch" in run.stderr
    run = _grade("--batch", tmp_path / "empty", "--csv", tmp_path / "g.csv")
    assert run.returncode == 2 and "no student folders" in run.stderr   # documented: 2
    assert not (tmp_path / "g.csv").exists()
    assert _grade().returncode == 2                            # the folder is required


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
    ("task_softmax_grad", "softmax", '"W": X.T @ dZ + self.l2 * W, "b"', '"W": X.T @ dZ, "b"',
     "l2 penalty"),
    ("task_softmax_grad", "softmax", 'dZ = (acts["P"] - Y) / X.shape[0]',
     'dZ = (acts["P"] - Y)', "the 1/n of the mean is missing"),
    ("task_softmax_hvp", "softmax", 'dX_r = RdZ[rows] @ W.T + dZ_r @ q["W"].T',
     "dX_r = RdZ[rows] @ W.T", "H_xw v"),                                  # one term of H_xw v
    ("task_softmax_hvp", "softmax",
     "RdZ = P * (RZ - np.sum(P * RZ, axis=1, keepdims=True)) / n", "RdZ = P * RZ / n",
     "H_ww v"),                                                            # diag(p) only
    ("task_mlp_rpass", "mlp", '"W2": A1.T @ RdZ2 + RA1.T @ dZ2 + self.l2 * q["W2"]',
     '"W2": A1.T @ RdZ2 + self.l2 * q["W2"]', "H_ww v"),                   # R{A1} in grad W2
    ("task_mlp_rpass", "mlp", "RdZ1 = RdA1 * D - 2.0 * A1 * RA1 * dA1", "RdZ1 = RdA1 * D",
     "H_ww v"),                                                            # R{tanh'} dropped
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
    ("task_momentum_reverse", "momentum", "dv = dv + lr * dw ", "dv = dv + 0 * dw ",
     "dX_c = dA/dX_c"),                                                    # w_{t+1}'s v forgot
    ("task_momentum_reverse", "momentum", "return dw + Hdg, momentum * dv, dX_rows",
     "return dw + Hdg, dv, dX_rows", "T=15"),                              # gamma on dv lost
    ("task_momentum_reverse", "momentum", "dv = dv + lr * dw ", "dv += lr * dw ",
     "in place"),                                                          # caller's dv changed
    ("task_attack_update", "attack_update",
     "return np.divide(grad, norms, out=np.zeros_like(grad), where=norms > 0)", "return grad",
     "ascent direction"),                                                  # not normalised
    ("task_attack_update", "attack_update", "return np.minimum(np.maximum(X, lb), ub)",
     "return np.maximum(X, lb)", "projection onto the box"),               # ub forgotten
    ("task_attack_update", "attack_update", "if new > value and np.isfinite(new):",
     "if np.isfinite(new):", "X_c after the line search"),                 # any step accepted
]

# The same answers written differently: loops, outer products, einsum, a while loop.
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
    ("softmax", 0): '''
        n = len(X)
        residual = acts["P"] - Y
        grad_W = np.einsum("ni,nk->ik", X, residual) / n + self.l2 * self.unpack(w)["W"]
        return np.concatenate([grad_W.ravel(), residual.mean(axis=0)])
''',
    ("softmax", 1): '''
        n = len(X)
        p, q = self.unpack(w), self.unpack(v)
        P = acts["P"]
        RZ = np.einsum("nd,dk->nk", X, q["W"]) + q["b"]
        RdZ = (P * RZ - P * (P * RZ).sum(axis=1)[:, None]) / n
        Hv = np.concatenate([(X.T @ RdZ + self.l2 * q["W"]).ravel(), RdZ.sum(axis=0)])
        index = np.arange(n)[rows]
        return Hv, RdZ[index] @ p["W"].T + ((P - Y)[index] / n) @ q["W"].T
''',
    ("mlp", 0): '''
        n = len(X)
        p, q = self.unpack(w), self.unpack(v)
        A1, P = acts["A1"], acts["P"]
        RA1 = (1 - A1 * A1) * (X @ q["W1"] + q["b1"])
        RZ2 = A1 @ q["W2"] + q["b2"] + RA1 @ p["W2"]
        e = (P - Y) / n
        Re = (P * RZ2 - P * np.sum(P * RZ2, axis=1, keepdims=True)) / n
        back = e @ p["W2"].T
        Rback = Re @ p["W2"].T + e @ q["W2"].T
        d1 = back * (1 - A1 * A1)
        Rd1 = Rback * (1 - A1 * A1) - 2 * A1 * RA1 * back
        parts = {"W1": X.T @ Rd1 + self.l2 * q["W1"], "b1": Rd1.sum(0),
                 "W2": A1.T @ Re + RA1.T @ e + self.l2 * q["W2"], "b2": Re.sum(0)}
        Hv = np.concatenate([parts[k].ravel() for k in ("W1", "b1", "W2", "b2")])
        return Hv, (Rd1 @ p["W1"].T + d1 @ q["W1"].T)[rows]
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
    ("momentum", 0): '''
    total = lr * dw + dv
    Hv, dX = model.r_backward(w_t, X, Y, model.forward(w_t, X), (momentum - 1.0) * total, rows)
    return Hv + dw, total * momentum, dX
''',
    ("attack_update", 0): '''
    out = np.zeros(grad.shape)
    for j, g in enumerate(grad):
        size = np.linalg.norm(g)
        if size > 0:
            out[j] = g / size
    return out
''',
    ("attack_update", 1): '''
    return np.clip(X, lb, ub)
''',
    ("attack_update", 2): '''
    d = ascent_direction(grad)
    for k in range(backtracks + 1):
        trial = project(X_c + (step / 2 ** k) * d, lb, ub)
        if (trial != X_c).any():
            a = A(trial)
            if np.isfinite(a) and a > value:
                return trial, a
    return X_c, value
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
MARK = "4242.125"                                  # in the command line of a detached process

# Hostile submissions: the stubs (nothing implemented) plus an attack on the grader, run at
# import or from inside a graded function. {name: {file: code prepended to the stub}}.
HOSTILE = {
    "patches_reports": {"logistic": '''
try:
    import _pytest.reports, _pytest.runner
    _pytest.reports.TestReport.passed = property(lambda self: True)
    _pytest.reports.TestReport.failed = property(lambda self: False)
except Exception:
    pass
'''},
    "fake_summary": {"logistic": '''
import json, os
summary = {"tasks": {t: {"result": "PASS", "passed": 9, "total": 9, "points": 9,
                         "max_points": 9} for t in ("task_grad", "task_hvp")}}
for fd in range(1, 64):
    try:
        os.write(fd, (json.dumps({"index": 0, "value": 1.0, "ready": True}) + "\\n"
                      + json.dumps(summary) + "\\n").encode())
    except OSError:
        pass
os._exit(0)
'''},
    "appends_tests": {"logistic": f'''
for path in ({str(SOLUTIONS / "grader_tests.py")!r}, {str(TUTORIALS / "grade.py")!r},
             {str(SOLUTIONS / "logistic_solution.py")!r}):
    try:
        with open(path, "a") as f:
            f.write("\\nraise SystemExit('hacked')\\n")
    except OSError:
        pass
'''},
    "deletes_classmate": {"logistic": '''
import os, shutil
for base in ("CLASS", os.path.dirname(os.getcwd())):
    for name in ("solutions", "rewrite"):
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)
try:
    os.system("rm -rf CLASS/solutions")
except Exception:
    pass
'''},
    "leaves_process": {"logistic": f'''
import os, subprocess
try:
    subprocess.Popen(["sleep", "{MARK}"], start_new_session=True)
except Exception:
    pass
try:
    if os.fork() == 0:
        os.setsid()
        os.execv("/bin/sleep", ["sleep", "{MARK}"])
except Exception:
    pass
'''},
    "ignores_alarm": {"logistic": '''
import signal
def _endless(*args):
    try:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except Exception:
        pass
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
'''},
    "class_attributes": {"logistic": '''
import bgpoison as _bg
_LIBRARY = _bg.LogisticRegression
'''},
    "calls_reverse": {"reverse_loop": '''
import importlib
_bgm = importlib.import_module("bgpoison.back_gradient")      # the module, not the function
def _delegate(model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
    result = _bgm.reverse(_bgm.train_forward(model, gd, w0, X_tr, y_tr, X_c, y_c, objective))
    return result.dX_c, result.dw0
'''},
    "runs_solution": {"reverse_loop": f'''
import os, bgpoison
_found = {{}}
for path in ({str(SOLUTIONS / "reverse_loop_solution.py")!r},
             os.path.join(os.path.dirname(os.path.dirname(bgpoison.__file__)), "tutorials",
                          "course", "reverse_loop_solution.py")):
    try:
        exec(open(path).read(), _found)
        break
    except Exception:
        pass
try:
    import reverse_loop_solution as _imported
    _found.update(vars(_imported))
except Exception:
    pass
'''},
}
# how each hostile submission then uses what it prepared (appended after the stub)
HOSTILE_USE = {
    "ignores_alarm": ("logistic", "\nLogisticRegression.backward = lambda self, *a: _endless()\n"),
    "class_attributes": ("logistic", "\nclass LogisticRegression(LogisticRegression):\n"
                                     "    backward = _LIBRARY.backward\n"
                                     "    r_backward = _LIBRARY.r_backward\n"),
    "calls_reverse": ("reverse_loop", "\nback_gradient = _delegate\n"),
    "runs_solution": ("reverse_loop", "\nif 'back_gradient' in _found:\n"
                                      "    back_gradient = _found['back_gradient']\n"
                                      "    reverse_loop = _found['reverse_loop']\n"),
}


def _student(folder, replace=None, blocks=None, files=FILES):
    """A student folder from the solutions, with text replaced ({file: [(correct, wrong)]})
    or whole solution blocks replaced ({(file, index): code})."""
    folder.mkdir(parents=True)
    for name in files:
        text = (SOLUTIONS / f"{name}_solution.py").read_text()
        for correct, wrong in (replace or {}).get(name, []):
            assert text.count(correct) == 1, f"{correct!r} not found once in {name}_solution.py"
            text = text.replace(correct, wrong)
        if blocks:
            found = iter(range(100))
            text = BLOCK.sub(lambda m, name=name: blocks.get((name, next(found)), m.group(0)),
                             text)
        (folder / f"{name}.py").write_text(text)


def _hostile(folder, name, stubs, class_root):
    folder.mkdir(parents=True)
    for file, code in HOSTILE[name].items():
        stub = (stubs / f"{file}.py").read_text()
        use = HOSTILE_USE.get(name, (None, ""))
        text = code.replace("CLASS", str(class_root)) + "\n" + stub + \
            (use[1] if use[0] == file else "")
        (folder / f"{file}.py").write_text(text)
    (folder / "helper_note.txt").write_text("a file beside the exercise")


def _planted_folders():
    """Folders of at most one mistake per task: mistake k of every task goes into folder k."""
    by_task = {task: [m for m in MISTAKES if m[0] == task] for task in TASKS}
    folders = []
    for k in range(max(len(ms) for ms in by_task.values())):
        chosen = [ms[k] for ms in by_task.values() if k < len(ms)]
        folders.append((f"mistakes_{k}", chosen))
    return folders


def _processes_with(marker):
    """pids whose command line contains ``marker`` (read from /proc; nothing is killed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _digest(paths):
    return {p: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def batch(tmp_path_factory, tool):
    """One batch run of grade.py over all the made-up students: (rows by student, reports
    folder, seconds, planted folders, teacher's files before, CSV path)."""
    root = tmp_path_factory.mktemp("class")
    stubs = tmp_path_factory.mktemp("handout")
    tool.main([str(stubs)])
    shutil.copytree(stubs, root / "stubs",
                    ignore=shutil.ignore_patterns("grade*", "sandbox.py", "*.md", "0*"))
    _student(root / "solutions")
    _student(root / "rewrite", blocks=REWRITE)
    _student(root / "delegates", blocks=DELEGATE, files=("logistic",))
    _student(root / "infinite_loop", blocks=LOOP, files=("logistic",))
    _student(root / "uses_helper", files=("logistic",), replace={"logistic": [
        ("import bgpoison as bg\n", "import bgpoison as bg\nfrom helpers import residual\n"),
        ('dZ = (acts["S"] - Y) / X.shape[0]', 'dZ = residual(acts["S"], Y, X.shape[0])')]})
    (root / "uses_helper" / "helpers.py").write_text(
        "def residual(S, Y, n):\n    return (S - Y) / n\n")
    for name in HOSTILE:
        _hostile(root / name, name, stubs, root)
    planted = _planted_folders()
    for name, mistakes in planted:
        replace = {}
        for _, file, correct, wrong, _ in mistakes:
            replace.setdefault(file, []).append((correct, wrong))
        _student(root / name, replace=replace)
    teacher = _digest([*SOLUTIONS.glob("*.py"), TUTORIALS / "grade.py"])
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    start = time.perf_counter()
    run = _grade("--batch", root, "--csv", out, "--time-limit", "1", "--student-limit", "20",
                 "--jobs", "2")
    seconds = time.perf_counter() - start
    assert run.returncode == 0, run.stdout + run.stderr
    with open(out, newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return rows, out.with_name("grades_reports"), seconds, planted, teacher, out, root


def _points(row, task):
    return float(row[f"{task}_points"])


def test_batch_writes_one_numeric_row_per_student(batch):
    rows, reports, _, planted, _, out, root = batch
    assert set(rows) == {"stubs", "solutions", "rewrite", "delegates", "infinite_loop",
                         "uses_helper", *HOSTILE} | {name for name, _ in planted}
    for row in rows.values():
        for task in TASKS:
            for column in ("points", "passed", "total"):
                float(row[f"{task}_{column}"])                 # numbers, never "8/8"
        float(row["total_points"]), float(row["max_points"])
        assert (reports / f"{row['student']}.txt").is_file()
    text = out.read_text() + "".join(p.read_text() for p in reports.iterdir())
    assert str(root) not in text and "/tmp/" not in text      # relative names only


def test_the_solutions_and_a_rewrite_of_them_pass_every_task(batch):
    rows, reports, *_ = batch
    for student in ("solutions", "rewrite"):
        row = rows[student]
        assert all(row[f"{t}_passed"] == row[f"{t}_total"] != "0" for t in TASKS), row
        assert float(row["total_points"]) == float(row["max_points"]), row
    assert "graded folder: rewrite" in (reports / "rewrite.txt").read_text()


def test_a_helper_module_beside_the_exercise_is_graded_with_it(batch):
    rows, *_ = batch
    for task in ("task_grad", "task_hvp"):
        row = rows["uses_helper"]
        assert row[f"{task}_passed"] == row[f"{task}_total"], row


def test_the_stubs_fail_every_task(batch):
    rows, *_ = batch
    assert all(_points(rows["stubs"], t) == 0 for t in TASKS)


def test_every_planted_mistake_fails_its_task_only_with_a_telling_report(batch):
    rows, reports, _, planted, *_ = batch
    assert sum(len(mistakes) for _, mistakes in planted) == len(MISTAKES)
    assert {m[0] for m in MISTAKES} == set(TASKS)              # every task has some
    for name, mistakes in planted:
        report = (reports / f"{name}.txt").read_text()
        failing = {task for task, *_ in mistakes}
        for task in TASKS:
            row = rows[name]
            complete = row[f"{task}_passed"] == row[f"{task}_total"]
            assert complete == (task not in failing), (name, task, mistakes)
        for task, _, _, wrong, phrase in mistakes:
            assert phrase in report, f"{name}: no {phrase!r} in the report for {wrong!r}"


def test_delegating_to_the_library_model_scores_zero_and_says_why(batch):
    rows, reports, *_ = batch
    assert _points(rows["delegates"], "task_grad") == _points(rows["delegates"], "task_hvp") == 0
    report = (reports / "delegates.txt").read_text()
    assert "forbids the library's" in report and "LogisticRegression" in report


def test_an_infinite_loop_costs_at_most_one_student_limit(batch):
    rows, reports, *_ = batch
    assert _points(rows["infinite_loop"], "task_grad") == 0
    report = (reports / "infinite_loop.txt").read_text()
    assert "time limit of 1 s" in report
    assert _points(rows["ignores_alarm"], "task_grad") == 0
    assert "time limit" in (reports / "ignores_alarm.txt").read_text()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_submission_scores_zero_on_what_it_attacks(batch, name):
    rows, reports, *_ = batch
    row = rows[name]
    attacked = [t for t in TASKS if any(m in HOSTILE[name] for m in _task_modules(t))]
    assert attacked
    assert all(_points(row, t) == 0 for t in attacked), row
    assert float(row["total_points"]) == 0, row


def _task_modules(task):
    return {"task_grad": ("logistic",), "task_hvp": ("logistic",),
            "task_softmax_grad": ("softmax",), "task_softmax_hvp": ("softmax",),
            "task_mlp_rpass": ("mlp",), "task_reverse_loop": ("reverse_loop",),
            "task_momentum_reverse": ("momentum",),
            "task_attack_update": ("attack_update",)}[task]


def test_hostile_submissions_change_no_teacher_file_no_classmate_and_leave_no_process(batch):
    rows, reports, _, _, teacher, _, root = batch
    assert _digest(list(teacher)) == teacher                   # grader, tests, solutions
    for name in ("solutions", "rewrite"):
        assert (root / name / "logistic.py").is_file()         # the classmates' folders
    assert float(rows["solutions"]["total_points"]) == float(rows["solutions"]["max_points"])
    assert not _processes_with(MARK)                           # nothing left running
    calls = (reports / "calls_reverse.txt").read_text()
    assert "forbids the library's" in calls and "bgpoison.back_gradient" in calls
    assert "forbids the library's" in (reports / "class_attributes.txt").read_text()


def test_exit_at_import_in_single_folder_mode_is_not_a_pass(tmp_path, tool):
    tool.main([str(tmp_path / "handout")])
    folder = tmp_path / "exits"
    folder.mkdir()
    text = (tmp_path / "handout" / "logistic.py").read_text()
    (folder / "logistic.py").write_text("import os\nos._exit(0)\n" + text)
    run = _grade(folder, "--task", "task_grad", "--time-limit", "5")
    assert run.returncode == 1, run.stdout
    assert "FAIL" in run.stdout and "task_grad" in run.stdout
    assert "ended (exit status 0)" in run.stdout               # says what happened


def test_hidden_tests_and_weights_count(tmp_path):
    folder = tmp_path / "alice"
    _student(folder, files=("logistic",))
    hidden = tmp_path / "hidden.py"
    hidden.write_text(
        "import numpy as np\nfrom grader_tests import Test, Failure, call, student\n"
        "def never(answers):\n    raise Failure('a hidden check')\n"
        "TESTS = {'task_grad': [Test('teacher only', [call(student('logistic', "
        "'LogisticRegression', 2), 'grad_w', np.zeros(3), np.ones((1, 2)), np.array([1]))], "
        "never, weight=9)]}\n")
    weights = tmp_path / "weights.json"
    weights.write_text('{"task_grad": 10}')
    run = _grade(folder, "--task", "task_grad", "--hidden", hidden, "--weights", weights)
    assert run.returncode == 1
    assert "hidden: teacher only" in run.stdout and "a hidden check" in run.stdout
    assert "5/10" in run.stdout                                # 9 of 18 weight units passed

"""The grader of the course exercises (tutorials/course/), and tests of the exercise generator.

Grade a folder of student files one task at a time, e.g.

    BGPOISON_COURSE_DIR=path/to/student python -m pytest -m task_hvp tests/test_course.py

The folder holds the files written by ``tutorials/make_exercises.py`` (``logistic.py``,
``reverse_loop.py``) with the student's code filled in. Without the variable the grader checks the
solutions (``tutorials/course/*_solution.py``), so the normal test run proves that the solutions
pass. Each task is a class with one marker; its tests compare the student's code with central
finite differences (``bgpoison.gradcheck``) and with the library's own results.
"""
import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest

import bgpoison as bg
from bgpoison import gradcheck

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tutorials" / "course"
COURSE_DIR = Path(os.environ.get("BGPOISON_COURSE_DIR", SOLUTIONS))
TASK_CLASSES = {"task_grad": "TestGrad", "task_hvp": "TestHvp",
                "task_reverse_loop": "TestReverseLoop"}


def load(name, directory=COURSE_DIR):
    """Module ``name`` from ``directory``: the student's NAME.py, else the teacher's
    NAME_solution.py."""
    for stem in (name, f"{name}_solution"):
        path = Path(directory) / f"{stem}.py"
        if path.is_file():
            module_name = f"course_{stem}_{len(sys.modules)}"       # a fresh name per load
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module                     # dataclasses look it up
            spec.loader.exec_module(module)
            return module
    pytest.fail(f"neither {name}.py nor {name}_solution.py in {directory} "
                f"(set BGPOISON_COURSE_DIR to the folder with your files)")


@pytest.fixture(scope="module")
def logistic():
    return load("logistic")


@pytest.fixture(scope="module")
def reverse_loop():
    return load("reverse_loop")


# (n rows, d features, l2, weight scale, seed); scale 4 saturates some sigmoids, n = 1 is legal
CASES = [(6, 3, 0.0, 0.5, 0), (6, 3, 0.3, 0.5, 1), (1, 2, 0.1, 1.0, 2), (12, 5, 0.01, 4.0, 3)]


def problem(n, d, l2, scale, seed, student_module):
    """(student model, library model, w, X, y, rng) for one case."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, 2, n)
    w = scale * rng.standard_normal(d + 1)
    return (student_module.LogisticRegression(d, l2=l2), bg.LogisticRegression(d, l2=l2),
            w, X, y, rng)


# Student and library evaluate the same formulas; only the order of floating-point operations
# may differ, so they agree to a few ulps of the largest entry.
CLOSE = dict(rtol=1e-12, atol=1e-14)


@pytest.mark.task_grad
class TestGrad:
    @pytest.mark.parametrize("case", CASES)
    def test_gradient_matches_finite_differences_of_the_loss(self, logistic, case):
        student, library, w, X, y, rng = problem(*case, logistic)
        gradcheck.check_gradient(lambda w_: library.loss(w_, X, y),
                                 lambda w_: student.grad_w(w_, X, y), w, rng=rng,
                                 name="LogisticRegression.backward", arg="w")

    @pytest.mark.parametrize("case", CASES)
    def test_gradient_equals_the_library(self, logistic, case):
        student, library, w, X, y, _ = problem(*case, logistic)
        np.testing.assert_allclose(student.grad_w(w, X, y), library.grad_w(w, X, y), **CLOSE)

    def test_training_with_your_gradient_follows_the_library(self, logistic):
        student, library, w, X, y, _ = problem(12, 5, 0.01, 0.5, 4, logistic)
        gd = bg.GradientDescent(lr=0.5, n_steps=50)
        np.testing.assert_allclose(gd.run(student, w, X, y), gd.run(library, w, X, y),
                                   rtol=1e-10, atol=1e-12)   # 50 steps: round-off may compound


@pytest.mark.task_hvp
class TestHvp:
    @pytest.mark.parametrize("case", CASES)
    def test_hvp_ww_matches_finite_differences_of_the_gradient(self, logistic, case):
        student, library, w, X, y, rng = problem(*case, logistic)
        gradcheck.check_directional(lambda w_: library.grad_w(w_, X, y),
                                    lambda u: student.hvp_ww(w, X, y, u), w, rng=rng,
                                    name="LogisticRegression.r_backward (H_ww v)", arg="w")

    @pytest.mark.parametrize("case", CASES)
    def test_hvp_xw_matches_finite_differences_in_X(self, logistic, case):
        student, library, w, X, y, rng = problem(*case, logistic)
        v = rng.standard_normal(library.n_params)
        gradcheck.check_gradient(lambda X_: library.grad_w(w, X_, y) @ v,
                                 lambda X_: student.hvp_xw(w, X_, y, v), X, rng=rng,
                                 name="LogisticRegression.r_backward (H_xw v)", arg="X")

    @pytest.mark.parametrize("case", CASES)
    def test_products_equal_the_library(self, logistic, case):
        student, library, w, X, y, rng = problem(*case, logistic)
        v = rng.standard_normal(library.n_params)
        np.testing.assert_allclose(student.hvp_ww(w, X, y, v), library.hvp_ww(w, X, y, v),
                                   **CLOSE)
        np.testing.assert_allclose(student.hvp_xw(w, X, y, v), library.hvp_xw(w, X, y, v),
                                   **CLOSE)

    @pytest.mark.parametrize("rows", [slice(4, None), np.array([0, 2]), slice(0, 0)],
                             ids=["last rows", "index array", "no rows"])
    def test_rows_selects_samples_and_keeps_the_mean_over_all_rows(self, logistic, rows):
        student, library, w, X, y, rng = problem(6, 3, 0.3, 0.5, 5, logistic)
        v = rng.standard_normal(library.n_params)
        T = student.targets(y)
        Hv, dX_rows = student.r_backward(w, X, T, student.forward(w, X), v, rows)
        np.testing.assert_allclose(Hv, library.hvp_ww(w, X, y, v), **CLOSE)
        assert dX_rows.shape == X[rows].shape
        np.testing.assert_allclose(dX_rows, library.hvp_xw(w, X, y, v)[rows], **CLOSE)


def poisoning_problem(model, seed=0, n=12, m=2, n_val=8, n_steps=15):
    """A small attack problem: (gd, w0, X_tr, y_tr, X_c, y_c, objective, rng)."""
    rng = np.random.default_rng(seed)
    d, K = model.n_features, model.n_classes
    X_tr, X_c, X_val = (rng.standard_normal((k, d)) for k in (n, m, n_val))
    y_tr, y_c, y_val = (rng.integers(0, K, k) for k in (n, m, n_val))
    w0 = 0.3 * rng.standard_normal(model.n_params)
    gd = bg.GradientDescent(lr=0.2, n_steps=n_steps)
    return gd, w0, X_tr, y_tr, X_c, y_c, bg.ErrorGeneric(X_val, y_val), rng


MODELS = {"logistic": bg.LogisticRegression(3, l2=0.05),
          "softmax": bg.SoftmaxRegression(3, 3, l2=0.05),
          "mlp": bg.MLP(3, 4, 3, l2=0.05)}


@pytest.mark.task_reverse_loop
class TestReverseLoop:
    @pytest.mark.parametrize("name", MODELS)
    def test_equals_the_library_back_gradient(self, reverse_loop, name):
        model = MODELS[name]
        gd, w0, X_tr, y_tr, X_c, y_c, objective, _ = poisoning_problem(model)
        dX_c, dw0 = reverse_loop.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
        expected = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective,
                                    reversal="stored")
        # same products, same order of summation up to a few ulps per step
        np.testing.assert_allclose(dX_c, expected.grad, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(dw0, expected.grad_w0, rtol=1e-10, atol=1e-14)

    @pytest.mark.parametrize("name", MODELS)
    def test_matches_finite_differences_of_the_whole_training_run(self, reverse_loop, name):
        model = MODELS[name]
        gd, w0, X_tr, y_tr, X_c, y_c, objective, rng = poisoning_problem(model, seed=1)
        dX_c, dw0 = reverse_loop.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
        y = np.concatenate([y_tr, y_c])

        def A(X_c_, w0_=w0):
            return objective.value(model, gd.run(model, w0_, np.vstack([X_tr, X_c_]), y))
        gradcheck.check_gradient(A, lambda _: dX_c, X_c, rng=rng, name="reverse_loop", arg="X_c")
        gradcheck.check_gradient(lambda w0_: A(X_c, w0_), lambda _: dw0, w0, rng=rng,
                                 name="reverse_loop", arg="w0")

    def test_one_step_is_the_chain_rule(self, reverse_loop):
        model = MODELS["logistic"]
        gd, w0, X_tr, y_tr, X_c, y_c, objective, rng = poisoning_problem(model, n_steps=1)
        X, y = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
        dw1 = rng.standard_normal(model.n_params)
        dw1_before = dw1.copy()
        dX_c, dw0 = reverse_loop.reverse_loop(model, gd.lr, [w0, gd.run(model, w0, X, y)], X,
                                              model.targets(y), slice(len(y_tr), None), dw1)
        np.testing.assert_array_equal(dw1, dw1_before)        # the caller's dw is untouched
        np.testing.assert_allclose(dX_c, -gd.lr * model.hvp_xw(w0, X, y, dw1)[len(y_tr):],
                                   **CLOSE)
        np.testing.assert_allclose(dw0, dw1 - gd.lr * model.hvp_ww(w0, X, y, dw1), **CLOSE)


# ---- the exercise generator, and the grader on its output ------------------------------------

def make_exercises():
    spec = importlib.util.spec_from_file_location("make_exercises",
                                                  ROOT / "tutorials" / "make_exercises.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_strip_solutions_replaces_each_block_with_an_indented_stub():
    tool = make_exercises()
    text = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n"
            "    ### END SOLUTION\n\n### BEGIN SOLUTION\nz = 2\n### END SOLUTION\nprint(z)\n")
    assert tool.strip_solutions(text) == (
        f"def f(x):\n    y = 1\n    {tool.STUB}\n\n{tool.STUB}\nprint(z)\n")


@pytest.mark.parametrize("text, problem", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the block"),
])
def test_strip_solutions_rejects_unmatched_markers(text, problem):
    with pytest.raises(ValueError, match=problem):
        make_exercises().strip_solutions(text, source="lesson.py")


def test_student_versions_have_no_solutions_and_still_import(tmp_path):
    written = make_exercises().main([str(tmp_path)])
    names = {path.name for path in written}
    assert {"logistic.py", "reverse_loop.py"} <= names
    for path in written:
        text = path.read_text()
        assert "SOLUTION" not in text and "NotImplementedError" in text
        compile(text, str(path), "exec")                       # tutorials too: valid Python
    for name in ("logistic", "reverse_loop"):
        module = load(name, tmp_path)                 # imports: the stubs raise only when called
        assert Path(module.__file__) == tmp_path / f"{name}.py"
    model = load("logistic", tmp_path).LogisticRegression(2)
    with pytest.raises(NotImplementedError):
        model.grad_w(np.zeros(3), np.ones((1, 2)), [1])


def _grade(directory, report):
    """Start the grader on ``directory`` in a subprocess, writing a JUnit report."""
    # -m selects the task tests only, so the tests below (unmarked) cannot run themselves again
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
               " or ".join(TASK_CLASSES), str(Path(__file__)), f"--junitxml={report}"]
    env = {**os.environ, "BGPOISON_COURSE_DIR": str(directory)}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _outcomes(report):
    """{test id: passed?} from a JUnit report."""
    cases = ElementTree.parse(report).getroot().iter("testcase")
    return {f"{case.get('classname')}::{case.get('name')}":
            not any(child.tag in ("failure", "error") for child in case) for case in cases}


# One plausible mistake per task, planted in a copy of the solutions: (file, correct, wrong).
MISTAKES = {
    "task_grad": ("logistic", '"W": X.T @ dZ + self.l2 * W,', '"W": X.T @ dZ,'),   # no penalty
    "task_hvp": ("logistic", 'dX_r = RdZ[rows] @ W.T + dZ_r @ q["W"].T',
                 "dX_r = RdZ[rows] @ W.T"),               # x_i only through the sigmoid
    "task_reverse_loop": ("reverse_loop", "w_t = ws[t]\n", "w_t = ws[t + 1]\n"),  # at w_{t+1}
}


def _plant_mistakes(directory):
    directory.mkdir()
    for name in ("logistic", "reverse_loop"):
        text = (SOLUTIONS / f"{name}_solution.py").read_text()
        for source, correct, wrong in MISTAKES.values():
            if source == name:
                assert text.count(correct) == 1, f"{correct!r} not found in {name}_solution.py"
                text = text.replace(correct, wrong)
        (directory / f"{name}.py").write_text(text)


def test_grader_fails_the_stubs_catches_planted_mistakes_and_passes_the_solutions(tmp_path):
    make_exercises().main([str(tmp_path / "stubs")])
    _plant_mistakes(tmp_path / "mistakes")
    folders = {"stubs": tmp_path / "stubs", "mistakes": tmp_path / "mistakes",
               "solutions": SOLUTIONS}
    runs = {name: _grade(folder, tmp_path / f"{name}.xml") for name, folder in folders.items()}
    output = {name: run.communicate(timeout=300)[0] for name, run in runs.items()}
    outcomes = {name: _outcomes(tmp_path / f"{name}.xml") for name in runs}
    assert runs["solutions"].returncode == 0, output["solutions"]
    assert all(outcomes["solutions"].values())
    for name in ("stubs", "mistakes"):
        assert runs[name].returncode == 1, output[name]              # 1: some tests failed
        assert set(outcomes[name]) == set(outcomes["solutions"])
    for task, cls in TASK_CLASSES.items():
        graded = [test for test in outcomes["stubs"] if f".{cls}::" in test]
        assert graded, f"no tests selected for {task}"
        assert not any(outcomes["stubs"][test] for test in graded), \
            f"{task}: a test passes on the stub"
        assert not all(outcomes["mistakes"][test] for test in graded), \
            f"{task}: the planted mistake {MISTAKES[task][2]!r} passes every test"

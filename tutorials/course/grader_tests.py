"""The tests behind ``grade.py``: one class per course task, no solution code in here.

Run them through the grading command, which names the folder it grades and never falls back
to the teacher's solutions:

    python tutorials/grade.py SUBMISSION_DIR          (teacher; students: python grade.py .)

Each test compares the student's code with central finite differences (``bgpoison.gradcheck``)
or with the library's own results, and says on failure which quantity is wrong ("yours" against
"reference"), for which case (n rows, d features, l2), and, where the numbers show it, what the
mistake probably is. A task passes when all its tests pass. The last test of each task checks
that the graded functions do the work themselves instead of calling the library's model.
"""
import importlib.util
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import bgpoison as bg
from bgpoison import gradcheck

BG_MODULE = sys.modules["bgpoison.back_gradient"]   # bg.back_gradient is the function

DIR_VARIABLE = "BGPOISON_COURSE_DIR"       # set by grade.py; no default on purpose
TASKS = {"task_grad": "LogisticRegression.backward: grad_w L",
         "task_hvp": "LogisticRegression.r_backward: H_ww v and rows of H_xw v",
         "task_reverse_loop": "reverse_loop: the back-gradient's reverse pass"}


# ---- loading the submission ------------------------------------------------------------------

def submission_dir():
    """The folder named by grade.py. Refuses to guess: no variable, no folder, no grading."""
    value = os.environ.get(DIR_VARIABLE)
    if not value:
        pytest.fail(f"{DIR_VARIABLE} is not set: run the tests through grade.py SUBMISSION_DIR")
    directory = Path(value)
    if not directory.is_dir():
        pytest.fail(f"{DIR_VARIABLE}={value!r} is not a folder")
    return directory


def load(name, directory):
    """The module NAME.py from ``directory`` (NAME_solution.py in the teacher's course folder),
    imported under a fresh name so that two submissions never share a module."""
    for stem in (name, f"{name}_solution"):
        path = Path(directory) / f"{stem}.py"
        if path.is_file():
            module_name = f"submission_{stem}_{len(sys.modules)}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module                     # dataclasses look it up
            spec.loader.exec_module(module)
            return module
    pytest.fail(f"no {name}.py in {directory}")


@pytest.fixture(scope="module")
def logistic():
    return load("logistic", submission_dir())


@pytest.fixture(scope="module")
def reverse_loop():
    return load("reverse_loop", submission_dir())


# ---- comparing, with a hint where the numbers reveal the mistake ------------------------------

def _show(a, k=6):
    flat = np.ravel(a)
    text = np.array2string(flat[:k], precision=6, separator=", ")
    return text if flat.size <= k else f"{text[:-1]}, ...] ({flat.size} entries)"


def _hint(yours, reference, factors, only_w):
    """A guess at the mistake from the numbers alone, or ''."""
    ref_norm = np.linalg.norm(reference)
    if ref_norm > 0 and np.linalg.norm(yours) == 0:
        return "yours is all zeros"
    if ref_norm > 0:
        c = float(np.sum(yours * reference) / ref_norm ** 2)        # yours ~ c * reference?
        if np.linalg.norm(yours - c * reference) <= 1e-8 * ref_norm:
            for factor, meaning in factors.items():
                if np.isclose(c, factor, rtol=1e-6):
                    return f"yours = {factor:.4g} x reference: {meaning}"
            return f"yours = {c:.4g} x reference: a constant factor is wrong"
    if only_w is not None:
        w_part, b_part = only_w
        if np.allclose(yours[b_part], reference[b_part], rtol=1e-12, atol=1e-14) \
                and not np.allclose(yours[w_part], reference[w_part], rtol=1e-12, atol=1e-14):
            return ("only the W entries differ, b agrees: look at the l2 penalty term, the one "
                    "term that b does not have")
    return ""


def compare(yours, reference, quantity, case, *, factors=None, only_w=None,
            rtol=1e-12, atol=1e-14):
    """Fail with a message naming ``quantity`` and ``case`` unless yours equals the reference.

    ``factors``: {factor: meaning} for hints of the form yours = factor x reference;
    ``only_w``: (W slice, b slice) of a parameter vector, for the hint about the l2 term.
    """
    where = f"{quantity} [{case}]"
    try:
        yours = np.asarray(yours, dtype=float)
    except (TypeError, ValueError):
        pytest.fail(f"{where}: yours is not an array of numbers: {yours!r:.200}", pytrace=False)
    reference = np.asarray(reference, dtype=float)
    if yours.shape != reference.shape:
        pytest.fail(f"{where}: yours has shape {yours.shape}, the reference {reference.shape}",
                    pytrace=False)
    if not np.all(np.isfinite(yours)):
        pytest.fail(f"{where}: yours contains NaN or inf: {_show(yours)}", pytrace=False)
    bad = ~np.isclose(yours, reference, rtol=rtol, atol=atol)
    if not bad.any():
        return
    hint = _hint(yours, reference, {-1.0: "a sign is flipped", **(factors or {})}, only_w)
    pytest.fail(f"{where}: yours differs from the reference in {int(bad.sum())} of {bad.size} "
                f"entries (max |yours - reference| = "
                f"{float(np.max(np.abs(yours - reference))):.3e})\n"
                f"    yours     {_show(yours)}\n    reference {_show(reference)}"
                + (f"\n    hint: {hint}" if hint else ""), pytrace=False)


def check_fd(check, quantity, case, what, *args, **kwargs):
    """Run a ``gradcheck`` function; on failure say which quantity and case ("claimed" = yours)."""
    try:
        check(*args, **kwargs)
    except AssertionError as err:
        pytest.fail(f"{quantity} [{case}]: yours (\"claimed\") disagrees with central finite "
                    f"differences of {what} (the reference):\n    {err}", pytrace=False)


# ---- not calling the library's model -----------------------------------------------------------

def _library_classes(cls=bg.Model):
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("bgpoison."):
            yield sub
        yield from _library_classes(sub)


@contextmanager
def library_forbidden():
    """Inside: every method of the library's models (and ``bg.back_gradient``) raises, so a
    graded function that delegates to them fails. The base class ``bg.Model`` stays usable."""
    saved = []

    def forbid(owner, name):
        def raising(*args, **kwargs):
            raise AssertionError(f"your code calls the library's "
                                 f"{getattr(owner, '__name__', owner)}.{name}: the graded "
                                 f"functions must compute the result themselves")
        saved.append((owner, name, owner.__dict__[name] if isinstance(owner, type)
                      else getattr(owner, name)))
        setattr(owner, name, raising)

    for cls in set(_library_classes()):
        for name, attr in list(vars(cls).items()):
            if callable(attr) and not name.startswith("__"):
                forbid(cls, name)
    forbid(bg, "back_gradient")
    forbid(BG_MODULE, "back_gradient")
    try:
        yield
    finally:
        for owner, name, attr in reversed(saved):
            setattr(owner, name, attr)


# ---- the cases ---------------------------------------------------------------------------------

# (n rows, d features, l2, weight scale, seed); scale 4 saturates some sigmoids, n = 1 is legal
CASES = [(6, 3, 0.0, 0.5, 0), (6, 3, 0.3, 0.5, 1), (1, 2, 0.1, 1.0, 2), (12, 5, 0.01, 4.0, 3)]
CASE_IDS = [f"n={n},d={d},l2={l2}" + (f",scale={s}" if s != 0.5 else "")
            for n, d, l2, s, _ in CASES]


def problem(n, d, l2, scale, seed, student_module):
    """(student model, library model, w, X, y, rng, case label) for one case."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, 2, n)
    w = scale * rng.standard_normal(d + 1)
    return (student_module.LogisticRegression(d, l2=l2), bg.LogisticRegression(d, l2=l2),
            w, X, y, rng, f"n={n}, d={d}, l2={l2}")


def model_hints(n, d):
    """Hint tables for a logistic-regression parameter vector (W: d entries, then b)."""
    factors = {float(n): "the 1/n of the mean is missing", 1.0 / n: "1/n is applied twice"} \
        if n > 1 else {}
    return dict(factors=factors, only_w=(slice(0, d), slice(d, d + 1)))


GRAD = "grad_w L (the output of backward)"
HWW = "H_ww v (first output of r_backward)"
HXW = "H_xw v (second output of r_backward: rows of d/dX <grad_w L, v>)"

# Student and library evaluate the same formulas; only the order of floating-point operations
# may differ, so they agree to a few ulps of the largest entry (compare's rtol=1e-12).


@pytest.mark.task_grad
class TestGrad:
    @pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
    def test_gradient_matches_finite_differences_of_the_loss(self, logistic, case):
        student, library, w, X, y, rng, label = problem(*case, logistic)
        check_fd(gradcheck.check_gradient, GRAD, label, "the library's loss",
                 lambda w_: library.loss(w_, X, y), lambda w_: student.grad_w(w_, X, y), w,
                 rng=rng, name="LogisticRegression.backward", arg="w")

    @pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
    def test_gradient_equals_the_library(self, logistic, case):
        student, library, w, X, y, _, label = problem(*case, logistic)
        compare(student.grad_w(w, X, y), library.grad_w(w, X, y), GRAD, label,
                **model_hints(case[0], case[1]))

    def test_training_with_your_gradient_follows_the_library(self, logistic):
        student, library, w, X, y, _, label = problem(12, 5, 0.01, 0.5, 4, logistic)
        gd = bg.GradientDescent(lr=0.5, n_steps=50)
        compare(gd.run(student, w, X, y), gd.run(library, w, X, y),
                "w_T after 50 steps of gradient descent with your gradient", label,
                rtol=1e-10, atol=1e-12)                   # 50 steps: round-off may compound

    def test_your_backward_does_its_own_work(self, logistic):
        student, library, w, X, y, _, label = problem(6, 3, 0.3, 0.5, 1, logistic)
        expected = library.grad_w(w, X, y)
        with library_forbidden():
            yours = student.grad_w(w, X, y)
        compare(yours, expected, GRAD, label)


@pytest.mark.task_hvp
class TestHvp:
    @pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
    def test_hvp_ww_matches_finite_differences_of_the_gradient(self, logistic, case):
        student, library, w, X, y, rng, label = problem(*case, logistic)
        check_fd(gradcheck.check_directional, HWW, label, "the library's grad_w in w",
                 lambda w_: library.grad_w(w_, X, y), lambda u: student.hvp_ww(w, X, y, u), w,
                 rng=rng, name="LogisticRegression.r_backward (H_ww v)", arg="w")

    @pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
    def test_hvp_xw_matches_finite_differences_in_X(self, logistic, case):
        student, library, w, X, y, rng, label = problem(*case, logistic)
        v = rng.standard_normal(library.n_params)
        check_fd(gradcheck.check_gradient, HXW, label, "<library's grad_w, v> in X",
                 lambda X_: library.grad_w(w, X_, y) @ v,
                 lambda X_: student.hvp_xw(w, X_, y, v), X, rng=rng,
                 name="LogisticRegression.r_backward (H_xw v)", arg="X")

    @pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
    def test_products_equal_the_library(self, logistic, case):
        student, library, w, X, y, rng, label = problem(*case, logistic)
        v = rng.standard_normal(library.n_params)
        n = case[0]
        compare(student.hvp_ww(w, X, y, v), library.hvp_ww(w, X, y, v), HWW, label,
                **model_hints(n, case[1]))
        compare(student.hvp_xw(w, X, y, v), library.hvp_xw(w, X, y, v), HXW, label,
                factors={float(n): "the 1/n of the mean is missing",
                         1.0 / n: "1/n is applied twice"} if n > 1 else {})

    @pytest.mark.parametrize("rows", [slice(4, None), np.array([0, 2]), slice(0, 0)],
                             ids=["rows=4:", "rows=[0,2]", "rows=none"])
    def test_rows_selects_samples_and_keeps_the_mean_over_all_rows(self, logistic, rows):
        student, library, w, X, y, rng, label = problem(6, 3, 0.3, 0.5, 5, logistic)
        v = rng.standard_normal(library.n_params)
        Y = student.targets(y)
        Hv, dX_rows = student.r_backward(w, X, Y, student.forward(w, X), v, rows)
        label = f"{label}, rows={rows}"
        compare(Hv, library.hvp_ww(w, X, y, v), HWW, label, **model_hints(6, 3))
        expected = library.hvp_xw(w, X, y, v)[rows]
        n_rows = len(expected)
        factors = {6.0 / n_rows: "divide by n = X.shape[0], all rows, not by the rows returned"} \
            if 0 < n_rows < 6 else {}
        compare(dX_rows, expected, HXW, label, factors=factors)

    def test_your_r_backward_does_its_own_work(self, logistic):
        student, library, w, X, y, rng, label = problem(6, 3, 0.3, 0.5, 1, logistic)
        v = rng.standard_normal(library.n_params)
        expected = library.hvp_ww(w, X, y, v), library.hvp_xw(w, X, y, v)
        with library_forbidden():
            yours = student.hvp_ww(w, X, y, v), student.hvp_xw(w, X, y, v)
        compare(yours[0], expected[0], HWW, label)
        compare(yours[1], expected[1], HXW, label)


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
DXC = "dX_c = dA/dX_c (first output of reverse_loop)"
DW0 = "dw0 = dA/dw_0 (second output of reverse_loop)"
def step_hints(lr):
    """Hints for yours = eta x reference or reference / eta."""
    return {lr: "a factor eta (the step size) too many", 1.0 / lr: "the factor eta is missing"}


@pytest.mark.task_reverse_loop
class TestReverseLoop:
    @pytest.mark.parametrize("name", MODELS)
    def test_equals_the_library_back_gradient(self, reverse_loop, name):
        model = MODELS[name]
        gd, w0, X_tr, y_tr, X_c, y_c, objective, _ = poisoning_problem(model)
        dX_c, dw0 = reverse_loop.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
        expected = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective,
                                    reversal="stored")
        label = f"{name}, T={gd.n_steps}, eta={gd.lr}"
        # same products, same order of summation up to a few ulps per step
        compare(dX_c, expected.dX_c, DXC, label, factors=step_hints(gd.lr), rtol=1e-10)
        compare(dw0, expected.dw0, DW0, label, rtol=1e-10)

    @pytest.mark.parametrize("name", MODELS)
    def test_matches_finite_differences_of_the_whole_training_run(self, reverse_loop, name):
        model = MODELS[name]
        gd, w0, X_tr, y_tr, X_c, y_c, objective, rng = poisoning_problem(model, seed=1)
        dX_c, dw0 = reverse_loop.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
        y = np.concatenate([y_tr, y_c])
        label = f"{name}, T={gd.n_steps}, eta={gd.lr}"

        def A(X_c_, w0_=w0):
            return objective.value(model, gd.run(model, w0_, np.vstack([X_tr, X_c_]), y))
        check_fd(gradcheck.check_gradient, DXC, label, "A(train(X_c))", A, lambda _: dX_c, X_c,
                 rng=rng, name="reverse_loop", arg="X_c")
        check_fd(gradcheck.check_gradient, DW0, label, "A(train(w0))",
                 lambda w0_: A(X_c, w0_), lambda _: dw0, w0, rng=rng, name="reverse_loop",
                 arg="w0")

    def test_one_step_is_the_chain_rule(self, reverse_loop):
        model = MODELS["logistic"]
        gd, w0, X_tr, y_tr, X_c, y_c, objective, rng = poisoning_problem(model, n_steps=1)
        X, y = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
        dw1 = rng.standard_normal(model.n_params)
        dw1_before = dw1.copy()
        dX_c, dw0 = reverse_loop.reverse_loop(model, gd.lr, [w0, gd.run(model, w0, X, y)], X,
                                              model.targets(y), slice(len(y_tr), None), dw1)
        label = f"logistic, T=1, eta={gd.lr}"
        if not np.array_equal(dw1, dw1_before):
            pytest.fail(f"reverse_loop [{label}]: your code changed the caller's dw in place "
                        f"(write dw = dw - ..., not dw -= ...)", pytrace=False)
        compare(dX_c, -gd.lr * model.hvp_xw(w0, X, y, dw1)[len(y_tr):], DXC, label,
                factors=step_hints(gd.lr))
        compare(dw0, dw1 - gd.lr * model.hvp_ww(w0, X, y, dw1), DW0, label)

    def test_your_reverse_loop_does_its_own_work(self, reverse_loop):
        model = MODELS["logistic"]
        gd, w0, X_tr, y_tr, X_c, y_c, objective, rng = poisoning_problem(model, n_steps=3)
        X, y = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
        ws = [w0]
        gd.run(model, w0, X, y, callback=lambda t, w_t: ws.append(w_t))
        dw = rng.standard_normal(model.n_params)
        rows = slice(len(y_tr), None)
        with library_forbidden_except_the_model():
            reverse_loop.reverse_loop(model, gd.lr, ws, X, model.targets(y), rows, dw)


@contextmanager
def library_forbidden_except_the_model():
    """Only ``bg.back_gradient`` raises: a reverse loop must call the model's r_backward."""
    saved = [(owner, getattr(owner, "back_gradient")) for owner in (bg, BG_MODULE)]

    def raising(*args, **kwargs):
        raise AssertionError("your reverse_loop calls the library's back_gradient: write the "
                             "reverse pass yourself")
    for owner, _ in saved:
        owner.back_gradient = raising
    try:
        yield
    finally:
        for owner, attr in saved:
            owner.back_gradient = attr

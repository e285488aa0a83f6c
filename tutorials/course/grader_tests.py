"""The tests behind ``grade.py``: the course's tasks, and for each its tests. No solution code.

A test is a list of *calls* (a student function and its inputs, sent to the child process that
runs the submission) and a *check* that runs here, in the grading process, on the numbers the
calls returned: against the library's results or central finite differences of the library's
loss (``bgpoison.gradcheck``). A failed check names the quantity ("yours" against the
"reference"), the case (n rows, d features, l2) and, where the numbers show it, the mistake.

Each task lists the library modules its child may still use; everything else of ``bgpoison``
raises there (see grade_child.py), so a graded function must do its own work. A teacher adds
hidden tests in a file of the same form (``TESTS = {task: [Test, ...]}``) given to
``grade.py --hidden``; ``Test(..., weight=2)`` weighs a test in the task's partial credit.
"""
from dataclasses import dataclass, field

from types import SimpleNamespace

import numpy as np

import bgpoison as bg
from bgpoison import gradcheck


class Failure(Exception):
    """A check failed; the message is the report."""


@dataclass
class Test:
    name: str
    calls: list            # JSON-able call specs (see ``call``)
    check: object          # check(answers) -> None, raises Failure; answers: one value per call
    weight: float = 1.0
    keep_inputs: bool = False   # fail when a call changed one of its array arguments


@dataclass
class Task:
    name: str
    title: str
    modules: tuple         # the student's files (stems) this task imports
    allowed: tuple         # bgpoison modules the child may still use
    points: float
    library: dict = field(default_factory=dict)     # key -> library object spec
    tests: list = field(default_factory=list)


# ---- encoding inputs for the child -----------------------------------------------------------

def enc(x):
    if isinstance(x, np.ndarray):
        return {"$": "array", "shape": list(x.shape), "dtype": str(x.dtype),
                "data": x.ravel().tolist()}
    if isinstance(x, slice):
        return {"$": "slice", "args": [x.start, x.stop, x.step]}
    if isinstance(x, (float, np.floating)):
        return {"$": "float", "repr": repr(float(x))}
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return int(x)
    if isinstance(x, (list, tuple)):
        return [enc(v) for v in x]
    if isinstance(x, dict):
        return {k: enc(v) for k, v in x.items()}
    return x


def student(module, name, *args, **kwargs):
    return {"$": "student", "module": module, "name": name, "args": enc(list(args)),
            "kwargs": enc(kwargs)}


def library(key):
    return {"$": "library", "id": key}


def of(owner, name, *args):
    """The value of owner.name(*args) in the child, as an input (e.g. the student's forward)."""
    return {"$": "call", "of": owner, "name": name, "args": enc(list(args))}


def call(owner_or_module, name, *args, kind="method"):
    """A call of the student's code: a method of a decoded object, or a module's function."""
    if kind == "function":
        target = {"kind": "function", "module": owner_or_module, "name": name}
    else:
        target = {"kind": kind, "of": owner_or_module, "name": name}
    return {"target": target, "args": [a if isinstance(a, dict) and "$" in a else enc(a)
                                       for a in args]}


def spec(cls, *args, **kwargs):
    return {"class": cls, "args": enc(list(args)), "kwargs": enc(kwargs)}


# ---- comparing, with a hint where the numbers reveal the mistake ----------------------------

def _show(a, k=6):
    flat = np.ravel(a)
    text = np.array2string(flat[:k], precision=6, separator=", ")
    return text if flat.size <= k else f"{text[:-1]}, ...] ({flat.size} entries)"


def _hint(yours, reference, factors, only_w):
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
    """Raise Failure naming ``quantity`` and ``case`` unless yours equals the reference.
    Student and library evaluate the same formulas; only the order of floating-point
    operations may differ, so they agree to a few ulps of the largest entry (rtol=1e-12)."""
    where = f"{quantity} [{case}]"
    try:
        yours = np.asarray(yours, dtype=float)
    except (TypeError, ValueError):
        raise Failure(f"{where}: yours is not an array of numbers: {yours!r:.200}") from None
    reference = np.asarray(reference, dtype=float)
    if yours.shape != reference.shape:
        raise Failure(f"{where}: yours has shape {yours.shape}, the reference {reference.shape}")
    if not np.all(np.isfinite(yours)):
        raise Failure(f"{where}: yours contains NaN or inf: {_show(yours)}")
    bad = ~np.isclose(yours, reference, rtol=rtol, atol=atol)
    if not bad.any():
        return
    hint = _hint(yours, reference, {-1.0: "a sign is flipped", **(factors or {})}, only_w)
    raise Failure(f"{where}: yours differs from the reference in {int(bad.sum())} of {bad.size} "
                  f"entries (max |yours - reference| = "
                  f"{float(np.max(np.abs(yours - reference))):.3e})\n"
                  f"    yours     {_show(yours)}\n    reference {_show(reference)}"
                  + (f"\n    hint: {hint}" if hint else ""))


_FD_VALUES = {}          # (quantity, case, what, name) -> {x bytes: f(x)}, shared by students


def check_fd(check, quantity, case, what, f, *args, **kwargs):
    """Run a ``gradcheck`` function; on failure say which quantity and case ("claimed" = yours).
    The reference ``f`` is evaluated once per point for the whole class (a cache)."""
    values = _FD_VALUES.setdefault((quantity, case, what, kwargs.get("name")), {})

    def cached(x):
        key = np.asarray(x, dtype=float).tobytes()
        if key not in values:
            values[key] = f(x)
        return np.copy(values[key])
    try:
        check(cached, *args, **kwargs)
    except AssertionError as err:
        raise Failure(f"{quantity} [{case}]: yours (\"claimed\") disagrees with central finite "
                      f"differences of {what} (the reference):\n    {err}") from None


def directions(check, f, derivative, x, seed, **kwargs):
    """The directions u at which ``check`` (gradcheck.check_directional) evaluates
    ``derivative(u)`` with ``rng=default_rng(seed)``: asked of the child beforehand."""
    asked = []

    def record(u):
        asked.append(np.array(u))
        return derivative(u)
    check(f, record, x, rng=np.random.default_rng(seed), **kwargs)
    return asked


def replay(answers):
    """A derivative(u) that returns the child's answers in the order the directions were asked."""
    it = iter(answers)
    return lambda u: next(it)


# ---- model tasks: gradient, and Hessian products ---------------------------------------------

MODEL_ONLY = ("bgpoison.models.base", "bgpoison.checks")   # the student's base class


def model_hints(n, p_w):
    factors = {float(n): "the 1/n of the mean is missing", 1.0 / n: "1/n is applied twice"} \
        if n > 1 else {}
    return dict(factors=factors, only_w=(slice(0, p_w), slice(p_w, None)))


GRAD = "grad_w L (the output of backward)"
HWW = "H_ww v (first output of r_backward)"
HXW = "H_xw v (second output of r_backward: rows of d/dX <grad_w L, v>)"


def model_problem(make, n, d, l2, scale, seed, n_classes):
    rng = np.random.default_rng(seed)
    ref = make(d, l2)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, n_classes, n)
    w = scale * rng.standard_normal(ref.n_params)
    return ref, w, X, y, rng, f"n={n}, d={d}, l2={l2}"


def _case(module, cls, make, case, n_classes):
    """One case's reference model and problem, the student's model and the test id."""
    ref, w, X, y, rng, label = model_problem(make, *case, n_classes)
    mine = student(module, cls, *student_args(ref), l2=case[2])
    return ref, w, X, y, rng, label, mine, f"[{label}" + (
        f", scale={case[3]}]" if case[3] != 0.5 else "]")


def gradient_tests(module, cls, make, cases, n_classes, p_w):
    """Tests of a student's ``backward`` (through the base class's grad_w)."""
    tests = []
    for case in cases:
        n, d, l2, scale, seed = case
        ref, w, X, y, rng, label, mine, ident = _case(module, cls, make, case, n_classes)

        def fd(answers, ref=ref, w=w, X=X, y=y, seed=seed, label=label):
            check_fd(gradcheck.check_gradient, GRAD, label, "the library's loss",
                     lambda w_: ref.loss(w_, X, y), lambda w_: answers[0], w,
                     rng=np.random.default_rng(seed), name=f"{cls}.backward", arg="w")

        def same(answers, ref=ref, expected=ref.grad_w(w, X, y), label=label, n=n):
            compare(answers[0], expected, GRAD, label, **model_hints(n, p_w(ref)))
        tests += [Test(f"gradient matches finite differences of the loss {ident}",
                       [call(mine, "grad_w", w, X, y)], fd),
                  Test(f"gradient equals the library {ident}", [call(mine, "grad_w", w, X, y)],
                       same)]
    ref, w, X, y, _, label = model_problem(make, 12, 5, 0.01, 0.5, 4, n_classes)
    mine = student(module, cls, *student_args(ref), l2=0.01)

    w_T = w
    for _ in range(50):
        w_T = w_T - 0.5 * ref.grad_w(w_T, X, y)

    def train(answers, w_T=w_T, label=label):
        compare(answers[0], w_T, "w_T after 50 steps of gradient descent with your gradient",
                label, rtol=1e-10, atol=1e-12)              # 50 steps: round-off may compound
    tests.append(Test("training with your gradient follows the library",
                      [call(mine, "descent", mine, w, X, y, 0.5, 50, kind="descent")], train))
    return tests


def product_tests(module, cls, make, cases, n_classes, p_w):
    """Tests of a student's ``r_backward`` (through hvp_ww, hvp_xw and directly with rows)."""
    tests = []
    for case in cases:
        n, d, l2, scale, seed = case
        ref, w, X, y, rng, label, mine, ident = _case(module, cls, make, case, n_classes)
        us = directions(gradcheck.check_directional, lambda w_: ref.grad_w(w_, X, y),
                        lambda u: ref.hvp_ww(w, X, y, u), w, seed)

        def ww(answers, ref=ref, w=w, X=X, y=y, seed=seed, label=label):
            check_fd(gradcheck.check_directional, HWW, label, "the library's grad_w in w",
                     lambda w_: ref.grad_w(w_, X, y), replay(answers), w,
                     rng=np.random.default_rng(seed), name=f"{cls}.r_backward (H_ww v)", arg="w")
        tests.append(Test(f"H_ww v matches finite differences of the gradient {ident}",
                          [call(mine, "hvp_ww", w, X, y, u) for u in us], ww))
        v = rng.standard_normal(ref.n_params)

        def xw(answers, ref=ref, w=w, X=X, y=y, v=v, seed=seed, label=label):
            check_fd(gradcheck.check_gradient, HXW, label, "<library's grad_w, v> in X",
                     lambda X_: ref.grad_w(w, X_, y) @ v, lambda X_: answers[0], X,
                     rng=np.random.default_rng(seed), name=f"{cls}.r_backward (H_xw v)", arg="X")
        tests.append(Test(f"H_xw v matches finite differences in X {ident}",
                          [call(mine, "hvp_xw", w, X, y, v)], xw))

        def same(answers, ref=ref, label=label, n=n,
                 expected=(ref.hvp_ww(w, X, y, v), ref.hvp_xw(w, X, y, v))):
            hints = model_hints(n, p_w(ref))
            compare(answers[0], expected[0], HWW, label, **hints)
            compare(answers[1], expected[1], HXW, label, factors=hints["factors"])
        tests.append(Test(f"products equal the library {ident}",
                          [call(mine, "hvp_ww", w, X, y, v), call(mine, "hvp_xw", w, X, y, v)],
                          same))
    ref, w, X, y, rng, label = model_problem(make, 6, 3, 0.3, 0.5, 5, n_classes)
    mine = student(module, cls, *student_args(ref), l2=0.3)
    v = rng.standard_normal(ref.n_params)
    for rows, ident in [(slice(4, None), "rows=4:"), (np.array([0, 2]), "rows=[0,2]"),
                        (slice(0, 0), "rows=none")]:
        def rowcheck(answers, ref=ref, w=w, X=X, y=y, v=v, rows=rows, label=f"{label}, {ident}"):
            Hv, dX_rows = answers[0]
            compare(Hv, ref.hvp_ww(w, X, y, v), HWW, label, **model_hints(6, p_w(ref)))
            expected = ref.hvp_xw(w, X, y, v)[rows]
            k = len(expected)
            factors = {6.0 / k: "divide by n = X.shape[0], all rows, not by the rows returned"} \
                if 0 < k < 6 else {}
            compare(dX_rows, expected, HXW, label, factors=factors)
        tests.append(Test(f"rows selects samples and keeps the mean over all rows [{ident}]",
                          [call(mine, "r_backward", w, X, of(mine, "targets", y),
                                of(mine, "forward", w, X), v, rows)], rowcheck))
    return tests


def student_args(ref):
    """The positional arguments of the student's class, read from the library's model."""
    if isinstance(ref, bg.MLP):
        return (ref.n_features, ref.n_hidden, ref.n_classes)
    if isinstance(ref, bg.SoftmaxRegression):
        return (ref.n_features, ref.n_classes)
    return (ref.n_features,)


# (n rows, d features, l2, weight scale, seed); scale 4 saturates some units, n = 1 is legal
CASES = [(6, 3, 0.0, 0.5, 0), (6, 3, 0.3, 0.5, 1), (1, 2, 0.1, 1.0, 2), (12, 5, 0.01, 4.0, 3)]
SMALL = [(6, 3, 0.0, 0.5, 0), (6, 3, 0.3, 0.5, 1), (1, 2, 0.1, 1.0, 2)]


def logistic(d, l2):
    return bg.LogisticRegression(d, l2=l2)


def softmax(d, l2):
    return bg.SoftmaxRegression(d, 3, l2=l2)


def mlp(d, l2):
    return bg.MLP(d, 4, 3, l2=l2)


def w_entries(ref):
    """How many entries of w come before the first bias (for the l2 hint): W, or W1."""
    return int(np.prod(next(iter(ref.shapes.values()))))


# ---- reverse-pass tasks ----------------------------------------------------------------------

REVERSE_ONLY = ("bgpoison.models", "bgpoison.training", "bgpoison.objectives",
                "bgpoison.checks", "bgpoison.gradcheck")
DXC = "dX_c = dA/dX_c (first output of back_gradient)"
DW0 = "dw0 = dA/dw_0 (second output of back_gradient)"


def step_hints(lr):
    return {lr: "a factor eta (the step size) too many", 1.0 / lr: "the factor eta is missing"}


def poisoning_problem(model, seed=0, n=12, m=2, n_val=8):
    rng = np.random.default_rng(seed)
    d, K = model.n_features, model.n_classes
    X_tr, X_c, X_val = (rng.standard_normal((k, d)) for k in (n, m, n_val))
    y_tr, y_c, y_val = (rng.integers(0, K, k) for k in (n, m, n_val))
    w0 = 0.3 * rng.standard_normal(model.n_params)
    return w0, X_tr, y_tr, X_c, y_c, X_val, y_val, rng


MODELS = {"logistic": bg.LogisticRegression(3, l2=0.05),
          "softmax": bg.SoftmaxRegression(3, 3, l2=0.05),
          "mlp": bg.MLP(3, 4, 3, l2=0.05)}


def library_models():
    return {name: spec(type(m).__name__, *student_args(m), l2=m.l2) for name, m in MODELS.items()}


def reverse_tests(module, momentum, steps=(15,)):
    """The glue ``back_gradient`` of the student's file against the library's, per model."""
    tests, library_specs = [], library_models()
    for name, model in MODELS.items():
        for n_steps in steps:
            gd = bg.GradientDescent(lr=0.2, n_steps=n_steps, momentum=momentum)
            key = f"gd_{n_steps}"
            library_specs[key] = spec("GradientDescent", lr=0.2, n_steps=n_steps,
                                      momentum=momentum)
            for seed in (0, 1):
                w0, X_tr, y_tr, X_c, y_c, X_val, y_val, rng = poisoning_problem(model, seed)
                objective = bg.ErrorGeneric(X_val, y_val)
                library_specs[f"objective_{name}_{seed}"] = spec("ErrorGeneric", X_val, y_val)
                label = f"{name}, T={n_steps}, eta=0.2" + (f", gamma={momentum}" if momentum
                                                            else "")
                calls = [call(module, "back_gradient", library(name), library(key), w0, X_tr,
                              y_tr, X_c, y_c, library(f"objective_{name}_{seed}"),
                              kind="function")]
                if seed == 0:
                    def same(answers, gd=gd, label=label, expected=bg.back_gradient(
                            model, gd, w0, X_tr, y_tr, X_c, y_c, objective)):
                        dX_c, dw0 = answers[0]
                        compare(dX_c, expected.dX_c, DXC, label, factors=step_hints(gd.lr),
                                rtol=1e-10)          # same products, a few ulps per step
                        compare(dw0, expected.dw0, DW0, label, rtol=1e-10)
                    tests.append(Test(f"equals the library back_gradient [{label}]", calls, same))
                else:
                    def fd(answers, model=model, gd=gd, args=(w0, X_tr, y_tr, X_c, y_c),
                           objective=objective, label=label, rng=rng):
                        dX_c, dw0 = answers[0]
                        w0_, X_tr_, y_tr_, X_c_, y_c_ = args
                        y = np.concatenate([y_tr_, y_c_])

                        def A(X_c__, w0__=w0_):
                            return objective.value(model, gd.run(model, w0__,
                                                                 np.vstack([X_tr_, X_c__]), y))
                        check_fd(gradcheck.check_gradient, DXC, label, "A(train(X_c))", A,
                                 lambda _: dX_c, X_c_, rng=rng, name=module, arg="X_c")
                        check_fd(gradcheck.check_gradient, DW0, label, "A(train(w0))",
                                 lambda w: A(X_c_, w), lambda _: dw0, w0_, rng=rng,
                                 name=module, arg="w0")
                    tests.append(Test(f"matches finite differences of the whole training run "
                                      f"[{label}]", calls, fd))
    return tests, library_specs


def reverse_loop_tests():
    tests, specs = reverse_tests("reverse_loop", 0.0)
    model = MODELS["logistic"]
    w0, X_tr, y_tr, X_c, y_c, _, _, rng = poisoning_problem(model)
    X, y = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
    gd = bg.GradientDescent(lr=0.2, n_steps=1)
    w1 = gd.run(model, w0, X, y)
    dw1 = rng.standard_normal(model.n_params)
    rows = slice(len(y_tr), None)
    label = "logistic, T=1, eta=0.2"

    # T = 1 by the library: A = <dw1, w_1> has dA/dw_1 = dw1
    expected = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, Linear(dw1))

    def one(answers):
        dX_c, dw0 = answers[0]
        compare(dX_c, expected.dX_c, DXC, label, factors=step_hints(gd.lr))
        compare(dw0, expected.dw0, DW0, label)
    tests.append(Test("one step is the chain rule",
                      [call("reverse_loop", "reverse_loop", library("logistic"), 0.2, [w0, w1],
                            X, of(library("logistic"), "targets", y), rows, dw1,
                            kind="function")], one, keep_inputs=True))
    return tests, specs


def momentum_tests():
    """The glue against the library (T = 1 and 15), and one direct call of reverse_step."""
    tests, specs = reverse_tests("momentum", 0.6, steps=(1, 15))
    model = MODELS["softmax"]
    w0, X_tr, y_tr, X_c, y_c, _, _, rng = poisoning_problem(model, seed=3)
    X, y = np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c])
    gd = bg.GradientDescent(lr=0.2, n_steps=1, momentum=0.6)
    dw1 = rng.standard_normal(model.n_params)
    rows = slice(len(y_tr), None)
    label = "softmax, T=1, eta=0.2, gamma=0.6, dv = 0"
    # T = 1 from v_0 = 0 by the library: A = <dw1, w_1>, so dA/dw_1 = dw1 and dA/dv_1 = 0
    expected = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, Linear(dw1))

    def one(answers):
        dw0, _, dX_c = answers[0]
        compare(dX_c, expected.dX_c, "dX_c (third output of reverse_step)", label,
                factors=step_hints(gd.lr))
        compare(dw0, expected.dw0, "dw_t = dA/dw_t (first output of reverse_step)", label)
    tests.append(Test("one reverse_step is the chain rule and keeps the caller's dw, dv",
                      [call("momentum", "reverse_step", library("softmax"), 0.2, 0.6, w0, X,
                            of(library("softmax"), "targets", y), rows, dw1,
                            np.zeros_like(dw1), kind="function")], one, keep_inputs=True))
    return tests, specs


@dataclass(frozen=True)
class Linear:
    """A(w) = <c, w>: an objective whose dA/dw_T is any vector c we choose."""
    c: np.ndarray

    def value(self, model, w):
        return float(self.c @ w)

    def value_and_grad(self, model, w):
        return self.value(model, w), self.c.copy()


# ---- the attack's update ---------------------------------------------------------------------

ATTACK_ONLY = REVERSE_ONLY


def attack_tests():
    tests, specs = [], {}
    rng = np.random.default_rng(7)
    G = rng.standard_normal((4, 3))
    G[2] = 0.0                                          # a point whose gradient vanishes
    norms = np.linalg.norm(G, axis=1, keepdims=True)
    expected = np.divide(G, norms, out=np.zeros_like(G), where=norms > 0)

    def direction(answers):
        compare(answers[0], expected, "the ascent direction (grad / ||grad|| per row)",
                "4 points, d=3, row 2 has grad 0")
    tests.append(Test("normalised ascent direction, a zero gradient stays zero",
                      [call("attack_update", "ascent_direction", G, kind="function")],
                      direction, keep_inputs=True))
    X = 2.0 * rng.standard_normal((5, 3))
    lb, ub = np.array([-1.0, 0.0, -0.5]), np.array([1.0, 0.5, 2.0])
    for bounds, label in [((lb, ub), "per-feature bounds"), ((0.0, 1.0), "scalar bounds [0, 1]")]:
        attack = bg.PoisoningAttack(bg.LogisticRegression(3), bg.GradientDescent(0.1, 1),
                                    bg.ErrorGeneric(X[:2], np.array([0, 1])), 1, *bounds)

        def box(answers, attack=attack, label=label):
            compare(answers[0], attack.project(X), "the projection onto the box [lb, ub]", label)
        tests.append(Test(f"projection onto the box [{label}]",
                          [call("attack_update", "project", X, *[np.broadcast_to(b, 3).copy()
                                                                 for b in bounds],
                                kind="function")], box, keep_inputs=True))
    # line search: the library's attack, one joint update, from the same start
    model = bg.LogisticRegression(3, l2=0.05)
    specs["model"] = spec("LogisticRegression", 3, l2=0.05)
    cases = [(1.0, 6, (-3.0, 3.0), 1), (8.0, 6, (-3, 3), 1), (1.0, 0, (-3.0, 3.0), 1),
             (1.0, 6, None, 1), (1.0, 6, (-3.0, 3.0), -1)]
    for case, (step, backtracks, box_, sign) in enumerate(cases):
        w0, X_tr, y_tr, X_c, y_c, X_val, y_val, _ = poisoning_problem(
            model, seed=10 + case, m=2 if box_ else 1)
        gd = bg.GradientDescent(lr=0.5, n_steps=10)
        objective = bg.ErrorGeneric(X_val, y_val)
        result = bg.back_gradient(model, gd, w0, X_tr, y_tr, X_c, y_c, objective)
        grad = sign * result.dX_c          # sign -1: a descent direction, no step raises A
        if box_ is None:                 # the point sits on the box's edge the ascent points to:
            up = grad[0] > 0             # every trial is clipped back onto it, so it stays
            lb_, ub_ = np.where(up, X_c[0] - 5.0, X_c[0]), np.where(up, X_c[0], X_c[0] + 5.0)
        else:
            lb_, ub_ = np.full(3, float(box_[0])), np.full(3, float(box_[1]))
        specs[f"A_{case}"] = {"class": "value_of_poisoning", "args": [
            {"$": "library", "id": "model"}, enc_spec_gd(specs, gd), enc(w0), enc(X_tr),
            enc(y_tr), enc(y_c), enc_spec_objective(specs, case, X_val, y_val)]}
        attack = bg.PoisoningAttack(model, gd, objective, len(y_c), lb_, ub_, update="joint",
                                    step=step, backtracks=backtracks, max_passes=1,
                                    gradient=Given(grad))
        reference = attack.run(X_tr, y_tr, 0, X_c=X_c, y_c=y_c, w0=w0)
        label = f"step={step}, backtracks={backtracks}" + (
            ", at the box's edge" if box_ is None else "") + (", along -dA/dX_c" if sign < 0
                                                              else "")

        def search(answers, reference=reference, label=label, X_c=X_c):
            X_new, value = answers[0]
            compare(X_new, reference.X_c, "X_c after the line search", label)
            compare(value, reference.history[-1], "A after the line search (the value kept)",
                    label)
        tests.append(Test(f"line search keeps the first step that raises A [{label}]",
                          [call("attack_update", "line_search", library(f"A_{case}"), X_c, grad,
                                result.value, step, backtracks, lb_, ub_, kind="function")],
                          search, keep_inputs=True))
    return tests, specs


@dataclass(frozen=True)
class Given:
    """A gradient source for bg.PoisoningAttack that returns a fixed dA/dX_c (the reference
    line search then follows the direction the student is given)."""
    grad: np.ndarray

    def train(self, model, gd, w0, X_tr, y_tr, X_c, y_c, objective):
        w_T = gd.run(model, w0, np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c]))
        return SimpleNamespace(value=objective.value(model, w_T), w_T=w_T)

    def gradient(self, run):
        return self.grad


def enc_spec_gd(specs, gd):
    specs["gd"] = spec("GradientDescent", lr=gd.lr, n_steps=gd.n_steps)
    return {"$": "library", "id": "gd"}


def enc_spec_objective(specs, case, X_val, y_val):
    specs[f"objective_{case}"] = spec("ErrorGeneric", X_val, y_val)
    return {"$": "library", "id": f"objective_{case}"}


# ---- the course ------------------------------------------------------------------------------

def tasks():
    """Every task of the course, in grading order, with its tests."""
    out = [
        Task("task_grad", "LogisticRegression.backward: grad_w L", ("logistic",), MODEL_ONLY, 2,
             tests=gradient_tests("logistic", "LogisticRegression", logistic, CASES, 2,
                                  w_entries)),
        Task("task_hvp", "LogisticRegression.r_backward: H_ww v and rows of H_xw v",
             ("logistic",), MODEL_ONLY, 3,
             tests=product_tests("logistic", "LogisticRegression", logistic, CASES, 2,
                                 w_entries)),
        Task("task_softmax_grad", "SoftmaxRegression.backward: grad_w L", ("softmax",),
             MODEL_ONLY, 2, tests=gradient_tests("softmax", "SoftmaxRegression", softmax,
                                                 CASES, 3, w_entries)),
        Task("task_softmax_hvp", "SoftmaxRegression.r_backward: H_ww v and rows of H_xw v",
             ("softmax",), MODEL_ONLY, 3, tests=product_tests(
                 "softmax", "SoftmaxRegression", softmax, SMALL, 3, w_entries)),
        Task("task_mlp_rpass", "MLP.r_backward: the R-pass of a one-hidden-layer MLP", ("mlp",),
             MODEL_ONLY, 4, tests=product_tests("mlp", "MLP", mlp, SMALL, 3, w_entries)),
    ]
    tests, specs = reverse_loop_tests()
    out.append(Task("task_reverse_loop", "reverse_loop: the back-gradient's reverse pass",
                    ("reverse_loop",), REVERSE_ONLY, 3, specs, tests))
    tests, specs = momentum_tests()
    out.append(Task("task_momentum_reverse", "reverse_step: one reverse step with momentum",
                    ("momentum",), REVERSE_ONLY, 3, specs, tests))
    tests, specs = attack_tests()
    out.append(Task("task_attack_update", "the attack's update: ascent direction, projection, "
                    "line search", ("attack_update",), ATTACK_ONLY, 2, specs, tests))
    return out


TASKS = {task.name: task.title for task in tasks()}

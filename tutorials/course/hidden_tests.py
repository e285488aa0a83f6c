"""Teacher-only tests: ``grade.py`` adds them to the tasks they name (the handout never holds
this file, so students cannot tune their code to it). Same form as grader_tests.py: a test is
calls of the student's code plus a check that runs in the grading process. Weights count in
the partial credit like those of every other test.

    python tutorials/grade.py --batch SUBMISSIONS --hidden tutorials/course/hidden_tests.py
    (this file is also the default when it sits in tutorials/course/)
"""
import numpy as np

import bgpoison as bg
from grader_tests import GRAD, Test, call, compare, student


def _larger_case(seed=11, n=40, d=7, l2=0.02):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, d)), rng.integers(0, 2, n)
    w = rng.standard_normal(d + 1)
    expected = bg.LogisticRegression(d, l2=l2).grad_w(w, X, y)
    label = f"n={n}, d={d}, l2={l2}"

    def check(answers):
        compare(answers[0], expected, GRAD, label)
    return Test(f"gradient equals the library on a larger case [{label}]",
                [call(student("logistic", "LogisticRegression", d, l2=l2), "grad_w", w, X, y)],
                check, weight=2.0)


TESTS = {"task_grad": [_larger_case()]}

"""Exercise: the poisoning attack's update of the points X_c, given the hypergradient.

One task, graded by ``grade.py`` (see README.md):

    task_attack_update   ``ascent_direction``, ``project``, ``line_search``

The attack (bgpoison.PoisoningAttack, the paper's Algorithm "attack") maximises A(X_c): it
takes dA/dX_c from the back-gradient, normalises it per point, and tries steps along it,
clipped to the feasible box [lb, ub], until one raises A. While grading, the library's
``bgpoison.attack`` raises.
### BEGIN HINT

    direction_j = grad_j / ||grad_j||   (a row j with grad_j = 0 stays 0)
    project(X)  = min(max(X, lb), ub)   per feature
    line search: s = step, step/2, ... (backtracks + 1 trials); the trial is
                 project(X_c + s direction); skip a trial equal to X_c; keep the first trial
                 with A(trial) > A(X_c) (and finite); if none, keep X_c and its value.
### END HINT
"""
import numpy as np


def ascent_direction(grad):
    """grad (m, d) with each row scaled to unit length; zero rows stay zero."""
    ### BEGIN SOLUTION
    norms = np.linalg.norm(grad, axis=1, keepdims=True)      # (m, 1)
    return np.divide(grad, norms, out=np.zeros_like(grad), where=norms > 0)
    ### END SOLUTION


def project(X, lb, ub):
    """X clipped to the box: lb, ub have shape (d,), one bound per feature."""
    ### BEGIN SOLUTION
    return np.minimum(np.maximum(X, lb), ub)
    ### END SOLUTION


def line_search(A, X_c, grad, value, step, backtracks, lb, ub):
    """(new X_c, A at it): the first of step, step/2, ... (backtracks halvings) whose projected
    move raises A above ``value`` = A(X_c); (X_c, value) when none does. Do not modify X_c."""
    ### BEGIN SOLUTION
    direction = ascent_direction(grad)
    s = step
    for _ in range(backtracks + 1):
        trial = project(X_c + s * direction, lb, ub)
        s = s / 2
        if np.array_equal(trial, X_c):
            continue
        new = A(trial)
        if new > value and np.isfinite(new):
            return trial, new
    return X_c, value
    ### END SOLUTION

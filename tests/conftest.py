"""Hypothesis profiles for the whole suite (no deadlines: timing is the benchmark's job).

    bgpoison   the default, for CI and every day: 30 examples a property, derandomised, so a run
               draws the same examples on every machine and a failure reproduces as it is
    thorough   300 examples a property, randomised (a new draw each run), for exploring before
               a release or after touching a derivative: ``python -m pytest
               --hypothesis-profile=thorough`` (about ten times as long for the property tests)

Tests that set their own ``max_examples`` (the slow whole-run properties) keep it in both.
The shared strategies are in ``strategies.py``, the independent reference formulas in
``reference.py``.
"""
from hypothesis import settings

settings.register_profile("bgpoison", deadline=None, max_examples=30, derandomize=True,
                          print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=300, derandomize=False,
                          print_blob=True)
settings.load_profile("bgpoison")

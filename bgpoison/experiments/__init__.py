"""The experiment machinery around the algorithms: the ``bgpoison`` command and what it runs.

    cli          the ``bgpoison`` command (``run``, ``plot``), flags and one-line errors
    experiment   Settings, cases (setting x fraction x seed) and ``run_experiment``
    presets      the paper's experiments, one named preset each
    results      the append-only, locked, resumable results store and its summaries
    report       tables and figures from a results folder
    plots        the figures (matplotlib), and ``show`` for the tutorials
    cluster      running cases on a Dask cluster
    bench        ``python -m bgpoison.experiments.bench``: timings as ratios
    bench_speed  the floor of the matrix products, memory, the attack step against a baseline

The algorithms themselves (models, training, reversal, back-gradient, attack, checker) sit one
level up, in ``bgpoison``; nothing there imports this package.
"""

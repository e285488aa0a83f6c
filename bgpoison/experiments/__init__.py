"""The experiment machinery around the algorithms: the ``bgpoison`` command and what it runs.

    cli          the ``bgpoison`` command (``run``, ``plot``): signals, one-line errors
    flags        its flags and the parsers of their values
    preflight    what the command checks before any case runs: data path, outputs, threads
    settings     ``Settings`` and ``Case`` (a setting at one fraction and seed), with stable ids
    experiment   running cases: split, attack, victims; ``run_experiment``
    parts        a case's parts from its settings: data, models, defence, constraint
    presets      the paper's experiments, one named preset each
    results      the append-only, locked, resumable results store and its summaries
    report       tables and figures from a results folder
    plots        the figures (matplotlib), and ``show`` for the tutorials
    cluster      where cases run: here, local worker processes, or a Dask cluster
    bench        ``python -m bgpoison.experiments.bench``: timings as ratios
    bench_speed  the floor of the matrix products, memory, new against old; the timing helpers
    bench_sources  back-gradient against KKT and differences, attack passes, exact reversal
    load_check   ``python -m bgpoison.experiments.load_check``: the command beside busy work

The algorithms themselves (models, training, reversal, back-gradient, attack, checker) sit one
level up, in ``bgpoison``; nothing there imports this package.
"""

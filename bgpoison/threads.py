"""BLAS threads: ``with bgpoison.blas_threads(1): ...`` runs NumPy's matrix products on one thread.

Every product in bgpoison is small (a few hundred rows by 64 or 784 columns). OpenBLAS splits
such products over all cores by default and its threads spin while they wait for each other,
so when other processes hold the cores, a product on two threads can take several times as
long as on one (measured on a 2-core machine beside one busy process: one hypergradient at
digits scale 8-70x slower on the default threads than on one, ``results/load``;
``python -m bgpoison.experiments.load_check`` measures yours). On a laptop or a notebook VM
with other work running, limit the threads:

    import bgpoison as bg
    with bg.blas_threads(1):                 # one BLAS thread inside the block, then as before
        result = attack.run(X_tr, y_tr, rng=0)

``n=None`` leaves the machine's default. The ``bgpoison`` command runs itself and each of its
worker processes on one BLAS thread (``--blas-threads N`` for more). This uses threadpoolctl,
which changes the BLAS library's thread count at run time (environment variables such as
OMP_NUM_THREADS work only if set before NumPy is first imported); it comes with the
``threads`` extra: ``pip install "bgpoison[threads]"`` (scikit-learn also brings it).
"""
import contextlib

import numpy as np

EXTRA = 'pip install "bgpoison[threads]"'


def check_threads(n):
    """``n`` as an int >= 1, or None (the machine's default); ValueError otherwise."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"BLAS threads must be an integer >= 1 or None (the machine's "
                         f"default); got {n!r}")
    return int(n)


@contextlib.contextmanager
def blas_threads(n=1):
    """Limit NumPy's BLAS (OpenBLAS, MKL, BLIS) to ``n`` threads inside the ``with`` block.

    ``n=None`` changes nothing. The previous limits are restored on the way out, also after an
    error. ImportError naming the extra if threadpoolctl is not installed.
    """
    n = check_threads(n)
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as err:
        raise ImportError(f"blas_threads needs threadpoolctl; install it with {EXTRA}") from err
    with threadpool_limits(limits=n, user_api="blas"):
        yield

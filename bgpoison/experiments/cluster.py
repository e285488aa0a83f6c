"""Run a sweep's cases on a Dask cluster: ``bgpoison run --scheduler ADDRESS`` (or ``local``).

Cases are independent, so any ``concurrent.futures.Executor`` runs them; Dask's
``distributed.Client.get_executor()`` is one. The client process alone writes results, as cases
finish, so resume works as with local processes. When a worker dies, Dask runs its cases again
on another worker (up to ``distributed.scheduler.allowed-failures`` times).
"""
import contextlib
import logging


@contextlib.contextmanager
def dask_executor(scheduler, workers=1):
    """An Executor on the Dask cluster at ``scheduler`` ('tcp://host:8786'), or on a new
    ``LocalCluster`` of ``workers`` single-threaded processes for ``scheduler='local'``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise ImportError('--scheduler needs Dask; install the extra with '
                          'pip install "bgpoison[dask]"') from err
    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=10))
            except (OSError, ValueError, TypeError) as err:
                raise OSError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from err
        yield client.get_executor()

"""Where a sweep's cases run: here, in a pool of local processes (``--workers N``), or on a Dask
cluster (``bgpoison run --scheduler ADDRESS``, or ``local``): ``executor_for``.

Cases are independent, so any ``concurrent.futures.Executor`` runs them; Dask's
``distributed.Client.get_executor()`` is one. The client process alone writes results, as cases
finish, so resume works as with local processes. When a worker dies, Dask runs its cases again
on another worker (up to ``distributed.scheduler.allowed-failures`` times). A scheduler that
dies fails the cases still running with ``SchedulerLost`` (or Dask's CancelledError), which the
command reports in one line; the workers of ``--scheduler local`` leave Ctrl-C to the command.

Every case runs inside ``bgpoison.blas_threads(n)`` in its worker (``threads=1`` by
default, ``None`` for the machine's default): a worker process is a new BLAS library with its own
threads, and processes that each spin several BLAS threads on a shared machine slow each other
down many times over (``python -m bgpoison.experiments.load_check``).
"""
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from ..threads import blas_threads


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
        # Ctrl-C or a lost scheduler: the client and the cluster log closed connections with
        # tracebacks while they shut down (after this block too): the command says so in one
        # line instead (``cli``)
        stack.enter_context(_quiet("distributed"))
        stack.enter_context(_quiet("tornado"))
        if scheduler == "local":
            # the workers inherit an ignored SIGINT: Ctrl-C reaches the whole process group,
            # and only this process should answer it (it stops the cluster); their own logs,
            # critical only: at shutdown they log closed connections as errors (a failed case
            # still reaches this process as its exception)
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.CRITICAL,
                    # its HTTP server (health routes) on a free port, not 8787: a second run
                    # at once would print a warning about the port in use
                    scheduler_kwargs={"dashboard_address": ":0"}))
            finally:
                signal.signal(signal.SIGINT, previous)
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=10))
            except (OSError, ValueError, TypeError) as err:
                raise OSError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from err
            watch = stack.enter_context(_watch(client, scheduler))
            yield watch
            return
        yield client.get_executor()


class SchedulerLost(Exception):
    """The client lost its Dask scheduler and could not reconnect: the cases it sent are lost."""


LOST_AFTER = 20.0     # seconds without a scheduler: the client's own 10 s of retries, and more


@contextlib.contextmanager
def _watch(client, scheduler):
    """The client's executor, whose unfinished futures fail with SchedulerLost once the client
    has been without its scheduler for LOST_AFTER seconds (it cancels them itself only some of
    the time, and otherwise waits forever)."""
    executor, futures, stop = client.get_executor(), [], threading.Event()

    class Watched:
        def submit(self, fn, *args, **kwargs):
            future = executor.submit(fn, *args, **kwargs)
            futures.append(future)
            return future

    def watch():
        since = None
        while not stop.wait(0.5):
            if client.status == "running":
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since > LOST_AFTER:
                lost = SchedulerLost(f"lost the Dask scheduler at {scheduler}")
                for future in futures:
                    try:
                        future.set_exception(lost)
                    except Exception:              # finished or cancelled meanwhile
                        pass
                return
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield Watched()
    finally:
        stop.set()


@contextlib.contextmanager
def _quiet(name):
    """Only critical records from logger ``name`` and its children inside the block (Dask's
    configuration gives some children levels of their own, so each is set)."""
    loggers = [logging.getLogger(name)] + [logging.getLogger(key) for key in
                                           list(logging.root.manager.loggerDict)
                                           if key.startswith(name + ".")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class ThreadLimited:
    """An executor whose tasks each run inside ``blas_threads(n)`` in the worker that runs them
    (only ``submit`` is offered: it is all that ``run_experiment`` uses)."""

    def __init__(self, executor, n):
        self.executor, self.n = executor, n

    def submit(self, fn, *args, **kwargs):
        return self.executor.submit(_limited_call, self.n, fn, *args, **kwargs)


def _limited_call(n, fn, *args, **kwargs):
    with blas_threads(n):
        return fn(*args, **kwargs)


@contextlib.contextmanager
def executor_for(scheduler=None, workers=1, threads=1):
    """None (run here), a process pool, or a Dask cluster's executor, whose cases run on
    ``threads`` BLAS threads each (None: the machine's default); stopped on the way out, whatever happens (its worker
    processes never outlive this one)."""
    if scheduler:
        with dask_executor(scheduler, workers) as executor:
            yield ThreadLimited(executor, threads)
        return
    if workers == 1:
        yield None
        return
    executor = ProcessPoolExecutor(workers, initializer=_worker_init,
                                   initargs=(os.getpid(),))
    try:
        yield ThreadLimited(executor, threads)
    finally:
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)   # no second one meanwhile
        for process in multiprocessing.active_children():
            process.terminate()                       # running cases are not waited for
        executor.shutdown(wait=True, cancel_futures=True)
        signal.signal(signal.SIGTERM, previous)


def _worker_init(parent):
    """In each worker: leave Ctrl-C to the parent, die quietly on SIGTERM (the parent's
    handler is inherited by fork), and exit if the parent goes away (even by SIGKILL, which no
    handler sees)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()

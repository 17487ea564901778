"""Where a sweep's tasks run: in this process, in a process pool, or on Dask.

Every scheduler has the same three methods: ``submit(fn, *args) -> id``,
``results()`` (yields ``(id, result)`` as tasks finish, in any order) and
``close()``.  The numbers never depend on the scheduler: each task's result is
a function of its arguments only.

Examples
--------
>>> from linmeta.sweeping.schedulers import make_scheduler
>>> s = make_scheduler("serial")
>>> s.submit(pow, 2, 10)
0
>>> list(s.results()); s.close()
[(0, 1024)]
"""
from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numba

from linmeta.sweeping.errors import SweepArgumentError

__all__ = ["SCHEDULERS", "CONNECT_TIMEOUT", "check_scheduler", "make_scheduler", "Serial", "Pool", "Dask"]

SCHEDULERS = ("serial", "processes", "dask-local")  # or "tcp://HOST:PORT"
#: Seconds to wait for a ``tcp://`` Dask scheduler before giving up.
CONNECT_TIMEOUT = 5


def check_scheduler(scheduler):
    """``scheduler`` if it names a scheduler (``None`` means ``"serial"``), else ``ValueError``.

    Examples
    --------
    >>> check_scheduler(None), check_scheduler("tcp://10.0.0.1:8786")
    ('serial', 'tcp://10.0.0.1:8786')
    """
    if scheduler is None:
        return "serial"
    if scheduler in SCHEDULERS or (isinstance(scheduler, str) and scheduler.startswith("tcp://")):
        return scheduler
    raise ValueError(f"scheduler must be one of {SCHEDULERS} or 'tcp://HOST:PORT'; got {scheduler!r}")


def _set_threads(threads):
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


_PR_SET_PDEATHSIG = 1


def _die_with(parent):
    """End this process when ``parent`` (its parent's pid) ends, however it ends (even by ``SIGKILL``).

    On Linux the kernel sends ``SIGKILL`` when the parent dies
    (``prctl(PR_SET_PDEATHSIG)``), which works even while a compiled kernel
    holds the interpreter.  Elsewhere a daemon thread checks the parent's pid
    every half second.  Either way, a parent that died before this call is
    caught by comparing ``os.getppid()`` afterwards.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:
                os._exit(1)
            return

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="linmeta-parent-watch", daemon=True).start()


def _start_worker(threads, parent):
    _die_with(parent)
    _set_threads(threads)


class Serial:
    """Run every task in this process, in submission order, when results are asked for."""

    def __init__(self):
        self.pending = []

    def submit(self, fn, *args):
        """Queue ``fn(*args)``; return its task id."""
        self.pending.append((fn, args))
        return len(self.pending) - 1

    def results(self):
        """Yield ``(task id, result)`` for every submitted task as it finishes."""
        for i, (fn, args) in enumerate(self.pending):
            yield i, fn(*args)

    def close(self):
        """Release the workers."""
        pass


class Pool:
    """A pool of ``workers`` spawned processes, each with ``threads`` Numba threads.

    The workers end with this process, even when it is killed (see :func:`_die_with`).
    """

    def __init__(self, workers, threads=None):
        if threads is None:
            threads = max(1, (os.cpu_count() or 1) // workers)
        # spawn: a forked child would inherit Numba's running thread pool
        self.ex = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_start_worker, initargs=(threads, os.getpid()))
        self.futs = {}

    def submit(self, fn, *args):
        """Queue ``fn(*args)``; return its task id."""
        self.futs[self.ex.submit(fn, *args)] = len(self.futs)
        return len(self.futs) - 1

    def results(self):
        """Yield ``(task id, result)`` for every submitted task as it finishes."""
        todo = set(self.futs)
        while todo:
            done, todo = wait(todo, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=self.futs.get):
                yield self.futs[f], f.result()

    def close(self):
        """Release the workers."""
        self.ex.shutdown(wait=True, cancel_futures=True)


class Dask:
    """A Dask cluster: a local one of ``workers`` processes (``"dask-local"``) or one at ``tcp://HOST:PORT``.

    An unreachable address raises :class:`SweepArgumentError` after
    :data:`CONNECT_TIMEOUT` seconds.
    """

    def __init__(self, scheduler, workers):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepArgumentError("scheduler", scheduler,
                                     "needs dask.distributed: pip install 'linmeta[dask]'") from None
        self.cluster = None
        if scheduler == "dask-local":
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
            except (OSError, TimeoutError) as err:
                cause = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise SweepArgumentError("scheduler", scheduler,
                                         f"cannot connect within {CONNECT_TIMEOUT} s ({cause})") from None
        self.futs = {}

    def submit(self, fn, *args):
        """Queue ``fn(*args)``; return its task id."""
        i = len(self.futs)
        # pure=False: never merge tasks; retries survive a worker that dies mid-task
        self.futs[self.client.submit(fn, *args, pure=False, retries=2, key=f"linmeta-sweep-{os.getpid()}-{i}")] = i
        return i

    def results(self):
        """Yield ``(task id, result)`` for every submitted task as it finishes."""
        from distributed import as_completed

        for f in as_completed(list(self.futs)):
            yield self.futs[f], f.result()

    def close(self):
        """Release the workers."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_scheduler(scheduler, workers=2, threads=None):
    """Return the scheduler object for ``scheduler`` (see :func:`check_scheduler`).

    Parameters
    ----------
    scheduler : {None, "serial", "processes", "dask-local"} or "tcp://HOST:PORT"
    workers : int, default=2
        Worker processes (``"processes"``, ``"dask-local"``).
    threads : int, optional
        Numba threads per worker process (``"processes"``; default: the
        cores divided among the workers).

    Returns
    -------
    Serial, Pool or Dask
    """
    scheduler = check_scheduler(scheduler)
    if scheduler == "serial":
        return Serial()
    if scheduler == "processes":
        return Pool(workers, threads)
    return Dask(scheduler, workers)

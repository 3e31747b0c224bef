"""Worker processes for per-batch Python work: the decline step's batches, the demo generator's.

The forecast of a batch of wells (:func:`~basinlab.decline.engine.finish`: anchoring, limits, ratios,
uncertainty), its lookback evaluation, a demo batch's rows and a demo month's GL text are numpy,
pandas and Arrow code that holds the GIL most of the time, so threads do not overlap them.
:class:`BatchPool` runs them in worker processes instead, while the calling process reads the next
batches and writes the finished ones: one process keeps the warehouse connection or the output files
(the only writer), the workers only compute.

Results come back **in batch order** whatever the number of workers, and every batch's result is
what the same function gives in the calling process (a batch's work depends only on the arguments it
is sent), so the output is the same for any number of workers — ``tests/test_decline_step.py``
compares every table of one worker and two, ``tests/test_demo.py`` every byte of the demo's files.

The workers start from a fresh interpreter (``forkserver``, else ``spawn``): never a ``fork`` of a
process that holds DuckDB's and OpenBLAS's threads. At most ``workers + 1`` batches are in flight,
so memory stays a few batches whatever the number of wells.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from itertools import islice

from . import config


class WorkerError(RuntimeError):
    """A worker process died (killed, out of memory) before returning its batch's result."""


def _context(preload: tuple[str, ...]) -> mp.context.BaseContext:
    """``forkserver`` importing ``preload`` once, so that each worker starts with them loaded (a process's
    fork server starts once: the pool started first sets them, the others' workers import on demand);
    else ``spawn``."""
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context("spawn")


@contextmanager
def _main_module_hidden():
    """While worker processes start: hide the main script from :mod:`multiprocessing`.

    A ``forkserver`` or ``spawn`` worker re-runs the parent's ``__main__`` script (or module) before it
    takes work, so a script that calls the decline step without an ``if __name__ == "__main__":`` guard
    would run again in every worker (and, say, fail on the warehouse's lock). The tasks are functions
    of this package, never of ``__main__``, so the workers do not need it."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    try:
        main.__dict__.pop("__file__", None)
        main.__spec__ = None
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


#: seconds between a worker's checks that the process that started it is still alive
PARENT_CHECK_S = 1.0


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when the process that started the pool is gone (a kernel
    killed by the runner's timeout or by an analyst), instead of leaving it orphaned with its memory."""
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:          # alive, under another user (pid reused): keep going
                pass

    threading.Thread(target=watch, name="basinlab-parent-watch", daemon=True).start()


class BatchPool:
    """Run ``fn(*args)`` for a stream of batches, in ``workers`` processes, yielding results in order.

    ``workers <= 1`` runs every call in this process, lazily and in order (no process is started).
    Use as a context manager; the processes are started on first use and stopped on exit. ``what``
    names the work and ``setting`` the environment variable that turns the workers off, for the
    error raised when a worker dies (:class:`WorkerError`); ``preload`` the modules of the tasks.
    """

    def __init__(self, workers: int, what: str = "batch", setting: str = config.ENV_THREADS,
                 preload: tuple[str, ...] = ()):
        self.workers = max(1, int(workers))
        self.what, self.setting, self.preload = what, setting, tuple(preload)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> BatchPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=_context(self.preload),
                                             initializer=_exit_with_parent, initargs=(os.getpid(),))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, fn: Callable, *args, **kwargs) -> Job:
        """Start ``fn(*args, **kwargs)`` now in a worker (without workers: when its result is first asked for);
        :meth:`Job.result` gives its result or raises its exception."""
        if self.workers <= 1:
            return Job(None, fn, args, kwargs)
        self._start()
        try:
            with _main_module_hidden():
                return Job(self._pool.submit(fn, *args, **kwargs), fn, args, kwargs, self)
        except BrokenProcessPool as exc:
            raise self._broken() from exc

    def ordered(self, calls: Iterable[tuple[Callable, tuple]]) -> Iterator:
        """For each ``(fn, args)`` of ``calls``, ``fn(*args)``, in the order of ``calls``.

        ``calls`` is consumed lazily: with workers, at most ``workers + 1`` calls are submitted
        ahead of the result being yielded, so the caller's reads for the next batches overlap the
        workers' computing. An exception of ``fn`` is raised here, as from a direct call.
        """
        if self.workers <= 1:
            for fn, args in calls:
                yield fn(*args)
            return
        ahead: deque[Job] = deque()
        it = iter(calls)
        while True:
            for fn, args in islice(it, self.workers + 1 - len(ahead)):
                ahead.append(self.submit(fn, *args))
            if not ahead:
                return
            yield ahead.popleft().result()

    def _broken(self) -> WorkerError:
        self.close()
        return WorkerError(f"a {self.what} worker process died before returning its batch (out of memory or "
                           f"killed): lower the batch size, or set {self.setting}=1 to run without worker processes")


class Job:
    """A call submitted with :meth:`BatchPool.submit`."""

    def __init__(self, future: Future | None, fn: Callable, args: tuple, kwargs: dict, pool: BatchPool | None = None):
        self._future, self._fn, self._args, self._kwargs, self._pool = future, fn, args, kwargs, pool

    def result(self):
        """The call's result (its exception raised here; :class:`WorkerError` when its worker died)."""
        if self._future is None:
            return self._fn(*self._args, **self._kwargs)
        try:
            return self._future.result()
        except BrokenProcessPool as exc:
            raise self._pool._broken() from exc

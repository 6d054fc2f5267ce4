"""Where an archive's tasks run: in this process, in processes forked from it, or on
``dask.distributed`` workers.

Every engine takes the same task function and items and yields ``(item, result)`` as
tasks complete; a task's output depends only on its item, so results are the same on
each (tests/host/test_fleet.py compares them).  A worker process that dies mid-task has
its task rerun (by Dask's scheduler, or by :class:`ProcessEngine` on a new pool): the
dataset's parts are renamed into place only when whole, see :mod:`.store`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterator, Sequence

from ..cores import usable_cores

__all__ = ["Engine", "SerialEngine", "ProcessEngine", "DaskEngine", "make_engine",
           "EngineError"]


class EngineError(RuntimeError):
    """The engine could not run (Dask missing, scheduler unreachable)."""


class Engine:
    """Runs ``fn(item, *args)`` for each item; yields ``(item, result)`` as they finish."""

    name = "engine"
    #: tasks run in this process: a thread may write one task's output while the next runs
    in_process = False

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            *args: Any) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return self.name


class SerialEngine(Engine):
    """Every task in this process, one after the other."""

    name = "single process"
    in_process = True

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            *args: Any) -> Iterator[tuple[Any, Any]]:
        for item in items:
            yield item, fn(item, *args)


class ProcessEngine(Engine):
    """Tasks on ``jobs`` worker processes of this machine, forked from this one
    (:class:`~concurrent.futures.ProcessPoolExecutor`): they start with this process's
    modules, so there is nothing to start but the fork, and no Dask to install.  On a
    2-core machine the rally of bench_fleet decodes ~15 % faster than in one process
    with its writing thread (bench/RESULTS.md), and unlike it scales past two cores.

    The workers are forked here, before the caller starts threads (a progress bar):
    forking a process that runs threads is not safe.  Where ``fork`` is not the way
    (macOS, Windows), they are spawned and import what they need.  A worker that dies
    mid-task (killed, out of memory) breaks the pool: the tasks not finished run again on
    a new one, once; a second death is an :class:`EngineError`."""

    def __init__(self, jobs: int, method: str | None = None) -> None:
        import multiprocessing
        import sys
        self.jobs = max(1, int(jobs))
        self.name = f"{self.jobs} processes"
        #: how the workers start: ``fork`` on Linux, else ``spawn`` (or ``method``)
        self.method = method or ("fork" if sys.platform.startswith("linux") else "spawn")
        self._ctx = multiprocessing.get_context(self.method)
        self._pool: Any = self._start()

    def _start(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor
        pool = ProcessPoolExecutor(self.jobs, mp_context=self._ctx,
                                   initializer=_worker_init)
        # with fork the executor makes every worker at its first task: make them now
        list(pool.map(_noop, range(self.jobs)))
        return pool

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            *args: Any) -> Iterator[tuple[Any, Any]]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool
        left = dict(enumerate(items))
        for attempt in (1, 2):
            try:
                if self._pool is None:
                    self._pool = self._start()
                futures = {self._pool.submit(fn, it, *args): i for i, it in left.items()}
                for fut in as_completed(futures):
                    i = futures[fut]
                    res = fut.result()
                    del left[i]
                    yield items[i], res
                return
            except BrokenProcessPool as e:
                self.close()
                if attempt == 2:
                    raise EngineError(f"a worker process died twice ({e}); "
                                      f"{len(left)} task(s) not done") from None
            except BaseException:
                self.close(cancel=True)
                raise

    def worker_pids(self) -> list[int]:
        """Process ids of the workers (for tests)."""
        if self._pool is None:
            self._pool = self._start()
        return sorted(self._pool._processes)      # the executor keeps them by pid

    def close(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:      # stopped (an error, ^C): the running tasks are not waited for
            for p in list(getattr(pool, "_processes", {}).values()):
                p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

    def peak_rss_mb(self) -> float:
        """The largest peak resident memory of the workers that have ended, MB (call
        after :meth:`close`)."""
        import resource
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _worker_init() -> None:
    """In each worker: the heap settings of the command line; ^C is the parent's to
    handle (it stops the workers)."""
    import signal

    from ..heap import keep_freed_memory
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()


def _noop(_: int) -> None:
    return None


class DaskEngine(Engine):
    """Tasks on a ``dask.distributed`` cluster: a new :class:`LocalCluster` of
    ``workers`` processes (one thread each), or the scheduler at ``scheduler``
    (``tcp://host:port``), whose workers must see the archive and the output at the same
    paths (shared storage).

    A LocalCluster starts in the background (~0.5 s: its workers are new Python
    processes importing Dask and dunelog) while this process lists and plans the
    archive; the first :meth:`map` that has tasks waits for it.  A scheduler is connected
    to at once (:class:`EngineError` if it does not answer within ``connect_timeout``
    seconds)."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, *,
                 connect_timeout: float = 10.0) -> None:
        import importlib.util
        # found, not imported: the import (~0.2 s) happens in the starting thread
        if importlib.util.find_spec("distributed") is None:
            raise EngineError("the Dask engine needs dask.distributed: "
                              "pip install 'dunelog[fleet]' (or: pip install "
                              "'dask[distributed]')")
        self.cluster: Any = None
        self.client: Any = None
        self._error: BaseException | None = None
        self._starting: threading.Thread | None = None
        #: a LocalCluster of this process's own (not a scheduler's workers)
        self.local = not scheduler
        if scheduler:
            # connected here: in the background, Dask's import and the connection only
            # contend with the planning for the GIL (measured 0.08 s slower end to end)
            try:
                from distributed import Client
                self.client = Client(scheduler, timeout=f"{connect_timeout}s")
            except (OSError, TimeoutError) as e:
                raise EngineError(f"cannot reach the Dask scheduler {scheduler}: {e}") \
                    from None
            self.name = f"Dask scheduler {scheduler}"
        else:
            n = max(1, int(workers or 1))
            self.name = f"Dask LocalCluster, {n} worker process(es)"
            self._starting = threading.Thread(target=self._start_local, args=(n,),
                                              name="dunelog-cluster-start", daemon=True)
            self._starting.start()

    def _start_local(self, n: int) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster

            from ..heap import ENVIRON
            # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers: with the
            # chunk-sized NumPy arrays a task allocates that costs ~60 % more time; the
            # workers get the settings of dunelog.heap instead (bench/RESULTS.md)
            environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}),
                       **ENVIRON}
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                                  **_QUIET}):
                # the task module imported as the worker starts, not by its first task
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1,
                                            processes=True, dashboard_address=None,
                                            silence_logs=logging.ERROR,
                                            preload=["dunelog.fleet.task"])
            self.client = Client(self.cluster)
        except BaseException as e:  # noqa: BLE001 - raised again by _ready(), in the caller
            self._error = e

    def _ready(self) -> Any:
        """The client, once the cluster has started (:class:`EngineError` if it could not)."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
            if self._error is not None:
                err, self._error = self._error, None
                self.close()
                raise EngineError(f"cannot start the Dask workers: {err}") from err
        return self.client

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            *args: Any) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed
        if not items:
            return
        client = self._ready()
        futures = client.map(fn, list(items), *[[a] * len(items) for a in args],
                             pure=False, retries=1)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                yield items[index[fut.key]], fut.result()
        finally:
            for f in futures:
                f.release()

    def worker_pids(self) -> list[int]:
        """Process ids of the workers (for tests and memory figures)."""
        import os
        return sorted(self._ready().run(os.getpid).values())

    def worker_peak_rss_mb(self) -> dict[str, float]:
        """Peak resident memory of each live worker process, MB (a worker restarted after a
        crash counts from its restart)."""
        return {w: v / 1024 for w, v in self._ready().run(_peak_rss_kb).items()}

    def close(self) -> None:
        if self._starting is not None:      # never used: let it finish starting first
            self._starting.join()
            self._starting = None
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None


#: a LocalCluster of ours has no dashboard: no statistical profiler in its workers (it
#: samples the task's stack every 10 ms) and slower health and memory checks; the
#: scheduler process then spends ~25 % less CPU on an archive (bench/RESULTS.md)
_QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def make_engine(workers: int | None = None, scheduler: str | None = None,
                jobs: int | None = None) -> Engine:
    """A :class:`DaskEngine` when ``workers`` or ``scheduler`` is given, else a
    :class:`ProcessEngine` of ``jobs`` processes, or :class:`SerialEngine` for one job
    (``jobs`` None: one process per :func:`usable_cores`)."""
    if workers is not None or scheduler is not None:
        return DaskEngine(workers, scheduler)
    jobs = usable_cores() if jobs is None else jobs
    return ProcessEngine(jobs) if jobs > 1 else SerialEngine()


def _peak_rss_kb() -> int:
    import resource
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

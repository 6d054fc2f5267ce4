"""Where an archive's tasks run: in this process, or on ``dask.distributed`` workers.

Both engines take the same task function and items and yield ``(item, result)`` as
tasks complete; a task's output depends only on its item, so results are the same on
either (tests/host/test_fleet.py compares them).  On Dask each task is one future; a
worker that dies mid-task has its task rerun on another worker by the scheduler (the
dataset's parts are renamed into place only when whole, see :mod:`.store`).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, Sequence

__all__ = ["Engine", "SerialEngine", "DaskEngine", "make_engine", "EngineError"]


class EngineError(RuntimeError):
    """The engine could not run (Dask missing, scheduler unreachable)."""


class Engine:
    """Runs ``fn(item, *args)`` for each item; yields ``(item, result)`` as they finish."""

    name = "engine"

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

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            *args: Any) -> Iterator[tuple[Any, Any]]:
        for item in items:
            yield item, fn(item, *args)


class DaskEngine(Engine):
    """Tasks on a ``dask.distributed`` cluster: a new :class:`LocalCluster` of
    ``workers`` processes (one thread each), or the scheduler at ``scheduler``
    (``tcp://host:port``), whose workers must see the archive and the output at the same
    paths (shared storage)."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise EngineError("the Dask engine needs dask.distributed: "
                              "pip install 'dunelog[fleet]' (or: pip install "
                              "'dask[distributed]')") from None
        self.cluster: Any = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="10s")
                self.name = f"Dask scheduler {scheduler}"
            else:
                n = max(1, int(workers or 1))
                import dask

                # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers: with
                # the chunk-sized NumPy arrays a task allocates that costs ~60 % more time;
                # the workers get the settings of dunelog.heap instead (bench/RESULTS.md)
                from ..heap import ENVIRON
                environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}),
                           **ENVIRON}
                with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
                    self.cluster = LocalCluster(n_workers=n, threads_per_worker=1,
                                                processes=True, dashboard_address=None,
                                                silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
                self.name = f"Dask LocalCluster, {n} worker process(es)"
        except (OSError, TimeoutError) as e:
            if self.cluster is not None:
                self.cluster.close()
            raise EngineError(f"cannot reach the Dask scheduler {scheduler}: {e}") from None

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            *args: Any) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed
        if not items:
            return
        futures = self.client.map(fn, list(items), *[[a] * len(items) for a in args],
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
        return sorted(self.client.run(os.getpid).values())

    def worker_peak_rss_mb(self) -> dict[str, float]:
        """Peak resident memory of each live worker process, MB (a worker restarted after a
        crash counts from its restart)."""
        return {w: v / 1024 for w, v in self.client.run(_peak_rss_kb).items()}

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_engine(workers: int | None = None, scheduler: str | None = None) -> Engine:
    """:class:`SerialEngine` when neither is given, else a :class:`DaskEngine`."""
    if workers is None and scheduler is None:
        return SerialEngine()
    return DaskEngine(workers, scheduler)


def _peak_rss_kb() -> int:
    import resource
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

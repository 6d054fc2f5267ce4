"""Mapping boot time (``boot``, ``time_us``) to UTC from time sync records."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime

import numpy as np

from .records import TimeSync, utc_datetime

__all__ = ["TimeBase"]


class TimeBase:
    """UTC for boot times of one logger.

    For a boot, the time sync used is the latest one at or before the requested boot
    time, else the first one after it; UTC = sync UTC + (time_us - sync time_us).
    """

    def __init__(self) -> None:
        self._raw: dict[int, list[tuple[int, int]]] = {}
        self._sorted: dict[int, tuple[list[int], list[int]]] = {}

    def add(self, boot: int, time_us: int, utc_epoch_us: int) -> None:
        """Add one sync point: at ``time_us`` of ``boot`` UTC was ``utc_epoch_us``."""
        self._raw.setdefault(boot, []).append((time_us, utc_epoch_us))
        self._sorted.pop(boot, None)

    def add_sync(self, sync: TimeSync) -> None:
        """Add a :class:`~dunelog.card.records.TimeSync` record."""
        self.add(sync.boot, sync.time_us, sync.utc_epoch_us)

    def boots(self) -> list[int]:
        """Boots that have at least one sync."""
        return sorted(self._raw)

    def points(self, boot: int) -> list[tuple[int, int]]:
        """The sync points of ``boot``, ``(time_us, utc_epoch_us)`` in boot-time order."""
        t = self._table(boot)
        return [] if t is None else list(zip(t[0], t[1]))

    def __contains__(self, boot: int) -> bool:
        return boot in self._raw

    def _table(self, boot: int) -> tuple[list[int], list[int]] | None:
        t = self._sorted.get(boot)
        if t is None:
            raw = self._raw.get(boot)
            if not raw:
                return None
            raw.sort()
            t = ([a for a, _ in raw], [b for _, b in raw])
            self._sorted[boot] = t
        return t

    def utc_us(self, boot: int, time_us: int) -> int | None:
        """UTC (microseconds since 1970-01-01) at ``time_us`` of ``boot``, or None."""
        t = self._table(boot)
        if t is None:
            return None
        times, utcs = t
        i = max(bisect_right(times, time_us) - 1, 0)
        return utcs[i] + (time_us - times[i])

    def utc(self, boot: int, time_us: int) -> datetime | None:
        """UTC at ``time_us`` of ``boot`` as an aware datetime, or None (also when out of
        datetime's range)."""
        u = self.utc_us(boot, time_us)
        return None if u is None else utc_datetime(u)

    def utc_us_array(self, boot: int, time_us: np.ndarray) -> np.ndarray | None:
        """Vectorised :meth:`utc_us` for one boot (int64 array), or None."""
        t = self._table(boot)
        if t is None:
            return None
        times = np.asarray(t[0], dtype=np.int64)
        utcs = np.asarray(t[1], dtype=np.int64)
        tu = np.asarray(time_us).astype(np.int64)
        i = np.maximum(np.searchsorted(times, tu, side="right") - 1, 0)
        return utcs[i] + (tu - times[i])

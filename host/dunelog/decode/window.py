"""Time windows: keep the frames of a chunk between a start and an end given in seconds
since boot or as UTC times (``dunelog decode --start/--end``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional, Tuple

import numpy as np

__all__ = ["TimeBound", "parse_time", "window"]

#: ``("boot", microseconds since boot)`` or ``("utc", microseconds since 1970)``
TimeBound = Tuple[str, int]


def parse_time(s: str | None) -> Optional[TimeBound]:
    """``"12.5"`` -> ``("boot", 12_500_000)``; an ISO 8601 time (UTC unless it says
    otherwise) -> ``("utc", us)``; None -> None.  :class:`ValueError` otherwise."""
    if s is None:
        return None
    try:
        return ("boot", int(round(float(s) * 1e6)))
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not seconds nor an ISO 8601 time: {s!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return ("utc", int(round(t.timestamp() * 1e6)))


def window(frames: np.ndarray, start: TimeBound | None, end: TimeBound | None,
           tb: Any) -> np.ndarray:
    """The frames (a CAN structured array) with ``start <= t < end``.  A UTC bound needs
    the time base ``tb`` (``utc_us_array(boot, time_us)``); frames without UTC time never
    fall in a UTC window."""
    if start is None and end is None:
        return frames
    keep = np.ones(frames.shape[0], bool)
    t = frames["time_us"].astype(np.int64)
    utc = None
    for bound, lower in ((start, True), (end, False)):
        if bound is None:
            continue
        kind, v = bound
        if kind == "boot":
            x = t
        else:
            if utc is None:
                utc = np.full(t.shape[0], np.iinfo(np.int64).min if lower else -1, np.int64)
                if tb is not None:
                    for b in np.unique(frames["boot"]).tolist():
                        bm = frames["boot"] == b
                        u = tb.utc_us_array(int(b), t[bm])
                        if u is not None:
                            utc[bm] = u
                # frames without UTC never fall in a UTC window
                keep &= utc != (np.iinfo(np.int64).min if lower else -1)
            x = utc
        keep &= (x >= v) if lower else (x < v)
    return frames[keep]

"""Min/max envelopes: many samples reduced to a fixed number of buckets.

A 12-hour dump holds tens of millions of samples per signal; a report only needs, per
bucket of the x axis (time or distance), the minimum, maximum and mean of what fell in
it.  Drawn as a band (min..max) with a line (mean), that keeps every spike visible at any
zoom down to one bucket, and the report stays small.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Envelope"]


class Envelope:
    """Accumulates ``(x, value)`` samples into ``n`` equal buckets over ``[x0, x1]``.

    Samples outside the range are clipped into the first or last bucket.  Call
    :meth:`add` any number of times (chunk by chunk); read :attr:`lo`, :attr:`hi`,
    :attr:`mean` (NaN for empty buckets), :attr:`count` and :meth:`centres`.
    """

    def __init__(self, x0: float, x1: float, n: int) -> None:
        if n <= 0:
            raise ValueError("n must be > 0")
        if not x1 > x0:
            x1 = x0 + 1.0
        self.x0, self.x1, self.n = float(x0), float(x1), int(n)
        self.lo = np.full(n, np.inf)
        self.hi = np.full(n, -np.inf)
        self.total = np.zeros(n)
        self.count = np.zeros(n, np.int64)

    def index(self, x: np.ndarray) -> np.ndarray:
        """Bucket index of each x (clipped to ``[0, n-1]``)."""
        f = (np.asarray(x, np.float64) - self.x0) * (self.n / (self.x1 - self.x0))
        return np.clip(f, 0, self.n - 1).astype(np.int64)

    def add(self, x: np.ndarray, v: np.ndarray) -> None:
        """Add samples ``v`` at positions ``x`` (NaN values are ignored)."""
        v = np.asarray(v, np.float64)
        ok = np.isfinite(v)
        if not ok.all():
            x, v = np.asarray(x)[ok], v[ok]
        if v.size == 0:
            return
        idx = self.index(x)
        if idx.size > 1 and (np.diff(idx) < 0).any():
            order = np.argsort(idx, kind="stable")
            idx, v = idx[order], v[order]
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        b = idx[starts]
        self.lo[b] = np.minimum(self.lo[b], np.minimum.reduceat(v, starts))
        self.hi[b] = np.maximum(self.hi[b], np.maximum.reduceat(v, starts))
        self.total[b] += np.add.reduceat(v, starts)
        self.count[b] += np.diff(np.r_[starts, idx.size])

    @property
    def samples(self) -> int:
        """Number of samples added."""
        return int(self.count.sum())

    @property
    def mean(self) -> np.ndarray:
        """Mean per bucket (NaN where empty)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan)

    def centres(self) -> np.ndarray:
        """x at the centre of each bucket."""
        w = (self.x1 - self.x0) / self.n
        return self.x0 + (np.arange(self.n) + 0.5) * w

    def series(self, digits: int = 6) -> dict:
        """The non-empty buckets as JSON-able lists: ``x``, ``lo``, ``hi``, ``mean``, and
        ``n`` (samples per bucket); values rounded to ``digits`` significant digits."""
        m = self.count > 0
        return {"x": _round(self.centres()[m], 13), "lo": _round(self.lo[m], digits),
                "hi": _round(self.hi[m], digits), "mean": _round(self.mean[m], digits),
                "n": self.count[m].tolist()}


def _round(a: np.ndarray, digits: int) -> list[float]:
    """Round to ``digits`` significant digits; returns a list of Python floats."""
    return [float(f"{x:.{digits}g}") for x in np.asarray(a, np.float64).tolist()]

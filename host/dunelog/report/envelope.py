"""Min/max envelopes: many samples reduced to a fixed number of buckets.

A 12-hour dump holds tens of millions of samples per signal; a report only needs, per
bucket of the x axis (time or distance), the minimum, maximum and mean of what fell in
it.  Drawn as a band (min..max) with a line (mean), that keeps every spike visible at any
zoom down to one bucket, and the report stays small.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Envelope", "BootHistogram"]


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


class BootHistogram:
    """Buckets of boot time (``time_us`` from 0) whose width adapts to the data: it starts
    at ``width_us`` and doubles (merging neighbours) whenever more than ``cap`` buckets
    would be needed, so memory stays bounded however long the boot is while short boots
    keep a fine resolution.  Used in the single pass over a dump, before the report's
    time axis is known; :meth:`centres_us` and the arrays are then re-bucketed onto it.

    With ``values`` it keeps min / max / sum / count per bucket (a signal); otherwise
    only counts plus the sums of any named weights (frames, bits, error frames).
    """

    def __init__(self, width_us: int = 1000, cap: int = 1 << 16, *, values: bool = True,
                 weights: tuple[str, ...] = ()) -> None:
        self.width_us = int(width_us)
        self.cap = int(cap)
        self.values = values
        self.n = 0
        self.count = np.zeros(0, np.int64)
        self.sums: dict[str, np.ndarray] = {w: np.zeros(0) for w in weights}
        if values:
            self.lo = np.zeros(0)
            self.hi = np.zeros(0)
            self.total = np.zeros(0)

    def _grow(self, n: int) -> None:
        if n <= self.count.size:
            self.n = max(self.n, n)
            return
        size = max(n, 2 * self.count.size, 64)

        def ext(a: np.ndarray, fill: float) -> np.ndarray:
            out = np.full(size, fill, a.dtype)
            out[:a.size] = a
            return out

        self.count = ext(self.count, 0)
        self.sums = {k: ext(v, 0.0) for k, v in self.sums.items()}
        if self.values:
            self.lo, self.hi = ext(self.lo, np.inf), ext(self.hi, -np.inf)
            self.total = ext(self.total, 0.0)
        self.n = n

    def _coarsen(self) -> None:
        n = (self.n + 1) // 2
        m = 2 * n

        def pairs(a: np.ndarray, fill: float) -> np.ndarray:
            b = np.full(m, fill, a.dtype)
            b[:self.n] = a[:self.n]
            return b.reshape(n, 2)

        self.count = pairs(self.count, 0).sum(1)
        self.sums = {k: pairs(v, 0.0).sum(1) for k, v in self.sums.items()}
        if self.values:
            self.lo = pairs(self.lo, np.inf).min(1)
            self.hi = pairs(self.hi, -np.inf).max(1)
            self.total = pairs(self.total, 0.0).sum(1)
        self.n = n
        self.width_us *= 2

    def add(self, time_us: np.ndarray, values: np.ndarray | None = None,
            **weights: np.ndarray) -> None:
        """Add samples at boot times ``time_us`` (with ``values`` and/or named weights)."""
        t = np.asarray(time_us)
        if values is not None:
            v = np.asarray(values, np.float64)
            ok = np.isfinite(v)
            if not ok.all():
                t, v = t[ok], v[ok]
                weights = {k: np.asarray(w)[ok] for k, w in weights.items()}
        if t.size == 0:
            return
        tmax = int(t.max())
        while tmax // self.width_us >= self.cap:
            self._coarsen()
        idx = (t // self.width_us).astype(np.int64)
        self._grow(int(idx.max()) + 1)
        n = self.n
        self.count[:n] += np.bincount(idx, minlength=n)
        for k, w in weights.items():
            self.sums[k][:n] += np.bincount(idx, weights=w, minlength=n)
        if values is not None:
            if idx.size > 1 and (np.diff(idx) < 0).any():
                order = np.argsort(idx, kind="stable")
                idx, v = idx[order], v[order]
            starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
            b = idx[starts]
            self.lo[b] = np.minimum(self.lo[b], np.minimum.reduceat(v, starts))
            self.hi[b] = np.maximum(self.hi[b], np.maximum.reduceat(v, starts))
            self.total[b] += np.add.reduceat(v, starts)

    def centres_us(self) -> np.ndarray:
        """Boot time at the centre of each bucket."""
        return (np.arange(self.n, dtype=np.int64) * self.width_us + self.width_us // 2)

    def into(self, env: Envelope, x: np.ndarray) -> None:
        """Merge the non-empty buckets into ``env`` at positions ``x`` (one per bucket)."""
        m = self.count[:self.n] > 0
        if not m.any():
            return
        idx = env.index(np.asarray(x)[m])
        np.add.at(env.count, idx, self.count[:self.n][m])
        if self.values:
            np.minimum.at(env.lo, idx, self.lo[:self.n][m])
            np.maximum.at(env.hi, idx, self.hi[:self.n][m])
            np.add.at(env.total, idx, self.total[:self.n][m])

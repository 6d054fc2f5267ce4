"""dunelog dumps (a ``.dlg`` segment file, a directory or an SD-dump tree) as frames.

:class:`DlgReader` is the :mod:`dunelog.io` reader of dumps; :func:`dump_chunks` gives the
frames of an open :class:`~dunelog.card.dump.Dump` with their timestamps (UTC epoch seconds
for every boot with a time sync, else seconds since boot; see :mod:`dunelog.frames`).

:mod:`.plugin` holds the python-can plugin built on :class:`DlgReader` (python-can
imports asammdf, ~1 s: reading a dump here needs neither).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..card.dump import Dump
from ..card.timebase import TimeBase
from ..frames import DEFAULT_MESSAGES_PER_CHUNK, FrameChunk
from .base import FrameReader, Progress, SourceError, register_reader
from .gnss_can import GnssCan, gnss_can_chunks

__all__ = ["DlgReader", "dump_chunks", "open_dump_source"]


def _times(tb: TimeBase | None, boot: np.ndarray, time_us: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Seconds (float64) and an 'is UTC' mask for frames of one chunk."""
    out = time_us.astype(np.float64) / 1e6
    epoch = np.zeros(len(time_us), bool)
    if len(time_us) == 0 or tb is None:
        return out, epoch
    for b in np.unique(boot):
        if int(b) not in tb:
            continue
        m = boot == b
        utc = tb.utc_us_array(int(b), time_us[m])
        if utc is not None:
            out[m] = utc.astype(np.float64) / 1e6
            epoch[m] = True
    return out, epoch


def dump_chunks(dump: Dump, progress: Progress | None = None, *,
                gnss: GnssCan | None = None) -> Iterator[FrameChunk]:
    """The CAN frames of ``dump`` as :class:`~dunelog.frames.FrameChunk`, in the dump's
    order; ``progress(bytes_done, bytes_total)`` is called during the pass (instead of
    the dump's own ``progress`` while this runs).  With ``gnss``, the GNSS fixes are
    merged in as CAN frames (:mod:`.gnss_can`), with their records' timestamps."""
    tbs: dict[int, TimeBase | None] = {}
    saved = dump.progress
    if progress is not None:
        dump.progress = progress
    try:
        for c in dump.can_chunks() if gnss is None else gnss_can_chunks(dump, gnss):
            if c.logger_id not in tbs:
                tbs[c.logger_id] = _timebase(dump, c.logger_id)
            tb = tbs[c.logger_id]
            ct, ce = _times(tb, c.classic["boot"], c.classic["time_us"])
            ft, fe = _times(tb, c.fd["boot"], c.fd["time_us"])
            yield FrameChunk(c.file, c.logger_id, c.classic, c.fd, ct, ft, ce, fe)
    finally:
        dump.progress = saved


def _timebase(dump: Dump, logger_id: int) -> TimeBase | None:
    """The timebase of one logger: from a complete earlier pass, else from a
    statistics-only scan of a twin Dump (done once per Dump; needed because time sync
    records can follow the first frames)."""
    cache: dict[int, TimeBase] | None = getattr(dump, "_dunelog_sources_tb", None)
    if cache is None and dump.stats is not None and dump.stats.complete:
        cache = dict(dump.stats.timebases)
        dump._dunelog_sources_tb = cache  # type: ignore[attr-defined]
    if cache is None:
        # scan a twin so the caller's pass (and its problems) is not disturbed
        twin = Dump(dump.path, chunk_size=dump.chunk_size)
        twin.segments = dump.segments
        stats = twin.scan(can_ids=False)
        cache = dict(stats.timebases)
        dump._dunelog_sources_tb = cache  # type: ignore[attr-defined]
    return cache.get(logger_id)


def open_dump_source(path: str, progress: Progress | None = None) -> Dump:
    """Open a dunelog path as a :class:`~dunelog.card.dump.Dump`, or :class:`SourceError`."""
    try:
        dump = Dump(path, progress=progress)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e}") from None
    if not dump.segments:
        raise SourceError(f"no dunelog segment files (*.dlg) found in {path}")
    return dump


@register_reader
class DlgReader(FrameReader):
    """A dunelog segment file, directory or SD-dump tree (directories are read by this
    reader whatever their name)."""

    suffixes = (".dlg",)

    def chunks(self, size: int = DEFAULT_MESSAGES_PER_CHUNK, *,
               gnss: GnssCan | None = None) -> Iterator[FrameChunk]:
        # chunks follow the dump's block chunks, not ``size``
        yield from dump_chunks(open_dump_source(self.path, self.progress), gnss=gnss)

"""Frame sources: a dunelog dump, or any CAN log python-can reads, as one frame stream.

Two views of the same frames:

* :func:`iter_messages` - :class:`can.Message` objects, one by one;
* :func:`iter_frame_chunks` - :class:`FrameChunk` objects holding NumPy structured arrays
  (:data:`~dunelog.bulk.CAN_DTYPE` / :data:`~dunelog.bulk.CANFD_DTYPE`), like
  :meth:`dunelog.Dump.can_chunks`, so a columnar consumer (the DBC decoder, the exporters)
  serves logs from other loggers too.

A *dunelog* input is a segment file (``*.dlg``), a directory or an SD-dump tree.  Anything
else goes through :func:`can.LogReader` (``.blf .asc .trc .log .mf4 .csv .db``, plus
plugins), or our own raw-frame tables (``.parquet`` always; ``.csv`` when it has the
header written by :mod:`dunelog.export.csv`).

Timestamps
----------
For a dunelog dump, :attr:`can.Message.timestamp` is UTC seconds since 1970 for every boot
that has a time sync record (GNSS/PPS), else seconds since that boot started (boot
time).  :attr:`FrameChunk.time_s` gives the same numbers for a chunk as a float64 array;
``FrameChunk.epoch`` says, per frame, which of the two it is.  For a foreign log the
timestamp is whatever the log holds (usually epoch seconds); in its chunks ``time_us`` is
``round(timestamp * 1e6)`` and ``boot`` is 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from .bulk import CAN_DTYPE, CANFD_DTYPE
from .format import CAN_BRS, CAN_ERR, CAN_ESI, CAN_EXT, CAN_RTR, CAN_TX

__all__ = ["FrameChunk", "iter_messages", "iter_frame_chunks", "is_dunelog_input",
           "messages_to_chunks", "chunk_to_messages", "DEFAULT_MESSAGES_PER_CHUNK",
           "SourceError"]

DEFAULT_MESSAGES_PER_CHUNK = 65536

#: DLC code for a CAN FD data length
_LEN2DLC = np.zeros(65, np.uint8)
for _n in range(65):
    _LEN2DLC[_n] = _n if _n <= 8 else next(
        c for c, l in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64])
        if l >= _n)


class SourceError(ValueError):
    """An input that cannot be read as frames (the message names the file)."""


@dataclass
class FrameChunk:
    """CAN frames of one chunk: ``classic`` (:data:`~dunelog.bulk.CAN_DTYPE`) and ``fd``
    (:data:`~dunelog.bulk.CANFD_DTYPE`), from ``file``.

    ``classic_time_s`` / ``fd_time_s`` are the timestamps in seconds (float64; UTC epoch
    where ``*_epoch`` is true, else seconds since boot).
    """

    file: str
    logger_id: int
    classic: np.ndarray
    fd: np.ndarray
    classic_time_s: np.ndarray
    fd_time_s: np.ndarray
    classic_epoch: np.ndarray = field(default=None)  # type: ignore[assignment]
    fd_epoch: np.ndarray = field(default=None)  # type: ignore[assignment]
    #: position of each frame (classic then fd) in the source's order, when known
    order: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.classic_epoch is None:
            self.classic_epoch = np.zeros(len(self.classic), bool)
        if self.fd_epoch is None:
            self.fd_epoch = np.zeros(len(self.fd), bool)

    def __len__(self) -> int:
        return len(self.classic) + len(self.fd)

    def merge_order(self) -> np.ndarray:
        """Permutation of the concatenated ``[classic, fd]`` frames into source order:
        the foreign log's message order, else by (boot, time_us) (a dump's time is not
        monotonic across boots, so the merge must not sort by the timestamp alone)."""
        if self.order is not None:
            return np.argsort(self.order, kind="stable")
        if not len(self.fd):
            return np.arange(len(self.classic))
        if not len(self.classic):
            return np.arange(len(self.fd))
        boot = np.concatenate([self.classic["boot"], self.fd["boot"]])
        t = np.concatenate([self.classic["time_us"], self.fd["time_us"]])
        return np.lexsort((t, boot))


def is_dunelog_input(path: str | os.PathLike[str]) -> bool:
    """True for a directory or a ``.dlg`` segment file."""
    p = os.fspath(path)
    return os.path.isdir(p) or p.lower().endswith(".dlg")


# --------------------------------------------------------------------- dunelog side
def _times(tb, boot: np.ndarray, time_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _dump_chunks(dump, progress: Callable[[int, int], None] | None = None
                 ) -> Iterator[FrameChunk]:
    tbs: dict[int, object] = {}
    for c in dump.can_chunks():
        if c.logger_id not in tbs:
            tbs[c.logger_id] = _timebase(dump, c.logger_id)
        tb = tbs[c.logger_id]
        ct, ce = _times(tb, c.classic["boot"], c.classic["time_us"])
        ft, fe = _times(tb, c.fd["boot"], c.fd["time_us"])
        yield FrameChunk(c.file, c.logger_id, c.classic, c.fd, ct, ft, ce, fe)


def _timebase(dump, logger_id: int):
    """The timebase of one logger: from a complete earlier pass, else from a
    statistics-only scan of a twin Dump (done once per Dump; needed because time sync
    records can follow the first frames)."""
    cache = getattr(dump, "_dunelog_sources_tb", None)
    if cache is None and dump.stats is not None and dump.stats.complete:
        cache = dict(dump.stats.timebases)
        dump._dunelog_sources_tb = cache
    if cache is None:
        from .dump import Dump
        # scan a twin so the caller's pass (and its problems) is not disturbed
        twin = Dump(dump.path, chunk_size=dump.chunk_size)
        twin.segments = dump.segments
        stats = twin.scan(can_ids=False)
        cache = dict(stats.timebases)
        dump._dunelog_sources_tb = cache
    return cache.get(logger_id)


# --------------------------------------------------------------------- conversions
def chunk_to_messages(chunk: FrameChunk) -> Iterator["can.Message"]:  # noqa: F821
    """The frames of a chunk as :class:`can.Message` in time order."""
    import can
    parts = [(chunk.classic, chunk.classic_time_s, False), (chunk.fd, chunk.fd_time_s, True)]
    nc = len(chunk.classic)
    order = [(parts[0], i) if i < nc else (parts[1], i - nc)
             for i in chunk.merge_order().tolist()]
    for (arr, ts, fd), i in order:
        r = arr[i]
        fl = int(r["flags"])
        n = int(r["data_len"])
        yield can.Message(
            timestamp=float(ts[i]), arbitration_id=int(r["id"]),
            is_extended_id=bool(fl & CAN_EXT), is_remote_frame=bool(fl & CAN_RTR),
            is_error_frame=bool(fl & CAN_ERR), channel=int(r["channel"]),
            dlc=n if (fd or not fl & CAN_RTR) else int(r["dlc"]),
            data=bytes(r["data"][:n]), is_fd=fd, bitrate_switch=bool(fl & CAN_BRS),
            error_state_indicator=bool(fl & CAN_ESI), is_rx=not fl & CAN_TX, check=False)


def _channel_int(ch) -> int:
    if ch is None:
        return 0
    if isinstance(ch, (int, np.integer)):
        return int(ch)
    from can.util import channel2int
    v = channel2int(ch)
    return int(v) if v is not None else 0


def messages_to_chunks(messages: Iterable["can.Message"], file: str = "",  # noqa: F821
                       size: int = DEFAULT_MESSAGES_PER_CHUNK) -> Iterator[FrameChunk]:
    """Group :class:`can.Message` objects into :class:`FrameChunk` arrays of ``size``
    messages (``time_us = round(timestamp * 1e6)``, ``boot = 0``)."""
    buf: list = []
    for m in messages:
        buf.append(m)
        if len(buf) >= size:
            yield _build_chunk(buf, file)
            buf = []
    if buf:
        yield _build_chunk(buf, file)


def _build_chunk(msgs: list, file: str) -> FrameChunk:
    isfd = np.array([bool(m.is_fd) for m in msgs], bool)
    fdm = [m for m in msgs if m.is_fd]
    clm = [m for m in msgs if not m.is_fd]
    pos = np.arange(len(msgs))
    order = np.concatenate([pos[~isfd], pos[isfd]])
    out = []
    for group, dt, width in ((clm, CAN_DTYPE, 8), (fdm, CANFD_DTYPE, 64)):
        a = np.zeros(len(group), dt)
        ts = np.empty(len(group), np.float64)
        for i, m in enumerate(group):
            t = float(m.timestamp or 0.0)
            ts[i] = t
            d = bytes(m.data or b"")[:width]
            fl = (CAN_EXT if m.is_extended_id else 0) | (CAN_RTR if m.is_remote_frame else 0) \
                | (CAN_ERR if m.is_error_frame else 0) | (0 if m.is_rx else CAN_TX)
            if m.is_fd:
                fl |= (CAN_BRS if m.bitrate_switch else 0) | \
                    (CAN_ESI if m.error_state_indicator else 0)
                dlc = int(_LEN2DLC[len(d)])
            else:
                dlc = int(m.dlc) if m.dlc is not None else len(d)
            r = a[i]
            r["time_us"] = max(int(round(t * 1e6)), 0)
            r["id"] = int(m.arbitration_id)
            r["channel"] = _channel_int(m.channel) & 0xFF
            r["flags"] = fl
            r["dlc"] = dlc
            r["data_len"] = len(d)
            r["data"][:len(d)] = np.frombuffer(d, np.uint8)
        out.append((a, ts))
    (ca, ct), (fa, ft) = out
    return FrameChunk(file, 0, ca, fa, ct, ft, np.ones(len(ca), bool), np.ones(len(fa), bool),
                      order)


# --------------------------------------------------------------------- public API
def _open_dump(path: str, progress=None):
    from .dump import Dump
    try:
        dump = Dump(path, progress=progress)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e}") from None
    if not dump.segments:
        raise SourceError(f"no dunelog segment files (*.dlg) found in {path}")
    return dump


def _foreign_messages(path: str) -> Iterator["can.Message"]:  # noqa: F821
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".parquet", ".pq") or (suffix == ".csv" and _is_our_csv(path)):
        from .export.tables import read_table_messages
        yield from read_table_messages(path)
        return
    import can
    try:
        reader = can.LogReader(path)
    except ValueError as e:
        raise SourceError(f"{path}: not a dunelog dump and not a log python-can reads "
                          f"({e})") from None
    except Exception as e:  # noqa: BLE001 - libraries raise anything on bad files
        raise SourceError(f"cannot read {path}: {type(e).__name__}: {e}") from None
    # python-can's TRC writer stores channel n as bus n+1 but its reader returns the bus
    # number as is; undo that so a dunelog -> TRC -> dunelog round trip keeps channels
    trc = suffix == ".trc"
    with reader:
        try:
            for m in reader:
                if trc and isinstance(m.channel, int) and m.channel > 0:
                    m.channel -= 1
                yield m
        except Exception as e:  # noqa: BLE001
            raise SourceError(f"cannot read {path}: {type(e).__name__}: {e}") from None


def _is_our_csv(path: str) -> bool:
    from .export.tables import CSV_HEADER_PREFIX
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.readline().startswith(CSV_HEADER_PREFIX)
    except OSError:
        return False


def _as_dump(source):
    from .dump import Dump
    if isinstance(source, Dump):
        return source
    return None


def iter_frame_chunks(source, *, progress: Callable[[int, int], None] | None = None,
                      size: int = DEFAULT_MESSAGES_PER_CHUNK) -> Iterator[FrameChunk]:
    """Frames of ``source`` (a :class:`~dunelog.Dump`, a dunelog path, or a path of any
    log python-can reads) as :class:`FrameChunk` arrays, streaming."""
    dump = _as_dump(source)
    if dump is None:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise SourceError(f"no such file or directory: {path}")
        if is_dunelog_input(path):
            dump = _open_dump(path, progress)
        else:
            yield from messages_to_chunks(_foreign_messages(path), path, size)
            return
    yield from _dump_chunks(dump, progress)


def iter_messages(source, *, progress: Callable[[int, int], None] | None = None
                  ) -> Iterator["can.Message"]:  # noqa: F821
    """Frames of ``source`` as :class:`can.Message` objects, in order.

    ``source`` is a :class:`~dunelog.Dump`, a dunelog segment/directory/dump tree, or any
    log python-can reads.  See the module doc for the timestamps.
    """
    dump = _as_dump(source)
    if dump is None:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise SourceError(f"no such file or directory: {path}")
        if not is_dunelog_input(path):
            yield from _foreign_messages(path)
            return
        dump = _open_dump(path, progress)
    for chunk in _dump_chunks(dump, progress):
        yield from chunk_to_messages(chunk)

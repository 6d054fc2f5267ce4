"""A whole dump: one segment file, a directory, or an SD-card dump tree.

:class:`Dump` finds the segment files (``*.dlg``, recursively), orders them by
``(logger_id, boot, segment)`` from their headers (falling back to the first valid block
and the file name when a header is damaged), and streams their records in order:

* :meth:`Dump.records` - typed records (:mod:`dunelog.card.records`),
* :meth:`Dump.can_chunks` - CAN frames as NumPy structured arrays (:mod:`dunelog.card.bulk`),
* :meth:`Dump.scan` - a full pass that only gathers statistics.

Every pass fills :attr:`Dump.problems` (integrity problems, each naming file, byte offset
and block seq) and :attr:`Dump.stats` (records per type, overflow totals, time spans,
time syncs).  Sequence numbers continue across the segment files of a boot, so a missing
segment file shows up as a sequence gap; a new boot restarts at 0.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Collection, Iterator

import numpy as np

from .blocks import (
    DEFAULT_CHUNK_SIZE,
    BlockChunk,
    SegmentHeader,
    SegmentScanner,
    find_first_block,
    header_cut_at_open,
    parse_segment_header,
    partial_header_ids,
    read_segment_header,
    read_upto,
)
from .bulk import DecodedChunk, decode_chunk, gnss_fixes, gnss_records
from .format import BLOCK_FLAG_LAST, CAN_EXT, REC_OVERFLOW, REC_SESSION, REC_TIMESYNC
from .problems import Problem, ProblemLog
from .records import (
    AnyRecord,
    CanFrame,
    MalformedRecord,
    Overflow,
    SessionStart,
    TimeSync,
    UnknownRecord,
    decode_record,
)
from .timebase import TimeBase

__all__ = ["Dump", "Segment", "CanChunk", "BootStats", "DumpStats", "BootIdentity",
           "DumpGroup", "find_segment_files", "order_segments", "adopt_cut_segments",
           "highest_segments", "PROBE_BYTES"]

_NAME_RE = re.compile(r"B(\d+)_S(\d+)\.dlg$", re.IGNORECASE)
_PROBE_BYTES = 8 << 20
#: bytes :meth:`Segment.from_head` needs to identify a file whose header is damaged
PROBE_BYTES = _PROBE_BYTES


def find_segment_files(path: str | os.PathLike[str]) -> list[str]:
    """Segment files under ``path``: the file itself, or every ``*.dlg`` below a directory
    (any depth, case-insensitive extension), sorted by path."""
    p = os.fspath(path)
    if os.path.isfile(p):
        return [p]
    out = []
    for root, dirs, files in os.walk(p):
        dirs.sort()
        for name in files:
            if name.lower().endswith(".dlg"):
                out.append(os.path.join(root, name))
    return sorted(out)


@dataclass
class Segment:
    """One segment file and what is known about it."""

    path: str
    size: int
    header: SegmentHeader | None
    header_error: str | None
    logger_id: int | None
    boot: int | None
    segment: int | None
    first_seq: int | None
    n_blocks: int = 0
    n_records: int = 0
    first: tuple[int, int] | None = None
    last: tuple[int, int] | None = None
    duplicate_of: str | None = None
    #: empty, or a segment header cut short: the power was cut while the logger opened it
    #: (see :func:`~.blocks.header_cut_at_open`); logger, boot and segment come from the
    #: header bytes present, else the file name (boot, segment)
    cut_at_open: bool = False

    @property
    def sort_key(self) -> tuple:
        """``(logger_id, boot, segment, first_seq, path)`` with unknowns last."""
        big = 1 << 40
        return (big if self.logger_id is None else self.logger_id,
                big if self.boot is None else self.boot,
                big if self.segment is None else self.segment,
                big if self.first_seq is None else self.first_seq, self.path)

    @classmethod
    def probe(cls, path: str) -> "Segment":
        """Read the header (or, if damaged, the first valid block) of ``path``."""
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        hdr, err = read_segment_header(path)
        if hdr is not None:
            return cls(path, size, hdr, None, hdr.logger_id, hdr.boot, hdr.segment,
                       hdr.first_seq)
        try:
            with open(path, "rb") as f:
                head = read_upto(f, _PROBE_BYTES)
        except OSError:
            seg = cls.from_head(path, size, b"", err)
            seg.cut_at_open = False             # unreadable, not empty
            return seg
        return cls.from_head(path, size, head, err)

    @classmethod
    def from_head(cls, path: str, size: int, head: bytes,
                  err: str | None = None) -> "Segment":
        """What the first bytes ``head`` of a file (its header, else its first valid
        block, within :data:`PROBE_BYTES`) say of it: for files not on a local disk."""
        hdr, herr = parse_segment_header(head)
        if hdr is not None:
            return cls(path, size, hdr, None, hdr.logger_id, hdr.boot, hdr.segment,
                       hdr.first_seq)
        err = err or herr
        logger = boot = segment = seq = None
        cut = len(head) == size and header_cut_at_open(head) is not None
        if cut:
            logger, boot, segment = partial_header_ids(head)
        first = find_first_block(head) if head and not cut else None
        if first is not None:
            _, logger, boot, seq = first
        m = _NAME_RE.search(os.path.basename(path))
        if m:
            if boot is None:
                boot = int(m.group(1))
            if segment is None or not cut:
                segment = int(m.group(2))
        return cls(path, size, None, err, logger, boot, segment, seq, cut_at_open=cut)


@dataclass
class CanChunk:
    """CAN frames of one chunk of blocks: ``classic`` (:data:`~dunelog.card.bulk.CAN_DTYPE`)
    and ``fd`` (:data:`~dunelog.card.bulk.CANFD_DTYPE`), from segment file ``file``."""

    file: str
    logger_id: int
    classic: np.ndarray
    fd: np.ndarray


@dataclass
class BootStats:
    """What a pass saw of one boot of one logger."""

    logger_id: int
    boot: int
    segments: list[str] = field(default_factory=list)
    blocks: int = 0
    records: int = 0
    first_us: int | None = None
    last_us: int | None = None
    #: the boot's last block carries LAST and lies in its highest-numbered segment file:
    #: the logger closed the boot (a later, empty or header-only segment means a cut)
    clean_end: bool = False
    last_segment: int | None = None     # segment number of the file of the last block seen
    overflow: dict[int, int] = field(default_factory=dict)
    can_ids: dict[int, list[int]] = field(default_factory=dict)   # key -> [n, first, last]


@dataclass
class DumpStats:
    """Statistics of one pass over a dump."""

    type_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    boots: dict[tuple[int, int], BootStats] = field(default_factory=dict)
    timebases: dict[int, TimeBase] = field(default_factory=dict)
    #: the first session-start record of each (logger_id, boot)
    sessions: dict[tuple[int, int], SessionStart] = field(default_factory=dict)
    complete: bool = False

    @property
    def overflow_totals(self) -> dict[int, int]:
        """Dropped records by type, over all boots."""
        out: dict[int, int] = {}
        for b in self.boots.values():
            for t, c in b.overflow.items():
                out[t] = out.get(t, 0) + c
        return dict(sorted(out.items()))

    @property
    def records_by_type(self) -> dict[int, int]:
        """Record counts by type code (types seen only)."""
        return {int(t): int(c) for t, c in enumerate(self.type_counts) if c}


def can_key(channel: np.ndarray, flags: np.ndarray, can_id: np.ndarray) -> np.ndarray:
    """Pack (channel, extended, id) into one uint64 key: ``channel<<40 | ext<<32 | id``."""
    return (channel.astype(np.uint64) << np.uint64(40)) \
        | ((flags.astype(np.uint64) & np.uint64(CAN_EXT)) << np.uint64(32)) \
        | can_id.astype(np.uint64)


@dataclass(frozen=True)
class BootIdentity:
    """Who logged one boot: the logger id, the vehicle name (from the boot's session-start
    record, else from its segment header, else ``""``) and the UTC date the boot started
    (``YYYY-MM-DD`` from its time sync; None without one)."""

    logger_id: int
    boot: int
    vehicle: str
    date: str | None


@dataclass
class DumpGroup:
    """The boots of one logger (and one vehicle name, and with ``by_date`` one UTC day) as
    a dump of their own (see :meth:`Dump.groups`)."""

    logger_id: int
    vehicle: str
    date: str | None
    dump: "Dump"

    def fields(self) -> dict[str, str]:
        """The values of the output-name placeholders ``{logger}``, ``{vehicle}``,
        ``{date}`` (the vehicle made file-name-safe; ``undated`` without a time sync)."""
        return {"logger": str(self.logger_id), "vehicle": safe_name(self.vehicle)
                or f"logger-{self.logger_id}", "date": self.date or "undated"}


def adopt_cut_segments(segs: list[Segment]) -> list[Segment]:
    """Give a segment file cut at open whose logger is unknown (an empty file: only its
    name says boot and segment) the logger of the other files of that boot in its
    directory, when they name exactly one."""
    loggers: dict[tuple[str, int], set[int]] = {}
    for s in segs:
        if s.logger_id is not None and s.boot is not None:
            loggers.setdefault((os.path.dirname(s.path), s.boot), set()).add(s.logger_id)
    for s in segs:
        if s.cut_at_open and s.logger_id is None and s.boot is not None:
            lg = loggers.get((os.path.dirname(s.path), s.boot), set())
            if len(lg) == 1:
                s.logger_id = next(iter(lg))
    return segs


def highest_segments(segs: list[Segment]) -> dict[tuple[int, int], int]:
    """The highest segment number of each ``(logger_id, boot)`` among ``segs``, files
    without a block (header only, or cut at open) included."""
    out: dict[tuple[int, int], int] = {}
    for s in segs:
        if s.logger_id is None or s.boot is None or s.segment is None \
                or s.duplicate_of is not None:
            continue
        k = (s.logger_id, s.boot)
        out[k] = max(out.get(k, s.segment), s.segment)
    return out


def order_segments(segs: list[Segment]) -> list[Segment]:
    """``segs`` in reading order (:attr:`Segment.sort_key`), the second file of one logger,
    boot and segment number marked :attr:`~Segment.duplicate_of` the first."""
    segs = sorted(adopt_cut_segments(segs), key=lambda s: s.sort_key)
    seen: dict[tuple[int | None, int | None, int | None], str] = {}
    for s in segs:
        if s.header is not None:
            k = (s.logger_id, s.boot, s.segment)
            if k in seen:
                s.duplicate_of = seen[k]
            else:
                seen[k] = s.path
    return segs


def safe_name(text: str) -> str:
    """``text`` made file-name-safe as ``dunelog ingest`` names vehicle directories
    (``T1 #204`` -> ``T1-204``); empty stays empty."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.")[:48]


class Dump:
    """A dump of one or more loggers' segment files.

    :param path: a segment file, a directory, or a dump tree.
    :param logger_id: only read segments of this logger.
    :param chunk_size: bytes read at a time per file.
    :param progress: called as ``progress(bytes_done, bytes_total)`` during passes.
    :raises FileNotFoundError: ``path`` does not exist.
    """

    def __init__(self, path: str | os.PathLike[str], *, logger_id: int | None = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such file or directory: {self.path}")
        self.chunk_size = chunk_size
        self.progress = progress
        segs = adopt_cut_segments([Segment.probe(p) for p in find_segment_files(self.path)])
        if logger_id is not None:
            segs = [s for s in segs if s.logger_id == logger_id]
        self.segments: list[Segment] = order_segments(segs)
        #: the block sequence number expected first of each ``(logger_id, boot)`` (0 when
        #: absent): set for a dump of later segments of a boot (see :meth:`of_segments`)
        self.start_seq: dict[tuple[int, int], int] = {}
        self._problems = ProblemLog()
        self.stats: DumpStats | None = None

    # ------------------------------------------------------------------ properties
    @property
    def problems(self) -> list[Problem]:
        """Problems found by the last (or current) pass."""
        return list(self._problems.items)

    @property
    def total_bytes(self) -> int:
        """Total size of the segment files."""
        return sum(s.size for s in self.segments)

    @property
    def loggers(self) -> list[int]:
        """Logger ids seen in segment headers or blocks."""
        return sorted({s.logger_id for s in self.segments if s.logger_id is not None})

    @property
    def overflow_totals(self) -> dict[int, int]:
        """Dropped records by type over the dump (runs :meth:`scan` if needed)."""
        return self._complete_stats().overflow_totals

    def __repr__(self) -> str:
        return f"Dump({self.path!r}, {len(self.segments)} segments)"

    # ------------------------------------------------------------------ who logged it
    def identities(self, *, dates: bool = True) -> dict[tuple[int, int], BootIdentity]:
        """:class:`BootIdentity` of every ``(logger_id, boot)`` of the dump (runs
        :meth:`scan` if no complete pass was made yet).  With ``dates=False`` and a vehicle
        name in every segment header (the same config wrote both), the headers answer
        without reading the dump, and ``date`` is None."""
        if not dates and (self.stats is None or not self.stats.complete) and all(
                s.header is not None and s.header.vehicle for s in self.segments):
            return {(s.logger_id, s.boot): BootIdentity(s.logger_id, s.boot,
                                                        s.header.vehicle, None)
                    for s in sorted(self.segments, key=lambda s: s.sort_key)
                    if s.header is not None and s.logger_id is not None
                    and s.boot is not None}
        stats = self._complete_stats()
        header: dict[tuple[int, int], str] = {}
        by_logger: dict[int, str] = {}
        keys = set(stats.boots)
        for seg in self.segments:
            if seg.logger_id is None or seg.boot is None:
                continue
            keys.add((seg.logger_id, seg.boot))
            if seg.header is not None and seg.header.vehicle:
                header.setdefault((seg.logger_id, seg.boot), seg.header.vehicle)
                by_logger.setdefault(seg.logger_id, seg.header.vehicle)
        out = {}
        for lg, bt in sorted(keys):
            ss = stats.sessions.get((lg, bt))
            vehicle = (ss.vehicle if ss is not None and ss.vehicle else None) \
                or header.get((lg, bt)) or by_logger.get(lg, "")
            date = None
            b = stats.boots.get((lg, bt))
            tb = stats.timebases.get(lg)
            if b is not None and b.first_us is not None and tb is not None:
                when = tb.utc(bt, b.first_us)
                if when is not None:
                    date = when.strftime("%Y-%m-%d")
            out[(lg, bt)] = BootIdentity(lg, bt, vehicle, date)
        return out

    def vehicles(self) -> dict[int, list[str]]:
        """Vehicle names per logger id (from :meth:`identities`, without reading the dump
        when the segment headers name them; ``""`` when unnamed)."""
        out: dict[int, list[str]] = {}
        for ident in self.identities(dates=False).values():
            names = out.setdefault(ident.logger_id, [])
            if ident.vehicle not in names:
                names.append(ident.vehicle)
        return out

    def subset(self, boots: Collection[tuple[int, int]]) -> "Dump":
        """A dump of only the segments of these ``(logger_id, boot)`` pairs (same path,
        chunk size and progress; no pass is made)."""
        keep = set(boots)
        return self.of_segments([s for s in self.segments if (s.logger_id, s.boot) in keep])

    def of_segments(self, segments: list[Segment],
                    start_seq: dict[tuple[int, int], int] | None = None) -> "Dump":
        """A dump of these segments of this dump (same path, chunk size and progress; no
        pass is made); ``start_seq`` as :attr:`start_seq`, for segments that continue a
        boot whose earlier segments are not in the new dump."""
        sub = Dump.from_segments(self.path, segments, chunk_size=self.chunk_size,
                                 progress=self.progress)
        sub.start_seq = dict(start_seq or {})
        return sub

    @classmethod
    def from_segments(cls, path: str, segments: list[Segment], *,
                      chunk_size: int = DEFAULT_CHUNK_SIZE,
                      progress: Callable[[int, int], None] | None = None) -> "Dump":
        """A dump of segments already probed (in reading order: :func:`order_segments`),
        e.g. files of an object store probed through fsspec; ``path`` names it."""
        d = cls.__new__(cls)
        d.path, d.chunk_size, d.progress = path, chunk_size, progress
        d.segments = list(segments)
        d.start_seq = {}
        d._problems = ProblemLog()
        d.stats = None
        return d

    def select(self, *, logger_id: int | None = None, vehicle: str | None = None) -> "Dump":
        """The boots of one logger and/or of one vehicle name (exact, or as made
        file-name-safe: ``T1-204`` selects ``T1 #204``); the dump itself when neither."""
        if logger_id is None and vehicle is None:
            return self
        keep = [k for k, ident in self.identities(dates=False).items()
                if (logger_id is None or ident.logger_id == logger_id)
                and (vehicle is None or vehicle in (ident.vehicle, safe_name(ident.vehicle)))]
        return self.subset(keep)

    def groups(self, *, by_date: bool = False) -> list[DumpGroup]:
        """The dump split per logger and vehicle name (and per UTC day the boots started
        when ``by_date``), each group a dump of its own; frames of two loggers are never in
        one group."""
        parts: dict[tuple[int, str, str | None], list[tuple[int, int]]] = {}
        for k, ident in self.identities(dates=by_date).items():
            key = (ident.logger_id, ident.vehicle, ident.date if by_date else None)
            parts.setdefault(key, []).append(k)
        return [DumpGroup(lg, v, d, self.subset(boots))
                for (lg, v, d), boots in sorted(parts.items(),
                                                key=lambda kv: (kv[0][0], kv[0][1],
                                                                kv[0][2] or ""))]

    # ------------------------------------------------------------------ the pass
    def _pass(self, can_ids: bool = False, only: Collection[int] | None = None,
              skip_gnss: bool = False
              ) -> Iterator[tuple[BlockChunk, DecodedChunk, list[AnyRecord]]]:
        """One pass over every segment: yields each chunk, its bulk decode and its
        decoded non-CAN records (in record order), collecting problems and stats.  With
        ``only``, only the non-CAN records of these types are decoded; with
        ``skip_gnss``, the well-formed GNSS fixes are not (read them in bulk:
        :func:`~.bulk.gnss_fixes`)."""
        self._problems = log = ProblemLog()
        stats = self.stats = DumpStats()
        next_seq: dict[tuple[int | None, int | None], int] = {}
        for k, v in self.start_seq.items():
            next_seq[k] = v
        done = 0
        total = self.total_bytes
        for seg in self.segments:
            if seg.duplicate_of is not None:
                log.add(Problem("duplicate_segment", seg.path, 0,
                                f"same logger/boot/segment as {seg.duplicate_of}; skipped",
                                boot=seg.boot))
                done += seg.size
                continue
            key = (seg.logger_id, seg.boot)
            expect = next_seq.get(key, 0) if None not in key else None
            scanner = SegmentScanner(seg.path, problems=log, expect_seq=expect,
                                     chunk_size=self.chunk_size)
            unknown: dict[int, tuple[int, int]] = {}
            for chunk in scanner:
                dec = decode_chunk(chunk.blocks, chunk.headers, chunk.index,
                                   can=can_ids or only is None)
                others = self._others(chunk, dec, log, unknown, _wanted(dec, only, skip_gnss))
                self._collect(stats, seg, chunk, dec, others, can_ids)
                yield chunk, dec, others
                if self.progress is not None:
                    self.progress(done + int(chunk.offsets[-1]) + chunk.block_size, total)
            for t, (n, off) in sorted(unknown.items()):
                log.add(Problem("unknown_type", seg.path, off,
                                f"{n} record(s) of unknown type 0x{t:02x} skipped"))
            seg.n_blocks, seg.n_records = scanner.n_blocks, scanner.n_records
            seg.first, seg.last = scanner.first, scanner.last
            if scanner.last is not None:
                lk = (scanner._logger, scanner.last[0])
                next_seq[lk] = max(next_seq.get(lk, 0), scanner.last[1] + 1)
            elif seg.header is not None:
                next_seq[key] = max(next_seq.get(key, 0), seg.header.first_seq)
            done += seg.size
            if self.progress is not None:
                self.progress(done, total)
        # a LAST block followed by a later segment file of the boot that holds no block (a
        # cut after a rotation flushed LAST, before the next segment had a block): a cut
        highest = highest_segments(self.segments)
        for k, bst in stats.boots.items():
            if bst.clean_end and bst.last_segment is not None \
                    and highest.get(k, -1) > bst.last_segment:
                bst.clean_end = False
        stats.complete = True

    @staticmethod
    def _others(chunk: BlockChunk, dec: DecodedChunk, log: ProblemLog,
                unknown: dict[int, tuple[int, int]],
                idx: np.ndarray | None = None) -> list[AnyRecord]:
        out: list[AnyRecord] = []
        idx = dec.other_rec if idx is None else idx
        if not idx.size:
            return out
        flat = chunk.blocks.reshape(-1)
        buf = flat.data
        bs = chunk.block_size
        pos = dec.index.pos[idx].tolist()
        times = dec.time_us[idx].tolist()
        boots = dec.boot[idx].tolist()
        for p, t, b in zip(pos, times, boots):
            try:
                rec = decode_record(buf, p, t, b)
            except MalformedRecord as e:
                rtype, rlen = buf[p], buf[p + 1]
                off = int(chunk.offsets[p // bs]) + p % bs
                log.add(Problem("malformed_record", chunk.file, off, str(e),
                                seq=int(chunk.headers["seq"][p // bs]), boot=b))
                rec = UnknownRecord(t, b, rtype, bytes(buf[p:p + rlen]))
            else:
                if type(rec) is UnknownRecord:
                    n, off = unknown.get(rec.type, (0, None))
                    if off is None:
                        off = int(chunk.offsets[p // bs]) + p % bs
                    unknown[rec.type] = (n + 1, off)
            out.append(rec)
        return out

    @staticmethod
    def _collect(stats: DumpStats, seg: Segment, chunk: BlockChunk, dec: DecodedChunk,
                 others: list[AnyRecord], can_ids: bool) -> None:
        stats.type_counts += np.bincount(dec.types, minlength=256)
        hdr = chunk.headers
        loggers = hdr["logger_id"]
        boots = hdr["boot"]
        groups: list[tuple[int, int, np.ndarray | None]]
        if (loggers == loggers[0]).all() and (boots == boots[0]).all():
            groups = [(int(loggers[0]), int(boots[0]), None)]
        else:
            pairs = sorted({(int(a), int(b)) for a, b in zip(loggers, boots)})
            rec_logger = np.repeat(loggers, chunk.index.counts)
            groups = [(lg, bt, (rec_logger == lg) & (dec.boot == bt)) for lg, bt in pairs]
        for lg, bt, mask in groups:
            bst = stats.boots.get((lg, bt))
            if bst is None:
                bst = stats.boots[(lg, bt)] = BootStats(lg, bt)
            if not bst.segments or bst.segments[-1] != seg.path:
                bst.segments.append(seg.path)
            bmask = None if mask is None else ((loggers == lg) & (boots == bt))
            bst.blocks += len(chunk) if bmask is None else int(bmask.sum())
            fl = hdr["flags"] if bmask is None else hdr["flags"][bmask]
            if fl.size:
                bst.clean_end = bool(int(fl[-1]) & BLOCK_FLAG_LAST)
                bst.last_segment = seg.segment if seg.boot == bt else None
            t = dec.time_us if mask is None else dec.time_us[mask]
            bst.records += int(t.size)
            if t.size:
                lo, hi = int(t.min()), int(t.max())
                bst.first_us = lo if bst.first_us is None else min(bst.first_us, lo)
                bst.last_us = hi if bst.last_us is None else max(bst.last_us, hi)
            if can_ids:
                _collect_ids(bst, dec, bt)
        single = groups[0][0] if len(groups) == 1 else None
        for rec in others:
            if isinstance(rec, Overflow):
                lg = single if single is not None else _logger_of(chunk, rec.boot)
                bst = stats.boots.get((lg, rec.boot)) or BootStats(lg, rec.boot)
                stats.boots[(lg, rec.boot)] = bst
                for t, c in rec.counts.items():
                    bst.overflow[t] = bst.overflow.get(t, 0) + c
            elif isinstance(rec, TimeSync):
                lg = single if single is not None else _logger_of(chunk, rec.boot)
                stats.timebases.setdefault(lg, TimeBase()).add_sync(rec)
            elif isinstance(rec, SessionStart):
                lg = single if single is not None else _logger_of(chunk, rec.boot)
                stats.sessions.setdefault((lg, rec.boot), rec)

    # ------------------------------------------------------------------ public passes
    def scan(self, *, can_ids: bool = True, context_only: bool = False) -> DumpStats:
        """Read the whole dump once, gathering :attr:`stats` and :attr:`problems`
        (with per-(channel, id) CAN statistics when ``can_ids``).  With ``context_only``
        only the records the statistics need are decoded (time syncs, session starts,
        overflow) and the CAN frames are only counted: faster, but the problems of other
        records are not looked for."""
        only = (REC_TIMESYNC, REC_SESSION, REC_OVERFLOW) if context_only else None
        for _ in self._pass(can_ids=can_ids, only=only):
            pass
        assert self.stats is not None
        return self.stats

    def block_chunks(self) -> Iterator[BlockChunk]:
        """Yield the accepted blocks chunk by chunk (:class:`~dunelog.card.blocks.BlockChunk`)."""
        for chunk, _, _ in self._pass():
            yield chunk

    def can_chunks(self) -> Iterator[CanChunk]:
        """Yield the CAN frames chunk by chunk as NumPy structured arrays."""
        for chunk, dec, _ in self._pass():
            if dec.classic.size or dec.fd.size:
                yield CanChunk(chunk.file, int(chunk.headers["logger_id"][0]),
                               dec.classic, dec.fd)

    def chunks(self) -> Iterator[tuple[CanChunk, np.ndarray, list[AnyRecord]]]:
        """One pass yielding, chunk by chunk, the CAN frames (:class:`CanChunk`, arrays
        possibly empty), the GNSS fixes (:data:`~.bulk.GNSS_DTYPE`, read in bulk) and the
        other records decoded (time syncs, events, status, ...)."""
        for chunk, dec, others in self._pass(skip_gnss=True):
            yield (CanChunk(chunk.file, int(chunk.headers["logger_id"][0]), dec.classic,
                            dec.fd), gnss_fixes(chunk.blocks, dec), others)

    def can_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All CAN frames of the dump as two arrays ``(classic, fd)`` (loads them all)."""
        cl, fd = [], []
        for c in self.can_chunks():
            cl.append(c.classic)
            fd.append(c.fd)
        from .bulk import CAN_DTYPE, CANFD_DTYPE
        return (np.concatenate(cl) if cl else np.empty(0, CAN_DTYPE),
                np.concatenate(fd) if fd else np.empty(0, CANFD_DTYPE))

    def records(self) -> Iterator[AnyRecord]:
        """Yield every record as a typed dataclass, in order (segment, block, record)."""
        for chunk, dec, others in self._pass():
            yield from _merge(dec, others)

    def __iter__(self) -> Iterator[AnyRecord]:
        return self.records()

    # ------------------------------------------------------------------ time
    def _complete_stats(self) -> DumpStats:
        if self.stats is None or not self.stats.complete:
            self.scan(can_ids=False)
        assert self.stats is not None
        return self.stats

    def timebase(self, logger_id: int | None = None) -> TimeBase:
        """The :class:`~dunelog.card.timebase.TimeBase` of a logger (the only one by default;
        runs :meth:`scan` if no complete pass was made yet)."""
        stats = self._complete_stats()
        if logger_id is None:
            ids = sorted(stats.timebases) or self.loggers
            if len(ids) > 1:
                raise ValueError(f"dump holds several loggers {ids}; pass logger_id")
            if not ids:
                return TimeBase()
            logger_id = ids[0]
        return stats.timebases.get(logger_id, TimeBase())

    def utc_us(self, boot: int, time_us: int, logger_id: int | None = None) -> int | None:
        """UTC microseconds since 1970 at ``time_us`` of ``boot``, or None without sync."""
        return self.timebase(logger_id).utc_us(boot, time_us)

    def utc(self, boot: int, time_us: int, logger_id: int | None = None) -> datetime | None:
        """UTC datetime at ``time_us`` of ``boot``, or None without sync."""
        return self.timebase(logger_id).utc(boot, time_us)


def _wanted(dec: DecodedChunk, only: Collection[int] | None,
            skip_gnss: bool) -> np.ndarray | None:
    """The non-CAN record numbers to decode one by one (None: all of them)."""
    if only is None and not skip_gnss:
        return None
    idx = dec.other_rec
    if only is not None:
        idx = idx[np.isin(dec.types[idx], np.asarray(list(only), np.uint8))]
    if skip_gnss:
        idx = np.setdiff1d(idx, gnss_records(dec), assume_unique=True)
    return idx


def _logger_of(chunk: BlockChunk, boot: int) -> int:
    hdr = chunk.headers
    m = hdr["boot"] == boot
    return int(hdr["logger_id"][m][0] if m.any() else hdr["logger_id"][0])


def _collect_ids(bst: BootStats, dec: DecodedChunk, bt: int) -> None:
    parts = []
    for arr in (dec.classic, dec.fd):
        if arr.size:
            m = arr["boot"] == bt
            a = arr if m.all() else arr[m]
            if a.size:              # a chunk of two boots may hold no frame of this one
                parts.append((can_key(a["channel"], a["flags"], a["id"]), a["time_us"]))
    if not parts:
        return
    keys = np.concatenate([k for k, _ in parts])
    times = np.concatenate([t for _, t in parts])
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    ts = times[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    counts = np.diff(np.r_[starts, ks.size])
    firsts = np.minimum.reduceat(ts, starts)
    lasts = np.maximum.reduceat(ts, starts)
    ids = bst.can_ids
    for k, n, a, b in zip(ks[starts].tolist(), counts.tolist(), firsts.tolist(),
                          lasts.tolist()):
        e = ids.get(k)
        if e is None:
            ids[k] = [n, a, b]
        else:
            e[0] += n
            e[1] = min(e[1], a)
            e[2] = max(e[2], b)


def _merge(dec: DecodedChunk, others: list[AnyRecord]) -> Iterator[AnyRecord]:
    """Typed records of one decoded chunk in record order."""
    total = dec.index.total
    if not dec.classic.size and not dec.fd.size:
        yield from others
        return
    cat = np.zeros(total, np.uint8)
    cat[dec.classic_rec] = 1
    cat[dec.fd_rec] = 2
    cols = []
    for arr, width in ((dec.classic, 8), (dec.fd, 64)):
        cols.append((arr["time_us"].tolist(), arr["boot"].tolist(), arr["channel"].tolist(),
                     arr["id"].tolist(), arr["flags"].tolist(), arr["dlc"].tolist(),
                     arr["data_len"].tolist(), np.ascontiguousarray(arr["data"]).tobytes(),
                     width))
    ci = [0, 0]
    oi = 0
    for c in cat.tolist():
        if c:
            t, b, ch, i_, fl, dlc, dl, data, w = cols[c - 1]
            k = ci[c - 1]
            ci[c - 1] = k + 1
            yield CanFrame(t[k], b[k], ch[k], i_[k], fl[k], dlc[k],
                           data[k * w:k * w + dl[k]], c == 2)
        else:
            yield others[oi]
            oi += 1

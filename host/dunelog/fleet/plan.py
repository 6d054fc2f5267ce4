"""Plan an archive's decode as one task per segment file.

A segment file cannot be decoded alone: its UTC comes from the time syncs of its whole
boot (the latest sync at or before a frame, else the first one after), its vehicle from the
boot's session-start record (usually in the boot's first file) and its expected first block
sequence number from the segment before it.  So the plan is made in two steps:

1. :func:`scan_segment` (one task per file, cheap to cache): what a file holds of that
   context (:class:`SegmentContext`, JSON-able) - or, for a new file, a guess from its
   ends (:func:`~.light.light_context`) that its task corrects (:func:`context_of`);
2. :func:`plan_tasks`: the contexts merged into what the whole-archive reader
   (:class:`~dunelog.card.dump.Dump`) would know, handed to each file's
   :class:`SegmentTask` - only what changes that file's output, so that its fingerprint
   changes exactly when its output would.  A task is given the *other* files' time
   syncs; it reads its own while decoding (so a file is read once).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..card import format as F
from ..card.dump import BootStats, Dump, DumpStats, Segment, highest_segments, safe_name
from ..card.records import SessionStart
from ..card.timebase import TimeBase
from .remote import is_url, local_copy, stat_token

__all__ = ["SegmentContext", "SegmentTask", "ArrayTimeBase", "DecodeSpec", "scan_segment",
           "plan_tasks", "context_of", "segment_key", "vehicle_dir", "rel_path", "PLAN_VERSION"]

#: bumped whenever a task's output for the same inputs changes (forces a full redo);
#: 2: integer signals that always fit one are int32 (a part's column types changed)
PLAN_VERSION = 2


@dataclass
class SegmentContext:
    """What one segment file holds of its boot's context (the result of
    :func:`scan_segment`); ``size``/``mtime_ns`` say which file version it describes."""

    relpath: str
    size: int
    mtime_ns: int
    frames: int = 0
    #: ``[boot, seq]`` of the last accepted block
    last: list[int] | None = None
    #: per boot: first_us, last_us, clean_end, blocks, records
    boots: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per boot: the time sync points ``[time_us, utc_us]``
    syncs: dict[str, list[list[int]]] = field(default_factory=dict)
    #: per boot: the session-start record's fields
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: a guess from the file's ends (:func:`~.light.light_context`), not a full scan
    light: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict; the sync points packed (a 12-hour boot logs ~43,000)."""
        d = {"relpath": self.relpath, "size": self.size, "mtime_ns": self.mtime_ns,
             "frames": self.frames, "last": self.last, "boots": self.boots,
             "syncs": {bt: _pack(pts) for bt, pts in self.syncs.items()},
             "sessions": self.sessions}
        if self.light:
            d["light"] = True
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "SegmentContext":
        d = dict(d)
        d["syncs"] = {bt: _unpack(z) for bt, z in d.get("syncs", {}).items()}
        return cls(**d)


def _pack(points: list[list[int]]) -> str:
    """Sync points as base64 of zlib of their int64 deltas (a few bytes a point)."""
    a = np.asarray(points, np.int64).reshape(-1, 2)
    d = np.diff(a, axis=0, prepend=np.zeros((1, 2), np.int64))
    return base64.b64encode(zlib.compress(d.tobytes(), 6)).decode("ascii")


def _unpack(text: str) -> list[list[int]]:
    d = np.frombuffer(zlib.decompress(base64.b64decode(text)), np.int64).reshape(-1, 2)
    return np.cumsum(d, axis=0).tolist()


@dataclass(frozen=True)
class DecodeSpec:
    """The databases and selection of a decode, picklable for workers: ``dbcs`` are
    ``(path, channel or None, sha256)``."""

    dbcs: tuple[tuple[str, int | None, str], ...]
    ids: tuple[Any, ...] | None = None
    signals: tuple[str, ...] | None = None

    @classmethod
    def make(cls, dbcs: list[tuple[str, int | None]], ids: Any = None,
             signals: Any = None) -> "DecodeSpec":
        return cls(tuple((os.path.abspath(p), ch, _sha256(p)) for p, ch in dbcs),
                   tuple(ids) if ids else None, tuple(signals) if signals else None)

    def digest(self) -> str:
        """What changes the decoded output: the databases' contents, channels, selection."""
        return _digest([[sha, ch] for _, ch, sha in self.dbcs], list(self.ids or []),
                       list(self.signals or []))


@dataclass
class SegmentTask:
    """Everything a worker needs to decode one segment file into dataset parts."""

    path: str
    relpath: str
    key: str                                 # part-name stem: L<logger>-B<boot>-S<segment>
    logger_id: int | None
    boot: int | None
    start_seq: dict[tuple[int, int], int]
    #: the sync points of *other* files this file's UTC depends on, per boot (its own
    #: ones it reads itself: :meth:`timebase`)
    syncs: dict[int, list[tuple[int, int]]]
    #: per boot of the file: the vehicle name and its partition value
    vehicles: dict[int, tuple[str, str]]
    #: boots whose last segment this is and that did not end cleanly (a power cut)
    cut_boots: dict[int, int]                # boot -> last time_us
    duplicate_of: str | None
    frames: int
    size: int
    spec: DecodeSpec
    fingerprint: str = ""

    def timebase(self, own: dict[str, list[list[int]]] | None = None) -> TimeBase:
        """The UTC of this file's records: a :class:`TimeBase` of :attr:`syncs` and the
        file's ``own`` sync points (:attr:`SegmentContext.syncs`).  For every record
        time of the file it picks the same sync as one of all the boot's points would
        (the latest at or before it, else the first), see :func:`plan_tasks`."""
        pts: dict[int, list[Any]] = {bt: list(p) for bt, p in self.syncs.items()}
        for bts, p in (own or {}).items():
            pts.setdefault(int(bts), []).extend(p)
        return ArrayTimeBase(pts)


class ArrayTimeBase(TimeBase):
    """A :class:`TimeBase` built from whole lists of sync points that keeps each boot's
    points as NumPy arrays: ``TimeBase.utc_us_array`` converts its lists on every call,
    which costs ~0.1 s per 3 M frames when a file holds ~30,000 syncs (the decoder calls
    it per message and chunk).  Same rule, same values."""

    def __init__(self, points: dict[int, list[tuple[int, int]]]) -> None:
        super().__init__()
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for bt, pts in points.items():
            if len(pts):
                a = np.asarray(pts, np.int64).reshape(-1, 2)
                a = a[np.lexsort((a[:, 1], a[:, 0]))]       # TimeBase sorts the tuples
                self._arrays[bt] = (np.ascontiguousarray(a[:, 0]),
                                    np.ascontiguousarray(a[:, 1]))
                self._raw[bt] = list(zip(a[:, 0].tolist(), a[:, 1].tolist()))

    def add(self, boot: int, time_us: int, utc_epoch_us: int) -> None:
        super().add(boot, time_us, utc_epoch_us)
        self._arrays.pop(boot, None)

    def utc_us_array(self, boot: int, time_us: np.ndarray) -> np.ndarray | None:
        arr = self._arrays.get(boot)
        if arr is None:
            t = self._table(boot)
            if t is None:
                return None
            arr = self._arrays[boot] = (np.asarray(t[0], np.int64), np.asarray(t[1], np.int64))
        times, utcs = arr
        tu = np.asarray(time_us).astype(np.int64)
        i = np.maximum(np.searchsorted(times, tu, side="right") - 1, 0)
        return utcs[i] + (tu - times[i])


def segment_key(seg: Segment) -> str:
    """The stem of a segment's part files: ``L<logger>-B<boot>-S<segment>`` (a hash of the
    path when its header is unreadable)."""
    if seg.logger_id is not None and seg.boot is not None and seg.segment is not None \
            and seg.duplicate_of is None:
        return f"L{seg.logger_id}-B{seg.boot}-S{seg.segment}"
    return "X" + hashlib.sha1(seg.path.encode()).hexdigest()[:12]


def vehicle_dir(logger_id: int, vehicle: str) -> str:
    """The ``vehicle=`` partition value: the name made file-name-safe as ``dunelog
    ingest`` names its directories (``T1 #204`` -> ``T1-204``), ``logger-<id>`` when
    unnamed."""
    return safe_name(vehicle) or f"logger-{logger_id}"


def scan_segment(path: str, relpath: str) -> SegmentContext:
    """Read one segment file for its context (a worker task)."""
    size, version = stat_token(path)
    with local_copy(path) as local:
        dump = Dump(local)
        dump.scan(can_ids=False, context_only=True)
    return context_of(dump, relpath, size, version)


def context_of(dump: Dump, relpath: str, size: int, mtime_ns: int) -> SegmentContext:
    """The context of the one segment file of ``dump``, after a complete pass over it
    (:meth:`Dump.scan`, or a decode's :meth:`Dump.chunks`: both collect the same)."""
    stats = dump.stats
    assert stats is not None and stats.complete
    seg = dump.segments[0]
    ctx = SegmentContext(relpath, size, mtime_ns,
                         frames=int(stats.type_counts[F.REC_CAN] + stats.type_counts[F.REC_CANFD]),
                         last=list(seg.last) if seg.last is not None else None)
    for (_, bt), b in stats.boots.items():
        ctx.boots[str(bt)] = {"first_us": b.first_us, "last_us": b.last_us,
                              "clean_end": b.clean_end, "blocks": b.blocks,
                              "records": b.records}
    for tb in stats.timebases.values():
        for bt in tb.boots():
            ctx.syncs[str(bt)] = [[t, u] for t, u in tb.points(bt)]
    for (_, bt), ss in stats.sessions.items():
        ctx.sessions[str(bt)] = asdict(ss)
    return ctx


def plan_tasks(dump: Dump, root: str, contexts: dict[str, SegmentContext],
               spec: DecodeSpec) -> list[SegmentTask]:
    """One :class:`SegmentTask` per segment file of ``dump`` (files under ``root``), from
    the ``contexts`` of every file (by relative path)."""
    stats = DumpStats()
    # per (logger, boot): every file's sync points, to give each file those of the others
    owned: dict[tuple[int, int], list[tuple[str, list[list[int]]]]] = {}
    for seg in dump.segments:
        ctx = contexts[rel_path(seg.path, root)]
        lg = seg.logger_id
        if lg is None or seg.duplicate_of is not None:
            continue
        for bts, b in ctx.boots.items():
            bt = int(bts)
            bst = stats.boots.setdefault((lg, bt), BootStats(lg, bt))
            bst.segments.append(seg.path)
            bst.blocks += b["blocks"]
            bst.records += b["records"]
            for k, pick in (("first_us", min), ("last_us", max)):
                v = b[k]
                if v is not None:
                    cur = getattr(bst, k)
                    setattr(bst, k, v if cur is None else pick(cur, v))
            bst.clean_end = b["clean_end"]
            bst.last_segment = seg.segment if seg.boot == bt else None
        for bts, pts in ctx.syncs.items():
            tb = stats.timebases.setdefault(lg, TimeBase())
            if pts:
                # identities() reads the timebase only for a boot's date, unused here
                tb.add(int(bts), *min(pts))
                owned.setdefault((lg, int(bts)), []).append((seg.path, pts))
        for bts, ss in ctx.sessions.items():
            stats.sessions.setdefault((lg, int(bts)), SessionStart(**ss))
    # as Dump.scan: LAST followed by a later file of the boot without a block is a cut
    highest = highest_segments(dump.segments)
    for key, bst in stats.boots.items():
        if bst.clean_end and bst.last_segment is not None \
                and highest.get(key, -1) > bst.last_segment:
            bst.clean_end = False
    stats.complete = True
    dump.stats = stats
    idents = dump.identities()
    tasks = []
    next_seq: dict[tuple[int, int], int] = {}
    last_seg: dict[tuple[int, int], str] = {}
    for seg in dump.segments:
        if seg.logger_id is not None and seg.duplicate_of is None:
            for bts in contexts[rel_path(seg.path, root)].boots:
                last_seg[(seg.logger_id, int(bts))] = seg.path
    for seg in dump.segments:
        rel = rel_path(seg.path, root)
        ctx = contexts[rel]
        lg, boot = seg.logger_id, seg.boot
        start: dict[tuple[int, int], int] = {}
        syncs: dict[int, list[tuple[int, int]]] = {}
        vehicles: dict[int, tuple[str, str]] = {}
        cuts: dict[int, int] = {}
        if lg is not None and seg.duplicate_of is None:
            if boot is not None:
                start[(lg, boot)] = next_seq.get((lg, boot), 0)
            for bts, b in ctx.boots.items():
                bt = int(bts)
                syncs[bt] = _relevant(_others(owned.get((lg, bt), []), seg.path),
                                      b["first_us"], b["last_us"])
                ident = idents.get((lg, bt))
                name = ident.vehicle if ident is not None else ""
                vehicles[bt] = (name, vehicle_dir(lg, name))
                bst = stats.boots[(lg, bt)]
                if last_seg.get((lg, bt)) == seg.path and not bst.clean_end \
                        and bst.last_us is not None:
                    cuts[bt] = bst.last_us
            if ctx.last is not None:
                lk = (lg, ctx.last[0])
                next_seq[lk] = max(next_seq.get(lk, 0), ctx.last[1] + 1)
            elif seg.header is not None and boot is not None:
                next_seq[(lg, boot)] = max(next_seq.get((lg, boot), 0), seg.header.first_seq)
        task = SegmentTask(seg.path, rel, segment_key(seg), lg, boot, start, syncs, vehicles,
                           cuts, seg.duplicate_of and rel_path(seg.duplicate_of, root),
                           ctx.frames, ctx.size, spec)
        task.fingerprint = _digest(PLAN_VERSION, rel, ctx.size, ctx.mtime_ns,
                                   sorted([list(k), v] for k, v in start.items()),
                                   sorted([k, v] for k, v in syncs.items()),
                                   sorted([k, list(v)] for k, v in vehicles.items()),
                                   sorted(cuts.items()), task.duplicate_of, spec.digest())
        tasks.append(task)
    return tasks


def _others(owned: list[tuple[str, list[list[int]]]], path: str) -> list[tuple[int, int]]:
    """The sync points of the files other than ``path``, sorted as :class:`TimeBase`
    sorts them.

    A file's task reads its own points; with those of the others that :func:`_relevant`
    keeps, every record time of the file picks the same sync as among all the boot's
    points: the latest at or before it is either the file's own or the latest of the
    others', and the first of all is either the file's first or the others' first."""
    rows = [np.asarray(p, np.int64).reshape(-1, 2) for q, p in owned if q != path]
    if not rows:
        return []
    a = np.concatenate(rows)
    a = a[np.lexsort((a[:, 1], a[:, 0]))]
    return list(zip(a[:, 0].tolist(), a[:, 1].tolist()))


def _relevant(points: list[tuple[int, int]], first_us: int | None,
              last_us: int | None) -> list[tuple[int, int]]:
    """The sync points the UTC of records from ``first_us`` to ``last_us`` depends on: the
    latest at or before ``first_us`` and those up to ``last_us``, else the first one after
    (a frame takes the latest sync at or before it, else the first after)."""
    if first_us is None or last_us is None or not points:
        return points[:1]
    times = [p[0] for p in points]
    lo = max(bisect.bisect_right(times, first_us) - 1, 0)
    hi = bisect.bisect_right(times, last_us)
    return points[lo:max(hi, lo + 1)]


def rel_path(path: str, root: str) -> str:
    """``path`` relative to the archive ``root`` (a directory, a file, or a URL), with
    ``/``: a segment file's name in the dataset."""
    if is_url(root):
        return path[len(root):].lstrip("/") if path.startswith(root) and path != root \
            else path.rsplit("/", 1)[-1]
    rel = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
    return rel.replace(os.sep, "/")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]

"""One task of an archive decode: one segment file into its dataset parts.

:func:`decode_segment` runs in a worker process (or in the calling process): it reads
the file once, decodes its CAN frames with the DBC(s), collects its GNSS fixes, events,
status records and integrity problems, and writes one part per table, vehicle and UTC day
(see :mod:`.store`).  It depends only on its :class:`~.plan.SegmentTask`, so running it
twice, on any worker, gives the same parts.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._version import __version__
from ..card.dump import Dump
from ..card.problems import Problem
from ..decode.arrow import from_numpy, to_numpy
from ..decode.decoder import DecodedMessage, Decoder
from .plan import ArrayTimeBase, DecodeSpec, SegmentTask, context_of
from .remote import local_copy
from .store import PartWriter
from .tables import UNITS, RecordTables

__all__ = ["decode_segment", "TaskResult", "message_metadata", "dataset_version",
           "decoder_for"]

_DAY_US = 86_400_000_000
_decoders: dict[DecodeSpec, Decoder] = {}


@dataclass
class TaskResult:
    """What one task did: the parts it wrote, rows per table, frames read and decoded,
    and the decoder's counts of what it could not decode."""

    relpath: str
    fingerprint: str
    parts: list[str]
    rows: dict[str, int]
    frames: int
    decoded: int
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)
    problems: int = 0
    #: the file's exact context (:meth:`~.plan.SegmentContext.to_json`), read on the way
    context: dict[str, Any] | None = None
    #: the parts' writing when a ``writer`` thread does it (a :class:`~.store.PartsJob`,
    #: or anything with ``result()``; else None)
    pending: Any = None

    def settle(self) -> "TaskResult":
        """This result once its parts are in place (raises what their writing raised);
        this thread writes the parts the writing thread has not begun."""
        if self.pending is not None:
            job, self.pending = self.pending, None
            job.result()
        return self


def dataset_version() -> str:
    return __version__


def decoder_for(spec: DecodeSpec) -> Decoder:
    """The decoder of ``spec``, built once per worker process (a fresh report each task)."""
    from ..decode.decoder import DecodeReport
    dec = _decoders.get(spec)
    if dec is None:
        dec = _decoders[spec] = Decoder([(p, ch) for p, ch, _ in spec.dbcs],
                                        ids=spec.ids, signals=spec.signals)
    dec.report = DecodeReport()
    return dec


def message_metadata(dm_or_msg: Any, spec: DecodeSpec, source: str,
                     vehicle: str) -> dict[bytes, bytes]:
    """Parquet schema metadata of a message table: units, value tables, the databases
    (name, sha256), the dunelog version, the source segment file and the vehicle name."""
    msg = dm_or_msg.message if isinstance(dm_or_msg, DecodedMessage) else dm_or_msg
    units = {s.column: s.unit for s in msg.signals if s.unit}
    choices = {s.column: {str(k): v for k, v in s.choices.items()}
               for s in msg.signals if s.choices}
    return _meta(units, spec, source, vehicle, {"dunelog.value_tables": choices,
                                                "dunelog.message": {
                                                    "name": msg.name,
                                                    "frame_id": msg.frame_id,
                                                    "extended": msg.extended}})


def _meta(units: dict[str, str], spec: DecodeSpec, source: str, vehicle: str,
          extra: dict[str, Any] | None = None) -> dict[bytes, bytes]:
    d: dict[str, Any] = {
        "dunelog.units": units,
        "dunelog.databases": [{"name": os.path.basename(p), "channel": ch, "sha256": sha}
                              for p, ch, sha in spec.dbcs],
        "dunelog.version": dataset_version(),
        "dunelog.source": [source],
        "dunelog.vehicle": vehicle,
    }
    d.update(extra or {})
    return {k.encode(): json.dumps(v, ensure_ascii=False).encode() for k, v in d.items()}


def _dates(utc: np.ndarray) -> list[tuple[str, np.ndarray | None]]:
    """``(date, row mask or None for all rows)`` of each UTC day in ``utc`` (``undated``:
    rows without UTC)."""
    day = np.where(utc >= 0, utc // _DAY_US, -1)
    if day.size and day.min() == day.max():     # the usual case, without a sort
        d = int(day[0])
        return [("undated" if d < 0 else str(np.datetime64(d, "D")), None)]
    uniq = np.unique(day)
    out = []
    for d in uniq.tolist():
        name = "undated" if d < 0 else str(np.datetime64(int(d), "D"))
        out.append((name, None if uniq.size == 1 else day == d))
    return out


def _split_write(w: PartWriter, table: str, data: Any, utc: np.ndarray, boot: np.ndarray,
                 vehicles: dict[int, tuple[str, str]], logger_id: int | None,
                 meta: dict[bytes, bytes]) -> None:
    """Write ``data`` into the parts of each (vehicle of its boot, UTC day)."""
    dirs = {bt: v[1] for bt, v in vehicles.items()}
    ub = boot[:1] if boot.size and boot.min() == boot.max() else np.unique(boot)
    groups: list[tuple[str, Any, np.ndarray]]
    if len({dirs.get(int(b), f"logger-{logger_id}") for b in ub.tolist()}) <= 1:
        groups = [(dirs.get(int(ub[0]), f"logger-{logger_id}") if ub.size else "", data, utc)]
    else:
        groups = []
        for b in ub.tolist():
            m = boot == b
            groups.append((dirs.get(int(b), f"logger-{logger_id}"),
                           data.filter(from_numpy(m)), utc[m]))
    for vdir, tab, u in groups:
        for date, m in _dates(u):
            w.write(table, vdir, date, tab if m is None else tab.filter(from_numpy(m)), meta)


def _utc_of(tb: Any, time_us: np.ndarray, boot: np.ndarray) -> np.ndarray | None:
    """UTC of decoded frames as :meth:`Decoder.decode` computes it with ``tb``: int64,
    -1 where the boot has no sync; None when no boot of ``tb`` has any."""
    if not tb.boots():
        return None
    utc = np.full(time_us.shape[0], -1, np.int64)
    if boot.size and boot.min() == boot.max():
        u = tb.utc_us_array(int(boot[0]), time_us)
        return utc if u is None else u
    for b in np.unique(boot).tolist():
        bm = boot == b
        u = tb.utc_us_array(int(b), time_us[bm])
        if u is not None:
            utc[bm] = u
    return utc


def decode_segment(task: SegmentTask, root: str, writer: Any = None) -> TaskResult:
    """Decode the segment file of ``task`` into parts under the dataset ``root``.

    The file is read once: its frames are decoded on the way and put on UTC at the end,
    once its own time syncs are known (the plan gives only the other files' ones).
    ``writer``: an executor (a thread) that encodes and writes the parts; the result is
    then returned at once with the writing :attr:`~TaskResult.pending`."""
    import pyarrow as pa
    t0 = time.perf_counter()
    w = PartWriter(root, f"{task.key}-{task.fingerprint[:8]}")
    decoder = decoder_for(task.spec)
    lg = task.logger_id
    name = next(iter(task.vehicles.values()), ("", ""))[0]
    problems: list[Problem] = []
    context: dict[str, Any] | None = None
    files = contextlib.ExitStack()         # the local copy of a file behind a URL
    try:
        if task.duplicate_of is not None:
            problems.append(Problem("duplicate_segment", task.relpath, 0,
                                    f"same logger/boot/segment as {task.duplicate_of}; "
                                    "skipped", boot=task.boot))
            tb = task.timebase()
            recs = RecordTables(lg, tb, task.relpath)
        else:
            dump = Dump(files.enter_context(local_copy(task.path)))
            dump = dump.of_segments(dump.segments, start_seq=task.start_seq)
            recs = RecordTables(lg, ArrayTimeBase({}), task.relpath)
            metas: dict[str, dict[bytes, bytes]] = {}
            held: list[tuple[Any, Any]] = []
            for chunk, fixes, others in dump.chunks():
                recs.add(others, fixes)
                for arr in (chunk.classic, chunk.fd):
                    if not arr.size:
                        continue
                    for dm in decoder.decode(arr):
                        tab = dm.to_arrow()
                        tab = tab.add_column(5, pa.field("logger_id", pa.uint32()),
                                             from_numpy(np.full(len(dm), chunk.logger_id,
                                                                np.uint32)))
                        # the table only: the decoder's frame arrays can go now
                        held.append((dm.message, tab))
            ctx = context_of(dump, task.relpath, task.size, 0)
            context = ctx.to_json()
            tb = recs.tb = task.timebase(ctx.syncs)
            ts = pa.timestamp("us", tz="UTC")
            for msg, tab in held:
                t_us = to_numpy(tab.column("time_us"))
                boot = to_numpy(tab.column("boot"))
                utc = _utc_of(tb, t_us, boot)
                if utc is None:
                    utc = np.full(len(tab), -1, np.int64)
                else:                           # as DecodedMessage.to_arrow puts it
                    tab = tab.set_column(2, pa.field("utc", ts), from_numpy(utc, ts,
                                                                           mask=utc < 0))
                mname = msg.name
                meta = metas.get(mname)
                if meta is None:
                    meta = metas[mname] = message_metadata(msg, task.spec, task.relpath, name)
                _split_write(w, mname, tab, utc, boot, task.vehicles, lg, meta)
            held.clear()
            problems = [p for p in dump.problems]
        for table, (tab, utc) in recs.tables(problems, task.cut_boots, task.boot).items():
            meta = _meta(UNITS[table], task.spec, task.relpath, name)
            _split_write(w, table, tab, utc, to_numpy(tab.column("boot")), task.vehicles,
                         lg, meta)
        if writer is None:
            parts, pending = w.commit(), None
        else:
            parts, pending = w.commit_in(writer)
    except BaseException:
        w.abort()
        raise
    finally:
        files.close()
    rep = decoder.report
    return TaskResult(task.relpath, task.fingerprint, parts, dict(w.rows), rep.frames,
                      rep.decoded, time.perf_counter() - t0, rep.as_dict(), len(problems),
                      context, pending)

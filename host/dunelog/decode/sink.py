"""Decode a whole dump (or any frame source) into Parquet or CSV files, chunk by chunk.

:func:`decode_dump` drives a :class:`~.decoder.Decoder` over the chunks and hands the
decoded tables to a :class:`TableSink`: ``wide`` (one file per message, one column per
signal) or ``long`` (one file, one row per value).  Memory stays flat: each chunk's
tables are written before the next chunk is read.  See docs/DECODE.md.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..cores import usable_cores
from ..frames import FrameChunk
from ..io.gnss_can import GnssCan, gnss_can_chunks
from .arrow import from_numpy, strings, to_numpy
from .decoder import Decoder
from .mf4 import Mf4SignalSink
from .parquet import ROW_GROUP, conform, encodings
from .window import TimeBound, window

__all__ = ["TableSink", "WriteError", "writer_thread", "decode_dump", "with_timebase",
           "with_identity", "EpochTimeBase", "TABLE_FORMATS"]

#: output suffix -> table format
TABLE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


class WriteError(OSError):
    """An output file could not be written (a full disk, a file too large); the message
    names the file."""


def _writing(path: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except OSError as e:
        raise WriteError(e.errno, f"cannot write {path}: {e}") from e


def writer_thread(name: str, threaded: bool | None = None) -> Any:
    """A one-thread executor that writes output while this thread decodes: with
    ``threaded`` None, when this process may use more than one core (None otherwise: the
    thread would only take turns with the decoding); else as ``threaded`` says.  Arrow's
    Parquet and CSV writers release the GIL."""
    if threaded is False:
        return None
    if usable_cores() < 2 and not threaded:
        return None
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(1, thread_name_prefix=name)


class TableSink:
    """Incremental writers for one output (Parquet/CSV, wide/long).

    Tables are encoded and written by one thread of their own (``threaded``, on a machine
    with a core to spare), in order: Arrow's writers release the GIL, so the next chunk
    decodes meanwhile.  At most :data:`_AHEAD` writes wait, so memory stays flat."""

    def __init__(self, out: str, fmt: str, layout: str, threaded: bool | None = None) -> None:
        self.out, self.fmt, self.layout = out, fmt, layout
        self._pool: Any = writer_thread("dunelog-write", threaded)
        self._writes: deque[Any] = deque()
        self.writers: dict[str, Any] = {}
        self.paths: dict[str, str] = {}
        self.schemas: dict[str, Any] = {}
        self._pending: dict[str, tuple[list[Any], int]] = {}
        #: key/value metadata for the Parquet schemas (the loggers and vehicles)
        self.metadata: dict[bytes, bytes] | None = None
        self.rows = 0
        if layout == "wide":
            os.makedirs(out, exist_ok=True)
        else:
            d = os.path.dirname(os.path.abspath(out))
            os.makedirs(d, exist_ok=True)

    def _writer(self, key: str, path: str, table: Any) -> Any:
        w = self.writers.get(key)
        if w is None:
            if self.fmt == "parquet":
                import pyarrow.parquet as pq
                if self.metadata:
                    table = table.replace_schema_metadata(
                        {**(table.schema.metadata or {}), **self.metadata})
                w = _writing(path, pq.ParquetWriter, path, table.schema,
                             compression="zstd", **encodings(table.schema))
            else:
                import pyarrow.csv as pcsv
                w = _writing(path, pcsv.CSVWriter, path, table.schema)
            self.writers[key] = w
            self.paths[key] = path
            self.schemas[key] = table.schema
        return w

    @property
    def files(self) -> list[str]:
        """The files written, in the order they were opened."""
        return list(self.paths.values())

    def _prep(self, table: Any) -> Any:
        if self.fmt == "csv":   # CSV cannot hold dictionaries: plain strings
            import pyarrow as pa
            cols = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c
                    for c in table.columns]
            table = pa.table(cols, names=table.column_names)
        return table

    def write_wide(self, name: str, table: Any) -> None:
        """Append ``table`` to message ``name``'s file."""
        table = self._prep(table)
        path = os.path.join(self.out, f"{_safe(name)}.{self.fmt}")
        self._writer(name, path, table)
        self._append(name, conform(table, self.schemas[name]))

    def write_long(self, table: Any) -> None:
        """Append ``table`` to the one long file."""
        table = self._prep(table)
        self._writer("", self.out, table)
        self._append("", conform(table, self.schemas[""]))

    def _append(self, key: str, table: Any) -> None:
        # Parquet: a chunk's rows are gathered into row groups of ROW_GROUP rows (one
        # written per chunk cost 1.6x the encoding time on bench_decode's 10x dump)
        self.rows += table.num_rows
        if self.fmt != "parquet":
            self._write(key, self.writers[key].write_table, table)
            return
        buf, n = self._pending.get(key, ([], 0))
        buf.append(table)
        n += table.num_rows
        if n >= ROW_GROUP:
            self._flush(key, buf)
            buf, n = [], 0
        self._pending[key] = (buf, n)

    def _flush(self, key: str, buf: list[Any]) -> None:
        if buf:
            import pyarrow as pa
            tab = pa.concat_tables(buf) if len(buf) > 1 else buf[0]
            self._write(key, self.writers[key].write_table, tab, row_group_size=ROW_GROUP)

    def _write(self, key: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """``fn(*args, **kw)`` on file ``key``: on the writing thread, after the writes
        before it (:class:`WriteError` naming the file if it fails)."""
        if self._pool is None:
            _writing(self.paths[key], fn, *args, **kw)
            return
        self._writes.append(self._pool.submit(_writing, self.paths[key], fn, *args, **kw))
        while self._writes and (len(self._writes) > _AHEAD or self._writes[0].done()):
            self._writes.popleft().result()          # raises what the write raised

    def close(self) -> None:
        """Write what is pending, wait for the writing thread, close every file."""
        try:
            for key, (buf, _) in self._pending.items():
                self._flush(key, buf)
            self._pending.clear()
            while self._writes:
                self._writes.popleft().result()
        finally:
            if self._pool is not None:
                self._pool.shutdown()            # waits: no write still under way
                self._pool = None
            for key, w in self.writers.items():
                _writing(self.paths[key], w.close)


#: writes that may wait for the writing thread (each one chunk's table of one message)
_AHEAD = 8


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class EpochTimeBase:
    """Time base of a foreign log whose timestamps are already UTC epoch seconds."""

    def boots(self) -> list[int]:
        return [0]

    def utc_us_array(self, boot: int, time_us: np.ndarray) -> np.ndarray:
        return np.asarray(time_us).astype(np.int64)


_EPOCH_2001_US = 978_307_200 * 1_000_000


def with_timebase(chunks: Iterable[FrameChunk]) -> Iterator[tuple[FrameChunk, Any]]:
    """``(chunk, timebase)`` of the chunks of a foreign log: its timestamps are taken as
    UTC when every one is after 2001, else as seconds since an unknown start (no time
    base)."""
    for chunk in chunks:
        t = [a["time_us"] for a in (chunk.classic, chunk.fd) if len(a)]
        epoch = bool(t) and all(int(x.min()) > _EPOCH_2001_US for x in t)
        yield chunk, (EpochTimeBase() if epoch else None)


def decode_dump(dump: Any, decoder: Decoder, out: str, *, layout: str | None = None,
                start: TimeBound | None = None, end: TimeBound | None = None,
                progress: Callable[[int, int], None] | None = None,
                chunks: Iterable[tuple[Any, Any]] | None = None,
                gnss: GnssCan | None = None,
                threaded: bool | None = None) -> dict[str, Any]:
    """Decode ``dump`` (or ``chunks``: an iterable of ``(chunk, timebase)``) with
    ``decoder`` into ``out`` (format by suffix: ``.parquet``/``.pq`` or ``.csv``);
    ``progress(bytes_done, bytes_total)`` is called while the dump is read.  With
    ``gnss``, the dump's GNSS fixes are fed to the decoder as CAN frames
    (:mod:`dunelog.io.gnss_can`; bind :func:`~dunelog.io.gnss_can.gnss_database` to
    ``gnss.channel`` in ``decoder`` to decode them).  ``threaded``: Parquet/CSV written
    by a thread of its own (default: when this process may use more than one core; see
    :class:`TableSink`).  Returns a summary (rows written, files, layout, timestamp kind,
    decoder report)."""
    import pyarrow as pa
    suffix = os.path.splitext(out)[1].lower()
    fmt = "mf4" if suffix == ".mf4" else TABLE_FORMATS.get(suffix)
    if fmt is None:
        raise ValueError(f"{out}: decoded output as {suffix or '(no suffix)'} is not "
                         "available (use .parquet, .csv or .mf4)")
    if fmt == "mf4" and layout == "long":
        raise ValueError(f"{out}: an MF4 holds one channel per signal (no long layout)")
    layout = layout or ("wide" if fmt in ("parquet", "mf4") else "long")
    it: Iterator[tuple[Any, Any]]
    idents: dict[tuple[int, int], Any] = {}
    if chunks is None:
        stats = dump.scan(can_ids=False)
        idents = dump.identities()
        synced = any(tb.boots() for tb in stats.timebases.values())
        if progress is not None:
            dump.progress = progress
        source = dump.can_chunks() if gnss is None else gnss_can_chunks(dump, gnss)
        it = ((c, stats.timebases.get(c.logger_id)) for c in source)
        ts_kind = "utc" if synced else "boot"
    else:
        it = iter(chunks)
        first = next(it, None)
        ts_kind = "utc" if first is not None and first[1] is not None else "boot"
        if first is not None:
            it = _chain([first], it)
    sink: Any = Mf4SignalSink(out) if fmt == "mf4" else TableSink(out, fmt, layout, threaded)
    sink.metadata = _identity_metadata(idents)
    try:
        for chunk, tb in it:
            logger = getattr(chunk, "logger_id", None) if chunks is None else None
            longs = []
            for arr in (chunk.classic, chunk.fd):
                if not arr.size:
                    continue
                arr = window(arr, start, end, tb)
                for dm in decoder.decode(arr, tb):
                    if fmt == "mf4":
                        sink.write(dm)
                    elif layout == "wide":
                        sink.write_wide(dm.message.name, with_identity(
                            dm.to_arrow(), logger, dm.boot, idents, at=WIDE_IDENTITY_AT))
                    else:
                        t = dm.to_long(ts_kind, with_time_us=True, with_boot=True)
                        if t:
                            longs.extend(t)
            if longs:
                tab = pa.concat_tables(longs)
                order = np.argsort(to_numpy(tab.column("_t")), kind="stable")
                tab = tab.take(from_numpy(order))
                tab = with_identity(tab, logger, to_numpy(tab.column("_boot")), idents)
                sink.write_long(tab.drop_columns(["_t", "_boot"]))
    finally:
        sink.close()
    return {"rows": sink.rows, "files": sink.files, "layout": layout,
            "timestamp": ts_kind, "report": decoder.report}


#: where the identity columns go in a wide table: after time_us, boot, utc, channel, frame_id
WIDE_IDENTITY_AT = 5


def with_identity(table: Any, logger_id: int | None, boot: np.ndarray,
                  idents: dict[tuple[int, int], Any], at: int | None = None) -> Any:
    """``table`` with the columns ``logger_id`` (uint32) and ``vehicle`` (dictionary
    string) inserted at column ``at`` (appended when None): the logger of the chunk and
    the vehicle name of each row's boot (from its session-start record).  Both are null
    for a log without them (a foreign log)."""
    import pyarrow as pa
    n = table.num_rows
    if logger_id is None:
        lg = pa.nulls(n, pa.uint32())
        vh = pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), strings([]))
    else:
        lg = from_numpy(np.full(n, logger_id, np.uint32))
        boot = np.asarray(boot)
        boots, inv = np.unique(boot, return_inverse=True)
        names = []
        codes = np.empty(len(boots), np.int32)
        for i, b in enumerate(boots.tolist()):
            ident = idents.get((logger_id, int(b)))
            name = ident.vehicle if ident is not None else ""
            if name not in names:
                names.append(name)
            codes[i] = names.index(name)
        vh = pa.DictionaryArray.from_arrays(from_numpy(codes[inv.reshape(-1)], pa.int32()),
                                            strings(names))
    at = table.num_columns if at is None else at
    table = table.add_column(at, pa.field("logger_id", pa.uint32()), lg)
    return table.add_column(at + 1, pa.field("vehicle", vh.type), vh)


def _identity_metadata(idents: dict[tuple[int, int], Any]) -> dict[bytes, bytes] | None:
    """Parquet schema metadata ``dunelog.loggers``: JSON ``{logger id: [vehicle, ...]}``."""
    if not idents:
        return None
    import json
    out: dict[str, list[str]] = {}
    for ident in idents.values():
        names = out.setdefault(str(ident.logger_id), [])
        if ident.vehicle not in names:
            names.append(ident.vehicle)
    return {b"dunelog.loggers": json.dumps(out, ensure_ascii=False).encode("utf-8")}


def _chain(a: Iterable[Any], b: Iterable[Any]) -> Iterator[Any]:
    yield from a
    yield from b

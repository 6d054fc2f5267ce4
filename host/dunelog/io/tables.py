"""Raw frame tables: Parquet and CSV through pyarrow (writers and readers).

Columns (one row per frame, in time order):

========== ========= =========================================================
timestamp  float64   seconds: UTC epoch when the dump has a time sync, else since boot
channel    uint8     dunelog channel (0-based)
id         uint32    arbitration id (11 or 29 bit)
ext        bool      29-bit id
rtr        bool      remote frame
err        bool      error frame
fd         bool      CAN FD frame
brs        bool      FD bit rate switch
esi        bool      FD error state indicator
tx         bool      sent by the logger (not received)
dlc        uint8     DLC code as on the wire (0..15)
data       binary    payload bytes (``data_len`` long); in CSV lower-case hex
========== ========= =========================================================

Parquet is written with :class:`pyarrow.parquet.ParquetWriter`, one row group per chunk
(flat memory); CSV with :class:`pyarrow.csv.CSVWriter`.  The reader takes ``.parquet``
always and ``.csv`` when it starts with this header (other CSV goes to python-can); tables
written before the ``tx`` column existed read as received frames.  It reads a table column
by column into :class:`~dunelog.frames.FrameChunk` arrays (:meth:`TableReader.chunks`, what
``decode`` and ``convert`` use: no :class:`can.Message` per row, no python-can), the same
arrays as python-can messages of the rows would give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..card.bulk import CAN_DTYPE, CANFD_DTYPE
from ..card.format import CAN_BRS, CAN_ERR, CAN_ESI, CAN_EXT, CAN_RTR, CAN_TX
from ..decode.arrow import to_numpy
from ..frames import DEFAULT_MESSAGES_PER_CHUNK, LEN2DLC, FrameChunk, Frames, frame_message
from .base import FrameReader, FrameWriter, SourceError, register_reader, register_writer

if TYPE_CHECKING:      # python-can imports asammdf (~1 s): a dump or table needs neither
    import can

__all__ = ["ParquetWriter", "CsvWriter", "TableReader", "frames_table", "table_chunk", "SCHEMA",
           "CSV_HEADER_PREFIX"]

CSV_HEADER_PREFIX = '"timestamp","channel","id","ext"'

_HEX = np.array([list(f"{i:02x}".encode()) for i in range(256)], np.uint8)


def _schema(data_type):
    import pyarrow as pa
    return pa.schema([
        ("timestamp", pa.float64()), ("channel", pa.uint8()), ("id", pa.uint32()),
        ("ext", pa.bool_()), ("rtr", pa.bool_()), ("err", pa.bool_()), ("fd", pa.bool_()),
        ("brs", pa.bool_()), ("esi", pa.bool_()), ("tx", pa.bool_()), ("dlc", pa.uint8()),
        ("data", data_type),
    ])


def SCHEMA():  # noqa: N802 - a constant computed lazily (pyarrow is optional)
    """The Parquet schema."""
    import pyarrow as pa
    return _schema(pa.binary())


def _var_bytes(data: np.ndarray, lens: np.ndarray, per_byte: int = 1):
    """Flat buffer and int32 offsets of each row's first ``lens`` bytes (vectorised)."""
    n, w = data.shape[:2]
    mask = np.arange(w)[None, :] < lens[:, None]
    flat = data[mask].reshape(-1)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lens.astype(np.int32) * per_byte, out=offsets[1:])
    return flat, offsets


def frames_table(fr: Frames, hex_data: bool = False):
    """The frames of a chunk as a :class:`pyarrow.Table`."""
    import pyarrow as pa
    fl = fr.flags
    if hex_data:
        flat, off = _var_bytes(_HEX[fr.data], fr.data_len, 2)
        data = pa.StringArray.from_buffers(len(fr), pa.py_buffer(off), pa.py_buffer(flat))
        schema = _schema(pa.string())
    else:
        flat, off = _var_bytes(fr.data, fr.data_len)
        data = pa.BinaryArray.from_buffers(pa.binary(), len(fr),
                                           [None, pa.py_buffer(off), pa.py_buffer(flat)])
        schema = _schema(pa.binary())
    cols = [fr.timestamp, fr.channel, fr.id, fl & CAN_EXT != 0, fl & CAN_RTR != 0,
            fl & CAN_ERR != 0, fr.fd, (fl & CAN_BRS != 0) & fr.fd,
            (fl & CAN_ESI != 0) & fr.fd, fl & CAN_TX != 0, fr.dlc]
    arrays = [pa.array(c, type=f.type) for c, f in zip(cols, schema)] + [data]
    return pa.Table.from_arrays(arrays, schema=schema)


@register_writer
class ParquetWriter(FrameWriter):
    """Raw frames table as Parquet (pyarrow), one row group per chunk."""

    suffixes = (".parquet", ".pq")
    description = "raw frames table, Parquet (pyarrow): channel, CAN FD, float64 s"

    def __init__(self, path, *, compression: str = "zstd", **options) -> None:
        super().__init__(path, **options)
        import pyarrow.parquet as pq
        # no dictionaries (ids, flags, lengths compress as well without) and the float
        # seconds byte-stream-split (their high bytes barely change): one vehicle's 1.15 M
        # frames encode in 0.09 s to 4.2 MB instead of 0.19 s to 11.1 MB (bench/RESULTS.md)
        self._w = pq.ParquetWriter(self.path, SCHEMA(), compression=compression,
                                   use_dictionary=False,
                                   column_encoding={"timestamp": "BYTE_STREAM_SPLIT"})

    def write_frames(self, fr: Frames) -> int:
        self._w.write_table(frames_table(fr))
        return len(fr)

    def close(self) -> None:
        self._w.close()


@register_writer
class CsvWriter(FrameWriter):
    """Raw frames table as CSV (pyarrow), data as hex."""

    suffixes = (".csv",)
    description = "raw frames table, CSV (pyarrow): channel, CAN FD, data as hex"

    def __init__(self, path, **options) -> None:
        super().__init__(path, **options)
        import pyarrow as pa
        import pyarrow.csv as pacsv
        self._w = pacsv.CSVWriter(self.path, _schema(pa.string()))

    def write_frames(self, fr: Frames) -> int:
        self._w.write_table(frames_table(fr, hex_data=True))
        return len(fr)

    def close(self) -> None:
        self._w.close()


@register_reader
class TableReader(FrameReader):
    """A frames table written here (``.parquet``, or ``.csv`` with our header), read back
    as :class:`can.Message` objects (Parquet streams row group by row group)."""

    suffixes = (".parquet", ".pq", ".csv")

    def _batches(self) -> Iterator[Any]:
        """The table's record batches (Parquet row group by row group; CSV streamed)."""
        import pyarrow as pa
        if self.path.lower().endswith(".csv"):
            import pyarrow.csv as pacsv
            conv = pacsv.ConvertOptions(column_types=_schema(pa.string()))
            return iter(pacsv.open_csv(self.path, convert_options=conv))
        import pyarrow.parquet as pq
        return pq.ParquetFile(self.path).iter_batches()

    def chunks(self, size: int = DEFAULT_MESSAGES_PER_CHUNK) -> Iterator[FrameChunk]:
        """The frames in chunks of ``size`` rows, read column by column (what
        ``messages_to_chunks(self.messages(), path, size)`` gives, ~10x faster)."""
        import pyarrow as pa
        pending: list[Any] = []
        n = first = 0
        for b in self._batches():
            pending.append(b)
            n += b.num_rows
            while n >= size:
                tab = pa.Table.from_batches(pending)
                yield table_chunk(tab.slice(0, size), self.path, first)
                first += size
                rest = tab.slice(size)
                pending, n = rest.to_batches(), rest.num_rows
        if n:
            yield table_chunk(pa.Table.from_batches(pending), self.path, first)

    @classmethod
    def accepts(cls, path: str) -> bool:
        if not path.lower().endswith(".csv"):
            return True
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.readline().startswith(CSV_HEADER_PREFIX)
        except OSError:
            return False

    def messages(self) -> Iterator[can.Message]:
        import pyarrow as pa
        batches: Any
        if self.path.lower().endswith(".csv"):
            import pyarrow.csv as pacsv
            conv = pacsv.ConvertOptions(column_types=_schema(pa.string()))
            batches = pacsv.open_csv(self.path, convert_options=conv)
        else:
            import pyarrow.parquet as pq
            batches = pq.ParquetFile(self.path).iter_batches()
        for b in batches:
            d = b.to_pydict()
            hexed = pa.types.is_string(b.schema.field("data").type)
            n = b.num_rows
            tx = d.get("tx") or [False] * n
            for i in range(n):
                data = bytes.fromhex(d["data"][i]) if hexed else d["data"][i]
                fd = bool(d["fd"][i])
                fl = (CAN_EXT if d["ext"][i] else 0) | (CAN_RTR if d["rtr"][i] else 0) \
                    | (CAN_ERR if d["err"][i] else 0) | (CAN_BRS if d["brs"][i] else 0) \
                    | (CAN_ESI if d["esi"][i] else 0) | (CAN_TX if tx[i] else 0)
                yield frame_message(d["timestamp"][i], d["channel"][i], d["id"][i], fl,
                                    d["dlc"][i], data, fd)


#: hex digit (ASCII code) -> its value; 255: not a hex digit
_UNHEX = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _UNHEX[_c] = _i
    _UNHEX[ord(chr(_c).upper())] = _i


def _payloads(col: Any, hexed: bool, file: str, first: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``data`` column as ``(n, 64)`` uint8 (zero beyond each row's bytes, which are
    cut at 64) and each row's full length in bytes; CSV hex decoded on the way."""
    arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    n = len(arr)
    out = np.zeros((n, 64), np.uint8)
    if not n:
        return out, np.zeros(0, np.int64)
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], np.int32, n + 1, arr.offset * 4).astype(np.int64)
    flat = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    flat = flat[off[0]:off[-1]]
    off = off - off[0]
    lens = np.diff(off)
    if hexed:
        bad = np.flatnonzero(lens % 2)
        vals = _UNHEX[flat]
        if not bad.size and (vals == 255).any():
            bad = np.unique(np.searchsorted(off, np.flatnonzero(vals == 255), "right") - 1)
        if bad.size:
            raise SourceError(f"{file}: row {first + int(bad[0]) + 1}: data "
                              f"{arr[int(bad[0])].as_py()!r} is not hex bytes")
        flat = ((vals[0::2] << 4) | vals[1::2]).astype(np.uint8)
        off, lens = off // 2, lens // 2
    width = np.arange(64)
    mask = width < np.minimum(lens, 64)[:, None]
    out[mask] = flat[(off[:-1, None] + width)[mask]]
    return out, lens


def table_chunk(tab: Any, file: str = "", first: int = 0) -> FrameChunk:
    """The rows of a frames table (:func:`frames_table`'s columns, Parquet or CSV) as a
    :class:`~dunelog.frames.FrameChunk`: the arrays the rows' :class:`can.Message` objects
    would give (``messages_to_chunks``): times rounded to the microsecond, BRS/ESI only on
    CAN FD, a classic frame's DLC its length (a remote frame's the table's), data cut at 8
    / 64 bytes.  ``first``: the number of the table's first row here (for errors)."""
    import pyarrow as pa
    n = tab.num_rows
    names = set(tab.column_names)
    ts = to_numpy(tab.column("timestamp")).astype(np.float64)   # a copy: set below
    ts[~np.isfinite(ts)] = 0.0
    fd = to_numpy(tab.column("fd"))
    rtr = to_numpy(tab.column("rtr"))
    fl = (to_numpy(tab.column("ext")) * CAN_EXT | rtr * CAN_RTR
          | to_numpy(tab.column("err")) * CAN_ERR
          | (to_numpy(tab.column("brs")) & fd) * CAN_BRS
          | (to_numpy(tab.column("esi")) & fd) * CAN_ESI).astype(np.uint8)
    if "tx" in names:
        fl |= (to_numpy(tab.column("tx")) * CAN_TX).astype(np.uint8)
    data_col = tab.column("data")
    data, lens = _payloads(data_col, pa.types.is_string(data_col.type), file, first)
    time_us = np.maximum(np.rint(ts * 1e6), 0).astype(np.uint64)
    ids = to_numpy(tab.column("id"))
    ch = to_numpy(tab.column("channel"))
    dlc = to_numpy(tab.column("dlc"))
    parts = []
    for sel, dt, w in ((~fd, CAN_DTYPE, 8), (fd, CANFD_DTYPE, 64)):
        a = np.zeros(int(sel.sum()), dt)
        dl = np.minimum(lens[sel], w)
        a["time_us"] = time_us[sel]
        a["id"] = ids[sel]
        a["channel"] = ch[sel]
        a["flags"] = fl[sel]
        a["data_len"] = dl
        a["dlc"] = LEN2DLC[dl] if w == 64 else \
            np.where(rtr[sel], dlc[sel], lens[sel] & 0xFF)
        a["data"] = data[sel, :w]
        parts.append(a)
    pos = np.arange(n)
    return FrameChunk(file, 0, parts[0], parts[1], ts[~fd], ts[fd],
                      np.ones(len(parts[0]), bool), np.ones(len(parts[1]), bool),
                      np.concatenate([pos[~fd], pos[fd]]))

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
written before the ``tx`` column existed read as received frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..card.format import CAN_BRS, CAN_ERR, CAN_ESI, CAN_EXT, CAN_RTR, CAN_TX
from ..frames import Frames, frame_message
from .base import FrameReader, FrameWriter, register_reader, register_writer

if TYPE_CHECKING:      # python-can imports asammdf (~1 s): a dump or table needs neither
    import can

__all__ = ["ParquetWriter", "CsvWriter", "TableReader", "frames_table", "SCHEMA",
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
        self._w = pq.ParquetWriter(self.path, SCHEMA(), compression=compression)

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

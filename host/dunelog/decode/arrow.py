"""NumPy arrays into Arrow arrays and back, over their buffers.

``pyarrow.array()`` imports pandas the first time it is given anything but an Arrow
object (to ask whether it is a pandas object), and ``Array.to_numpy()`` does too: 0.15 s
of every process that decodes (each Dask worker included), for a library we never use
there.  Building arrays from their buffers costs nothing of that and copies nothing.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["from_numpy", "strings", "to_numpy"]

# Arrow type (str) -> the NumPy dtype of its value buffer
_NP = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
       "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
       "float": np.float32, "double": np.float64}


def _validity(mask: np.ndarray | None) -> tuple[Any, int]:
    """(validity bitmap or None, null count) of ``mask`` (True: null)."""
    import pyarrow as pa
    if mask is None:
        return None, 0
    mask = np.asarray(mask, bool)
    nulls = int(np.count_nonzero(mask))
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(~mask, bitorder="little")), nulls


def from_numpy(values: np.ndarray, typ: Any = None, mask: np.ndarray | None = None) -> Any:
    """The Arrow array of ``values`` (bool or numeric), typed ``typ`` (default: from the
    dtype; a timestamp type takes int64 values), null where ``mask`` is True: what
    ``pa.array(values, typ, mask=mask)`` gives, without importing pandas."""
    import pyarrow as pa
    v = np.asarray(values)
    typ = pa.from_numpy_dtype(v.dtype) if typ is None else typ
    if pa.types.is_boolean(typ):
        data = np.packbits(np.asarray(v, bool), bitorder="little")
    else:
        name = str(typ)
        dt = np.int64 if name.startswith(("timestamp", "duration")) else _NP[name]
        data = np.ascontiguousarray(v, dt)
    validity, nulls = _validity(mask)
    return pa.Array.from_buffers(typ, len(v), [validity, pa.py_buffer(data)], nulls)


def strings(values: Sequence[str | None]) -> Any:
    """A ``pa.string()`` array of ``values`` (None: null), without importing pandas."""
    import pyarrow as pa
    enc = [b"" if s is None else s.encode("utf-8") for s in values]
    offsets = np.zeros(len(enc) + 1, np.int32)
    np.cumsum([len(b) for b in enc], out=offsets[1:])
    validity, nulls = _validity(np.array([s is None for s in values], bool))
    return pa.Array.from_buffers(pa.string(), len(enc),
                                 [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(enc))],
                                 nulls)


def to_numpy(col: Any) -> np.ndarray:
    """The values of a numeric or boolean Arrow array or chunked array without nulls as
    NumPy (a numeric one a view when it has one chunk), without importing pandas."""
    chunks = getattr(col, "chunks", [col])
    parts = []
    for c in chunks:
        name = str(c.type)
        if name == "bool":                   # bit-packed: unpacked
            bits = np.unpackbits(np.frombuffer(c.buffers()[1], np.uint8), bitorder="little") \
                if len(c) else np.zeros(0, np.uint8)
            parts.append(bits[c.offset:c.offset + len(c)].astype(bool))
            continue
        dt = np.int64 if name.startswith(("timestamp", "duration")) else _NP.get(name)
        if dt is None:                       # not fixed-width numeric: pyarrow's way
            parts.append(c.to_numpy(zero_copy_only=False))
            continue
        parts.append(np.frombuffer(c.buffers()[1], dt, len(c), c.offset * np.dtype(dt).itemsize))
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return np.empty(0, bool if str(col.type) == "bool" else _NP.get(str(col.type), np.int64))
    return np.concatenate(parts)

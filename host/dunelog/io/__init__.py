"""Logs in and out, python-can style: readers and writers by file suffix, and replay.

======================== ============================================================
``.dlg``, a directory    :mod:`.dlg` (dunelog dumps; :mod:`.plugin`: ``can.LogReader``'s)
``.blf .asc .trc .log``  :mod:`.pycan` (python-can's own writers; any log python-can
                         reads is read through :func:`can.LogReader`)
``.mf4``                 :mod:`.mf4` (asammdf, CAN bus logging layout; read by python-can)
``.parquet .csv``        :mod:`.tables` (pyarrow raw frames table, read and written)
======================== ============================================================

:mod:`.gnss_can` turns a dump's GNSS fixes into CAN frames (and their DBC) that the
writers include with ``gnss=GnssCan()``.

:mod:`.base` holds the contracts (:class:`~.base.FrameReader`,
:class:`~.base.FrameWriter`) and the two registries; :mod:`.read` and :mod:`.write` the
functions below; :mod:`.replay` puts frames back on a bus with their timing.

>>> from dunelog.io import iter_messages, write_frames
>>> write_frames("out.blf", "/media/sd/dunelog")     # or a Dump, or a BLF/ASC/... path
"""

from __future__ import annotations

import importlib
from typing import Any

#: each public name and the module that defines it, imported on first use (PEP 562):
#: importing a format module loads python-can, which loads asammdf when installed
#: (~0.6 s), and a command that reads only dunelog dumps should not wait for that
_EXPORTS = {
    **dict.fromkeys(("READERS", "WRITERS", "FrameReader", "FrameWriter", "SourceError",
                     "OUTPUT_SUFFIXES",
                     "is_dunelog_input", "reader_for", "register_reader", "register_writer",
                     "supported_suffixes", "writer_for"), "base"),
    **dict.fromkeys(("iter_frame_chunks", "iter_messages", "open_reader"), "read"),
    **dict.fromkeys(("WriteResult", "write_frames"), "write"),
}


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


__all__ = ["iter_frame_chunks", "iter_messages", "open_reader", "write_frames",
           "WriteResult", "reader_for", "writer_for", "supported_suffixes", "READERS",
           "WRITERS", "FrameReader", "FrameWriter", "register_reader", "register_writer",
           "SourceError", "is_dunelog_input", "OUTPUT_SUFFIXES"]

"""Logs in and out, python-can style: readers and writers by file suffix, and replay.

======================== ============================================================
``.dlg``, a directory    :mod:`.dlg` (dunelog dumps; also the ``can.LogReader`` plugin)
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

from .base import (
                   READERS,
                   WRITERS,
                   FrameReader,
                   FrameWriter,
                   SourceError,
                   is_dunelog_input,
                   reader_for,
                   register_reader,
                   register_writer,
                   supported_suffixes,
                   writer_for,
)
from .read import iter_frame_chunks, iter_messages, open_reader
from .write import WriteResult, write_frames

__all__ = ["iter_frame_chunks", "iter_messages", "open_reader", "write_frames",
           "WriteResult", "reader_for", "writer_for", "supported_suffixes", "READERS",
           "WRITERS", "FrameReader", "FrameWriter", "register_reader", "register_writer",
           "SourceError", "is_dunelog_input"]

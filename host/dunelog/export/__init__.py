"""Exports of raw CAN frames to the formats engineers' tools open.

One module per format, each a :class:`~dunelog.export.base.FrameWriter` registered by
file suffix (like python-can's ``can.io``):

======================== ============================================================
``.blf .asc .trc .log``  :mod:`dunelog.export.pycan` (python-can's own writers)
``.mf4``                 :mod:`dunelog.export.mf4` (asammdf, CAN bus logging layout)
``.parquet .csv``        :mod:`dunelog.export.tables` (pyarrow raw frames table)
======================== ============================================================

>>> from dunelog.export import write_frames
>>> write_frames("out.blf", "/media/sd/dunelog")     # or a Dump, or a BLF/ASC/... path
"""

from __future__ import annotations

import importlib
import os

from .base import WRITERS, Frames, FrameWriter, merged, register, writer_for

__all__ = ["write_frames", "writer_for", "WRITERS", "FrameWriter", "Frames", "register",
           "merged", "supported_suffixes"]

_MODULES = ("pycan", "mf4", "tables")


def _load_all() -> None:
    for m in _MODULES:
        importlib.import_module(f"{__name__}.{m}")


def supported_suffixes() -> list[str]:
    """Output suffixes :func:`write_frames` knows."""
    _load_all()
    return sorted(WRITERS)


def write_frames(out_path: str | os.PathLike[str], source, *, progress=None,
                 **options) -> int:
    """Write every CAN frame of ``source`` to ``out_path`` (format from its suffix).

    ``source`` is a :class:`~dunelog.Dump`, a dunelog segment/directory/dump tree, or any
    log python-can reads.  ``progress(done, total)`` is passed to the dump reader.
    Extra keyword ``options`` go to the format's writer.  Returns the number of frames
    written (frames a format cannot hold are skipped; see the writer's ``skipped``).
    The output file is removed if writing fails.
    """
    from ..sources import iter_frame_chunks
    cls = writer_for(out_path)
    out = os.fspath(out_path)
    chunks = iter_frame_chunks(source, progress=progress)
    try:
        with cls(out, **options) as w:
            for chunk in chunks:
                w.write(chunk)
    except BaseException:
        if os.path.exists(out):
            try:
                os.remove(out)
            except OSError:
                pass
        raise
    write_frames.last_writer = w  # type: ignore[attr-defined]
    return w.count

"""Write every frame of a source to a file whose suffix names the format."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .base import Progress, writer_for
from .gnss_can import GnssCan, count_gnss_frames
from .read import Source, iter_frame_chunks

__all__ = ["write_frames", "WriteResult"]


@dataclass(frozen=True)
class WriteResult:
    """What :func:`write_frames` wrote."""

    path: str
    #: frames written
    frames: int
    #: frames the format cannot hold (e.g. CAN FD in TRC), not written
    skipped: int = 0
    #: of ``frames``, the GNSS fixes as CAN frames (``gnss``)
    gnss_frames: int = 0


def write_frames(out_path: str | os.PathLike[str], source: Source, *,
                 progress: Progress | None = None, gnss: GnssCan | None = None,
                 **options: Any) -> WriteResult:
    """Write every CAN frame of ``source`` to ``out_path`` (format from its suffix).

    ``source`` is a :class:`~dunelog.Dump`, a dunelog segment/directory/dump tree, or any
    log python-can reads.  ``progress(done, total)`` is passed to the dump reader.
    With ``gnss`` (a :class:`~.gnss_can.GnssCan`), a dump's GNSS fixes are written too,
    as CAN frames in time order (``dbc/dunelog_gnss.dbc``; none for a foreign log).
    Extra keyword ``options`` go to the format's writer.  Returns a :class:`WriteResult`
    (frames a format cannot hold are skipped and counted there).  The output file is
    removed if writing fails.
    """
    cls = writer_for(out_path)
    out = os.fspath(out_path)
    chunks = iter_frame_chunks(source, progress=progress, gnss=gnss)
    n_gnss = 0
    try:
        with cls(out, **options) as w:
            for chunk in chunks:
                w.write(chunk)
                if gnss is not None:
                    n_gnss += count_gnss_frames(chunk.classic, gnss)
    except BaseException:
        if os.path.exists(out):
            try:
                os.remove(out)
            except OSError:
                pass
        raise
    return WriteResult(out, w.count, w.skipped, n_gnss)

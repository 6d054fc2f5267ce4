"""Read frames from any source: a :class:`~dunelog.card.dump.Dump`, a dunelog path, or a
log another tool wrote (the reader is picked by :func:`~dunelog.io.base.reader_for`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator, Union

from ..card.dump import Dump
from ..frames import DEFAULT_MESSAGES_PER_CHUNK, FrameChunk, chunk_to_messages
from .base import FrameReader, Progress, SourceError, reader_for
from .dlg import DlgReader, dump_chunks
from .gnss_can import GnssCan

if TYPE_CHECKING:      # python-can imports asammdf (~1 s): a dump or table needs neither
    import can

__all__ = ["iter_frame_chunks", "iter_messages", "open_reader", "Source"]

#: what the readers take: an open dump, or a path
Source = Union[Dump, str, "os.PathLike[str]"]


def open_reader(path: str | os.PathLike[str], *, progress: Progress | None = None
                ) -> FrameReader:
    """The reader of ``path`` (:class:`SourceError` if it does not exist)."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise SourceError(f"no such file or directory: {p}")
    return reader_for(p)(p, progress=progress)


def iter_frame_chunks(source: Source, *, progress: Progress | None = None,
                      size: int = DEFAULT_MESSAGES_PER_CHUNK,
                      gnss: GnssCan | None = None) -> Iterator[FrameChunk]:
    """Frames of ``source`` (a :class:`~dunelog.Dump`, a dunelog path, or a path of any
    log python-can reads) as :class:`~dunelog.frames.FrameChunk` arrays, streaming.
    ``progress(bytes_done, bytes_total)`` is called while a dump is read.  With ``gnss``
    a dump's GNSS fixes come as CAN frames too (:mod:`.gnss_can`; a foreign log has no
    fix records, so nothing is added)."""
    if isinstance(source, Dump):
        yield from dump_chunks(source, progress, gnss=gnss)
        return
    reader = open_reader(source, progress=progress)
    if gnss is not None and isinstance(reader, DlgReader):
        yield from reader.chunks(size, gnss=gnss)
    else:
        yield from reader.chunks(size)


def iter_messages(source: Source, *, progress: Progress | None = None
                  ) -> Iterator[can.Message]:
    """Frames of ``source`` as :class:`can.Message` objects, in order.

    ``source`` is a :class:`~dunelog.Dump`, a dunelog segment/directory/dump tree, or any
    log python-can reads.  Timestamps: see :mod:`dunelog.frames`.
    """
    if isinstance(source, Dump):
        for chunk in dump_chunks(source, progress):
            yield from chunk_to_messages(chunk)
    else:
        yield from open_reader(source, progress=progress).messages()

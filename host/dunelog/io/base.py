"""The reader and writer contracts of every log format, and the two suffix registries.

A format is one module of :mod:`dunelog.io` defining a :class:`FrameReader` and/or a
:class:`FrameWriter` subclass, decorated with :func:`register_reader` /
:func:`register_writer`; each class lists the file suffixes it owns (python-can's
``can.io`` does the same).  :func:`reader_for` and :func:`writer_for` load the format
modules (:data:`FORMAT_MODULES`) on first use and pick the class by suffix.

* a reader yields :class:`~dunelog.frames.FrameChunk` (:meth:`FrameReader.chunks`) or
  :class:`can.Message` (:meth:`FrameReader.messages`); the fallback reader (key
  :data:`ANY_SUFFIX`) is python-can's own :func:`can.LogReader`;
* a writer receives frames chunk by chunk and must keep memory flat: nothing is held beyond
  the current chunk except what the owning library buffers.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

if TYPE_CHECKING:      # python-can loads asammdf: only the format modules import it
    import can

from ..frames import (
    DEFAULT_MESSAGES_PER_CHUNK,
    FrameChunk,
    Frames,
    chunk_to_messages,
    merged,
    messages_to_chunks,
)

__all__ = ["FrameReader", "FrameWriter", "READERS", "WRITERS", "register_reader",
           "register_writer", "reader_for", "writer_for", "supported_suffixes",
           "is_dunelog_input", "SourceError", "ANY_SUFFIX", "FORMAT_MODULES", "Progress"]

#: ``progress(bytes_done, bytes_total)``, called while a dump is read
Progress = Callable[[int, int], None]

#: :data:`READERS` key of the reader used when no other claims a file
ANY_SUFFIX = "*"
#: the format modules of this package, imported by :func:`load_formats`
FORMAT_MODULES = ("dlg", "pycan", "mf4", "tables")
#: suffix -> the format module that registers it (a test keeps this true): a command
#: loads only the module it needs (python-can, behind ``pycan``, imports asammdf: ~1 s);
#: a suffix not here loads every module
SUFFIX_MODULES = {".dlg": "dlg", ".blf": "pycan", ".asc": "pycan", ".trc": "pycan",
                  ".log": "pycan", ANY_SUFFIX: "pycan", ".mf4": "mf4",
                  ".parquet": "tables", ".pq": "tables", ".csv": "tables"}

#: suffix (lower case, with dot) -> reader class
READERS: dict[str, type[FrameReader]] = {}
#: suffix (lower case, with dot) -> writer class
WRITERS: dict[str, type[FrameWriter]] = {}


class SourceError(ValueError):
    """An input that cannot be read as frames (the message names the file)."""


def register_reader(cls: type[FrameReader]) -> type[FrameReader]:
    """Class decorator: register a reader for each of its ``suffixes``."""
    for s in cls.suffixes:
        READERS[s.lower()] = cls
    return cls


def register_writer(cls: type[FrameWriter]) -> type[FrameWriter]:
    """Class decorator: register a writer for each of its ``suffixes``."""
    for s in cls.suffixes:
        WRITERS[s.lower()] = cls
    return cls


def load_formats(suffix: str | None = None) -> None:
    """Import the format module of ``suffix`` (each registers its classes), or every one
    (no suffix, or one no module claims)."""
    mod = SUFFIX_MODULES.get(suffix) if suffix is not None else None
    for m in (mod,) if mod else FORMAT_MODULES:
        importlib.import_module(f"{__package__}.{m}")


def is_dunelog_input(path: str | os.PathLike[str]) -> bool:
    """True for a directory or a ``.dlg`` segment file."""
    p = os.fspath(path)
    return os.path.isdir(p) or p.lower().endswith(".dlg")


def reader_for(path: str | os.PathLike[str]) -> type[FrameReader]:
    """The reader class of ``path``: a directory or ``.dlg`` is a dunelog dump; else the
    reader registered for the suffix if it accepts the file, else python-can's."""
    p = os.fspath(path)
    suffix = ".dlg" if os.path.isdir(p) else os.path.splitext(p)[1].lower()
    load_formats(suffix)
    cls = READERS.get(suffix)
    if cls is not None and cls.accepts(p):
        return cls
    load_formats(ANY_SUFFIX)
    return READERS[ANY_SUFFIX]


def writer_for(path: str | os.PathLike[str]) -> type[FrameWriter]:
    """The writer class for ``path``'s suffix, or :class:`ValueError` naming the file."""
    p = os.fspath(path)
    suffix = os.path.splitext(p)[1].lower()
    load_formats(suffix)
    try:
        return WRITERS[suffix]
    except KeyError:
        load_formats()
        known = " ".join(sorted(WRITERS))
        raise ValueError(f"{p}: unknown output format {suffix or '(no suffix)'!r}; "
                         f"known: {known}") from None


def supported_suffixes() -> list[str]:
    """Output suffixes a writer is registered for."""
    load_formats()
    return sorted(WRITERS)


#: :func:`supported_suffixes` without loading the format modules (for help texts; a test
#: keeps the two equal)
OUTPUT_SUFFIXES = (".asc", ".blf", ".csv", ".log", ".mf4", ".parquet", ".pq", ".trc")


class FrameReader:
    """Base of every format reader: ``Reader(path).chunks()`` or ``.messages()``.

    A subclass implements at least one of the two; the other is derived.  Errors reading
    the input are :class:`SourceError` naming the file, raised while iterating.
    """

    suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: str | os.PathLike[str], *, progress: Progress | None = None
                 ) -> None:
        self.path = os.fspath(path)
        self.progress = progress

    @classmethod
    def accepts(cls, path: str) -> bool:
        """Whether this reader reads ``path`` (for suffixes several formats use)."""
        return True

    def messages(self) -> Iterator[can.Message]:
        """The frames as :class:`can.Message`, in the log's order."""
        for chunk in self.chunks():
            yield from chunk_to_messages(chunk)

    def chunks(self, size: int = DEFAULT_MESSAGES_PER_CHUNK) -> Iterator[FrameChunk]:
        """The frames as :class:`~dunelog.frames.FrameChunk` of about ``size`` frames."""
        return messages_to_chunks(self.messages(), self.path, size)


class FrameWriter:
    """Base of every format writer.

    ``with Writer(path) as w: w.write(chunk)``; :meth:`write` returns the number of frames
    written from the chunk (formats that cannot hold a kind of frame skip it and count it
    in :attr:`skipped`).
    """

    suffixes: ClassVar[tuple[str, ...]] = ()
    #: human description for docs / --help
    description: ClassVar[str] = ""

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        self.path = os.fspath(path)
        self.options = options
        self.count = 0
        self.skipped = 0

    def write(self, chunk: FrameChunk) -> int:
        frames = merged(chunk)
        n = self.write_frames(frames) if len(frames) else 0
        self.count += n
        return n

    def write_frames(self, frames: Frames) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The writer contract shared by every export format, and the suffix registry.

A format is one module in :mod:`dunelog.export` defining a :class:`FrameWriter` subclass
decorated with :func:`register`; the subclass lists the file suffixes it owns.  A writer
receives frames chunk by chunk (:class:`~dunelog.sources.FrameChunk`) and must keep memory
flat: nothing is held beyond the current chunk except what the owning library buffers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from ..sources import FrameChunk

__all__ = ["FrameWriter", "Frames", "register", "WRITERS", "writer_for", "merged"]

#: suffix (lower case, with dot) -> writer class
WRITERS: dict[str, type["FrameWriter"]] = {}


def register(cls: type["FrameWriter"]) -> type["FrameWriter"]:
    """Class decorator: register ``cls`` for each of its ``suffixes``."""
    for s in cls.suffixes:
        WRITERS[s.lower()] = cls
    return cls


def writer_for(path: str | os.PathLike[str]) -> type["FrameWriter"]:
    """The writer class for ``path``'s suffix, or :class:`ValueError` naming the file."""
    from . import _load_all
    _load_all()
    p = os.fspath(path)
    suffix = os.path.splitext(p)[1].lower()
    try:
        return WRITERS[suffix]
    except KeyError:
        known = " ".join(sorted(WRITERS))
        raise ValueError(f"{p}: unknown output format {suffix or '(no suffix)'!r}; "
                         f"known: {known}") from None


@dataclass
class Frames:
    """One chunk's frames merged (classic and FD) in time order, as columns."""

    timestamp: np.ndarray   # float64 seconds
    channel: np.ndarray     # uint8
    id: np.ndarray          # uint32
    flags: np.ndarray       # uint8, dunelog CAN_* bits
    dlc: np.ndarray         # uint8 DLC code (0..15)
    data_len: np.ndarray    # uint8 bytes
    data: np.ndarray        # (n, 64) uint8, zero beyond data_len
    fd: np.ndarray          # bool

    def __len__(self) -> int:
        return len(self.id)


def merged(chunk: FrameChunk) -> Frames:
    """Merge a chunk's classic and FD arrays into time-ordered columns."""
    c, f = chunk.classic, chunk.fd
    n = len(c) + len(f)
    data = np.zeros((n, 64), np.uint8)
    data[:len(c), :8] = c["data"]
    data[len(c):] = f["data"]
    cols = {k: np.concatenate([c[k], f[k]]) for k in ("channel", "id", "flags", "dlc",
                                                     "data_len")}
    ts = np.concatenate([chunk.classic_time_s, chunk.fd_time_s])
    fd = np.concatenate([np.zeros(len(c), bool), np.ones(len(f), bool)])
    if len(c) and len(f):
        o = chunk.merge_order()
        ts, fd, data = ts[o], fd[o], data[o]
        cols = {k: v[o] for k, v in cols.items()}
    return Frames(ts, fd=fd, data=data, **cols)


class FrameWriter:
    """Base of every format writer.

    ``with Writer(path) as w: w.write(chunk)``; :meth:`write` returns the number of frames
    written from the chunk (formats that cannot hold a kind of frame skip it and count it
    in :attr:`skipped`).
    """

    suffixes: ClassVar[tuple[str, ...]] = ()
    #: human description for docs / --help
    description: ClassVar[str] = ""

    def __init__(self, path: str | os.PathLike[str], **options) -> None:
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

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


ProgressFn = Callable[[int, int], None]

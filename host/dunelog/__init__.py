"""dunelog host tools: read, check and decode dunelog CAN + GNSS logger dumps.

>>> import dunelog
>>> dump = dunelog.open("/media/sd/dunelog")      # a file, a directory or a dump tree
>>> for rec in dump.records(): ...                 # typed records, in order
>>> for chunk in dump.can_chunks(): chunk.classic  # NumPy structured arrays
>>> dump.problems                                  # integrity problems of the last pass
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .card.dump import CanChunk, Dump, Segment
from .card.problems import Problem
from .card.records import (
    AnyRecord,
    CanFrame,
    Event,
    GnssFix,
    Overflow,
    SessionStart,
    Status,
    TimeSync,
    UnknownRecord,
)
from .card.timebase import TimeBase

try:
    #: the installed distribution's version (pyproject.toml ``[project] version``)
    __version__ = version("dunelog")
except PackageNotFoundError:  # pragma: no cover - a source tree on sys.path, not installed
    __version__ = "0+unknown"

__all__ = [
    "open", "Dump", "Segment", "CanChunk", "Problem", "TimeBase", "AnyRecord", "CanFrame",
    "GnssFix", "TimeSync", "Event", "Status", "Overflow", "SessionStart", "UnknownRecord",
    "__version__",
]


def open(path: str | os.PathLike[str], **kwargs: Any) -> Dump:  # noqa: A001 - public API name
    """Open a dump: one segment file, a directory, or a whole SD-dump tree.

    Keyword arguments go to :class:`~dunelog.card.dump.Dump` (``logger_id``, ``chunk_size``,
    ``progress``).  Raises :class:`FileNotFoundError` if ``path`` does not exist.
    """
    return Dump(path, **kwargs)

"""dunelog host tools: read, check and decode dunelog CAN + GNSS logger dumps.

>>> import dunelog
>>> dump = dunelog.open("/media/sd/dunelog")      # a file, a directory or a dump tree
>>> for rec in dump.records(): ...                 # typed records, in order
>>> for chunk in dump.can_chunks(): chunk.classic  # NumPy structured arrays
>>> dump.problems                                  # integrity problems of the last pass
>>> res = dump.decode("dbc/recce.dbc")             # also dunelog.open("day2.blf").decode(...)
>>> res["EngineData"]                              # pandas, UTC index, df.attrs["units"]

This module is the public facade, the top layer (docs/ARCHITECTURE.md): it imports
``card`` at import time and the higher layers only inside the functions that need them,
and no module of the package imports it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._version import __version__
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

if TYPE_CHECKING:
    from .fleet.query import Dataset

__all__ = [
    "open", "dataset", "Dump", "Segment", "CanChunk", "Problem", "TimeBase", "AnyRecord",
    "CanFrame", "GnssFix", "TimeSync", "Event", "Status", "Overflow", "SessionStart",
    "UnknownRecord", "__version__",
]


def open(path: str | os.PathLike[str], **kwargs: Any) -> Any:  # noqa: A001 - public API name
    """Open a dump or a log: what ``dunelog`` commands take as INPUT.

    * a dunelog dump (one segment file, a directory, or a whole SD-dump tree): a
      :class:`~dunelog.io.log.DumpLog`, which is a :class:`Dump` (keyword arguments go to
      it: ``logger_id``, ``chunk_size``, ``progress``);
    * any other log :mod:`dunelog.io` reads (``.blf .asc .trc .log .mf4``, a raw-frame
      ``.parquet``/``.csv`` table): a :class:`~dunelog.io.log.ForeignLog`
      (``can_chunks()``, ``messages()``).

    Both have ``.decode(dbc, ...)``, DBC signals per message as pandas / Polars / pyarrow
    (:class:`~dunelog.decode.result.Decoded`; docs/API.md).  Raises
    :class:`FileNotFoundError` if ``path`` does not exist.
    """
    from .io.log import open_log
    return open_log(path, **kwargs)


def dataset(path: str | os.PathLike[str]) -> Dataset:
    """Open a dunelog Parquet dataset (see docs/FLEET.md) for DuckDB queries."""
    from .fleet.query import Dataset
    return Dataset(path)

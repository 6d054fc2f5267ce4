"""What :func:`dunelog.open` returns: a dunelog dump (:class:`DumpLog`, a
:class:`~dunelog.card.dump.Dump`) or a log another tool wrote (:class:`ForeignLog`), both
with :meth:`~Decodes.decode`: DBC signals per message as pandas, Polars or pyarrow
(:class:`~dunelog.decode.result.Decoded`; docs/API.md).

A foreign log is read through :func:`~dunelog.io.read.iter_frame_chunks`, so it is anything
:mod:`dunelog.io` reads: ``.blf .asc .trc .log .mf4`` and dunelog's raw-frame ``.parquet``
/ ``.csv`` tables (what ``dunelog convert`` and ``dunelog decode`` read too).

>>> log = open_log("day2.blf")               # or a segment, a directory, a dump tree
>>> res = log.decode("dbc/recce.dbc", messages=["EngineData"], start="2025-11-28T08:00Z")
>>> res["EngineData"]                         # pandas, UTC DatetimeIndex
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

import can
import numpy as np

from ..card.blocks import read_segment_header
from ..card.dump import Dump
from ..card.problems import Problem
from ..decode.compiled import load_database
from ..decode.decoder import Decoder, selection
from ..decode.result import Decoded, decode_frames
from ..decode.window import TimeBound, parse_time
from ..frames import DEFAULT_MESSAGES_PER_CHUNK, FrameChunk
from .base import Progress, is_dunelog_input
from .read import iter_frame_chunks, iter_messages
from .replay import parse_ids

__all__ = ["open_log", "Decodes", "DumpLog", "ForeignLog"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


class Decodes:
    """The :meth:`decode` of :class:`DumpLog` and :class:`ForeignLog`."""

    path: str

    def _frames(self, logger: int | None, vehicle: str | None
                ) -> Dump | Iterable[FrameChunk]:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, dbc: Any, *, messages: str | Iterable[str] | None = None,
               ids: Any = None, signals: str | Iterable[str] | None = None,
               start: Any = None, end: Any = None, logger: int | None = None,
               vehicle: str | None = None) -> Decoded:
        """Decode the CAN frames with one or more databases, into memory.

        :param dbc: a database file (DBC, ARXML, KCD, SYM), a cantools ``Database``, a
            ``(database, channel)`` pair binding it to one channel, or a list of these
            (the first database defining an id wins, as ``--dbc`` given twice).
        :param messages: only these messages, by name (a name or a list; comma lists ok).
        :param ids: only messages with these CAN frame ids: ints, ``range`` objects, or
            text as ``--ids`` (``"0x100,0x200-0x2FF"``; inclusive ranges).  With
            ``messages``, a message chosen by either is decoded.
        :param signals: only these signals (a name or a list; comma lists ok).
        :param start: window start, included: seconds since boot (a number or ``"12.5"``),
            or a UTC time (an ISO 8601 string, a :class:`~datetime.datetime`, naive ones
            taken as UTC, or a ``pandas.Timestamp``).  A UTC window needs a time sync.
        :param end: window end, excluded; as ``start``.
        :param logger: only the boots of this logger id (a dump tree or an archive).
        :param vehicle: only the boots of this vehicle (the session-start name, or as in
            an ingest archive's directory: ``T1-204`` selects ``T1 #204``).
        :returns: :class:`~dunelog.decode.result.Decoded`: ``res.messages``,
            ``res["EngineData"]`` (pandas), ``res.to_polars(name)``, ``res.to_arrow(name)``,
            ``res.units(name)``, ``res.report``.
        :raises ValueError: an unknown message or signal name, nothing selected, a logger
            or vehicle the dump does not hold, a time that cannot be read.
        :raises FileNotFoundError: a database file that does not exist.
        """
        dbs, names = _databases(dbc)
        sel = _selection(dbs, ids, messages)
        sigs = _names(signals)
        if sigs:
            known = {s.name for db, _ in dbs for m in db.messages for s in m.signals}
            unknown = [s for s in sigs if s not in known]
            if unknown:
                raise ValueError(f"no signal {', '.join(map(repr, unknown))} in "
                                 f"{', '.join(names)}")
        decoder = Decoder(dbs, ids=sel, signals=sigs)
        if not decoder.messages:
            raise ValueError("no message of the database(s) matches ids/messages/signals")
        return decode_frames(self._frames(logger, vehicle), decoder, start=time_bound(start),
                             end=time_bound(end), source_name=self.path, dbc_names=names)


class DumpLog(Decodes, Dump):
    """A dunelog dump (a segment file, a directory, a dump tree) as :func:`dunelog.open`
    returns it: a :class:`~dunelog.card.dump.Dump` with :meth:`~Decodes.decode`."""

    def subset(self, boots: Any) -> Dump:
        # select() and groups() build on subset(): their dumps decode too
        sub = super().subset(boots)
        sub.__class__ = type(self)
        return sub

    def _frames(self, logger: int | None, vehicle: str | None) -> Dump:
        if logger is None and vehicle is None:
            return self
        sub = self.select(logger_id=logger, vehicle=vehicle)
        if not sub.segments:
            what = " and ".join(x for x in (
                None if logger is None else f"logger {logger}",
                None if vehicle is None else f"vehicle {vehicle!r}") if x)
            found = ", ".join(f"{lg} ({', '.join(v or '?' for v in vs)})"
                              for lg, vs in sorted(self.vehicles().items()))
            raise ValueError(f"no {what} in {self.path} (loggers found: {found or 'none'})")
        return sub


class ForeignLog(Decodes):
    """A CAN log another tool wrote (BLF, ASC, TRC, candump ``.log``, MF4, a raw-frame
    Parquet/CSV table), read through :mod:`dunelog.io`.  Its timestamps are the log's:
    UTC when they are epoch times (after 2001); it has no logger id, vehicle or boots
    (``boot`` is 0)."""

    def __init__(self, path: str | os.PathLike[str], *,
                 chunk_frames: int = DEFAULT_MESSAGES_PER_CHUNK,
                 progress: Progress | None = None) -> None:
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such file or directory: {self.path}")
        self.chunk_frames = chunk_frames
        #: passed to the reader, as for a dump (the python-can readers do not call it)
        self.progress = progress

    def __repr__(self) -> str:
        return f"ForeignLog({self.path!r})"

    @property
    def problems(self) -> list[Problem]:
        """Always empty: a reader's errors are raised (:class:`~.base.SourceError`)."""
        return []

    def can_chunks(self) -> Iterator[FrameChunk]:
        """The frames as :class:`~dunelog.frames.FrameChunk` (NumPy structured arrays
        ``classic`` / ``fd``, as :meth:`Dump.can_chunks <dunelog.card.dump.Dump.can_chunks>`
        gives, with ``time_us`` the log's timestamp in microseconds)."""
        return iter_frame_chunks(self.path, size=self.chunk_frames,
                                 progress=self.progress)

    def messages(self) -> Iterator[can.Message]:
        """The frames as :class:`can.Message`, in the log's order."""
        return iter_messages(self.path)

    def _frames(self, logger: int | None, vehicle: str | None) -> Iterable[FrameChunk]:
        if logger is not None or vehicle is not None:
            raise ValueError(f"{self.path} is not a dunelog dump: it has no logger ids or "
                             "vehicle names to select")
        return self.can_chunks()


def open_log(path: str | os.PathLike[str], **kwargs: Any) -> DumpLog | ForeignLog:
    """A dunelog dump (a directory, a ``.dlg`` file, or any file starting with a segment
    header) as :class:`DumpLog`, keyword arguments as :class:`~dunelog.card.dump.Dump`;
    any other file as :class:`ForeignLog`.  :class:`FileNotFoundError` if ``path`` does
    not exist."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"no such file or directory: {p}")
    if is_dunelog_input(p) or read_segment_header(p)[0] is not None:
        return DumpLog(p, **kwargs)
    return ForeignLog(p, **kwargs)


def time_bound(t: Any) -> TimeBound | None:
    """A window bound of :meth:`Decodes.decode`: None; seconds since boot (a number);
    text as ``--start`` (:func:`~dunelog.decode.window.parse_time`); a UTC time (a
    :class:`~datetime.datetime`, naive taken as UTC, or a :class:`numpy.datetime64`)."""
    if t is None:
        return None
    if isinstance(t, str):
        return parse_time(t)
    if isinstance(t, datetime):      # pandas.Timestamp too
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return ("utc", (t - _EPOCH) // _US)
    if isinstance(t, np.datetime64):
        return ("utc", int(t.astype("datetime64[us]").astype(np.int64)))
    if isinstance(t, (int, float, np.integer, np.floating)) and not isinstance(t, bool):
        return ("boot", int(round(float(t) * 1e6)))
    raise ValueError(f"not a time: {t!r} (seconds since boot, ISO 8601 text or a datetime)")


# ---------------------------------------------------------------------------- arguments
def _is_binding(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) == 2 and not isinstance(x[0], int) \
        and (x[1] is None or isinstance(x[1], int))


def _databases(dbc: Any) -> tuple[list[tuple[Any, int | None]], list[str]]:
    """``[(cantools database, channel or None)]`` and their names (paths as given)."""
    one = isinstance(dbc, (str, os.PathLike)) or hasattr(dbc, "messages") or _is_binding(dbc)
    out, names = [], []
    for item in [dbc] if one else list(dbc):
        db, ch = item if _is_binding(item) else (item, None)
        if isinstance(db, (str, os.PathLike)):
            p = os.fspath(db)
            if not os.path.exists(p):
                raise FileNotFoundError(f"no such database file: {p}")
            names.append(p)
            db = load_database(p)
        else:
            names.append(f"<{type(db).__name__} of {len(db.messages)} messages>")
        out.append((db, ch))
    if not out:
        raise ValueError("no database given")
    return out, names


def _names(x: str | Iterable[str] | None) -> list[str] | None:
    """Names from a name, a comma list or a list of either (None: no selection)."""
    if x is None:
        return None
    items = [x] if isinstance(x, str) else list(x)
    return [y.strip() for it in items for y in it.split(",") if y.strip()] or None


def _selection(dbs: list[tuple[Any, int | None]], ids: Any,
               messages: str | Iterable[str] | None) -> list[int | str] | None:
    """The ``ids`` of :class:`~dunelog.decode.Decoder` (as ``dunelog decode`` builds it):
    the databases' frame ids in the ``ids`` ranges, plus the ``messages`` names."""
    names = _names(messages) or []
    known = {m.name for db, _ in dbs for m in db.messages}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"no message {', '.join(map(repr, unknown))} in the database(s)")
    ranges: list[range] = []
    for x in [] if ids is None else [ids] if isinstance(ids, (int, str, range)) else ids:
        if isinstance(x, range):
            ranges.append(x)
        elif isinstance(x, str):
            try:
                ranges.extend(parse_ids(x))
            except ValueError:
                raise ValueError(f"ids: {x!r} is not a CAN id or an id range (message names "
                                 "go to messages=)") from None
        else:
            ranges.append(range(int(x), int(x) + 1))
    return selection(dbs, ranges, names)

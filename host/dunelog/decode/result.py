"""Decoded signals in memory, one table per message, for notebooks (docs/API.md).

:func:`decode_frames` runs a :class:`~.decoder.Decoder` over a dump, or over the chunks of
a log another tool wrote, the way ``dunelog decode -o x.parquet`` does (the same time base,
time window and ``logger_id``/``vehicle`` columns, rows in the same order), but keeps the
wide tables in memory: :class:`Decoded` hands them out as pyarrow, pandas or Polars.

>>> res = decode_frames(dump, Decoder(["dbc/recce.dbc"]))
>>> res.messages                      # ['EngineData', 'WheelSpeeds', ...]
>>> df = res["EngineData"]            # pandas, UTC DatetimeIndex, df.attrs["units"]
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from typing import Any, Iterable, Iterator

from .._version import __version__
from ..card.dump import Dump
from ..card.problems import Problem
from ..frames import FrameChunk
from .decoder import Decoder, DecodeReport
from .sink import WIDE_IDENTITY_AT, _identity_metadata, with_identity, with_timebase
from .window import TimeBound, window

__all__ = ["Decoded", "decode_frames", "META_COLUMNS"]

#: the columns after the signals in :meth:`Decoded.to_pandas` / :meth:`Decoded.to_polars`
META_COLUMNS = ("logger_id", "vehicle", "boot", "channel", "frame_id")
#: the columns :meth:`DecodedMessage.to_arrow` puts before the signals (with the identity)
_ARROW_META = ("time_us", "boot", "utc", "channel", "frame_id", "logger_id", "vehicle")


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError("decoding to tables needs pyarrow: pip install pyarrow") from None
    return pyarrow


class Decoded:
    """The decoded signals of a dump or log: one wide table per DBC message.

    ``res.messages`` names the messages that had frames; ``res[name]`` (or
    :meth:`to_pandas`) is that message's pandas DataFrame, :meth:`to_polars` its Polars
    DataFrame, :meth:`to_arrow` its pyarrow Table.  :attr:`report` counts what could not be
    decoded (:class:`~.decoder.DecodeReport`), :attr:`problems` the dump's integrity
    problems seen while reading it.

    :attr:`time` is ``"utc"`` when the source has a time base (a dump with a time sync, a
    log with epoch timestamps): the frames are indexed by UTC time; else ``"boot"``: by
    seconds since the logger booted (for a foreign log, the log's own seconds).
    """

    def __init__(self, tables: dict[str, Any], units: dict[str, dict[str, str]], *,
                 time: str, report: DecodeReport, problems: list[Problem],
                 provenance: dict[str, Any]) -> None:
        self._tables = tables
        self._units = units
        #: ``"utc"`` or ``"boot"``: what the index of :meth:`to_pandas` is
        self.time = time
        #: what could not be decoded, counted
        self.report = report
        #: integrity problems of the dump found while reading it (none for a foreign log)
        self.problems = problems
        #: ``source``, ``dbc``, ``time``, ``loggers``, ``version``: copied into every frame
        self.provenance = provenance

    # ------------------------------------------------------------------ the messages
    @property
    def messages(self) -> list[str]:
        """The messages that had at least one decoded frame, in database order."""
        return list(self._tables)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def __getitem__(self, name: str) -> Any:
        """``res["EngineData"]``: :meth:`to_pandas` of that message."""
        return self.to_pandas(name)

    def __repr__(self) -> str:
        rows = ", ".join(f"{m}: {t.num_rows}" for m, t in self._tables.items())
        return (f"Decoded({self.provenance.get('source')!r}, time={self.time!r}, "
                f"{{{rows}}})")

    def signals(self, name: str) -> list[str]:
        """The signal columns of message ``name`` (a name clashing with a metadata column
        has a trailing ``_``, as in the Parquet output)."""
        return list(self.units(name))

    def units(self, name: str) -> dict[str, str]:
        """``{signal column: DBC unit}`` of message ``name`` (``""`` without a unit)."""
        self._table(name)
        return dict(self._units[name])

    def _table(self, name: str) -> Any:
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(f"no decoded frames of message {name!r}; decoded: "
                           f"{', '.join(self._tables) or 'none'}") from None

    # ------------------------------------------------------------------ the tables
    def to_arrow(self, name: str) -> Any:
        """Message ``name`` as a :class:`pyarrow.Table`, column for column what
        ``dunelog decode -o x.parquet`` writes to ``x.parquet/<name>.parquet``
        (``time_us``, ``boot``, ``utc``, ``channel``, ``frame_id``, ``logger_id``,
        ``vehicle``, then the signals and their ``_label`` columns).  Every signal field
        carries the field metadata ``unit``; the schema metadata ``dunelog.loggers`` (as
        the Parquet files), ``dunelog.message``, ``dunelog.source``, ``dunelog.dbc``."""
        return self._table(name)

    def to_pandas(self, name: str) -> Any:
        """Message ``name`` as a :class:`pandas.DataFrame`, one row per frame.

        Index: ``utc``, a :class:`pandas.DatetimeIndex` of dtype ``datetime64[us, UTC]``
        (NaT for the frames of a boot without a time sync) when :attr:`time` is ``"utc"``;
        else ``time_s``, float seconds since boot (a dump without any time sync; the
        ``boot`` column tells the boots apart).  Columns: the signals (a ``<signal>_label``
        categorical next to each signal with a value table; a multiplexed signal is NaN
        where its multiplexer does not select it), then ``logger_id``, ``vehicle``
        (categorical), ``boot``, ``channel``, ``frame_id``.

        Rows are in the dump's order: per logger, boot, then time.  With several loggers
        or boots, ``df.sort_index()`` before slicing by time.

        ``df.attrs["units"]`` is ``{signal: unit}``; pandas copies a frame's ``attrs`` to
        the Series taken from it, so ``df[sig].attrs["units"][sig]`` is that column's
        unit.  ``df.attrs["dunelog"]``: message, frame id, source path, databases,
        time kind, loggers and vehicles, dunelog version.
        """
        tab = self._table(name)
        if importlib.util.find_spec("pandas") is None:    # pyarrow's to_pandas needs it
            raise ImportError("to_pandas needs pandas: pip install pandas")
        df = tab.select(self._order(name)).to_pandas()
        if self.time == "utc":
            df.index = df.pop("utc")
        else:
            df.index = df.pop("time_us") / 1e6
            df.index.name = "time_s"
        df.attrs["units"] = dict(self._units[name])
        df.attrs["dunelog"] = self._provenance(name)
        return df

    def to_polars(self, name: str) -> Any:
        """Message ``name`` as a :class:`polars.DataFrame`: the columns of
        :meth:`to_pandas` with its index as the first column (``utc``, a ``Datetime("us",
        "UTC")``, or ``time_s``); value-table labels and ``vehicle`` are Categorical.

        Polars frames carry no column metadata (``pl.from_arrow`` drops the Arrow field
        metadata), so the units are :meth:`units` (``res.units(name)``), and
        :meth:`to_arrow` has them as field metadata."""
        try:
            import polars as pl
        except ImportError:
            raise ImportError("to_polars needs polars: pip install polars") from None
        tab = self._table(name).select(self._order(name))      # utc / time_us first
        if self.time != "utc":
            pa = _pyarrow()
            import pyarrow.compute as pc
            secs = pc.divide(tab.column("time_us").cast(pa.float64()), 1e6)
            tab = tab.drop_columns(["time_us"]).add_column(0, "time_s", secs)
        return pl.from_arrow(tab.replace_schema_metadata(None))

    def _order(self, name: str) -> list[str]:
        """The columns of the pandas/Polars frames: the time column, the signals (each
        followed by its label), then :data:`META_COLUMNS`."""
        cols = self._tables[name].column_names
        head = ["utc"] if self.time == "utc" else ["time_us"]
        return head + [c for c in cols if c not in _ARROW_META] + list(META_COLUMNS)

    def _provenance(self, name: str) -> dict[str, Any]:
        tab = self._tables[name]
        fid = (tab.schema.metadata or {}).get(b"dunelog.frame_id")
        return {"message": name, "frame_id": None if fid is None else int(fid),
                **copy.deepcopy(self.provenance)}


def decode_frames(source: Dump | Iterable[FrameChunk], decoder: Decoder, *,
                  start: TimeBound | None = None, end: TimeBound | None = None,
                  source_name: str | None = None,
                  dbc_names: list[str] | None = None) -> Decoded:
    """Decode ``source`` with ``decoder`` into a :class:`Decoded` (in memory).

    ``source`` is a :class:`~dunelog.card.dump.Dump` (two passes: the time base, then
    the frames, as ``dunelog decode``) or the :class:`~dunelog.frames.FrameChunk` of a
    log another tool wrote (its timestamps are UTC when they are epoch times, see
    :func:`~.sink.with_timebase`; ``logger_id`` and ``vehicle`` are null).  ``start``
    / ``end`` are a window as :func:`~.window.parse_time` gives.  ``source_name`` and
    ``dbc_names`` go into the provenance of every table."""
    pa = _pyarrow()
    idents: dict[tuple[int, int], Any] = {}
    it: Iterator[tuple[Any, Any, int | None]]
    if isinstance(source, Dump):
        stats = source.scan(can_ids=False)
        idents = source.identities()
        time = "utc" if any(tb.boots() for tb in stats.timebases.values()) else "boot"
        it = ((c, stats.timebases.get(c.logger_id), c.logger_id)
              for c in source.can_chunks())
        name = source_name or source.path
    else:
        pairs = with_timebase(source)
        first = next(pairs, None)
        time = "utc" if first is not None and first[1] is not None else "boot"
        it = ((c, tb, None) for c, tb in _chain(first, pairs))
        name = source_name or ""
    parts: dict[str, list[Any]] = {}
    units: dict[str, dict[str, str]] = {}
    frame_ids: dict[str, int] = {}
    for chunk, tb, logger in it:
        for arr in (chunk.classic, chunk.fd):
            if not arr.size:
                continue
            for dm in decoder.decode(window(arr, start, end, tb), tb):
                m = dm.message.name
                if m not in units:
                    units[m] = {s.column: s.unit for s in dm.out_signals()}
                    frame_ids[m] = dm.message.frame_id
                parts.setdefault(m, []).append(with_identity(
                    dm.to_arrow(), logger, dm.boot, idents, at=WIDE_IDENTITY_AT))
    meta = _identity_metadata(idents) or {}
    provenance = {"source": name, "dbc": list(dbc_names or []), "time": time,
                  "loggers": json.loads(meta.get(b"dunelog.loggers", b"{}")),
                  "version": __version__}
    tables: dict[str, Any] = {}
    order = {m.name: i for i, m in reversed(list(enumerate(decoder.messages)))}
    for m in sorted(parts, key=lambda n: order.get(n, len(order))):
        u = units[m]
        tab = pa.concat_tables(parts.pop(m), promote_options="permissive")
        schema = pa.schema(
            [f.with_metadata({"unit": u[f.name]}) if f.name in u else f
             for f in tab.schema],
            metadata={**meta, b"dunelog.message": m.encode(),
                      b"dunelog.frame_id": str(frame_ids[m]).encode(),
                      b"dunelog.source": os.fsencode(name),
                      b"dunelog.dbc": json.dumps(provenance["dbc"]).encode()})
        tables[m] = tab.cast(schema)
    units = {m: units[m] for m in tables}
    problems = source.problems if isinstance(source, Dump) else []
    return Decoded(tables, units, time=time, report=decoder.report, problems=problems,
                   provenance=provenance)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
    yield from rest

"""Decoded signals into an ASAM MDF 4 file (``dunelog decode -o x.mf4``), with asammdf.

:class:`Mf4SignalSink` takes the :class:`~.decoder.DecodedMessage` objects the decoder
yields, chunk after chunk, and writes them as asammdf opens and plots them:

* **One channel group per message** (acquisition name = the message name, a CAN-bus
  acquisition source whose path is ``0x<id>``), **one channel per signal**, named as in the
  DBC (not renamed like the Parquet ``<Signal>_`` columns), ``unit`` from the DBC.
* **Values are the physical values**, the same numbers and NumPy dtype (int32, int64,
  uint64 or float64) as the Parquet columns: scaling is already applied, so no linear conversion is
  stored.
* **Value tables** (``VAL_``) become value-to-text conversions (MDF ``TABX``): key
  ``raw * scale + offset`` -> the DBC's text, and for a value without an entry the default
  is the identity, so the number is shown.  ``mdf.get(name)`` therefore gives the texts;
  ``mdf.get(name, raw=True)`` gives the numbers (equal to the Parquet column).
* **Multiplexed signals:** one extra group per multiplexer branch, i.e. per
  (multiplexer signal, its ids) the signals depend on, named
  ``<Message> [<Multiplexer>=<ids>]``; it holds only the frames in which that branch is
  selected (so no sample is invalid or made up).  Extended multiplexing works the same way,
  a branch's rows being those where its multiplexer is itself present.  The multiplexer
  signals and the non-multiplexed signals are in the message's main group.
* **Time:** the master channel is float64 seconds relative to the header's ``start_time``,
  which is the first decoded frame's time: UTC when the frame's boot has a time sync, else
  seconds since boot (as the raw-frame writer :mod:`dunelog.io.mf4` does; a frame without
  UTC in a dump where others have it keeps its seconds since boot).  Relative times are
  computed in integer microseconds, so ``start_time + t`` gives back the Parquet ``utc``
  (or ``time_us``) to the microsecond.
* The CAN channel and the received frame id (the Parquet ``channel``/``frame_id``
  columns) are not channels: the MF4 holds signals only.

Streaming: a group is created (``MDF.append``) when its message first appears, later chunks
are appended with ``MDF.extend``; asammdf writes the samples to its temporary file at once,
so memory holds one chunk's columns plus a small record per extend call; ``close`` saves
the file (copying the temporary data, compressed) and removes the temporary file.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Literal

import numpy as np

from .compiled import CompiledMessage, CompiledSignal
from .decoder import DecodedMessage

__all__ = ["Mf4SignalSink", "write_decoded_mf4", "choice_conversion", "branch_key"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

def branch_key(s: CompiledSignal) -> tuple[str, tuple[int, ...]] | None:
    """The group of signal ``s`` within its message: None for the main group (signals not
    multiplexed, multiplexers), else ``(multiplexer, ids)``.  Signals with the same key
    are present in exactly the same frames."""
    if s.mux_signal is None:
        return None
    return (s.mux_signal, tuple(s.mux_ids or ()))


def _ids_text(ids: tuple[int, ...]) -> str:
    return ",".join(str(i) for i in ids)


def choice_conversion(s: CompiledSignal) -> dict[str, Any] | None:
    """asammdf value-to-text conversion (``TABX``) of signal ``s``'s value table, keyed by
    physical value; None if ``s`` has no value table."""
    if not s.choices:
        return None
    conv: dict[str, Any] = {}
    for i, (k, text) in enumerate(sorted(s.choices.items())):
        conv[f"val_{i}"] = float(k * s.scale + s.offset)
        conv[f"text_{i}"] = text
    conv["default_addr"] = {"a": 1.0, "b": 0.0}        # no entry: the number itself
    return conv


class _Group:
    __slots__ = ("index", "signals", "key")

    def __init__(self, index: int, signals: list[CompiledSignal],
                 key: tuple[str, tuple[int, ...]] | None) -> None:
        self.index, self.signals, self.key = index, signals, key


class Mf4SignalSink:
    """Decoded messages -> one MDF 4.10 file; :meth:`write` per decoded message (any
    number of chunks), then :meth:`close` (which saves).  ``rows`` counts decoded frames
    written (as the wide Parquet output's rows), ``files`` is ``[path]`` once saved (a
    valid MDF with no group when nothing was decoded)."""

    def __init__(self, path: str | os.PathLike[str], *,
                 compression: Literal[0, 1, 2, 3, 4, 5] = 2) -> None:
        from asammdf import MDF
        self.path = os.fspath(path)
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        self._mdf = MDF(version="4.10")
        self._compression = compression
        self._start_us: int | None = None
        # (id of the CompiledMessage, signal names selected) -> its groups, main first
        self._groups: dict[tuple[int, tuple[str, ...]], list[_Group]] = {}
        self._keep: list[CompiledMessage] = []        # keeps the ids above alive
        self.rows = 0
        self.files: list[str] = []
        #: key/value metadata (as the Parquet schema metadata, e.g. ``dunelog.loggers``),
        #: written into the file header's comment on :meth:`close`
        self.metadata: dict[bytes, bytes] | None = None
        self._closed = False

    # -- writing -------------------------------------------------------------------
    def write(self, dm: DecodedMessage) -> None:
        """Append the frames of one decoded message (one message of one chunk)."""
        n = len(dm)
        if n == 0:
            return
        ts_us = dm.time_us.astype(np.int64, copy=False)
        if dm.utc_us is not None:
            ts_us = np.where(dm.utc_us >= 0, dm.utc_us, ts_us)
        if self._start_us is None:
            self._start_us = int(ts_us[0])
            self._mdf.header.start_time = _EPOCH + timedelta(microseconds=self._start_us)
        t = (ts_us - self._start_us).astype(np.float64) / 1e6
        sigs = dm.out_signals()
        gkey = (id(dm.message), tuple(s.name for s in sigs))
        groups = self._groups.get(gkey)
        vals = dm.columns.values
        pres = dm.columns.present
        if groups is None:
            groups = self._groups[gkey] = []
            self._keep.append(dm.message)
            for key, members in _branches(sigs):
                mask = None if key is None else pres.get(members[0].name)
                idx = None if mask is None else np.flatnonzero(mask)
                index = self._append(dm.message, key, members, t, vals, idx)
                groups.append(_Group(index, members, key))
        else:
            for g in groups:
                mask = None if g.key is None else pres.get(g.signals[0].name)
                idx = None if mask is None else np.flatnonzero(mask)
                tt = t if idx is None else t[idx]
                cols: list[tuple[np.ndarray, None]] = [(np.ascontiguousarray(tt), None)]
                for s in g.signals:
                    v = vals[s.name]
                    cols.append((np.ascontiguousarray(v if idx is None else v[idx]), None))
                if tt.shape[0]:
                    self._mdf.extend(g.index, cols)
        self.rows += n

    def _append(self, msg: CompiledMessage, key: tuple[str, tuple[int, ...]] | None,
                members: list[CompiledSignal], t: np.ndarray, vals: dict[str, np.ndarray],
                idx: np.ndarray | None) -> int:
        from asammdf import Signal
        from asammdf.blocks.source_utils import Source
        tt = np.ascontiguousarray(t if idx is None else t[idx])
        name = msg.name if key is None else f"{msg.name} [{key[0]}={_ids_text(key[1])}]"
        ext = " (extended)" if msg.extended else ""
        src = Source(name=name, path=f"0x{msg.frame_id:X}",
                     comment=f"CAN message {msg.name} 0x{msg.frame_id:X}{ext}, decoded by "
                             "dunelog", source_type=Source.SOURCE_BUS,
                     bus_type=Source.BUS_TYPE_CAN)
        signals = []
        for s in members:
            v = vals[s.name]
            v = np.ascontiguousarray(v if idx is None else v[idx])
            signals.append(Signal(samples=v, timestamps=tt, name=s.name, unit=s.unit,
                                  conversion=choice_conversion(s),
                                  comment=f"{msg.name}.{s.name}"))
        comment = f"CAN message {msg.name} 0x{msg.frame_id:X}{ext}"
        if key is not None:
            comment += f", multiplexer {key[0]} in {{{_ids_text(key[1])}}}"
        return int(self._mdf.append(signals, acq_name=name, acq_source=src, comment=comment,
                                    common_timebase=True))

    def write_all(self, decoded: Iterable[DecodedMessage]) -> None:
        for dm in decoded:
            self.write(dm)

    # -- closing -------------------------------------------------------------------
    def close(self) -> None:
        """Save the file (even with no group: an empty MDF) and release asammdf's
        temporary file."""
        if self._closed:
            return
        self._closed = True
        lines = ["dunelog decoded CAN signals"]
        for k, v in (self.metadata or {}).items():
            lines.append(f"{k.decode('utf-8', 'replace')}: {v.decode('utf-8', 'replace')}")
        self._mdf.header.comment = "\n".join(lines)
        try:
            self._mdf.save(self.path, overwrite=True, compression=self._compression)
            self.files.append(self.path)
        finally:
            self._mdf.close()

    def __enter__(self) -> "Mf4SignalSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _branches(sigs: list[CompiledSignal]
              ) -> list[tuple[tuple[str, tuple[int, ...]] | None, list[CompiledSignal]]]:
    """Signals grouped by :func:`branch_key`, main group first, then branches in DBC
    order."""
    out: dict[Any, list[CompiledSignal]] = {None: []}
    for s in sigs:
        out.setdefault(branch_key(s), []).append(s)
    return [(k, v) for k, v in out.items() if v]


def write_decoded_mf4(path: str | os.PathLike[str], decoded: Iterable[DecodedMessage], *,
                      compression: Literal[0, 1, 2, 3, 4, 5] = 2) -> Mf4SignalSink:
    """Write decoded messages (e.g. ``m for arr in ... for m in decoder.decode(arr, tb)``)
    to ``path``; returns the closed sink (``rows``, ``files``)."""
    sink = Mf4SignalSink(path, compression=compression)
    try:
        sink.write_all(decoded)
    finally:
        sink.close()
    return sink

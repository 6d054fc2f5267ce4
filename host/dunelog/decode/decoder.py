"""Decode CAN frame arrays (dunelog CAN_DTYPE / CANFD_DTYPE) with one or more databases."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Collection, Iterable, Sequence

import numpy as np

from .arrow import from_numpy, strings
from .compiled import CompiledMessage, compile_database, j1939_pgn, load_compiled
from .vector import MessageColumns, decode_columns

__all__ = ["Decoder", "DecodedMessage", "DecodeReport", "selection"]

_EXT, _RTR, _ERR = 1, 2, 4


@dataclass
class DecodeReport:
    """What could not be decoded, counted (cumulative over :meth:`Decoder.decode` calls)."""

    frames: int = 0
    decoded: int = 0
    unknown_ids: Counter = field(default_factory=Counter)      # (channel, ext, id) -> n
    short: Counter = field(default_factory=Counter)            # (message, id, len) -> n, dropped
    long: Counter = field(default_factory=Counter)             # (message, id, len) -> n, decoded
    unknown_mux: Counter = field(default_factory=Counter)      # message -> n
    unsupported: Counter = field(default_factory=Counter)      # (message, reason) -> n, dropped
    skipped_rtr_err: int = 0
    filtered: int = 0                                          # in a DB, excluded by filters

    def as_dict(self) -> dict:
        return {
            "frames": self.frames, "decoded": self.decoded,
            "unknown_ids": {f"ch{c}:{'x' if e else ''}0x{i:X}": n
                            for (c, e, i), n in sorted(self.unknown_ids.items())},
            "short_frames_dropped": {f"{m}:0x{i:X}:len{ln}": n
                                     for (m, i, ln), n in sorted(self.short.items())},
            "long_frames_decoded": {f"{m}:0x{i:X}:len{ln}": n
                                    for (m, i, ln), n in sorted(self.long.items())},
            "unknown_multiplexer": dict(self.unknown_mux),
            "unsupported": {f"{m}: {r}": n for (m, r), n in self.unsupported.items()},
            "rtr_or_error_frames": self.skipped_rtr_err,
            "filtered_out": self.filtered,
        }

    def lines(self) -> list[str]:
        out = []
        for (c, e, i), n in sorted(self.unknown_ids.items()):
            out.append(f"{n} frame(s) with id 0x{i:X}{' (ext)' if e else ''} on channel {c}: "
                       "not in any DBC")
        for (m, i, ln), n in sorted(self.short.items()):
            out.append(f"{n} frame(s) of {m} (0x{i:X}) with {ln} data bytes, shorter than "
                       "the DBC length: not decoded")
        for (m, i, ln), n in sorted(self.long.items()):
            out.append(f"{n} frame(s) of {m} (0x{i:X}) with {ln} data bytes, longer than "
                       "the DBC length: extra bytes ignored")
        for m, n in sorted(self.unknown_mux.items()):
            out.append(f"{n} frame(s) of {m} with a multiplexer value the DBC does not define: "
                       "multiplexed signals empty")
        for (m, r), n in sorted(self.unsupported.items()):
            out.append(f"{n} frame(s) of {m} not decoded: {r}")
        if self.filtered:
            out.append(f"{self.filtered} frame(s) of messages excluded by "
                       f"--ids/--messages/--signal")
        if self.skipped_rtr_err:
            out.append(f"{self.skipped_rtr_err} remote/error frame(s) skipped")
        return out


@dataclass
class DecodedMessage:
    """Decoded frames of one message: metadata columns and one value column per signal."""

    message: CompiledMessage
    time_us: np.ndarray
    boot: np.ndarray
    channel: np.ndarray
    frame_id: np.ndarray
    utc_us: np.ndarray | None          # int64, -1 where unknown; None: no time sync at all
    columns: MessageColumns
    signals: Collection[str] | None = None   # output only these (None: all)

    def __len__(self) -> int:
        return int(self.time_us.shape[0])

    def out_signals(self):
        sel = self.signals
        return [s for s in self.message.signals if sel is None or s.name in sel]

    def to_arrow(self):
        """Wide table: time_us, boot, utc, channel, frame_id, one column per signal
        (``<name>_label`` dictionary column next to signals with a value table).  A signal
        is float64, or an integer column where the DBC makes every value an integer
        (:func:`~.vector.to_physical`)."""
        import pyarrow as pa
        cols = {"time_us": from_numpy(self.time_us, pa.int64()),
                "boot": from_numpy(self.boot, pa.uint16()),
                "utc": _utc_array(self.utc_us, len(self)),
                "channel": from_numpy(self.channel, pa.uint8()),
                "frame_id": from_numpy(self.frame_id, pa.uint32())}
        for s in self.out_signals():
            present = self.columns.present.get(s.name)
            mask = None if present is None else ~present
            cols[s.column] = from_numpy(self.columns.values[s.name], mask=mask)
            codes = self.columns.label_codes.get(s.name)
            if codes is not None:
                m = codes < 0 if mask is None else (codes < 0) | mask
                cols[s.column + "_label"] = pa.DictionaryArray.from_arrays(
                    from_numpy(codes, pa.int32(), mask=m), strings(s.choice_labels))
        return pa.table(cols)

    def to_long(self, timestamp: str = "utc", with_time_us: bool = False,
                with_boot: bool = False):
        """Long table, one row per decoded value: timestamp, channel, frame_id, message,
        signal, value (float64), unit, label.  ``timestamp`` "utc" gives a UTC timestamp
        (null where unknown), "boot" float seconds since boot.  ``with_time_us`` /
        ``with_boot`` add the columns ``_t`` / ``_boot`` (boot time and boot number)."""
        import pyarrow as pa
        parts = []
        for s in self.out_signals():
            present = self.columns.present.get(s.name)
            idx = None if present is None else np.flatnonzero(present)
            v = self.columns.values[s.name]
            v = v if idx is None else v[idx]
            n = v.shape[0]
            if n == 0:
                continue
            codes = self.columns.label_codes.get(s.name)
            if codes is not None:
                c = codes if idx is None else codes[idx]
                labs = np.array([""] + list(s.choice_labels), dtype=object)
                label = pa.DictionaryArray.from_arrays(
                    pa.array(c + 1, pa.int32()), pa.array(labs, pa.string()))
            else:
                label = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                                       pa.array([""], pa.string()))
            parts.append((idx, n, s, v, label))
        if not parts:
            return None
        tables = []
        for idx, n, s, v, label in parts:
            take = _identity if idx is None else _indexer(idx)
            if timestamp == "utc":
                ts = _utc_array(None if self.utc_us is None else take(self.utc_us), n)
            else:
                ts = pa.array(take(self.time_us) / 1e6, pa.float64())
            tables.append(pa.table({
                "timestamp": ts,
                "channel": pa.array(take(self.channel), pa.uint8()),
                "frame_id": pa.array(take(self.frame_id), pa.uint32()),
                "message": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                                          pa.array([self.message.name])),
                "signal": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                                         pa.array([s.name])),
                "value": pa.array(np.asarray(v, dtype=np.float64)),
                "unit": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                                       pa.array([s.unit])),
                "label": label,
                **({"_t": pa.array(take(self.time_us), pa.int64())} if with_time_us else {}),
                **({"_boot": pa.array(take(self.boot), pa.uint16())} if with_boot else {}),
            }))
        return tables


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _indexer(idx: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: a[idx]


def _utc_array(utc_us, n):
    import pyarrow as pa
    t = pa.timestamp("us", tz="UTC")
    if utc_us is None:
        return pa.nulls(n, t)
    return from_numpy(utc_us, t, mask=utc_us < 0)


class Decoder:
    """Vectorised decoder over one or more databases.

    :param databases: paths or cantools databases, or ``(db, channel)`` pairs binding a
        database to one channel (``channel=None``: all channels).
    :param ids: only messages with these frame ids or names.
    :param signals: only these signal names in the output.
    """

    def __init__(self, databases: Sequence, *, ids: Iterable | None = None,
                 signals: Iterable[str] | None = None) -> None:
        self.bindings: list[tuple[int | None, list[CompiledMessage]]] = []
        self.dbs = []
        for item in databases:
            db, ch = item if isinstance(item, tuple) else (item, None)
            if isinstance(db, (str, os.PathLike)):
                db = load_compiled(db)           # cached: cantools only for a new file
            self.dbs.append(db)
            self.bindings.append((ch, compile_database(db)))
        self.signals = set(signals) if signals else None
        want_ids = None
        if ids:
            want_ids = set()
            for x in ids:
                want_ids.add(x if isinstance(x, int) else (int(x, 0) if _isint(x) else x))
        self._exact: list[tuple[int | None, dict]] = []
        self._pgn: list[tuple[int | None, dict]] = []
        self._all: list[tuple[int | None, dict, dict]] = []
        for ch, msgs in self.bindings:
            ex: dict[tuple[bool, int], CompiledMessage] = {}
            pg: dict[int, CompiledMessage] = {}
            aex: dict[tuple[bool, int], CompiledMessage] = {}
            apg: dict[int, CompiledMessage] = {}
            for m in msgs:
                aex.setdefault((m.extended, m.frame_id), m)
                if m.j1939_pgn is not None:
                    apg.setdefault(m.j1939_pgn, m)
                if want_ids is not None and m.name not in want_ids and m.frame_id not in want_ids:
                    continue
                if self.signals is not None and not any(s.name in self.signals
                                                        for s in m.signals):
                    continue
                ex.setdefault((m.extended, m.frame_id), m)
                if m.j1939_pgn is not None:
                    pg.setdefault(m.j1939_pgn, m)
            self._exact.append((ch, ex))
            self._pgn.append((ch, pg))
            self._all.append((ch, aex, apg))
        self.report = DecodeReport()
        self._cache: dict[int, CompiledMessage | None] = {}

    @property
    def messages(self) -> list[CompiledMessage]:
        seen, out = set(), []
        for _, ex in self._exact:
            for m in ex.values():
                if id(m) not in seen:
                    seen.add(id(m))
                    out.append(m)
        return out

    def lookup(self, channel: int, ext: bool, can_id: int,
               filtered: bool = True) -> CompiledMessage | None:
        tables = zip(self._exact, self._pgn) if filtered else \
            (((ch, ex), (ch, pg)) for ch, ex, pg in self._all)
        for (ch, ex), (_, pg) in tables:
            if ch is not None and ch != channel:
                continue
            m = ex.get((ext, can_id))
            if m is None and ext and pg:
                m = pg.get(j1939_pgn(can_id))
            if m is not None:
                return m
        return None

    def _resolve(self, key: int) -> CompiledMessage | None:
        """Message of ``channel << 32 | ext << 31 | id`` (cached), counting misses."""
        try:
            return self._cache[key]
        except KeyError:
            pass
        ch, ext, cid = key >> 32, bool((key >> 31) & 1), key & 0x7FFFFFFF
        m = self.lookup(ch, ext, cid)
        self._cache[key] = m
        return m

    def _classify(self, frames: np.ndarray) -> tuple[list[CompiledMessage], np.ndarray]:
        """Message index of every frame (-1: none), counting unknown/filtered/unsupported
        frames in the report."""
        rep = self.report
        n = frames.shape[0]
        k32 = frames["id"].astype(np.uint32) | ((frames["flags"] & _EXT).astype(np.uint32) << 31)
        ch = frames["channel"]
        chans = np.flatnonzero(np.bincount(ch, minlength=1)).tolist()
        known = sorted({(1 << 31 if e else 0) | i for _, ex in self._exact for (e, i) in ex})
        msg_list: list[CompiledMessage] = []
        msg_index: dict[int, int] = {}

        def index_of(m):
            j = msg_index.get(id(m))
            if j is None:
                j = msg_index[id(m)] = len(msg_list)
                msg_list.append(m)
            return j

        fm = np.full(n, -1, np.int64)
        if known:
            kk = np.array(known, np.uint32)
            pos = np.minimum(np.searchsorted(kk, k32), len(kk) - 1)
            hit = kk[pos] == k32
            for c in chans:
                tab = np.full(len(kk), -1, np.int64)
                for t, k in enumerate(known):
                    m = self._resolve((c << 32) | k)
                    if m is not None and not m.unsupported:
                        tab[t] = index_of(m)
                sel = hit if len(chans) == 1 else hit & (ch == c)
                fm[sel] = tab[pos[sel]]
        rest = np.flatnonzero(fm < 0)
        if rest.size:
            rkey = (ch[rest].astype(np.uint64) << np.uint64(32)) | k32[rest].astype(np.uint64)
            ukeys, inv, counts = np.unique(rkey, return_inverse=True, return_counts=True)
            kmsg = np.full(ukeys.shape[0], -1, np.int64)
            for u, (uk, cnt) in enumerate(zip(ukeys.tolist(), counts.tolist())):
                m = self._resolve(uk)
                chn, ext, cid = uk >> 32, bool((uk >> 31) & 1), uk & 0x7FFFFFFF
                if m is None:
                    if self.lookup(chn, ext, cid, filtered=False) is not None:
                        rep.filtered += cnt
                    else:
                        rep.unknown_ids[(chn, ext, cid)] += cnt
                elif m.unsupported:
                    rep.unsupported[(m.name, m.unsupported)] += cnt
                else:
                    kmsg[u] = index_of(m)
            fm[rest] = kmsg[inv.reshape(-1)]
        return msg_list, fm

    def decode(self, frames: np.ndarray, timebase=None) -> list[DecodedMessage]:
        """Decode a structured frame array; returns one :class:`DecodedMessage` per message
        present (frames in input order within a message)."""
        rep = self.report
        n = frames.shape[0]
        rep.frames += n
        if n == 0:
            return []
        flags = frames["flags"]
        bad = (flags & (_RTR | _ERR)) != 0
        if bad.any():
            rep.skipped_rtr_err += int(bad.sum())
            frames = _take(frames, np.flatnonzero(~bad))
            flags = frames["flags"]
            if not frames.shape[0]:
                return []
        msg_list, fm = self._classify(frames)
        if not msg_list:
            return []
        if len(msg_list) < 32000:
            order = np.argsort(fm.astype(np.int16), kind="stable")   # radix sort
        else:
            order = np.argsort(fm, kind="stable")
        bounds = np.searchsorted(fm[order], np.arange(len(msg_list) + 1))
        out = []
        for j, m in enumerate(msg_list):
            if bounds[j] == bounds[j + 1]:
                continue
            sel = order[bounds[j]:bounds[j + 1]]
            fr = _take(frames, sel)
            dl = fr["data_len"]
            if (dl != m.length).any():
                short = dl < m.length
                for ln, c in zip(*np.unique(dl[dl != m.length], return_counts=True)):
                    ids_here = fr["id"][dl == ln]
                    (rep.short if ln < m.length else rep.long)[
                        (m.name, int(ids_here[0]), int(ln))] += int(c)
                if short.any():
                    fr = _take(fr, np.flatnonzero(~short))
                    if not fr.shape[0]:
                        continue
            fields = fr.dtype.fields
            assert fields is not None               # a structured CAN array
            doff = fields["data"][1]
            isz = fr.dtype.itemsize
            if m.length <= 8 and doff % 8 == 0 and isz % 8 == 0 and fr.flags.c_contiguous:
                # the first 8 data bytes as one little-endian word, no copy
                cols = decode_columns(m, fr["data"],
                                      le0=fr.view("<u8").reshape(-1, isz // 8)[:, doff // 8])
            else:
                cols = decode_columns(m, fr["data"])
            if cols.unknown_mux:
                rep.unknown_mux[m.name] += cols.unknown_mux
            rep.decoded += fr.shape[0]
            t = fr["time_us"].astype(np.int64)
            boot = fr["boot"]
            utc = None
            if timebase is not None and timebase.boots():
                utc = np.full(t.shape[0], -1, np.int64)
                if boot.min() == boot.max():        # the usual case: no sort, no masks
                    u = timebase.utc_us_array(int(boot[0]), t)
                    if u is not None:
                        utc = u
                else:
                    for b in np.unique(boot).tolist():
                        bm = boot == b
                        u = timebase.utc_us_array(int(b), t[bm])
                        if u is not None:
                            utc[bm] = u
            out.append(DecodedMessage(m, t, boot, fr["channel"], fr["id"], utc, cols,
                                      self.signals))
        return out


def selection(databases: Iterable, ranges: list[range], names: list[str]
              ) -> list[int | str] | None:
    """The ``ids`` of :class:`Decoder` for a selection by frame id ranges and message names:
    the names, and the frame ids of the databases' messages inside a range (None: no
    selection, every message; a range matching no message selects none)."""
    if not ranges and not names:
        return None
    out: list[int | str] = list(names)
    for db in databases:
        db = db[0] if isinstance(db, tuple) else db
        out.extend(m.frame_id for m in db.messages if any(m.frame_id in r for r in ranges))
    if ranges and len(out) == len(names):
        out.append(-1)                       # ranges matching no message: select none
    return out


def _take(frames: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``frames[idx]`` for structured arrays, through a uint64 view (much faster)."""
    isz = frames.dtype.itemsize
    if isz % 8 == 0 and frames.flags.c_contiguous and frames.ndim == 1:
        return frames.view("<u8").reshape(-1, isz // 8).take(idx, axis=0) \
            .view(frames.dtype).reshape(-1)
    return frames[idx]


def _isint(x: str) -> bool:
    try:
        int(x, 0)
        return True
    except ValueError:
        return False

"""Everything the report shows, gathered from a :class:`~dunelog.card.dump.Dump`.

Two passes over the dump: :func:`dunelog.card.info.dump_info` (boots, records, CAN ids and
their per-boot first/last times, overflow totals, integrity problems, time syncs), then
one pass over the chunks that bins CAN traffic per channel and per id, decodes the chosen
DBC signals into min/max envelopes, and keeps the non-CAN records for the timeline and for
:func:`dunelog.track.track_from_records`.  Nothing here is per-frame Python: CAN frames
stay NumPy arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..card.dump import Dump, can_key
from ..card.format import CAN_ERR, CAN_EXT
from ..card.info import dump_info
from ..card.records import Event, Overflow, SessionStart, Status
from ..decode import Decoder
from ..track import Track, track_from_records
from .envelope import BootHistogram, Envelope

__all__ = ["ReportData", "TimeAxis", "SignalSeries", "gather", "DEFAULT_SIGNALS",
           "DEFAULT_BITRATE", "DEFAULT_DATA_BITRATE", "frame_bits"]

#: signals plotted by default when a DBC is given (names from dbc/recce.dbc): vehicle
#: speed, engine speed, coolant and (transmission) oil temperature, tyre pressures, fuel
DEFAULT_SIGNALS = ("WheelBasedVehicleSpeed", "EngineSpeed", "CoolantTemp", "TransOilTemp",
                   "TyrePressure", "FuelLevel")
#: nominal bit rate assumed for bus load, bit/s
DEFAULT_BITRATE = 500_000
#: CAN FD data-phase bit rate assumed for bus load, bit/s
DEFAULT_DATA_BITRATE = 2_000_000
#: buckets across the time axis for bus load and signals
TIME_BUCKETS = 4000
#: shortest bus-load bucket, s (shorter ones only show frame quantisation)
BUS_BUCKET_MIN_S = 0.5
#: at most this many multiplexer values plotted as separate series of one signal
MAX_SPLIT = 16
#: buckets across the time axis for per-id presence (appeared / vanished / silent)
ID_BUCKETS = 240


@dataclass
class TimeAxis:
    """How (boot, time_us) maps to the report's x axis (seconds).

    With a time sync in every boot the axis is UTC (seconds since 1970, ``utc=True``);
    otherwise boots are laid end to end: x = offset of the boot + time_us / 1e6.
    """

    utc: bool
    timebase: Any
    offsets: dict[int, float]
    x0: float
    x1: float

    def x(self, boot: np.ndarray | int, time_us: np.ndarray) -> np.ndarray:
        """x (seconds) of boot times; ``boot`` an array or one boot number."""
        t = np.asarray(time_us, np.int64)
        out = np.empty(t.shape, np.float64)
        boots = np.asarray(boot)
        if boots.ndim == 0:
            return self._x1(int(boots), t)
        for b in np.unique(boots).tolist():
            m = boots == b
            out[m] = self._x1(int(b), t[m])
        return out

    def _x1(self, b: int, t: np.ndarray) -> np.ndarray:
        if self.utc:
            u = self.timebase.utc_us_array(b, t)
            if u is not None:
                return u / 1e6
        return self.offsets.get(b, 0.0) + t / 1e6

    def x_scalar(self, boot: int, time_us: int) -> float:
        """x of one boot time."""
        return float(self._x1(boot, np.array([time_us], np.int64))[0])


@dataclass
class SignalSeries:
    """One plotted signal: envelopes against time and against distance."""

    name: str
    message: str
    unit: str
    by_time: Envelope
    by_dist: Envelope | None = None
    choices: dict | None = None
    #: for a signal selected by several values of its multiplexer (the four tyres of
    #: ``TyrePressure`` by ``TyrePosition``): one (label, by_time, by_dist) per value
    split: list[tuple[str, Envelope, Envelope | None]] = field(default_factory=list)


@dataclass
class ReportData:
    """What :func:`gather` found; rendered by :mod:`dunelog.report.render`."""

    path: str
    info: dict
    axis: TimeAxis
    track: Track
    sessions: list[SessionStart] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    overflows: list[Overflow] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    bus_frames: dict[int, Envelope] = field(default_factory=dict)   # channel -> frames/bucket
    bus_bits: dict[int, np.ndarray] = field(default_factory=dict)   # channel -> bit time (s)
    bus_errors: dict[int, np.ndarray] = field(default_factory=dict)  # channel -> error frames
    error_frames: int = 0
    id_presence: dict[int, np.ndarray] = field(default_factory=dict)  # can key -> counts
    signals: list[SignalSeries] = field(default_factory=list)
    missing_signals: list[str] = field(default_factory=list)   # in the DBC, no frames
    unknown_signals: list[str] = field(default_factory=list)   # not in the DBC
    decode_lines: list[str] = field(default_factory=list)
    block_times: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    bitrate: dict[int, int] = field(default_factory=dict)
    default_bitrate: int = DEFAULT_BITRATE
    data_bitrate: int = DEFAULT_DATA_BITRATE
    dbc: list[str] = field(default_factory=list)
    problems: list = field(default_factory=list)
    boot_ids: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def bitrate_of(self, channel: int) -> int:
        """Nominal bit rate used for ``channel``."""
        return self.bitrate.get(channel, self.default_bitrate)


def frame_bits(flags: np.ndarray, data_len: np.ndarray, fd: bool,
               bitrate: float | np.ndarray, data_bitrate: float) -> np.ndarray:
    """Bus time of frames in nominal bit times, without stuff bits (a lower bound).

    Classic: 47 bits of frame overhead (44 + 3 interframe) + 8 per data byte, 20 more for
    an extended id.  FD: the arbitration phase (30 bits standard, 50 extended, plus the
    12-bit end of frame / interframe) at the nominal rate, the data phase (control, data,
    CRC-17/21 with its stuff count) at ``data_bitrate``.
    """
    ext = (flags & CAN_EXT) != 0
    dl = data_len.astype(np.float64)
    if not fd:
        return 47.0 + 20.0 * ext + 8.0 * dl
    crc = np.where(dl > 16, 26.0, 22.0)
    data_phase = 8.0 * dl + crc + 7.0
    return 30.0 + 20.0 * ext + 12.0 + data_phase * (bitrate / data_bitrate)


def _make_axis(dump: Dump, info: dict) -> TimeAxis:
    tb = dump.timebase() if info["boots"] else None
    boots = [b for b in info["boots"] if b["first_us"] is not None]
    utc = bool(boots) and all(b["time_synced"] for b in boots)
    offsets: dict[int, float] = {}
    off = 0.0
    for b in boots:
        offsets[b["boot"]] = off
        off += b["last_us"] / 1e6 + 1.0
    ax = TimeAxis(utc, tb, offsets, 0.0, 1.0)
    if boots:
        xs = [ax.x_scalar(b["boot"], b["first_us"]) for b in boots] + \
             [ax.x_scalar(b["boot"], b["last_us"]) for b in boots]
        ax.x0, ax.x1 = min(xs), max(xs)
        if ax.x1 <= ax.x0:
            ax.x1 = ax.x0 + 1.0
    return ax


class _Scanned:
    """``dump`` after a complete pass: :func:`dunelog.card.info.dump_info` reads its statistics
    instead of scanning the dump a second time."""

    def __init__(self, dump: Dump) -> None:
        self._dump = dump

    def scan(self, *, can_ids: bool = True):
        assert self._dump.stats is not None and self._dump.stats.complete
        return self._dump.stats

    def __getattr__(self, name: str):
        return getattr(self._dump, name)


class KeyTimeCounts:
    """Frames per (CAN key, time bucket) of one boot; the bucket width doubles when more
    than ``cap`` buckets would be needed (as :class:`~.envelope.BootHistogram`)."""

    def __init__(self, width_us: int = 100_000, cap: int = 2048) -> None:
        self.width_us, self.cap = width_us, cap
        self.counts = np.zeros((0, 0), np.int64)

    def add(self, kidx: np.ndarray, n_keys: int, time_us: np.ndarray) -> None:
        """Count frames of key indices ``kidx`` at boot times ``time_us``."""
        if not time_us.size:
            return
        tmax = int(time_us.max())
        while tmax // self.width_us >= self.cap:
            c = self.counts
            if c.shape[1] % 2:
                c = np.pad(c, ((0, 0), (0, 1)))
            self.counts = c.reshape(c.shape[0], -1, 2).sum(2)
            self.width_us *= 2
        tidx = time_us // self.width_us
        ncol = max(self.counts.shape[1], int(tmax // self.width_us) + 1)
        nrow = max(self.counts.shape[0], n_keys)
        if (nrow, ncol) != self.counts.shape:
            grown = np.zeros((nrow, ncol), np.int64)
            grown[:self.counts.shape[0], :self.counts.shape[1]] = self.counts
            self.counts = grown
        self.counts += np.bincount(kidx.astype(np.int64) * ncol + tidx.astype(np.int64),
                                   minlength=nrow * ncol).reshape(nrow, ncol)

    def centres_us(self) -> np.ndarray:
        """Boot time at the centre of each column."""
        return np.arange(self.counts.shape[1], dtype=np.int64) * self.width_us \
            + self.width_us // 2


def gather(dump: Dump, *, dbc: Sequence[str] = (), signals: Sequence[str] | None = None,
           gap_s: float = 2.0, bitrate: int | dict[int, int] = DEFAULT_BITRATE,
           data_bitrate: int = DEFAULT_DATA_BITRATE, buckets: int = TIME_BUCKETS
           ) -> ReportData:
    """Read ``dump`` in one pass and collect what the report shows.

    CAN traffic and signal values are binned against boot time during the pass (buckets
    that widen as a boot grows, see :class:`~.envelope.BootHistogram`), then re-bucketed
    onto the report's time axis, which is known only at the end of the pass (UTC from the
    time syncs, or boots laid end to end).

    :param dbc: databases for the signal plots (none: no signal section).
    :param signals: signal names to plot (default :data:`DEFAULT_SIGNALS`; names not in
        the databases are listed in ``unknown_signals``, names without frames in the dump
        in ``missing_signals``).
    :param gap_s: fix outage that splits the track (as ``dunelog track --gap``).
    :param bitrate: nominal bit rate for bus load, one for all channels or per channel.
    :param buckets: buckets across the time axis for signals and bus load.
    :raises ValueError: the dump holds several loggers.
    """
    loggers = dump.loggers
    if len(loggers) > 1:
        raise ValueError(f"dump holds several loggers {loggers}; open it with logger_id "
                         f"(--logger N)")
    rates = dict(bitrate) if isinstance(bitrate, dict) else {}
    default_rate = DEFAULT_BITRATE if isinstance(bitrate, dict) else int(bitrate)

    decoder = None
    wanted: list[str] = []
    missing: list[str] = []
    if dbc:
        wanted = list(DEFAULT_SIGNALS if signals is None else signals)
        decoder = Decoder(list(dbc), signals=wanted)
        known_sigs = {s.name for m in decoder.messages for s in m.signals}
        missing = [n for n in wanted if n not in known_sigs]
        wanted = [n for n in wanted if n in known_sigs]
    wanted_set = set(wanted)

    bus: dict[tuple[int, int], BootHistogram] = {}
    sig: dict[tuple[str, int, int | None], BootHistogram] = {}
    sig_meta: dict[str, tuple[str, str]] = {}
    split_mux: dict[str, str] = {}
    pres: dict[int, KeyTimeCounts] = {}
    keys_known = np.zeros(0, np.uint64)
    error_frames = 0
    others: list = []
    bt_seq: dict[int, list[np.ndarray]] = {}
    bt_us: dict[int, list[np.ndarray]] = {}

    for chunk, dec, recs in dump._pass(can_ids=True):
        others.extend(recs)
        hdr = chunk.headers
        hb = hdr["boot"]
        for b in (np.unique(hb).tolist() if hb[0] != hb[-1] or (hb != hb[0]).any()
                  else [int(hb[0])]):
            m = hb == b
            bt_seq.setdefault(b, []).append(hdr["seq"][m].astype(np.int64))
            bt_us.setdefault(b, []).append(hdr["base_us"][m].astype(np.int64))
        for arr, fd in ((dec.classic, False), (dec.fd, True)):
            if not arr.size:
                continue
            boots = arr["boot"]
            b0 = int(boots[0])
            groups = ([(b0, None)] if (boots == b0).all()
                      else [(int(b), boots == b) for b in np.unique(boots)])
            for b, bm in groups:
                a = arr if bm is None else arr[bm]
                t = a["time_us"].astype(np.int64)
                ch = a["channel"]
                fl = a["flags"]
                rate: float | np.ndarray = float(default_rate)
                if rates:
                    rate = np.full(a.size, float(default_rate))
                    for c, r in rates.items():
                        rate[ch == c] = r
                bits_s = frame_bits(fl, a["data_len"], fd, rate, data_bitrate) / rate
                err = (fl & CAN_ERR) != 0
                nerr = int(err.sum())
                error_frames += nerr
                present = np.flatnonzero(np.bincount(ch))
                for c in present.tolist():
                    cm = None if present.size == 1 else ch == c
                    h = bus.get((b, c))
                    if h is None:
                        h = bus[(b, c)] = BootHistogram(values=False, weights=("bits", "err"))
                    if cm is None:
                        h.add(t, bits=bits_s, err=err.astype(np.float64))
                    else:
                        h.add(t[cm], bits=bits_s[cm], err=err[cm].astype(np.float64))
                keys = can_key(ch, fl, a["id"])
                tk = t
                if nerr:
                    keys, tk = keys[~err], t[~err]
                if keys.size:
                    kidx = np.searchsorted(keys_known, keys)
                    new = (kidx >= keys_known.size) | \
                        (keys_known[np.minimum(kidx, max(keys_known.size - 1, 0))] != keys) \
                        if keys_known.size else np.ones(keys.size, bool)
                    if new.any():
                        old = keys_known
                        keys_known = np.union1d(keys_known, np.unique(keys[new]))
                        remap = np.searchsorted(keys_known, old)
                        for p in pres.values():     # keep rows in key order
                            grown = np.zeros((keys_known.size, p.counts.shape[1]), np.int64)
                            grown[remap[:p.counts.shape[0]]] = p.counts
                            p.counts = grown
                        kidx = np.searchsorted(keys_known, keys)
                    pk = pres.get(b)
                    if pk is None:
                        pk = pres[b] = KeyTimeCounts()
                    pk.add(kidx, keys_known.size, tk)
                if decoder is not None:
                    for msg in decoder.decode(a):
                        for s in msg.out_signals():
                            if s.name not in wanted_set:
                                continue
                            v = msg.columns.values[s.name]
                            tv = msg.time_us
                            pv = msg.columns.present.get(s.name)
                            if pv is not None:
                                tv, v = tv[pv], v[pv]
                            if not v.size:
                                continue
                            v = np.asarray(v, np.float64)
                            sig_meta.setdefault(s.name, (msg.message.name, s.unit or ""))
                            parts: list[tuple[int | None, np.ndarray | None]] = [(None, None)]
                            mux = s.mux_signal
                            if mux and s.mux_ids and len(s.mux_ids) > 1 \
                                    and mux in msg.columns.values:
                                mv = msg.columns.values[mux]
                                mv = mv if pv is None else mv[pv]
                                vals = np.unique(mv)
                                if vals.size <= MAX_SPLIT:
                                    parts += [(int(x), mv == x) for x in vals.tolist()]
                                    split_mux[s.name] = mux
                            for key, sel in parts:
                                h = sig.get((s.name, b, key))
                                if h is None:
                                    h = sig[(s.name, b, key)] = BootHistogram()
                                if sel is None:
                                    h.add(tv, v)
                                else:
                                    h.add(tv[sel], v[sel])

    # the pass is complete: summary, time axis, then everything onto the axis
    info = dump_info(_Scanned(dump))      # type: ignore[arg-type]
    problems = dump.problems
    assert dump.stats is not None
    boot_ids = {(bt, key): list(v) for (lg, bt), bst in dump.stats.boots.items()
                for key, v in bst.can_ids.items()}
    axis = _make_axis(dump, info)
    data = ReportData(dump.path, info, axis, Track(), dbc=[os.fspath(d) for d in dbc],
                      bitrate=rates, default_bitrate=default_rate, data_bitrate=data_bitrate)
    data.problems, data.boot_ids, data.error_frames = problems, boot_ids, error_frames
    data.unknown_signals = missing
    x0, x1 = axis.x0, axis.x1
    nb_bus = int(min(buckets, max(1, (x1 - x0) / BUS_BUCKET_MIN_S)))
    for (b, c), h in sorted(bus.items()):
        env = data.bus_frames.get(c)
        if env is None:
            env = data.bus_frames[c] = Envelope(x0, x1, nb_bus)
            data.bus_bits[c] = np.zeros(nb_bus)
            data.bus_errors[c] = np.zeros(nb_bus, np.int64)
        m = h.count[:h.n] > 0
        idx = env.index(axis.x(b, h.centres_us()[m]))
        np.add.at(env.count, idx, h.count[:h.n][m])
        np.add.at(data.bus_bits[c], idx, h.sums["bits"][:h.n][m])
        np.add.at(data.bus_errors[c], idx, np.rint(h.sums["err"][:h.n][m]).astype(np.int64))
    for b, pk in pres.items():
        if not pk.counts.size:
            continue
        idx = Envelope(x0, x1, ID_BUCKETS).index(axis.x(b, pk.centres_us()))
        for r, key in enumerate(keys_known[:pk.counts.shape[0]].tolist()):
            row = pk.counts[r]
            if not row.any():
                continue
            presence = data.id_presence.setdefault(key, np.zeros(ID_BUCKETS, np.int64))
            np.add.at(presence, idx, row)
    data.block_times = {b: (np.concatenate(bt_seq[b]), axis.x(b, np.concatenate(bt_us[b])))
                        for b in bt_seq}
    if decoder is not None:
        data.decode_lines = decoder.report.lines()
    sig_env: dict[str, SignalSeries] = {}
    split_env: dict[tuple[str, int], Envelope] = {}
    for (name, b, key), h in sorted(sig.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                 -1 if kv[0][2] is None
                                                                 else kv[0][2])):
        ser = sig_env.get(name)
        if ser is None:
            msg_name, unit = sig_meta[name]
            ser = sig_env[name] = SignalSeries(name, msg_name, unit, Envelope(x0, x1, buckets))
        env = ser.by_time
        if key is not None:
            env = split_env.get((name, key))
            if env is None:
                env = split_env[(name, key)] = Envelope(x0, x1, buckets)
        h.into(env, axis.x(b, h.centres_us()))
    for r in others:
        t = type(r)
        if t is SessionStart:
            data.sessions.append(r)
        elif t is Event:
            data.events.append(r)
        elif t is Overflow:
            data.overflows.append(r)
        elif t is Status:
            data.statuses.append(r)
    name = os.path.basename(os.path.normpath(dump.path)) or "dunelog"
    data.track = track_from_records((r for r in others if type(r) is not Status),
                                    gap_s=gap_s, name=name)
    del others

    # signals against distance: each time bucket placed at the track distance of its
    # centre (interpolated), then re-bucketed by distance (min of min, max of max)
    tx, td = _track_x_dist(data)
    for n in wanted:
        ser = sig_env.get(n)
        if ser is None:
            data.missing_signals.append(n)
            continue
        if tx.size >= 2 and td[-1] > 0:
            ser.by_dist = _by_distance(ser.by_time, tx, td, buckets)
        for (sn, key), env in sorted(split_env.items()):
            if sn == n:
                bd = _by_distance(env, tx, td, buckets) if ser.by_dist is not None else None
                ser.split.append((f"{split_mux[n]}={key}", env, bd))
        data.signals.append(ser)
    return data


def _by_distance(env: Envelope, tx: np.ndarray, td: np.ndarray, n: int) -> Envelope:
    """Re-bucket a time envelope by track distance (buckets outside the track's time
    span are left out)."""
    out = Envelope(0.0, float(td[-1]), n)
    c = env.centres()
    m = (env.count > 0) & (c >= tx[0]) & (c <= tx[-1])
    if not m.any():
        return out
    d = np.interp(c[m], tx, td)
    idx = out.index(d)
    np.minimum.at(out.lo, idx, env.lo[m])
    np.maximum.at(out.hi, idx, env.hi[m])
    np.add.at(out.total, idx, env.total[m])
    np.add.at(out.count, idx, env.count[m])
    return out


def _track_x_dist(data: ReportData) -> tuple[np.ndarray, np.ndarray]:
    """Track points as (x, cumulative km) arrays, sorted by x."""
    pts = list(data.track.points)
    if not pts:
        return np.empty(0), np.empty(0)
    boots = np.fromiter((p.boot for p in pts), np.int64, len(pts))
    t = np.fromiter((p.time_us for p in pts), np.int64, len(pts))
    d = np.fromiter((p.dist_km for p in pts), np.float64, len(pts))
    x = data.axis.x(boots, t)
    o = np.argsort(x, kind="stable")
    return x[o], d[o]

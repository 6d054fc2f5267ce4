"""Everything the report shows, gathered from a :class:`~dunelog.dump.Dump`.

Two passes over the dump: :func:`dunelog.info.dump_info` (boots, records, CAN ids and
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

from ..decode import Decoder
from ..dump import Dump, can_key
from ..format import CAN_ERR, CAN_EXT
from ..info import dump_info
from ..records import Event, Overflow, SessionStart, Status
from ..track import Track, track_from_records
from .envelope import Envelope

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
    missing_signals: list[str] = field(default_factory=list)
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
               bitrate: int, data_bitrate: int) -> np.ndarray:
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


def gather(dump: Dump, *, dbc: Sequence[str] = (), signals: Sequence[str] | None = None,
           gap_s: float = 2.0, bitrate: int | dict[int, int] = DEFAULT_BITRATE,
           data_bitrate: int = DEFAULT_DATA_BITRATE, buckets: int = TIME_BUCKETS
           ) -> ReportData:
    """Read ``dump`` (two passes) and collect what the report shows.

    :param dbc: databases for the signal plots (none: no signal section).
    :param signals: signal names to plot (default :data:`DEFAULT_SIGNALS`; names not in
        the databases or not in the dump are listed in ``missing_signals``).
    :param gap_s: fix outage that splits the track (as ``dunelog track --gap``).
    :param bitrate: nominal bit rate for bus load, one for all channels or per channel.
    :raises ValueError: the dump holds several loggers.
    """
    loggers = dump.loggers
    if len(loggers) > 1:
        raise ValueError(f"dump holds several loggers {loggers}; open it with logger_id "
                         f"(--logger N)")
    info = dump_info(dump)
    problems = dump.problems
    assert dump.stats is not None
    boot_ids = {(bt, key): list(v) for (lg, bt), b in dump.stats.boots.items()
                for key, v in b.can_ids.items()}
    axis = _make_axis(dump, info)
    rates = dict(bitrate) if isinstance(bitrate, dict) else {}
    default_rate = DEFAULT_BITRATE if isinstance(bitrate, dict) else int(bitrate)
    data = ReportData(dump.path, info, axis, Track(), dbc=[os.fspath(d) for d in dbc],
                      bitrate=rates, default_bitrate=default_rate, data_bitrate=data_bitrate)

    decoder = None
    wanted: list[str] = []
    if dbc:
        wanted = list(DEFAULT_SIGNALS if signals is None else signals)
        decoder = Decoder(list(dbc), signals=wanted)
        known = {s.name: (m, s) for m in decoder.messages for s in m.signals}
        data.missing_signals = [n for n in wanted if n not in known]
        wanted = [n for n in wanted if n in known]
    sig_env: dict[str, SignalSeries] = {}

    nb = buckets
    x0, x1 = axis.x0, axis.x1
    nb_bus = int(min(buckets, max(1, (x1 - x0) / BUS_BUCKET_MIN_S)))
    ch_frames: dict[int, Envelope] = {}
    ch_bits: dict[int, np.ndarray] = {}
    ch_err: dict[int, np.ndarray] = {}
    presence: dict[int, np.ndarray] = {}
    id_env = Envelope(x0, x1, ID_BUCKETS)
    others: list = []
    bt_seq: dict[int, list[np.ndarray]] = {}
    bt_x: dict[int, list[np.ndarray]] = {}

    for chunk, dec, recs in dump._pass():
        others.extend(recs)
        hdr = chunk.headers
        for b in np.unique(hdr["boot"]).tolist():
            m = hdr["boot"] == b
            bt_seq.setdefault(b, []).append(hdr["seq"][m].astype(np.int64))
            bt_x.setdefault(b, []).append(axis.x(b, hdr["base_us"][m].astype(np.int64)))
        for arr, fd in ((dec.classic, False), (dec.fd, True)):
            if not arr.size:
                continue
            x = axis.x(arr["boot"], arr["time_us"])
            chans = arr["channel"]
            for ch in np.unique(chans).tolist():
                cm = chans == ch
                xs = x[cm]
                env = ch_frames.get(ch)
                if env is None:
                    env = ch_frames[ch] = Envelope(x0, x1, nb_bus)
                    ch_bits[ch] = np.zeros(nb_bus)
                    ch_err[ch] = np.zeros(nb_bus, np.int64)
                idx = env.index(xs)
                env.count += np.bincount(idx, minlength=nb_bus)
                rate = rates.get(ch, default_rate)
                bits = frame_bits(arr["flags"][cm], arr["data_len"][cm], fd, rate, data_bitrate)
                ch_bits[ch] += np.bincount(idx, weights=bits / rate, minlength=nb_bus)
                err = (arr["flags"][cm] & CAN_ERR) != 0
                if err.any():
                    ch_err[ch] += np.bincount(idx[err], minlength=nb_bus)
                    data.error_frames += int(err.sum())
            keys = can_key(arr["channel"], arr["flags"], arr["id"])
            ok = (arr["flags"] & CAN_ERR) == 0
            keys, xk = keys[ok], x[ok]
            if keys.size:
                ukeys, inv = np.unique(keys, return_inverse=True)
                bidx = id_env.index(xk)
                flat = np.bincount(inv * ID_BUCKETS + bidx,
                                   minlength=ukeys.size * ID_BUCKETS).reshape(-1, ID_BUCKETS)
                for k, row in zip(ukeys.tolist(), flat):
                    p = presence.get(k)
                    if p is None:
                        presence[k] = row.astype(np.int64)
                    else:
                        p += row
            if decoder is not None:
                for msg in decoder.decode(arr, axis.timebase if axis.utc else None):
                    xm = (msg.utc_us / 1e6 if axis.utc and msg.utc_us is not None
                          else axis.x(msg.boot, msg.time_us))
                    for s in msg.out_signals():
                        if s.name not in wanted:
                            continue
                        v = msg.columns.values[s.name]
                        pres = msg.columns.present.get(s.name)
                        xv = xm
                        if pres is not None:
                            xv, v = xm[pres], v[pres]
                        if not v.size:
                            continue
                        ser = sig_env.get(s.name)
                        if ser is None:
                            ser = sig_env[s.name] = SignalSeries(
                                s.name, msg.message.name, s.unit or "", Envelope(x0, x1, nb))
                        v = np.asarray(v, np.float64)
                        ser.by_time.add(xv, v)
    data.problems = problems
    data.boot_ids = boot_ids
    data.bus_frames, data.bus_bits, data.bus_errors = ch_frames, ch_bits, ch_err
    data.id_presence = presence
    data.block_times = {b: (np.concatenate(bt_seq[b]), np.concatenate(bt_x[b]))
                        for b in bt_seq}
    if decoder is not None:
        data.decode_lines = decoder.report.lines()
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
            ser.by_dist = _by_distance(ser.by_time, tx, td, nb)
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

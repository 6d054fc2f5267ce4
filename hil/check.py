"""HIL checks: what the simulators sent (their own send logs) against what the host
decodes from the DUT's card. Every frame, in order, payload for payload, each missing
frame accounted for by an overflow record at the place it went missing, timestamps
within a stated tolerance; every GNSS fix epoch logged with its exact position and time.

Failures name the frame: its index in the send log, id, send time and what differed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from dunelog.card.format import REC_CAN, REC_CANFD
from dunelog.card.records import CanFrame, GnssFix, Overflow
from hil import nmea
from hil.gnss_sim import Epoch
from hil.sender import SendLog

MAX_ERRORS = 20
HARD_MAX_MS = 1000.0      # no frame stamped later than this after its send, whatever the host
LOOKAHEAD = 50_000         # how far ahead a resync looks for the logged frame in the send log


@dataclass
class FrameReport:
    """Outcome of :func:`check_frames` (numbers go into the run report)."""
    sent: int = 0
    expected: int = 0
    logged: int = 0
    dropped_counted: int = 0
    missing: int = 0
    corrupted: int = 0
    unexpected: int = 0
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def error(self, msg: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(msg)
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append("... (further errors not listed)")


def _hex(b: bytes) -> str:
    return b.hex(" ") if b else "(empty)"


def _describe(i: int, f, t: float, t0: float) -> str:
    ide = f"0x{f.id:08X}" if f.ext else f"0x{f.id:03X}"
    kind = "FD " if f.fd else ""
    return f"sent frame #{i} ({kind}id {ide}, {f.name or 'frame'}, sent at {t - t0:.3f} s)"


def _diff(sent: bytes, got: bytes) -> str:
    if len(sent) != len(got):
        return f"length {len(sent)} sent, {len(got)} logged: sent {_hex(sent)} logged {_hex(got)}"
    bad = [k for k in range(len(sent)) if sent[k] != got[k]]
    first = bad[0]
    return (f"byte {first} differs (sent 0x{sent[first]:02X}, logged 0x{got[first]:02X})"
            + (f" and {len(bad) - 1} more byte(s)" if len(bad) > 1 else "")
            + f": sent {_hex(sent)} logged {_hex(got)}")


def logged_stream(records: Iterable) -> tuple[list[CanFrame], list[int], int]:
    """The CAN frames of a record stream in order, and for each the number of CAN frames
    the overflow records logged since the previous frame say were dropped; plus the
    drops counted after the last frame."""
    frames: list[CanFrame] = []
    budget: list[int] = []
    pending = 0
    for r in records:
        if isinstance(r, CanFrame):
            frames.append(r)
            budget.append(pending)
            pending = 0
        elif isinstance(r, Overflow):
            pending += r.counts.get(REC_CAN, 0) + r.counts.get(REC_CANFD, 0)
    return frames, budget, pending


def check_frames(sent: SendLog, records: Iterable, *, tolerance_ms: float | None,
                 expected: Sequence[bool] | None = None) -> FrameReport:
    """Align the send log with the logged CAN frames.

    expected[i] False marks a sent frame the DUT must not log (filtered by its config).
    A sent frame missing from the log is fine only where an overflow record counts it,
    at that place in the stream; anything else is an error naming the frame.
    tolerance_ms None: stamp latency reported, not bounded (saturated buses)."""
    frames, budget, tail = logged_stream(records)
    rep = FrameReport(sent=len(sent.frames), logged=len(frames))
    idx = [i for i in range(len(sent.frames)) if expected is None or expected[i]]
    rep.expected = len(idx)
    t0 = sent.t[0] if sent.t else 0.0
    keys = [(f.id, f.ext, f.fd, f.brs, f.data) for f in sent.frames]
    pairs: list[tuple[int, int]] = []
    i = 0                                   # position in idx
    n = len(idx)
    for j, lf in enumerate(frames):
        lk = (lf.id, lf.is_extended, lf.fd, lf.brs, lf.data)
        allowed = budget[j]
        skipped = 0
        while i < n and keys[idx[i]] != lk and skipped < allowed:
            i += 1
            skipped += 1
        if i < n and keys[idx[i]] == lk:
            if skipped < allowed:
                rep.error(f"an overflow record before logged frame {j} counts {allowed} dropped "
                          f"CAN frame(s), but {skipped} are missing there")
            rep.dropped_counted += skipped
            pairs.append((idx[i], j))
            i += 1
            continue
        rep.dropped_counted += skipped
        # no match within the overflow budget: find the logged frame further on
        k = next((k for k in range(i, min(n, i + LOOKAHEAD)) if keys[idx[k]] == lk), None)
        if k is not None:
            miss = k - i
            s0 = idx[i]
            rep.missing += miss
            rep.error(f"{_describe(s0, sent.frames[s0], sent.t[s0], t0)} is missing from the "
                      f"log" + (f" (and the {miss - 1} sent after it)" if miss > 1 else "")
                      + f", before logged frame {j}; no overflow record counts "
                      + ("it" if miss == 1 else "them"))
            pairs.append((idx[k], j))
            i = k + 1
        elif i < n and (sent.frames[idx[i]].id, sent.frames[idx[i]].ext) == (lf.id, lf.is_extended):
            s0 = idx[i]
            rep.corrupted += 1
            rep.error(f"{_describe(s0, sent.frames[s0], sent.t[s0], t0)} logged as frame {j} "
                      f"with different content: {_diff(sent.frames[s0].data, lf.data)}"
                      + ("" if sent.frames[s0].fd == lf.fd else
                         f"; FD sent {sent.frames[s0].fd}, logged {lf.fd}")
                      + ("" if sent.frames[s0].brs == lf.brs else
                         f"; BRS sent {sent.frames[s0].brs}, logged {lf.brs}"))
            i += 1
        else:
            rep.unexpected += 1
            ide = f"0x{lf.id:08X}" if lf.is_extended else f"0x{lf.id:03X}"
            rep.error(f"logged frame {j} (id {ide}, data {_hex(lf.data)}, t {lf.time_us} us) "
                      f"matches no frame sent (in order) after sent frame "
                      f"#{idx[i - 1] if i else -1}")
    rest = n - i
    counted = min(rest, tail)
    rep.dropped_counted += counted
    if rest > counted:
        s0 = idx[i + counted]
        rep.missing += rest - counted
        rep.error(f"{_describe(s0, sent.frames[s0], sent.t[s0], t0)} and the {rest - counted - 1} "
                  f"sent after it are missing from the end of the log; no overflow record "
                  f"counts them")
    elif tail > rest:
        rep.error(f"overflow records at the end count {tail} dropped CAN frames, "
                  f"only {rest} are missing")
    _latency(rep, sent, frames, pairs, tolerance_ms, t0)
    return rep


def _latency(rep: FrameReport, sent: SendLog, frames: list[CanFrame],
             pairs: list[tuple[int, int]], tolerance_ms: float | None, t0: float) -> None:
    """Firmware timestamp minus send time, less its minimum (the clocks' offset): how
    late each frame was stamped relative to the promptest one, per boot. The tolerance
    bounds the p99 (a host that deschedules the DUT for a moment is not a firmware
    fault); no frame may be later than HARD_MAX_MS."""
    if not pairs:
        return
    s = np.array([p[0] for p in pairs])
    j = np.array([p[1] for p in pairs])
    boots = np.array([frames[k].boot for k in j])
    d = np.array([frames[k].time_us for k in j], dtype=np.float64) / 1e3 \
        - np.array(sent.t)[s] * 1e3
    lat = np.empty_like(d)
    for b in np.unique(boots):
        m = boots == b
        lat[m] = d[m] - d[m].min()
    p99 = float(np.percentile(lat, 99))
    rep.latency_ms = {"p50": float(np.percentile(lat, 50)), "p99": p99,
                      "max": float(lat.max()), "tolerance": tolerance_ms}
    if tolerance_ms is None:
        return
    over = np.nonzero(lat > tolerance_ms)[0]
    if p99 > tolerance_ms:
        k = int(over[0])
        si = int(s[k])
        first = _describe(si, sent.frames[si], sent.t[si], t0)
        rep.error(f"timestamp latency p99 {p99:.1f} ms over the tolerance of {tolerance_ms} ms "
                  f"({len(over)} frames over it; first {first}, {lat[k]:.1f} ms late)")
    worst = np.nonzero(lat > HARD_MAX_MS)[0]
    if len(worst):
        k = int(worst[0])
        si = int(s[k])
        rep.error(f"{_describe(si, sent.frames[si], sent.t[si], t0)} timestamped "
                  f"{lat[k]:.1f} ms late (no frame may be over {HARD_MAX_MS:.0f} ms); "
                  f"{len(worst)} frame(s) over it")


@dataclass
class GnssReport:
    sent_fix: int = 0
    sent_nofix: int = 0
    silent: int = 0
    logged_fix: int = 0
    matched: int = 0
    gaps_s: list[float] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def check_gnss(sent: Sequence[Epoch], records: Iterable, *, start_s: float = 0.0) -> GnssReport:
    """Every fix epoch sent (after ``start_s``, when the DUT had opened the port) logged
    once with its exact UTC time and position; no fix logged for a no-fix epoch."""
    rep = GnssReport()
    fixes = [r for r in records if isinstance(r, GnssFix)]
    t_first = sent[0].t if sent else 0.0
    want = {}
    nofix = set()
    for e in sent:
        if e.t - t_first < start_s:
            continue
        key = (nmea.days(e.utc), nmea.ms_of_day(e.utc))
        if e.kind == "fix":
            rep.sent_fix += 1
            want[key] = e
        elif e.kind == "nofix":
            rep.sent_nofix += 1
            nofix.add(key)
        else:
            rep.silent += 1
    got = {}
    for f in fixes:
        if f.fix_type == 0:
            continue
        rep.logged_fix += 1
        key = (f.utc_days, f.utc_ms)
        if key in got:
            _gerr(rep, f"fix for UTC day {key[0]} ms {key[1]} logged twice")
        got[key] = f
        if key in nofix:
            _gerr(rep, f"a fix logged for UTC ms {key[1]}, an epoch sent without fix")
    lat_ms = []
    for key, e in sorted(want.items()):
        g = got.get(key)
        if g is None:
            _gerr(rep, f"GNSS epoch {e.utc:%H:%M:%S.%f} (fix, lat {e.lat} lon {e.lon}) "
                       f"not logged")
            continue
        if (g.lat, g.lon) != (e.lat, e.lon):
            _gerr(rep, f"GNSS epoch {e.utc:%H:%M:%S.%f}: sent lat/lon {e.lat}/{e.lon} "
                       f"(1e-7 deg), logged {g.lat}/{g.lon}")
            continue
        rep.matched += 1
        lat_ms.append(g.time_us / 1e3 - e.t * 1e3)
    if lat_ms:
        a = np.array(lat_ms)
        a -= a.min()
        rep.latency_ms = {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
                          "max": float(a.max())}
    t = sorted(f.time_us for f in got.values())
    if len(t) > 1:
        gaps = np.diff(t) / 1e6
        rep.gaps_s = [float(g) for g in gaps[gaps > 1.0]]
    return rep


def _gerr(rep: GnssReport, msg: str) -> None:
    if len(rep.errors) < MAX_ERRORS:
        rep.errors.append(msg)

"""Put CAN frames back on a bus with their original timing.

:func:`replay` sends :class:`can.Message` objects (from :func:`dunelog.io.iter_messages`
or anything else) on one python-can bus, or on several buses chosen by the frame's
source channel, each frame at ``t0 + (t - t_first) / speed`` on :func:`time.perf_counter`.
The schedule is absolute (computed from the log time of each frame, never from the
previous send), so timing errors do not accumulate over an hour-long replay.  The
process sleeps until about ``spin_s`` before a frame is due, then busy-waits.

:func:`bus_guard` decides whether a bus is virtual; the CLI refuses any other bus unless
``--live-bus`` is given, because replaying onto a vehicle can move actuators.

The :class:`ReplayReport` holds the frames sent and skipped and the achieved timing
error (time ``bus.send`` was called minus the scheduled time): p50, p99 and max.
"""

from __future__ import annotations

import os
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

__all__ = ["replay", "ReplayReport", "IdFilter", "bus_guard", "is_virtual_bus",
           "parse_ids", "parse_remap", "parse_channel_map", "LiveBusRefused",
           "VIRTUAL_INTERFACES", "LIVE_BUS_REASON", "ARPHRD_CAN"]

VIRTUAL_INTERFACES = ("virtual", "udp_multicast")
ARPHRD_CAN = 280
LIVE_BUS_REASON = "replaying onto a vehicle can move actuators"
SYS_CLASS_NET = Path("/sys/class/net")


class LiveBusRefused(Exception):
    """The bus is not a virtual one and ``--live-bus`` / ``live_bus=True`` was not given."""


# --------------------------------------------------------------------------- the guard
def is_virtual_bus(interface: str | None, channel: Any,
                   sys_class_net: str | os.PathLike[str] = SYS_CLASS_NET) -> tuple[bool, str]:
    """``(virtual, why)`` for a python-can interface and channel.

    Virtual: interface ``virtual`` or ``udp_multicast``, or ``socketcan`` on a channel whose
    ``/sys/class/net/<ch>/type`` is 280 (CAN) and that has no ``device`` link (no hardware
    behind it) or whose name starts with ``vcan``.  Anything else is not.
    """
    iface = (interface or "").lower()
    if iface in VIRTUAL_INTERFACES:
        return True, f"interface {iface!r} is virtual"
    if iface != "socketcan":
        return False, f"interface {interface!r} talks to hardware"
    ch = str(channel or "")
    if not ch or "/" in ch or ch in (".", ".."):
        return False, f"socketcan channel {ch!r} is not a single interface"
    d = Path(sys_class_net) / ch
    try:
        kind = int((d / "type").read_text().strip())
    except (OSError, ValueError):
        return False, f"socketcan channel {ch!r}: no such network interface here"
    if kind != ARPHRD_CAN:
        return False, f"socketcan channel {ch!r} is not a CAN interface (type {kind})"
    if (d / "device").exists() and not ch.startswith("vcan"):
        return False, f"socketcan channel {ch!r} is a hardware CAN interface"
    return True, f"socketcan channel {ch!r} is a virtual CAN interface"


def bus_guard(interface: str | None, channel: Any, live_bus: bool = False,
              sys_class_net: str | os.PathLike[str] = SYS_CLASS_NET) -> str:
    """Raise :class:`LiveBusRefused` for a non-virtual bus unless ``live_bus``; returns
    the reason the bus was accepted."""
    ok, why = is_virtual_bus(interface, channel, sys_class_net)
    if ok:
        return why
    if live_bus:
        return f"{why}; accepted because --live-bus was given"
    raise LiveBusRefused(
        f"refusing to replay onto interface {interface!r} channel {channel!r}: {why}, "
        f"and {LIVE_BUS_REASON}. Use a virtual bus (vcan, virtual, udp_multicast) or pass "
        f"--live-bus if you really mean to send onto a real bus.")


# --------------------------------------------------------------------------- parsing
def _int(s: str) -> int:
    try:
        return int(s.strip(), 0)
    except ValueError:
        raise ValueError(f"{s.strip()!r} is not a CAN id (decimal, or hex as 0x1A0)") \
            from None


def parse_ids(text: str) -> list[range]:
    """``"0x100,0x200-0x2FF,1024"`` -> ranges (inclusive ends in the text)."""
    out: list[range] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            lo, hi = _int(a), _int(b)
            if hi < lo:
                raise ValueError(f"id range {part!r}: end before start")
            out.append(range(lo, hi + 1))
        else:
            v = _int(part)
            out.append(range(v, v + 1))
    if not out:
        raise ValueError(f"no ids in {text!r}")
    return out


def parse_remap(items: Sequence[str]) -> dict[int, int]:
    """``["0x100:0x200", ...]`` -> ``{0x100: 0x200}``."""
    out: dict[int, int] = {}
    for it in items:
        try:
            a, b = it.split(":")
            old, new = _int(a), _int(b)
        except ValueError:
            raise ValueError(f"--remap {it!r}: expected OLD:NEW, e.g. 0x100:0x200") from None
        if not 0 <= new < 1 << 29:
            raise ValueError(f"--remap {it!r}: {new:#x} is not a CAN id")
        out[old] = new
    return out


def parse_channel_map(items: Sequence[str]) -> dict[str, str]:
    """``["0:vcan0", "1:vcan1"]`` -> ``{"0": "vcan0", "1": "vcan1"}`` (source channel as
    the log names it -> bus channel)."""
    out: dict[str, str] = {}
    for it in items:
        src, sep, dst = it.partition(":")
        if not sep or not src or not dst:
            raise ValueError(f"--map-channel {it!r}: expected SRC:BUSCHANNEL, e.g. 0:vcan0")
        out[src.strip()] = dst.strip()
    return out


class IdFilter:
    """Keep frames whose id is in ``ids`` (all if None) and not in ``exclude``."""

    def __init__(self, ids: Iterable[int | range] | None = None,
                 exclude: Iterable[int | range] | None = None) -> None:
        self.ids = self._norm(ids)
        self.exclude = self._norm(exclude)

    @staticmethod
    def _norm(x: Iterable[int | range] | None) -> tuple[set[int], list[range]] | None:
        if x is None:
            return None
        sets: set[int] = set()
        ranges: list[range] = []
        for r in x:
            if isinstance(r, range):
                if len(r) <= 64:
                    sets.update(r)
                else:
                    ranges.append(r)
            else:
                sets.add(int(r))
        return sets, ranges

    @staticmethod
    def _hit(spec: tuple[set[int], list[range]], cid: int) -> bool:
        sets, ranges = spec
        return cid in sets or any(cid in r for r in ranges)

    def __call__(self, cid: int) -> bool:
        if self.ids is not None and not self._hit(self.ids, cid):
            return False
        return self.exclude is None or not self._hit(self.exclude, cid)


# --------------------------------------------------------------------------- the report
_HIST_US = 200_000          # exact 1 us bins up to 200 ms; larger errors kept as values


class _ErrorStats:
    """Timing errors (seconds) in 1 us bins: constant memory for hour-long replays."""

    def __init__(self) -> None:
        self.bins = [0] * _HIST_US
        self.big = array("d")
        self.n = 0
        self.max = 0.0
        self.sum = 0.0

    def add(self, e: float) -> None:
        self.n += 1
        self.sum += e
        if e > self.max:
            self.max = e
        us = int(e * 1e6) if e > 0 else 0
        if us < _HIST_US:
            self.bins[us] += 1
        else:
            self.big.append(e)

    def quantile(self, q: float) -> float | None:
        if not self.n:
            return None
        k = min(self.n - 1, max(0, int(q * self.n + 0.999999) - 1))   # nearest rank
        acc = 0
        for us, c in enumerate(self.bins):
            acc += c
            if acc > k:
                return min((us + 1) * 1e-6, self.max)     # upper edge of the 1 us bin
        big = sorted(self.big)
        return big[k - acc]


@dataclass
class ReplayReport:
    """What a replay did.

    ``sent``: frames handed to a bus; ``skipped_filter``: dropped by the id filters;
    ``skipped_window``: outside ``start``/``end``; ``skipped_channel``: source channel not
    in the channel map; ``skipped_error``: error frames (never replayed); ``failed``:
    ``bus.send`` raised.  Timing error = time ``send`` was called minus the scheduled
    time, in seconds.
    """

    sent: int = 0
    sent_fd: int = 0
    skipped_filter: int = 0
    skipped_window: int = 0
    skipped_channel: int = 0
    skipped_error: int = 0
    failed: int = 0
    first_failure: str = ""
    passes: int = 0
    log_span_s: float = 0.0
    wall_s: float = 0.0
    speed: float = 1.0
    interrupted: bool = False
    per_bus: dict = field(default_factory=dict)
    _stats: _ErrorStats = field(default_factory=_ErrorStats, repr=False)

    @property
    def skipped(self) -> int:
        """Frames not sent because of the filters (ids, window, channel map, error frames)."""
        return self.skipped_filter + self.skipped_window + self.skipped_channel \
            + self.skipped_error

    @property
    def error_p50(self) -> float | None:
        return self._stats.quantile(0.50)

    @property
    def error_p99(self) -> float | None:
        return self._stats.quantile(0.99)

    @property
    def error_max(self) -> float | None:
        return self._stats.max if self._stats.n else None

    @property
    def error_mean(self) -> float | None:
        return self._stats.sum / self._stats.n if self._stats.n else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent, "sent_fd": self.sent_fd, "skipped": self.skipped,
            "skipped_filter": self.skipped_filter, "skipped_window": self.skipped_window,
            "skipped_channel": self.skipped_channel, "skipped_error": self.skipped_error,
            "failed": self.failed, "first_failure": self.first_failure,
            "passes": self.passes, "speed": self.speed,
            "log_span_s": self.log_span_s, "wall_s": self.wall_s,
            "interrupted": self.interrupted, "per_bus": dict(self.per_bus),
            "timing_error_s": {"p50": self.error_p50, "p99": self.error_p99,
                               "max": self.error_max, "mean": self.error_mean},
        }

    def format(self) -> str:
        def ms(v):
            return "-" if v is None else f"{v * 1e3:.3f} ms"
        lines = [
            f"sent {self.sent} frames ({self.sent_fd} FD) in {self.wall_s:.3f} s "
            f"({self.passes} pass{'es' if self.passes != 1 else ''}, "
            f"{self.log_span_s:.3f} s of log at {self.speed:g}x)",
            f"skipped {self.skipped} frames: {self.skipped_filter} by id filter, "
            f"{self.skipped_window} outside the window, {self.skipped_channel} on unmapped "
            f"channels, {self.skipped_error} error frames",
            f"timing error (send - schedule): p50 {ms(self.error_p50)}, "
            f"p99 {ms(self.error_p99)}, max {ms(self.error_max)}",
        ]
        if len(self.per_bus) > 1:
            lines.append("per bus: " + ", ".join(f"{k}: {v}" for k, v in self.per_bus.items()))
        if self.failed:
            lines.append(f"{self.failed} frames could not be sent (first: {self.first_failure})")
        if self.interrupted:
            lines.append("interrupted before the end")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- replay
def _log_positions(messages: Iterable, max_gap: float | None) -> Iterator[tuple[float, Any]]:
    """``(position_s, message)``: seconds since the first frame on a continuous log clock.
    Time going backwards (a new boot without UTC) continues from the last position; a gap
    longer than ``max_gap`` is shortened to ``max_gap``."""
    offset: float | None = None
    last = 0.0
    for m in messages:
        ts = float(m.timestamp or 0.0)
        if offset is None:
            offset = -ts
        pos = ts + offset
        if pos < last or (max_gap is not None and pos - last > max_gap):
            step = 0.0 if pos < last or max_gap is None else max_gap
            offset = last + step - ts
            pos = last + step
        last = pos
        yield pos, m


def _messages_factory(messages) -> Callable[[], Iterable]:
    if callable(messages):
        return messages
    if iter(messages) is messages:          # a one-shot iterator: keep it for the loops
        cache: list = []

        def first_then_cache():
            for m in messages:
                cache.append(m)
                yield m
        state = {"used": False}

        def factory():
            if not state["used"]:
                state["used"] = True
                return first_then_cache()
            return cache
        return factory
    return lambda: messages


def _bus_key(channel) -> str:
    return "" if channel is None else str(channel)


def replay(messages, bus, speed: float = 1.0, *, loop: int = 1,
           start: float | None = None, end: float | None = None,
           ids: Iterable[int | range] | None = None,
           exclude_ids: Iterable[int | range] | None = None,
           remap: Mapping[int, int] | None = None,
           max_gap: float | None = None, loop_gap: float = 0.0,
           spin_s: float = 0.001, send_timeout: float | None = 0.1,
           clock: Callable[[], float] = time.perf_counter,
           sleep: Callable[[float], None] = time.sleep,
           stop: Callable[[], bool] | None = None) -> ReplayReport:
    """Send ``messages`` on ``bus`` with their original timing; return a :class:`ReplayReport`.

    ``messages``: an iterable of :class:`can.Message` in log order, or a callable
    returning a fresh one (used for each loop pass; a one-shot iterator is cached in
    memory when ``loop != 1``).
    ``bus``: a :class:`can.BusABC`, or a mapping from source channel (``str(msg.channel)``,
    e.g. ``"0"``) to a bus - frames of a channel not in the mapping are skipped.
    ``speed``: time factor (2.0 = twice as fast).  ``loop``: passes (0 = forever); each
    pass starts ``loop_gap`` seconds (log time) after the last frame of the previous one.
    ``start``/``end``: window in seconds of log time since the first frame of the input
    (``start <= t < end``); the replay starts at the first frame of the window.
    ``ids``/``exclude_ids``: ids or ranges kept / dropped (original ids, before
    ``remap``).  ``remap``: ``{old_id: new_id}``; a new id above 0x7FF makes the frame
    extended.  ``max_gap``: longest pause (log seconds); longer gaps are shortened.
    Time going backwards in the log (a reboot without UTC time) continues without pause.
    Error frames are counted and not sent.  ``stop()`` returning true ends the replay.
    """
    import can

    if not speed > 0:
        raise ValueError(f"speed must be > 0, not {speed}")
    if loop < 0:
        raise ValueError("loop must be >= 0 (0 = forever)")
    buses: Mapping[str, Any] | None = None
    if isinstance(bus, Mapping):
        buses = {str(k): v for k, v in bus.items()}
        names = {str(k): str(getattr(v, "channel_info", k)) for k, v in buses.items()}
    keep = IdFilter(ids, exclude_ids)
    remap = dict(remap or {})
    factory = _messages_factory(messages)
    rep = ReplayReport(speed=speed)
    stats = rep._stats
    inv = 1.0 / speed
    t0: float | None = None
    base = 0.0                      # log position where this pass starts (log seconds)
    w0 = None                       # position of the first frame of the window
    span_end = 0.0
    perf = clock
    try:
        p = 0
        while loop == 0 or p < loop:
            if stop is not None and stop():
                rep.interrupted = True
                break
            last_pos = None
            for pos, m in _log_positions(factory(), max_gap):
                if (start is not None and pos < start) or (end is not None and pos >= end):
                    rep.skipped_window += 1
                    continue
                if w0 is None:
                    w0 = pos
                if m.is_error_frame:
                    rep.skipped_error += 1
                    continue
                cid = m.arbitration_id
                if not keep(cid):
                    rep.skipped_filter += 1
                    continue
                if buses is not None:
                    key = _bus_key(m.channel)
                    target_bus = buses.get(key)
                    if target_bus is None:
                        rep.skipped_channel += 1
                        continue
                    bname = names[key]
                else:
                    target_bus = bus
                    bname = ""
                ext = m.is_extended_id
                if cid in remap:
                    cid = remap[cid]
                    ext = ext or cid > 0x7FF
                out = can.Message(
                    arbitration_id=cid, is_extended_id=ext, is_remote_frame=m.is_remote_frame,
                    is_fd=m.is_fd, bitrate_switch=m.bitrate_switch,
                    error_state_indicator=m.error_state_indicator, dlc=m.dlc,
                    data=m.data, channel=None, check=False)
                rel = base + pos - w0
                last_pos = rel
                if t0 is None:
                    t0 = perf()
                due = t0 + rel * inv
                now = perf()
                if due - now > spin_s:
                    if stop is not None and stop():
                        rep.interrupted = True
                        break
                    sleep(due - now - spin_s)
                now = perf()
                while now < due:
                    now = perf()
                try:
                    target_bus.send(out, timeout=send_timeout)
                except can.CanError as e:
                    rep.failed += 1
                    if not rep.first_failure:
                        rep.first_failure = f"{type(e).__name__}: {e}"
                    continue
                stats.add(now - due)        # when the frame was handed to the bus
                rep.sent += 1
                if m.is_fd:
                    rep.sent_fd += 1
                if buses is not None:
                    rep.per_bus[bname] = rep.per_bus.get(bname, 0) + 1
            if rep.interrupted:
                break
            p += 1
            rep.passes = p
            if last_pos is None:
                break               # nothing to send: looping forever would spin
            span_end = last_pos
            # the next pass starts loop_gap after this one's last frame; its frames are
            # placed relative to its own first frame in the window
            base = last_pos + loop_gap
            w0 = None
    except KeyboardInterrupt:
        rep.interrupted = True
    rep.log_span_s = span_end
    rep.wall_s = (perf() - t0) if t0 is not None else 0.0
    return rep

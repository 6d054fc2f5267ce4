"""Put a planned frame list on a python-can bus at its times, keeping the sender's own
log: what went out and when (the HIL checks compare the DUT's card with this log)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

import can


@dataclass(frozen=True)
class Frame:
    """One planned frame: send time (s from the start), and what goes on the bus."""
    t: float
    id: int
    ext: bool
    fd: bool
    brs: bool
    data: bytes
    name: str = ""


@dataclass
class SendLog:
    """Frames actually sent (in order) and the monotonic time each send returned."""
    frames: list[Frame] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    late_max_s: float = 0.0

    def slice(self, a: int, b: int | None = None) -> "SendLog":
        """The frames sent a..b-1, as their own log."""
        return SendLog(self.frames[a:b], self.t[a:b], self.late_max_s)

    def find(self, keys: Sequence[tuple], start: int = 0) -> int | None:
        """Index of the first frame at or after ``start`` where this run of
        (id, ext, fd, brs, data) keys was sent back to back. Payloads repeat on a real bus;
        a run of a few dozen frames pins the place down."""
        if not keys:
            return None
        mine = [(f.id, f.ext, f.fd, f.brs, f.data) for f in self.frames]
        n = len(keys)
        for i in range(start, len(mine) - n + 1):
            if mine[i] == keys[0] and mine[i:i + n] == list(keys):
                return i
        return None

    def rate(self) -> float:
        if len(self.t) < 2:
            return 0.0
        return (len(self.t) - 1) / (self.t[-1] - self.t[0])


def send_plan(bus: can.BusABC, plan: Sequence[Frame], *, stop: threading.Event | None = None,
              log: SendLog | None = None) -> SendLog:
    """Send ``plan`` on ``bus`` against an absolute schedule (no drift: a late frame is
    sent at once and the next keeps its own time). Frames due together go out back to
    back; between them the sender sleeps rather than spins, leaving the CPU to the DUT."""
    log = log if log is not None else SendLog()
    t0 = time.monotonic() + 0.05
    now = time.monotonic
    for f in plan:
        if stop is not None and stop.is_set():
            break
        due = t0 + f.t
        d = due - now()
        if d > 0.0005:
            time.sleep(d)
        msg = can.Message(arbitration_id=f.id, is_extended_id=f.ext, is_fd=f.fd,
                          bitrate_switch=f.brs, data=f.data)
        while True:
            try:
                bus.send(msg)
                break
            except can.CanOperationError:     # socket buffer full (ENOBUFS): retry
                time.sleep(0.0002)
        t = now()
        log.frames.append(f)
        log.t.append(t)
        if t - due > log.late_max_s:
            log.late_max_s = t - due
    return log

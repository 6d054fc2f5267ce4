"""GNSS simulator: a receiver on a pty (pyserial-compatible: open its ``port`` path like a
serial device) sending NMEA or UBX NAV-PVT epochs at 1-25 Hz along a route (a GPX file,
or a built-in loop), with scripted fix loss, position jumps and receiver restarts.

    python -m hil.gnss_sim --rate 10 --seconds 60 [--gpx route.gpx] [--protocol ubx]
      (prints the pty path; point the firmware's gnss.port at it)
"""
from __future__ import annotations

import argparse
import math
import os
import termios
import threading
import time
import tty
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Sequence

from hil import nmea, ubx

EARTH_M = 6_371_000.0
# Built-in loop: a 2 km-radius circle in the Ha'il dunes (Dakar 2026 stage country).
LOOP_CENTRE = (27.5114, 41.6903)
LOOP_RADIUS_M = 2000.0


@dataclass(frozen=True)
class GnssEvent:
    """Scripted trouble. kind: "outage" (epochs keep coming, without a fix), "restart"
    (receiver silent for duration_s, then no-fix epochs for 2 s before the fix returns),
    "jump" (position off by ``metres`` northwards for duration_s)."""
    kind: str
    at_s: float
    duration_s: float
    metres: float = 0.0

    def covers(self, t: float) -> bool:
        return self.at_s <= t < self.at_s + self.duration_s


@dataclass(frozen=True)
class Epoch:
    """One epoch as sent: host monotonic time of the write, UTC, position (1e-7 deg),
    and what was sent: "fix", "nofix" or nothing ("silent", not written)."""
    t: float
    utc: datetime
    lat: int
    lon: int
    kind: str


class Route:
    """A polyline (lat, lon in degrees) driven at a constant speed, looping at its end."""

    def __init__(self, points: Sequence[tuple[float, float]], speed_kmh: float = 60.0) -> None:
        if len(points) < 2:
            raise ValueError("a route needs at least two points")
        self.points = list(points)
        self.speed = speed_kmh / 3.6
        self.cum = [0.0]
        for a, b in zip(self.points, self.points[1:]):
            self.cum.append(self.cum[-1] + _dist(a, b))
        if self.cum[-1] <= 0:
            raise ValueError("route has zero length")

    @classmethod
    def loop(cls, speed_kmh: float = 60.0, n: int = 360) -> "Route":
        lat0, lon0 = LOOP_CENTRE
        pts = []
        for i in range(n + 1):
            a = 2 * math.pi * i / n
            pts.append((lat0 + math.degrees(LOOP_RADIUS_M * math.cos(a) / EARTH_M),
                        lon0 + math.degrees(LOOP_RADIUS_M * math.sin(a) / EARTH_M)
                        / math.cos(math.radians(lat0))))
        return cls(pts, speed_kmh)

    @classmethod
    def from_gpx(cls, path: str, speed_kmh: float = 60.0) -> "Route":
        import gpxpy
        with open(path) as f:
            g = gpxpy.parse(f)
        pts = [(p.latitude, p.longitude) for trk in g.tracks for seg in trk.segments
               for p in seg.points] or [(p.latitude, p.longitude) for r in g.routes
                                        for p in r.points]
        return cls(pts, speed_kmh)

    def at(self, t: float) -> tuple[float, float, float]:
        """(lat, lon, course degrees) after t seconds of driving."""
        d = (self.speed * t) % self.cum[-1]
        lo, hi = 0, len(self.cum) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.cum[mid] <= d:
                lo = mid
            else:
                hi = mid
        a, b = self.points[lo], self.points[lo + 1]
        seg = self.cum[lo + 1] - self.cum[lo]
        f = (d - self.cum[lo]) / seg if seg else 0.0
        lat, lon = a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
        course = math.degrees(math.atan2((b[1] - a[1]) * math.cos(math.radians(lat)),
                                         b[0] - a[0])) % 360
        return lat, lon, course


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, la2 = math.radians(a[0]), math.radians(b[0])
    dla, dlo = la2 - la1, math.radians(b[1] - a[1])
    h = math.sin(dla / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(dlo / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass
class GnssSim:
    """A receiver behind a pty. Start it, point the DUT at ``port``, stop it; ``sent``
    holds every epoch written (the rig's send log)."""
    rate_hz: int = 10
    protocol: str = "nmea"
    route: Route = field(default_factory=Route.loop)
    script: Sequence[GnssEvent] = ()
    start_utc: datetime = datetime(2026, 1, 10, 7, 45, 0, tzinfo=timezone.utc)
    sent: list[Epoch] = field(default_factory=list)
    device: str | None = None       # a serial adapter wired to a real board, instead of a pty
    baud: int = 115200

    def __post_init__(self) -> None:
        if not 1 <= self.rate_hz <= 25:
            raise ValueError(f"rate_hz {self.rate_hz}: allowed 1..25")
        if self.protocol not in ("nmea", "ubx"):
            raise ValueError(f"protocol {self.protocol!r}: allowed nmea, ubx")
        if self.device:
            self.master = os.open(self.device, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self.master)
            attrs = termios.tcgetattr(self.master)
            speed = getattr(termios, f"B{self.baud}")
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(self.master, termios.TCSANOW, attrs)
            self.slave = -1
            self.port = self.device
        else:
            self.master, self.slave = os.openpty()
            tty.setraw(self.slave)             # no echo or line editing before the DUT opens it
            self.port = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._th: threading.Thread | None = None

    def epoch_bytes(self, k: int) -> tuple[bytes, Epoch | None]:
        """What the receiver sends at epoch k (k / rate_hz seconds after the start)."""
        t = k / self.rate_hz
        utc = self.start_utc + timedelta(microseconds=round(t * 1e6))
        lat, lon, course = self.route.at(t)
        kind = "fix"
        for ev in self.script:
            if ev.kind == "jump" and ev.covers(t):
                lat += math.degrees(ev.metres / EARTH_M)
            elif ev.kind == "outage" and ev.covers(t):
                kind = "nofix"
            elif ev.kind == "restart":
                if ev.covers(t):
                    kind = "silent"
                elif ev.at_s + ev.duration_s <= t < ev.at_s + ev.duration_s + 2 and kind == "fix":
                    kind = "nofix"
        la, lo = round(lat * 1e7), round(lon * 1e7)
        ep = Epoch(0.0, utc, la, lo, kind)
        if kind == "silent":
            return b"", ep
        speed = self.route.speed
        if self.protocol == "ubx":
            fix = 3 if kind == "fix" else 0
            b = ubx.nav_pvt(utc, fix=fix, lat=la if fix else 0, lon=lo if fix else 0,
                            hmsl_mm=612_000, speed_mms=round(speed * 1000),
                            heading_1e5=round(course * 1e5), sats=14 if fix else 0)
            return b + ubx.nav_dop(utc, 90 if fix else 9999), ep
        if kind == "nofix":
            return nmea.no_fix_epoch(utc), ep
        return nmea.epoch(utc, la, lo, alt_dm=6120, speed_kmh10=round(speed * 36),
                          course_d10=round(course * 10) % 3600, sats=14, hdop_10=9), ep

    def run(self, seconds: float) -> None:
        """Send epochs for ``seconds`` (blocking), against an absolute schedule."""
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set() and k / self.rate_hz < seconds:
            d = t0 + k / self.rate_hz - time.monotonic()
            if d > 0:
                self._stop.wait(d)
            data, ep = self.epoch_bytes(k)
            if data:
                os.write(self.master, data)
            if ep is not None:
                self.sent.append(Epoch(time.monotonic(), ep.utc, ep.lat, ep.lon, ep.kind))
            k += 1

    def start(self, seconds: float = 1e9) -> "GnssSim":
        self._th = threading.Thread(target=self.run, args=(seconds,), daemon=True)
        self._th.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._th is not None:
            self._th.join()

    def close(self) -> None:
        self.stop()
        for fd in (self.master, self.slave):
            if fd < 0:
                continue
            try:
                os.close(fd)
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.gnss_sim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=10)
    ap.add_argument("--protocol", choices=("nmea", "ubx"), default="nmea")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--gpx", help="route to follow (default: a 2 km loop)")
    ap.add_argument("--speed", type=float, default=60, help="km/h along the route")
    a = ap.parse_args(argv)
    route = Route.from_gpx(a.gpx, a.speed) if a.gpx else Route.loop(a.speed)
    sim = GnssSim(a.rate, a.protocol, route)
    print(sim.port, flush=True)
    try:
        sim.run(a.seconds)
    except KeyboardInterrupt:
        pass
    print(f"{len(sim.sent)} epochs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

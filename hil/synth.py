"""Synthetic recce-drive input for the firmware under MicroPython (CPython side).

Builds a feed file for ``hil/feed.py`` (the file-fed DUT runner) and keeps the list of
everything it fed, so tests can compare what the host reads back from the card with what
went in, field for field. ``python hil/synth.py OUT.feed --minutes 10`` writes one.
"""
from __future__ import annotations

import argparse
import math
import random
import struct
from dataclasses import dataclass, field

TICKS_WRAP = 1 << 30


@dataclass
class Fed:
    """One input as the firmware received it; ``t_us`` is microseconds since logger start."""
    kind: str                 # "can", "fix", "sync", "event", "status"
    t_us: int
    fields: dict = field(default_factory=dict)


class Feed:
    """Accumulates feed lines (see hil/feed.py) and the matching list of inputs."""

    def __init__(self, start_ticks: int = TICKS_WRAP - 30_000_000, logger_id: int = 7,
                 ring_size: int = 32768, block_shift: int = 12, seg_blocks: int = 256,
                 seg_s: int = 120, flush_ms: int = 1000, vehicle: str = "RECCE-07") -> None:
        self.start = start_ticks
        self.lines = [f"I {start_ticks} {logger_id} {ring_size} {block_shift} {seg_blocks} "
                      f"{seg_s} {flush_ms} {vehicle}"]
        self.fed: list[Fed] = []
        self.logger_id, self.vehicle = logger_id, vehicle

    def _t(self, t_us: int) -> int:
        return self.start + t_us

    def can(self, t_us: int, chan: int, can_id: int, data: bytes, *, ext: bool = False,
            fd: bool = False, rtr: bool = False, brs: bool = False, esi: bool = False,
            dlc: int | None = None) -> None:
        flags = (1 if ext else 0) | (2 if rtr else 0) | (8 if brs else 0) | (16 if esi else 0)
        if dlc is None:
            dlc = len(data) if len(data) <= 8 else {12: 9, 16: 10, 20: 11, 24: 12, 32: 13,
                                                   48: 14, 64: 15}[len(data)]
        self.lines.append(f"{'D' if fd else 'C'} {self._t(t_us)} {chan} {flags} {can_id} {dlc} "
                          f"{data.hex()}")
        self.fed.append(Fed("can", t_us, dict(channel=chan, id=can_id, flags=flags, dlc=dlc,
                                               data=bytes(data), fd=fd)))

    def fix(self, t_us: int, fix_type: int, sats: int, lat: int, lon: int, alt_mm: int,
            utc_ms: int, utc_days: int, speed_cms: int, course_cdeg: int, hdop_c: int) -> None:
        a = (fix_type, sats, lat, lon, alt_mm, utc_ms, utc_days, speed_cms, course_cdeg, hdop_c)
        self.lines.append(f"G {self._t(t_us)} " + " ".join(map(str, a)))
        self.fed.append(Fed("fix", t_us, dict(zip(
            ("fix_type", "sats", "lat", "lon", "alt_mm", "utc_ms", "utc_days", "speed_cms",
             "course_cdeg", "hdop_c"), a))))

    def sync(self, t_us: int, source: int, flags: int, utc_days: int, utc_ms: int,
             utc_us: int = 0) -> None:
        self.lines.append(f"Y {self._t(t_us)} {source} {flags} {utc_days} {utc_ms} {utc_us}")
        self.fed.append(Fed("sync", t_us, dict(source=source, flags=flags, utc_days=utc_days,
                                                utc_ms=utc_ms, utc_us=utc_us)))

    def event(self, t_us: int, kind: int, code: int, text: str = "") -> None:
        self.lines.append(f"E {self._t(t_us)} {kind} {code} {text}".rstrip())
        self.fed.append(Fed("event", t_us, dict(kind=kind, code=code, text=text)))

    def status(self, t_us: int) -> None:
        self.lines.append(f"T {self._t(t_us)}")
        self.fed.append(Fed("status", t_us))

    def service(self, t_us: int) -> None:
        self.lines.append(f"S {self._t(t_us)}")

    def close(self, t_us: int) -> None:
        self.lines.append(f"X {self._t(t_us)}")

    def write(self, path: str) -> None:
        with open(path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


# A loop of the 2026 bivouac area near Ha'il, Saudi Arabia: centre and radius.
_LAT0, _LON0, _R_M = 27.5114, 41.6908, 3000.0
_DAY0 = 20_420                       # 2025-11-28 as days since 1970


def recce_drive(seconds: float = 600, seed: int = 1, **feed_kw) -> Feed:
    """A deterministic synthetic drive: ~290 CAN frames/s on two channels (standard,
    extended and FD ids), 10 Hz GNSS fixes on a loop with a 20 s outage, 1 Hz time sync,
    a button mark every 45 s, status every 10 s, main-loop service every 5 ms."""
    rnd = random.Random(seed)
    f = Feed(**feed_kw)
    cycles = [  # (period_us, channel, id, ext, fd, length)
        (10_000, 0, 0x0C0, False, False, 8),      # engine
        (20_000, 0, 0x1A0, False, False, 8),      # wheel speeds
        (10_000, 0, 0x1B0, False, False, 6),      # steering
        (1_000_000, 0, 0x2F0, False, False, 4),   # temperatures
        (100_000, 0, 0x18FEF100, True, False, 8), # J1939-style fuel economy
        (50_000, 1, 0x300, False, True, 64),      # FD: suspension travel
    ]
    events: list[tuple[int, int, tuple[int, int, bool, bool, int] | None]] = []
    for per, ch, cid, ext, fd, ln in cycles:
        phase = rnd.randrange(per)
        events += [(t, 0, (ch, cid, ext, fd, ln)) for t in range(phase, int(seconds * 1e6), per)]
    events += [(t, 1, None) for t in range(50_000, int(seconds * 1e6), 100_000)]       # fix
    events += [(t, 2, None) for t in range(60_000, int(seconds * 1e6), 1_000_000)]     # sync
    events += [(t, 3, None) for t in range(5_000_000, int(seconds * 1e6), 45_000_000)]  # mark
    events += [(t, 4, None) for t in range(10_000_000, int(seconds * 1e6), 10_000_000)]  # status
    events += [(t, 5, None) for t in range(0, int(seconds * 1e6), 5_000)]              # service
    events.sort(key=lambda e: (e[0], e[1]))
    marks = 0
    for t, kind, arg in events:
        speed = 20 + 15 * math.sin(t / 37e6)                       # m/s
        if kind == 0:
            assert arg is not None
            ch, cid, ext, fd, ln = arg
            rpm = int(1800 + 900 * math.sin(t / 5e6))
            body = struct.pack("<HBB", rpm, rnd.randrange(256), int(speed * 3.6))
            data = (body * 16)[:ln] if not fd else bytes(rnd.randrange(256) for _ in range(ln))
            f.can(t, ch, cid, data, ext=ext, fd=fd, brs=fd)
        elif kind == 1:
            if 120e6 <= t < 140e6:                                  # tunnel/canyon: no fix
                continue
            ang = t / 1e6 * speed / _R_M
            lat = round((_LAT0 + _R_M * math.sin(ang) / 111_320) * 1e7)
            lon = round((_LON0 + _R_M * math.cos(ang)
                         / (111_320 * math.cos(math.radians(_LAT0)))) * 1e7)
            utc_ms = (8 * 3600 * 1000 + t // 1000) % 86_400_000
            f.fix(t, 2, 9 + rnd.randrange(6), lat, lon, 650_000 + rnd.randrange(5000), utc_ms,
                  _DAY0, int(speed * 100), int(math.degrees(ang + math.pi / 2) % 360 * 100),
                  80 + rnd.randrange(60))
        elif kind == 2:
            f.sync(t, 1, 0, _DAY0, (8 * 3600 * 1000 + t // 1000) % 86_400_000, t % 1000)
        elif kind == 3:
            marks += 1
            f.event(t, 1, 300 + marks, f"WP{marks:03d} hazard")
        elif kind == 4:
            f.status(t)
        else:
            f.service(t)
    f.service(int(seconds * 1e6))
    f.close(int(seconds * 1e6))
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="feed file to write")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    f = recce_drive(a.minutes * 60, a.seed)
    f.write(a.out)
    print(f"{a.out}: {len(f.fed)} inputs over {a.minutes:g} min")


if __name__ == "__main__":
    main()


def overflow_drive(bursts: int = 40, seed: int = 2, ring_size: int = 2048, **feed_kw) -> Feed:
    """Bursts of back-to-back CAN frames (mixed classic/FD, with GNSS fixes and marks in
    between) into a small ring with the main loop stalled during each burst, so the ring
    overflows again and again; some bursts end the feed idle, so the overflow record has
    to be emitted by the consumer rather than by the next push."""
    rnd = random.Random(seed)
    f = Feed(ring_size=ring_size, flush_ms=200, **feed_kw)
    t = 1000
    for b in range(bursts):
        for i in range(rnd.randrange(20, 250)):
            t += rnd.randrange(20, 200)
            r = rnd.random()
            if r < 0.05:
                f.fix(t, 3, 12, 275_000_000 + i, 416_000_000 - i, 600_000, 1000 * i, _DAY0,
                      1500, 9000, 90)
            elif r < 0.07:
                f.event(t, 2, b, f"burst {b}")
            elif r < 0.25:
                f.can(t, 1, 0x400 + i % 16, bytes(rnd.randrange(256) for _ in range(
                    rnd.choice((12, 32, 64)))), fd=True, brs=True)
            else:
                n = rnd.randrange(9)
                f.can(t, 0, rnd.randrange(1 << 29) if r > 0.9 else rnd.randrange(0x800),
                      bytes(rnd.randrange(256) for _ in range(n)), ext=r > 0.9)
        t += rnd.randrange(1000, 50_000)
        f.service(t)                       # the main loop catches up
        if b % 3 == 0:
            t += 300_000
            f.service(t)                   # idle: nothing pushes, the consumer flushes
    f.service(t + 1000)
    f.close(t + 2000)
    return f

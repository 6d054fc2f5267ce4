"""NMEA 0183 sentences for the rig's GNSS input (CPython side): one epoch of GGA, RMC,
VTG, GSA and ZDA for a given position and UTC time, with valid checksums.

This is also the one NMEA checksum and framing of the CPython tests (the HIL rig's tests,
tests/fw/gnss_captures/make_captures.py): :func:`checksum`, :func:`sentence`,
:func:`parse`. The MicroPython tests (tests/fw/mp_test_gnss*.py) keep their own copy:
they run under MicroPython, without this package."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


def checksum(body: str | bytes) -> int:
    """The NMEA checksum of a sentence body (between '$' and '*'): XOR of its bytes."""
    cs = 0
    for ch in body.encode() if isinstance(body, str) else body:
        cs ^= ch
    return cs


def sentence(body: str) -> bytes:
    """'GNGGA,...' -> b'$GNGGA,...*CS\\r\\n'."""
    return f"${body}*{checksum(body):02X}\r\n".encode()


def parse(line: bytes) -> bytes:
    """The body of one framed sentence (``$body*CS``, CRLF optional); ValueError if the
    framing or the checksum is wrong."""
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"$") or line[-3:-2] != b"*":
        raise ValueError(f"not a framed NMEA sentence: {line!r}")
    body, cs = line[1:-3], line[-2:]
    if int(cs, 16) != checksum(body):
        raise ValueError(f"bad checksum {cs.decode()} (want {checksum(body):02X}): {line!r}")
    return body


def _coord(v_1e7: int, lat: bool) -> tuple[str, str]:
    """1e-7 degrees -> ('ddmm.mmmmmmm', hemisphere). Seven decimals of minutes hold a
    1e-7 degree value exactly (1e-7 deg = 6e-6 min), as RTK receivers print them."""
    hemi = ("N" if v_1e7 >= 0 else "S") if lat else ("E" if v_1e7 >= 0 else "W")
    deg, rem = divmod(abs(v_1e7), 10_000_000)
    m = rem * 60                                 # minutes, in units of 1e-7 minute
    width = 2 if lat else 3
    return f"{deg:0{width}d}{m // 10_000_000:02d}.{m % 10_000_000:07d}", hemi


def epoch(utc: datetime, lat: int, lon: int, alt_dm: int = 6500, speed_kmh10: int = 720,
          course_d10: int = 1350, sats: int = 11, hdop_10: int = 9,
          talker: str = "GN") -> bytes:
    """All five sentences of one 3D-fix epoch."""
    t = utc.strftime("%H%M%S") + f".{utc.microsecond // 10000:02d}"
    la, ns = _coord(lat, True)
    lo, ew = _coord(lon, False)
    kn = speed_kmh10 * 10_000 // 1852          # 0.1 km/h -> 0.01 kn
    out = [
        f"{talker}RMC,{t},A,{la},{ns},{lo},{ew},{kn // 100}.{kn % 100:02d},"
        f"{course_d10 // 10}.{course_d10 % 10},{utc:%d%m%y},,,A",
        f"{talker}VTG,{course_d10 // 10}.{course_d10 % 10},T,,M,{kn // 100}.{kn % 100:02d},N,"
        f"{speed_kmh10 // 10}.{speed_kmh10 % 10},K,A",
        f"{talker}GGA,{t},{la},{ns},{lo},{ew},1,{sats:02d},{hdop_10 // 10}.{hdop_10 % 10},"
        f"{alt_dm // 10}.{alt_dm % 10},M,20.1,M,,",
        f"{talker}GSA,A,3,01,03,07,08,10,11,14,17,22,,,,1.8,{hdop_10 // 10}.{hdop_10 % 10},1.5",
        f"{talker}ZDA,{t},{utc:%d},{utc:%m},{utc:%Y},00,00",
    ]
    return b"".join(sentence(s) for s in out)


def days(utc: datetime) -> int:
    return (utc.date() - datetime(1970, 1, 1, tzinfo=timezone.utc).date()).days


def ms_of_day(utc: datetime) -> int:
    return ((utc.hour * 60 + utc.minute) * 60 + utc.second) * 1000 + utc.microsecond // 1000


__all__ = ["checksum", "sentence", "parse", "epoch", "no_fix_epoch", "days", "ms_of_day",
           "timedelta"]


def no_fix_epoch(utc: datetime, talker: str = "GN") -> bytes:
    """An epoch of a receiver that has time but no position (fix lost, or just restarted):
    GGA quality 0 with empty position, RMC status V."""
    t = utc.strftime("%H%M%S") + f".{utc.microsecond // 10000:02d}"
    return b"".join(sentence(s) for s in (
        f"{talker}RMC,{t},V,,,,,,,{utc:%d%m%y},,,N",
        f"{talker}GGA,{t},,,,,0,00,99.99,,,,,,",
        f"{talker}GSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99",
    ))

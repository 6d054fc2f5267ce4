"""u-blox UBX frames for the rig's GNSS input (CPython side): NAV-PVT and NAV-DOP with
valid checksums, as a ZED-F9P sends them (UBX protocol 27+, interface description
section 3.15.13)."""
from __future__ import annotations

import struct
from datetime import datetime


def frame(cls: int, mid: int, payload: bytes) -> bytes:
    """One UBX frame: sync chars, class, id, length, payload, Fletcher-8 checksum."""
    body = bytes([cls, mid]) + struct.pack("<H", len(payload)) + payload
    a = b = 0
    for x in body:
        a = (a + x) & 0xFF
        b = (b + a) & 0xFF
    return b"\xb5\x62" + body + bytes([a, b])


def _itow(utc: datetime) -> int:
    """GPS time of week, ms (Sunday 00:00 = 0; leap seconds ignored: the epoch's id only)."""
    return ((utc.weekday() + 1) % 7 * 86400 + utc.hour * 3600 + utc.minute * 60
            + utc.second) * 1000 + utc.microsecond // 1000


def nav_pvt(utc: datetime, *, fix: int, lat: int, lon: int, hmsl_mm: int, speed_mms: int,
            heading_1e5: int, sats: int, pdop_c: int = 150) -> bytes:
    """NAV-PVT for one epoch. fix: 0 none, 2 2D, 3 3D; gnssFixOK follows fix > 0; date and
    time flagged valid and fully resolved."""
    itow = _itow(utc)
    flags = 0x01 if fix else 0x00
    return frame(0x01, 0x07, struct.pack(
        "<IHBBBBBBIiBBBBiiiiIIiiiiiIIHH4xihH", itow, utc.year, utc.month, utc.day, utc.hour,
        utc.minute, utc.second, 0x07, 25, utc.microsecond * 1000, fix, flags, 0xEA, sats,
        lon, lat, hmsl_mm + 28744, hmsl_mm, 1400, 2000, 0, 0, 0, speed_mms, heading_1e5,
        80, 120000, pdop_c, 0, 0, 0, 0))


def nav_dop(utc: datetime, hdop_c: int) -> bytes:
    """NAV-DOP for the same epoch (the firmware takes HDOP from it)."""
    itow = _itow(utc)
    return frame(0x01, 0x04, struct.pack("<IHHHHHHH", itow, 150, 132, 71, 110, hdop_c, 60, 70))

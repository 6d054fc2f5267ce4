"""Typed records: one frozen dataclass per record type, and a per-record decoder.

Every record has ``time_us`` (64-bit microseconds since the start of its boot, i.e.
``base_us + dt_us``) and ``boot``.  :func:`decode_record` decodes one record from a
buffer with :mod:`struct`; the bulk path (:mod:`dunelog.card.bulk`) handles CAN frames in
arrays and uses this for the rest.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Union

from .format import (
    CAN_BRS,
    CAN_ERR,
    CAN_ESI,
    CAN_EXT,
    CAN_RTR,
    CAN_TX,
    REC_CAN,
    REC_CANFD,
    REC_EVENT,
    REC_GNSS,
    REC_OVERFLOW,
    REC_STATUS,
    REC_TIMESYNC,
    RECORD_MIN_LEN,
    SYNC_FLAG_PPS,
)

__all__ = [
    "CanFrame", "GnssFix", "TimeSync", "Event", "Status", "Overflow", "SessionStart",
    "UnknownRecord", "AnyRecord", "decode_record", "MalformedRecord", "EPOCH", "utc_datetime",
]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc_datetime(epoch_us: int) -> datetime | None:
    """``epoch_us`` (microseconds since 1970) as an aware datetime; None outside the years
    1..9999 that datetime holds (a damaged record's 64-bit time is seldom inside)."""
    try:
        return EPOCH + timedelta(microseconds=epoch_us)
    except OverflowError:
        return None


def _utc(days: int, ms: int, us: int = 0) -> datetime:
    return EPOCH + timedelta(days=days, milliseconds=ms, microseconds=us)


@dataclass(frozen=True, slots=True)
class CanFrame:
    """A CAN classic or CAN FD frame (record types 0x01 / 0x02)."""

    time_us: int
    boot: int
    channel: int
    id: int
    flags: int
    dlc: int
    data: bytes
    fd: bool = False

    @property
    def is_extended(self) -> bool:
        """29-bit identifier."""
        return bool(self.flags & CAN_EXT)

    @property
    def is_remote(self) -> bool:
        """Remote transmission request."""
        return bool(self.flags & CAN_RTR)

    @property
    def is_error(self) -> bool:
        """Error frame."""
        return bool(self.flags & CAN_ERR)

    @property
    def is_fd(self) -> bool:
        """CAN FD frame (record type 0x02)."""
        return self.fd

    @property
    def brs(self) -> bool:
        """FD bit rate switch."""
        return bool(self.flags & CAN_BRS)

    @property
    def esi(self) -> bool:
        """FD error state indicator."""
        return bool(self.flags & CAN_ESI)

    @property
    def is_tx(self) -> bool:
        """Sent by the logger itself."""
        return bool(self.flags & CAN_TX)


@dataclass(frozen=True, slots=True)
class GnssFix:
    """A GNSS fix (0x10).  ``0xFFFF``/``0xFFFFFFFF`` fields mean unknown."""

    time_us: int
    boot: int
    fix_type: int
    sats: int
    lat: int
    lon: int
    alt_mm: int
    utc_ms: int
    utc_days: int
    speed_cms: int
    course_cdeg: int
    hdop_c: int

    @property
    def lat_deg(self) -> float:
        """Latitude in degrees."""
        return self.lat * 1e-7

    @property
    def lon_deg(self) -> float:
        """Longitude in degrees."""
        return self.lon * 1e-7

    @property
    def alt_m(self) -> float:
        """Altitude above mean sea level, m."""
        return self.alt_mm / 1000.0

    @property
    def speed_ms(self) -> float | None:
        """Ground speed, m/s, or None when unknown."""
        return None if self.speed_cms == 0xFFFF else self.speed_cms / 100.0

    @property
    def course_deg(self) -> float | None:
        """Course over ground, degrees, or None when unknown."""
        return None if self.course_cdeg == 0xFFFF else self.course_cdeg / 100.0

    @property
    def hdop(self) -> float | None:
        """HDOP, or None when unknown."""
        return None if self.hdop_c == 0xFFFF else self.hdop_c / 100.0

    @property
    def utc(self) -> datetime | None:
        """UTC time of the fix epoch, or None when unknown."""
        if self.utc_ms == 0xFFFFFFFF or self.utc_days == 0xFFFF:
            return None
        return _utc(self.utc_days, self.utc_ms)


@dataclass(frozen=True, slots=True)
class TimeSync:
    """At boot time ``time_us`` the UTC time was ``utc_days, utc_ms, utc_us`` (0x11)."""

    time_us: int
    boot: int
    source: int
    flags: int
    utc_days: int
    utc_ms: int
    utc_us: int

    @property
    def is_pps(self) -> bool:
        """Record time is a PPS edge."""
        return bool(self.flags & SYNC_FLAG_PPS)

    @property
    def utc_epoch_us(self) -> int:
        """The UTC time as microseconds since 1970-01-01."""
        return (self.utc_days * 86_400_000 + self.utc_ms) * 1000 + self.utc_us

    @property
    def utc(self) -> datetime:
        """The UTC time as an aware datetime."""
        return _utc(self.utc_days, self.utc_ms, self.utc_us)


@dataclass(frozen=True, slots=True)
class Event:
    """Event / marker (0x20): ``kind`` 1 button, 2 mark, 3 error, 4 config, 5 info."""

    time_us: int
    boot: int
    kind: int
    code: int
    text: str


@dataclass(frozen=True, slots=True)
class Status:
    """Periodic logger status (0x21)."""

    time_us: int
    boot: int
    drops: int
    ring_hw_permille: int
    write_ms_max: int
    supply_mv: int
    temp_dc: int
    free_kib: int
    uptime_s: int


@dataclass(frozen=True, slots=True)
class Overflow:
    """Records dropped by the ring buffer (0x22); ``counts`` maps type -> count."""

    time_us: int
    boot: int
    first_ago_us: int
    last_ago_us: int
    counts: dict[int, int] = field(hash=False)

    @property
    def total(self) -> int:
        """Total records dropped."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class SessionStart:
    """First record of a boot (0x30)."""

    time_us: int
    boot: int
    firmware: str
    vehicle: str
    config_hash: int
    logger_id: int


@dataclass(frozen=True, slots=True)
class UnknownRecord:
    """A record of an unknown type, or of a known type but malformed.  ``raw`` is the
    whole record (``len`` bytes, header included)."""

    time_us: int
    boot: int
    type: int
    raw: bytes


AnyRecord = Union[CanFrame, GnssFix, TimeSync, Event, Status, Overflow, SessionStart,
                  UnknownRecord]


class MalformedRecord(ValueError):
    """A record of a known type whose ``len`` is too short for its contents."""


_GNSS = struct.Struct("<BBxxxxiiiIHHHH")
_SYNC = struct.Struct("<BBxxxxHHI")
_EVENT = struct.Struct("<BBxxxxI")
_STATUS = struct.Struct("<xxxxxxxxIHHHhII")
_OVF = struct.Struct("<BxxxxxII")
_OVF_ENTRY = struct.Struct("<BxxxI")
_SESSION = struct.Struct("<BBxxxxII")
_CAN = struct.Struct("<BBxxxxIBB")


def decode_record(buf: bytes | memoryview, off: int, time_us: int, boot: int) -> AnyRecord:
    """Decode the record at ``buf[off:]`` whose time is ``time_us``.

    Unknown types give :class:`UnknownRecord`; a known type whose ``len`` is shorter
    than its contents raises :class:`MalformedRecord` (callers usually turn it into an
    :class:`UnknownRecord` and report it).
    """
    rtype = buf[off]
    rlen = buf[off + 1]
    need = RECORD_MIN_LEN.get(rtype)
    if need is None:
        return UnknownRecord(time_us, boot, rtype, bytes(buf[off:off + rlen]))
    if rlen < need:
        raise MalformedRecord(f"record type 0x{rtype:02x} len {rlen} < {need}")
    if rtype in (REC_CAN, REC_CANFD):
        channel, flags, can_id, dlc, dlen = _CAN.unpack_from(buf, off + 2)
        if 16 + ((dlen + 3) & ~3) > rlen or dlen > (8 if rtype == REC_CAN else 64):
            raise MalformedRecord(f"CAN record data_len {dlen} does not fit len {rlen}")
        return CanFrame(time_us, boot, channel, can_id, flags, dlc,
                        bytes(buf[off + 16:off + 16 + dlen]), rtype == REC_CANFD)
    if rtype == REC_GNSS:
        return GnssFix(time_us, boot, *_GNSS.unpack_from(buf, off + 2))
    if rtype == REC_TIMESYNC:
        source, flags, days, us, ms = _SYNC.unpack_from(buf, off + 2)
        return TimeSync(time_us, boot, source, flags, days, ms, us)
    if rtype == REC_EVENT:
        kind, tlen, code = _EVENT.unpack_from(buf, off + 2)
        if 12 + tlen > rlen:
            raise MalformedRecord(f"event text_len {tlen} does not fit len {rlen}")
        text = bytes(buf[off + 12:off + 12 + tlen]).decode("utf-8", errors="replace")
        return Event(time_us, boot, kind, code, text)
    if rtype == REC_STATUS:
        return Status(time_us, boot, *_STATUS.unpack_from(buf, off))
    if rtype == REC_OVERFLOW:
        n, first, last = _OVF.unpack_from(buf, off + 2)
        if 16 + 8 * n > rlen:
            raise MalformedRecord(f"overflow n {n} does not fit len {rlen}")
        counts: dict[int, int] = {}
        for k in range(n):
            t, c = _OVF_ENTRY.unpack_from(buf, off + 16 + 8 * k)
            counts[t] = counts.get(t, 0) + c
        return Overflow(time_us, boot, first, last, counts)
    # REC_SESSION
    fwl, vhl, cfg, logger = _SESSION.unpack_from(buf, off + 2)
    if 16 + fwl + vhl > rlen:
        raise MalformedRecord(f"session text lengths {fwl}+{vhl} do not fit len {rlen}")
    fw = bytes(buf[off + 16:off + 16 + fwl]).decode("ascii", errors="replace")
    vh = bytes(buf[off + 16 + fwl:off + 16 + fwl + vhl]).decode("utf-8", errors="replace")
    return SessionStart(time_us, boot, fw, vh, cfg, logger)

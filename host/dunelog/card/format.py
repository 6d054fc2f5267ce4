"""The dunelog on-card format, version 1: constants and ``construct`` definitions.

This module is the executable form of ``docs/FORMAT.md``.  It holds

* the constants (magics, record type codes, flag bits, sizes),
* ``construct`` definitions for the segment header, the block header, every record
  body, a generic :data:`Record` (unknown types are kept as raw bytes and skipped by
  ``len``) and a whole :func:`Block` (the *reference parser*: it walks the records by
  their length chain and checks the slot table and the CRC),
* small builders used by tests and benchmarks to synthesise valid segment files
  (:func:`build_block`, :func:`build_segment_header`, :func:`pack_blocks`, ``rec_*``).

The fast reader (:mod:`dunelog.card.blocks`, :mod:`dunelog.card.bulk`) does not use construct; it
is tested against the definitions here.
"""

from __future__ import annotations

import zlib
from typing import Any, Iterable, Iterator, Mapping, Sequence

from construct import (
    Adapter,
    Array,
    Bytes,
    Check,
    Checksum,
    Computed,
    Const,
    Construct,
    Default,
    FixedSized,
    GreedyBytes,
    Int8ul,
    Int16sl,
    Int16ul,
    Int32sl,
    Int32ul,
    Int64ul,
    Padding,
    RawCopy,
    Rebuild,
    Struct,
    Switch,
    Tell,
    this,
)

__all__ = [
    "FORMAT_VERSION", "SEGMENT_MAGIC", "BLOCK_MAGIC", "BLOCK_HEADER_SIZE",
    "SEGMENT_HEADER_FIELDS_SIZE", "MIN_BLOCK_SHIFT", "MAX_BLOCK_SHIFT", "DEFAULT_BLOCK_SHIFT",
    "BLOCK_FLAG_FLUSH", "BLOCK_FLAG_LAST",
    "REC_CAN", "REC_CANFD", "REC_GNSS", "REC_TIMESYNC", "REC_EVENT", "REC_STATUS",
    "REC_OVERFLOW", "REC_SESSION", "RECORD_NAMES", "RECORD_MIN_LEN",
    "CAN_EXT", "CAN_RTR", "CAN_ERR", "CAN_BRS", "CAN_ESI", "CAN_TX",
    "EVENT_BUTTON", "EVENT_MARK", "EVENT_ERROR", "EVENT_CONFIG", "EVENT_INFO",
    "SYNC_NMEA", "SYNC_UBX", "SYNC_PPS", "SYNC_HOST", "SYNC_RTC", "SYNC_FLAG_PPS",
    "SegmentHeader", "SegmentHeaderBlock", "BlockHeader", "Record", "Block",
    "CanBody", "GnssBody", "TimeSyncBody", "EventBody", "StatusBody", "OverflowBody",
    "SessionBody", "ceil4", "record_len",
    "build_segment_header", "build_block", "pack_blocks", "build_segment", "fix_crc",
    "rec_can", "rec_gnss", "rec_timesync", "rec_event", "rec_status", "rec_overflow",
    "rec_session", "rec_raw",
]

# --------------------------------------------------------------------------- constants

FORMAT_VERSION = 1
SEGMENT_MAGIC = b"DLGS"
BLOCK_MAGIC = b"DLGB"
BLOCK_HEADER_SIZE = 32
SEGMENT_HEADER_FIELDS_SIZE = 96
MIN_BLOCK_SHIFT = 9
MAX_BLOCK_SHIFT = 16
DEFAULT_BLOCK_SHIFT = 12

# block header flags
BLOCK_FLAG_FLUSH = 0x0001
BLOCK_FLAG_LAST = 0x0002

# record types
REC_CAN = 0x01
REC_CANFD = 0x02
REC_GNSS = 0x10
REC_TIMESYNC = 0x11
REC_EVENT = 0x20
REC_STATUS = 0x21
REC_OVERFLOW = 0x22
REC_SESSION = 0x30

RECORD_NAMES: dict[int, str] = {
    REC_CAN: "can",
    REC_CANFD: "canfd",
    REC_GNSS: "gnss",
    REC_TIMESYNC: "timesync",
    REC_EVENT: "event",
    REC_STATUS: "status",
    REC_OVERFLOW: "overflow",
    REC_SESSION: "session",
}

#: smallest legal ``len`` of each known record type (the fixed part)
RECORD_MIN_LEN: dict[int, int] = {
    REC_CAN: 16,
    REC_CANFD: 16,
    REC_GNSS: 32,
    REC_TIMESYNC: 16,
    REC_EVENT: 12,
    REC_STATUS: 28,
    REC_OVERFLOW: 16,
    REC_SESSION: 16,
}

# CAN record flags (record byte 3)
CAN_EXT = 0x01
CAN_RTR = 0x02
CAN_ERR = 0x04
CAN_BRS = 0x08
CAN_ESI = 0x10
CAN_TX = 0x20

# event kinds
EVENT_BUTTON = 1
EVENT_MARK = 2
EVENT_ERROR = 3
EVENT_CONFIG = 4
EVENT_INFO = 5

# time sync sources and flags
SYNC_NMEA = 1
SYNC_UBX = 2
SYNC_PPS = 3
SYNC_HOST = 4
SYNC_RTC = 5
SYNC_FLAG_PPS = 0x01


def ceil4(n: int) -> int:
    """Round ``n`` up to a multiple of 4."""
    return (n + 3) & ~3


def _crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


class _NulPadded(Adapter):
    """Fixed-size text field, NUL-padded (decoded with ``errors='replace'``)."""

    def __init__(self, length: int, encoding: str) -> None:
        super().__init__(Bytes(length))
        self.length = length
        self.encoding = encoding

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return bytes(obj).rstrip(b"\0").decode(self.encoding, errors="replace")

    def _encode(self, obj: str | bytes, context: Any, path: str) -> bytes:
        raw = obj.encode(self.encoding) if isinstance(obj, str) else bytes(obj)
        if len(raw) > self.length:
            raise ValueError(f"text {obj!r} longer than {self.length} bytes")
        return raw + bytes(self.length - len(raw))


# --------------------------------------------------------------------------- segment header

#: segment header fields (the first 96 bytes of the header block)
SegmentHeader = Struct(
    "magic" / Const(SEGMENT_MAGIC),
    "version" / Default(Int8ul, FORMAT_VERSION),
    "block_shift" / Default(Int8ul, DEFAULT_BLOCK_SHIFT),
    Padding(2),
    "logger_id" / Int32ul,
    "boot" / Int32ul,
    "segment" / Int32ul,
    "first_seq" / Int32ul,
    "created_us" / Default(Int64ul, 0),
    "config_hash" / Default(Int32ul, 0),
    Padding(4),
    "firmware" / Default(_NulPadded(24, "ascii"), ""),
    "vehicle" / Default(_NulPadded(32, "utf-8"), ""),
)

#: the whole segment header block: fields, zeros up to ``block_size - 4``, CRC-32
SegmentHeaderBlock = Struct(
    "fields" / RawCopy(Struct(
        "header" / SegmentHeader,
        Check(lambda ctx: MIN_BLOCK_SHIFT <= ctx.header.block_shift <= MAX_BLOCK_SHIFT),
        Padding(lambda ctx: (1 << ctx.header.block_shift) - 4 - SEGMENT_HEADER_FIELDS_SIZE),
    )),
    "crc" / Checksum(Int32ul, _crc32, this.fields.data),
)

# --------------------------------------------------------------------------- records

CanAux = Struct("channel" / Default(Int8ul, 0), "flags" / Default(Int8ul, 0))
#: CAN classic / FD body (record offset 8 onward)
CanBody = Struct(
    "id" / Int32ul,
    "dlc" / Int8ul,
    "data_len" / Rebuild(Int8ul, lambda ctx: len(ctx.data)),
    Padding(2),
    "data" / Bytes(this.data_len),
)

GnssAux = Struct("fix_type" / Int8ul, "sats" / Int8ul)
GnssBody = Struct(
    "lat" / Int32sl,
    "lon" / Int32sl,
    "alt_mm" / Int32sl,
    "utc_ms" / Int32ul,
    "utc_days" / Int16ul,
    "speed_cms" / Int16ul,
    "course_cdeg" / Int16ul,
    "hdop_c" / Int16ul,
)

TimeSyncAux = Struct("source" / Int8ul, "flags" / Default(Int8ul, 0))
TimeSyncBody = Struct(
    "utc_days" / Int16ul,
    "utc_us" / Int16ul,
    "utc_ms" / Int32ul,
)

EventAux = Struct(
    "kind" / Int8ul,
    "text_len" / Rebuild(Int8ul, lambda ctx: len(ctx._.body["text"])),
)
EventBody = Struct(
    "code" / Default(Int32ul, 0),
    "text" / Bytes(this._.aux.text_len),
)

StatusBody = Struct(
    "drops" / Int32ul,
    "ring_hw_permille" / Int16ul,
    "write_ms_max" / Int16ul,
    "supply_mv" / Int16ul,
    "temp_dc" / Int16sl,
    "free_kib" / Int32ul,
    "uptime_s" / Int32ul,
)

OverflowAux = Struct(
    "n" / Rebuild(Int8ul, lambda ctx: len(ctx._.body["entries"])),
    Padding(1),
)
OverflowBody = Struct(
    "first_ago_us" / Int32ul,
    "last_ago_us" / Int32ul,
    "entries" / Array(this._.aux.n, Struct("type" / Int8ul, Padding(3), "count" / Int32ul)),
)

SessionAux = Struct(
    "fw_len" / Rebuild(Int8ul, lambda ctx: len(ctx._.body["firmware"])),
    "vehicle_len" / Rebuild(Int8ul, lambda ctx: len(ctx._.body["vehicle"])),
)
SessionBody = Struct(
    "config_hash" / Int32ul,
    "logger_id" / Int32ul,
    "firmware" / Bytes(this._.aux.fw_len),
    "vehicle" / Bytes(this._.aux.vehicle_len),
)

_AUX: dict[int, Construct] = {
    REC_CAN: CanAux,
    REC_CANFD: CanAux,
    REC_GNSS: GnssAux,
    REC_TIMESYNC: TimeSyncAux,
    REC_EVENT: EventAux,
    REC_STATUS: Padding(2),
    REC_OVERFLOW: OverflowAux,
    REC_SESSION: SessionAux,
}
_BODY: dict[int, Construct] = {
    REC_CAN: CanBody,
    REC_CANFD: CanBody,
    REC_GNSS: GnssBody,
    REC_TIMESYNC: TimeSyncBody,
    REC_EVENT: EventBody,
    REC_STATUS: StatusBody,
    REC_OVERFLOW: OverflowBody,
    REC_SESSION: SessionBody,
}


def record_len(rec: Mapping[str, Any]) -> int:
    """Total length in bytes of a record given as a builder dict (``len`` key wins)."""
    if rec.get("len") is not None:
        return int(rec["len"])
    t = rec["type"]
    body: Any = rec.get("body")
    if t in (REC_CAN, REC_CANFD):
        return 16 + ceil4(len(body["data"]))
    if t == REC_GNSS:
        return 32
    if t == REC_TIMESYNC:
        return 16
    if t == REC_EVENT:
        return 12 + ceil4(len(body["text"]))
    if t == REC_STATUS:
        return 28
    if t == REC_OVERFLOW:
        return 16 + 8 * len(body["entries"])
    if t == REC_SESSION:
        return 16 + ceil4(len(body["firmware"]) + len(body["vehicle"]))
    return 8 + ceil4(len(body or b""))


#: one record: common header (type, len, aux, dt_us), then a Switch on the type.  The
#: ``aux`` bytes are decoded per type; the body is confined to ``len - 8`` bytes, so
#: unknown types (raw ``aux`` and body bytes) and longer future records are skipped by
#: ``len``.  Building pads the body with zeros up to ``len``.
Record = Struct(
    "type" / Int8ul,
    "len" / Default(Int8ul, record_len),
    "aux" / Switch(this.type, _AUX, default=Bytes(2)),
    "dt_us" / Int32ul,
    "body" / FixedSized(this.len - 8, Switch(this.type, _BODY, default=GreedyBytes)),
)

BlockHeader = Struct(
    "magic" / Const(BLOCK_MAGIC),
    "version" / Default(Int8ul, FORMAT_VERSION),
    "block_shift" / Int8ul,
    "count" / Rebuild(Int16ul, lambda ctx: len(ctx._.records)),
    "used" / Rebuild(Int16ul, lambda ctx: sum(record_len(r) for r in ctx._.records)),
    "flags" / Default(Int16ul, 0),
    "logger_id" / Int32ul,
    "boot" / Int32ul,
    "seq" / Int32ul,
    "base_us" / Int64ul,
)


def _slot_table(ctx: Any) -> list[int]:
    offs = []
    pos = BLOCK_HEADER_SIZE
    for r in ctx.records:
        offs.append(pos)
        pos += record_len(r)
    return offs[::-1]


def _chain_ok(ctx: Any) -> bool:
    slots = ctx.slot_table[::-1]
    pos = BLOCK_HEADER_SIZE
    for off, rec in zip(slots, ctx.records):
        if off != pos or rec.len < 8 or rec.len % 4:
            return False
        pos += rec.len
    return pos == BLOCK_HEADER_SIZE + ctx.header.used


def Block(block_size: int) -> Construct:  # noqa: N802 - a construct, named like one
    """Reference parser/builder of one data block of ``block_size`` bytes.

    Parsing walks the records by their ``len`` chain, checks that the chain ends at
    ``32 + used``, that the slot table agrees with it, and verifies the CRC (raising a
    construct error otherwise).  Building computes ``count``, ``used``, every record
    ``len``, the slot table and the CRC.  Parsed: ``blk.body.value.header``,
    ``.records`` (list of :data:`Record`), ``.slots`` (offsets in record order).
    """
    shift = block_size.bit_length() - 1
    if block_size != 1 << shift or not MIN_BLOCK_SHIFT <= shift <= MAX_BLOCK_SHIFT:
        raise ValueError(f"bad block size {block_size}")
    return Struct(
        "body" / RawCopy(Struct(
            "_start" / Tell,
            "header" / BlockHeader,
            Check(this.header.block_shift == shift),
            "records" / Array(this.header.count, Record),
            "_end" / Tell,
            Check(lambda ctx: ctx._end - ctx._start == BLOCK_HEADER_SIZE + ctx.header.used),
            Padding(lambda ctx: block_size - 4 - 2 * ctx.header.count
                    - BLOCK_HEADER_SIZE - ctx.header.used),
            "slot_table" / Rebuild(Array(this.header.count, Int16ul), _slot_table),
            "slots" / Computed(lambda ctx: list(ctx.slot_table)[::-1]),
            Check(_chain_ok),
        )),
        "crc" / Checksum(Int32ul, _crc32, this.body.data),
    )


# --------------------------------------------------------------------------- builders

def rec_can(dt_us: int, can_id: int, data: bytes = b"", *, channel: int = 0, flags: int = 0,
            dlc: int | None = None, fd: bool = False) -> dict[str, Any]:
    """Builder dict of a CAN classic (or, with ``fd=True``, CAN FD) record."""
    if dlc is None:
        dlc = _len_to_dlc(len(data)) if fd else len(data)
    return {"type": REC_CANFD if fd else REC_CAN, "dt_us": dt_us,
            "aux": {"channel": channel, "flags": flags},
            "body": {"id": can_id, "dlc": dlc, "data": bytes(data)}}


def _len_to_dlc(n: int) -> int:
    if n <= 8:
        return n
    for code, size in ((9, 12), (10, 16), (11, 20), (12, 24), (13, 32), (14, 48), (15, 64)):
        if n <= size:
            return code
    raise ValueError(n)


def rec_gnss(dt_us: int, *, fix_type: int = 3, sats: int = 9, lat: int = 0, lon: int = 0,
             alt_mm: int = 0, utc_ms: int = 0xFFFFFFFF, utc_days: int = 0xFFFF,
             speed_cms: int = 0xFFFF, course_cdeg: int = 0xFFFF, hdop_c: int = 0xFFFF
             ) -> dict[str, Any]:
    """Builder dict of a GNSS fix record."""
    return {"type": REC_GNSS, "dt_us": dt_us, "aux": {"fix_type": fix_type, "sats": sats},
            "body": {"lat": lat, "lon": lon, "alt_mm": alt_mm, "utc_ms": utc_ms,
                     "utc_days": utc_days, "speed_cms": speed_cms,
                     "course_cdeg": course_cdeg, "hdop_c": hdop_c}}


def rec_timesync(dt_us: int, *, utc_days: int, utc_ms: int, utc_us: int = 0,
                 source: int = SYNC_NMEA, flags: int = 0) -> dict[str, Any]:
    """Builder dict of a time sync record."""
    return {"type": REC_TIMESYNC, "dt_us": dt_us, "aux": {"source": source, "flags": flags},
            "body": {"utc_days": utc_days, "utc_us": utc_us, "utc_ms": utc_ms}}


def rec_event(dt_us: int, *, kind: int, code: int = 0, text: str | bytes = b""
              ) -> dict[str, Any]:
    """Builder dict of an event / marker record."""
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return {"type": REC_EVENT, "dt_us": dt_us, "aux": {"kind": kind},
            "body": {"code": code, "text": raw}}


def rec_status(dt_us: int, *, drops: int = 0, ring_hw_permille: int = 0,
               write_ms_max: int = 0, supply_mv: int = 0xFFFF, temp_dc: int = 0x7FFF,
               free_kib: int = 0xFFFFFFFF, uptime_s: int = 0) -> dict[str, Any]:
    """Builder dict of a status record."""
    return {"type": REC_STATUS, "dt_us": dt_us, "aux": None,
            "body": {"drops": drops, "ring_hw_permille": ring_hw_permille,
                     "write_ms_max": write_ms_max, "supply_mv": supply_mv,
                     "temp_dc": temp_dc, "free_kib": free_kib, "uptime_s": uptime_s}}


def rec_overflow(dt_us: int, counts: Mapping[int, int] | Sequence[tuple[int, int]], *,
                 first_ago_us: int = 0, last_ago_us: int = 0) -> dict[str, Any]:
    """Builder dict of an overflow record; ``counts`` maps record type -> dropped count."""
    items = counts.items() if isinstance(counts, Mapping) else counts
    return {"type": REC_OVERFLOW, "dt_us": dt_us, "aux": {},
            "body": {"first_ago_us": first_ago_us, "last_ago_us": last_ago_us,
                     "entries": [{"type": t, "count": c} for t, c in items]}}


def rec_session(dt_us: int, *, firmware: str | bytes, vehicle: str | bytes,
                config_hash: int = 0, logger_id: int = 0) -> dict[str, Any]:
    """Builder dict of a session start record."""
    fw = firmware.encode("ascii") if isinstance(firmware, str) else bytes(firmware)
    vh = vehicle.encode("utf-8") if isinstance(vehicle, str) else bytes(vehicle)
    return {"type": REC_SESSION, "dt_us": dt_us, "aux": {},
            "body": {"config_hash": config_hash, "logger_id": logger_id,
                     "firmware": fw, "vehicle": vh}}


def rec_raw(dt_us: int, rtype: int, body: bytes = b"", aux: bytes = b"\0\0") -> dict[str, Any]:
    """Builder dict of a record of an arbitrary (e.g. unknown) type with raw bytes."""
    return {"type": rtype, "dt_us": dt_us, "aux": bytes(aux), "body": bytes(body)}


def build_segment_header(*, logger_id: int = 1, boot: int = 1, segment: int = 0,
                         first_seq: int = 0, created_us: int = 0, config_hash: int = 0,
                         firmware: str = "", vehicle: str = "",
                         block_size: int = 1 << DEFAULT_BLOCK_SHIFT) -> bytes:
    """Build a segment header block (``block_size`` bytes, with CRC)."""
    shift = block_size.bit_length() - 1
    return SegmentHeaderBlock.build({"fields": {"value": {"header": {
        "block_shift": shift, "logger_id": logger_id, "boot": boot, "segment": segment,
        "first_seq": first_seq, "created_us": created_us, "config_hash": config_hash,
        "firmware": firmware, "vehicle": vehicle}}}})


def build_block(records: Sequence[Mapping[str, Any]], *, seq: int, boot: int = 1,
                logger_id: int = 1, base_us: int = 0, flags: int = 0,
                block_size: int = 1 << DEFAULT_BLOCK_SHIFT) -> bytes:
    """Build one data block (header, records, slot table, CRC) with construct."""
    shift = block_size.bit_length() - 1
    return Block(block_size).build({"body": {"value": {
        "header": {"block_shift": shift, "flags": flags, "logger_id": logger_id,
                   "boot": boot, "seq": seq, "base_us": base_us},
        "records": list(records)}}})


def fix_crc(block: bytes | bytearray) -> bytes:
    """Return ``block`` with its trailing CRC-32 recomputed (for crafting test blocks)."""
    b = bytearray(block)
    b[-4:] = _crc32(bytes(b[:-4])).to_bytes(4, "little")
    return bytes(b)


def pack_blocks(timed_records: Iterable[tuple[int, Mapping[str, Any]]], *, first_seq: int = 0,
                boot: int = 1, logger_id: int = 1,
                block_size: int = 1 << DEFAULT_BLOCK_SHIFT,
                max_records: int | None = None) -> Iterator[bytes]:
    """Pack ``(time_us, record)`` pairs (``dt_us`` ignored) into consecutive blocks.

    Each block's ``base_us`` is the time of its first record; blocks are filled as a
    writer would (until the next record and its slot no longer fit).
    """
    capacity = block_size - BLOCK_HEADER_SIZE - 4
    seq = first_seq
    recs: list[dict[str, Any]] = []
    base = 0
    fill = 0
    for t, rec in timed_records:
        n = record_len(rec) + 2
        if recs and (fill + n > capacity or (max_records and len(recs) >= max_records)
                     or t - base >= 1 << 28):
            yield build_block(recs, seq=seq, boot=boot, logger_id=logger_id, base_us=base,
                              block_size=block_size)
            seq += 1
            recs = []
        if not recs:
            base = t
            fill = 0
        r = dict(rec)
        r["dt_us"] = t - base
        recs.append(r)
        fill += n
    if recs:
        yield build_block(recs, seq=seq, boot=boot, logger_id=logger_id, base_us=base,
                          block_size=block_size)


def build_segment(blocks: Iterable[bytes], **header: Any) -> bytes:
    """Concatenate a segment header (``header`` as for :func:`build_segment_header`)
    and already built blocks into the bytes of one segment file."""
    return build_segment_header(**header) + b"".join(blocks)

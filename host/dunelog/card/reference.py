"""The slow reference reader: construct-parsed blocks turned into typed records.

Used by tests (the bulk path must agree with it) and by the benchmark.  It trusts
nothing but :mod:`dunelog.card.format`: every block is parsed with
:func:`~dunelog.card.format.Block` (CRC, length chain and slot table checked by construct).
"""

from __future__ import annotations

from typing import Any, Iterator

from .format import (
    REC_CAN,
    REC_CANFD,
    REC_EVENT,
    REC_GNSS,
    REC_OVERFLOW,
    REC_SESSION,
    REC_STATUS,
    REC_TIMESYNC,
    Block,
    Record,
    SegmentHeaderBlock,
)
from .records import (
    AnyRecord,
    CanFrame,
    Event,
    GnssFix,
    Overflow,
    SessionStart,
    Status,
    TimeSync,
    UnknownRecord,
)

__all__ = ["typed_from_construct", "reference_block_records", "reference_segment_records"]


def typed_from_construct(rec: Any, time_us: int, boot: int) -> AnyRecord:
    """Convert a construct-parsed :data:`~dunelog.card.format.Record` to a typed record."""
    t, a, b = rec.type, rec.aux, rec.body
    if t in (REC_CAN, REC_CANFD):
        return CanFrame(time_us, boot, a.channel, b.id, a.flags, b.dlc, bytes(b.data),
                        t == REC_CANFD)
    if t == REC_GNSS:
        return GnssFix(time_us, boot, a.fix_type, a.sats, b.lat, b.lon, b.alt_mm, b.utc_ms,
                       b.utc_days, b.speed_cms, b.course_cdeg, b.hdop_c)
    if t == REC_TIMESYNC:
        return TimeSync(time_us, boot, a.source, a.flags, b.utc_days, b.utc_ms, b.utc_us)
    if t == REC_EVENT:
        return Event(time_us, boot, a.kind, b.code,
                     bytes(b.text).decode("utf-8", errors="replace"))
    if t == REC_STATUS:
        return Status(time_us, boot, b.drops, b.ring_hw_permille, b.write_ms_max,
                      b.supply_mv, b.temp_dc, b.free_kib, b.uptime_s)
    if t == REC_OVERFLOW:
        counts: dict[int, int] = {}
        for e in b.entries:
            counts[e.type] = counts.get(e.type, 0) + e.count
        return Overflow(time_us, boot, b.first_ago_us, b.last_ago_us, counts)
    if t == REC_SESSION:
        return SessionStart(time_us, boot, bytes(b.firmware).decode("ascii", "replace"),
                            bytes(b.vehicle).decode("utf-8", "replace"), b.config_hash,
                            b.logger_id)
    return UnknownRecord(time_us, boot, t, Record.build(rec))


def reference_block_records(block: bytes, block_size: int) -> tuple[Any, list[AnyRecord]]:
    """Parse one block with construct; returns ``(header, typed records)``.

    Raises a construct error if the block is not valid.
    """
    parsed = Block(block_size).parse(block).body.value
    h = parsed.header
    return h, [typed_from_construct(r, h.base_us + r.dt_us, h.boot) for r in parsed.records]


def reference_segment_records(data: bytes) -> Iterator[AnyRecord]:
    """Typed records of a *clean* segment file (header then whole valid blocks) with
    construct only; raises on any damage."""
    hdr = SegmentHeaderBlock.parse(data).fields.value.header
    bs = 1 << hdr.block_shift
    blk = Block(bs)
    for off in range(bs, len(data) - bs + 1, bs):
        parsed = blk.parse(data[off:off + bs]).body.value
        h = parsed.header
        for r in parsed.records:
            yield typed_from_construct(r, h.base_us + r.dt_us, h.boot)


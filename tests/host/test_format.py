"""The construct definitions: round trips of every record type, headers, blocks."""

from __future__ import annotations

import zlib

import dlgen
import pytest
from construct import ConstructError
from hypothesis import given

from dunelog.card import format as F
from dunelog.card.records import (
    CanFrame,
    Event,
    GnssFix,
    Overflow,
    SessionStart,
    Status,
    TimeSync,
    UnknownRecord,
)
from dunelog.card.reference import reference_block_records, typed_from_construct

EXAMPLES = [
    (F.rec_can(5, 0x123, b"\x01\x02\x03", channel=1, flags=F.CAN_TX),
     CanFrame(1005, 7, 1, 0x123, F.CAN_TX, 3, b"\x01\x02\x03", False), 20),
    (F.rec_can(6, 0x1ABCDEF, bytes(range(64)), flags=F.CAN_EXT | F.CAN_BRS, fd=True),
     CanFrame(1006, 7, 0, 0x1ABCDEF, F.CAN_EXT | F.CAN_BRS, 15, bytes(range(64)), True), 80),
    (F.rec_can(7, 0x7FF, b"", flags=F.CAN_RTR, dlc=8),
     CanFrame(1007, 7, 0, 0x7FF, F.CAN_RTR, 8, b"", False), 16),
    (F.rec_gnss(8, fix_type=2, sats=11, lat=-123456789, lon=1234567890, alt_mm=-5000,
                utc_ms=43200000, utc_days=20000, speed_cms=1234, course_cdeg=35999,
                hdop_c=87),
     GnssFix(1008, 7, 2, 11, -123456789, 1234567890, -5000, 43200000, 20000, 1234, 35999, 87),
     32),
    (F.rec_timesync(9, utc_days=20000, utc_ms=1000, utc_us=999, source=F.SYNC_PPS,
                    flags=F.SYNC_FLAG_PPS),
     TimeSync(1009, 7, F.SYNC_PPS, 1, 20000, 1000, 999), 16),
    (F.rec_event(10, kind=F.EVENT_MARK, code=42, text="km 12 ✓"),
     Event(1010, 7, 2, 42, "km 12 ✓"), 12 + 12),
    (F.rec_status(11, drops=3, ring_hw_permille=512, write_ms_max=35, supply_mv=13800,
                  temp_dc=-105, free_kib=123456, uptime_s=3600),
     Status(1011, 7, 3, 512, 35, 13800, -105, 123456, 3600), 28),
    (F.rec_overflow(12, {1: 100, 16: 2}, first_ago_us=5000, last_ago_us=10),
     Overflow(1012, 7, 5000, 10, {1: 100, 16: 2}), 32),
    (F.rec_session(0, firmware="1.2.3", vehicle="T1 #204", config_hash=0xDEADBEEF,
                   logger_id=99),
     SessionStart(1000, 7, "1.2.3", "T1 #204", 0xDEADBEEF, 99), 16 + 12),
    (F.rec_raw(13, 0x77, b"abcdefg", aux=b"\x01\x02"),
     UnknownRecord(1013, 7, 0x77, b"\x77\x10\x01\x02\x0d\0\0\0abcdefg\0"), 16),
]


@pytest.mark.parametrize("rec,typed,length", EXAMPLES,
                         ids=[type(e[1]).__name__ + str(i) for i, e in enumerate(EXAMPLES)])
def test_record_round_trip(rec, typed, length):
    raw = F.Record.build(rec)
    assert len(raw) == length == F.record_len(rec)
    assert len(raw) % 4 == 0
    parsed = F.Record.parse(raw)
    assert parsed.type == rec["type"] and parsed.len == length
    assert F.Record.build(parsed) == raw
    assert typed_from_construct(parsed, 1000 + parsed.dt_us, 7) == typed


def test_record_layout_matches_format_md():
    raw = F.Record.build(F.rec_can(0x01020304, 0x12345, b"\xAA", channel=2, flags=1, dlc=1))
    assert raw == bytes([1, 20, 2, 1, 4, 3, 2, 1, 0x45, 0x23, 0x01, 0, 1, 1, 0, 0,
                         0xAA, 0, 0, 0])
    raw = F.Record.build(F.rec_overflow(0, {0x10: 7}))
    assert raw[2] == 1 and raw[16] == 0x10 and raw[20:24] == (7).to_bytes(4, "little")


def test_block_build_parse_all_types():
    recs = [e[0] for e in EXAMPLES]
    blk = F.build_block(recs, seq=3, boot=7, logger_id=5, base_us=1000, block_size=512,
                        flags=F.BLOCK_FLAG_FLUSH)
    assert len(blk) == 512
    assert zlib.crc32(blk[:-4]) == int.from_bytes(blk[-4:], "little")
    h, typed = reference_block_records(blk, 512)
    assert (h.seq, h.boot, h.logger_id, h.base_us, h.flags) == (3, 7, 5, 1000, 1)
    assert h.count == len(recs) and h.block_shift == 9
    assert typed == [e[1] for e in EXAMPLES]
    # slot table: entry i at bs - 4 - 2*(i+1), slot[0] == 32
    parsed = F.Block(512).parse(blk).body.value
    assert parsed.slots[0] == 32
    for i, off in enumerate(parsed.slots):
        assert int.from_bytes(blk[512 - 4 - 2 * (i + 1):512 - 2 - 2 * (i + 1)], "little") == off
    assert parsed.slots[-1] + parsed.records[-1].len == 32 + h.used


def test_block_parse_rejects_corruption():
    blk = bytearray(F.build_block([F.rec_can(0, 1, b"x")] * 3, seq=0, block_size=512))
    F.Block(512).parse(bytes(blk))
    bad = bytearray(blk)
    bad[40] ^= 1
    with pytest.raises(ConstructError):
        F.Block(512).parse(bytes(bad))
    # valid CRC but slot table disagrees with the chain
    bad = bytearray(blk)
    bad[512 - 8] += 4          # slot of record 1
    with pytest.raises(ConstructError):
        F.Block(512).parse(F.fix_crc(bad))


def test_empty_block_and_segment_header():
    blk = F.build_block([], seq=9, block_size=1024)
    h, typed = reference_block_records(blk, 1024)
    assert h.count == 0 and h.used == 0 and typed == []
    hdr = F.build_segment_header(logger_id=3, boot=12, segment=4, first_seq=77,
                                 created_us=5, config_hash=0xABCD, firmware="fw 1",
                                 vehicle="véhicule", block_size=2048)
    assert len(hdr) == 2048 and hdr[:4] == b"DLGS"
    p = F.SegmentHeaderBlock.parse(hdr).fields.value.header
    assert (p.logger_id, p.boot, p.segment, p.first_seq, p.created_us, p.config_hash,
            p.firmware, p.vehicle, p.block_shift) == (3, 12, 4, 77, 5, 0xABCD, "fw 1",
                                                      "véhicule", 11)
    with pytest.raises(ConstructError):
        F.SegmentHeaderBlock.parse(hdr[:-1] + bytes([hdr[-1] ^ 1]))


@dlgen.HSET
@given(dlgen.st_record())
def test_hypothesis_record_round_trip(rec):
    raw = F.Record.build(rec)
    assert len(raw) == F.record_len(rec) and len(raw) % 4 == 0
    parsed = F.Record.parse(raw)
    assert F.Record.build(parsed) == raw


@dlgen.HSET
@given(dlgen.st_timed(max_records=40))
def test_hypothesis_pack_blocks(timed):
    blocks = list(F.pack_blocks(timed, block_size=1024))
    got = []
    for i, b in enumerate(blocks):
        h, typed = reference_block_records(b, 1024)
        assert h.seq == i
        got.extend(typed)
    assert [r.time_us for r in got] == [t for t, _ in timed]
    assert [getattr(r, "type", None) for r in got if isinstance(r, UnknownRecord)] == \
        [r["type"] for _, r in timed if r["type"] not in F.RECORD_NAMES]

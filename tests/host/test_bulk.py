"""The vectorised path agrees exactly with the construct reference parser."""

from __future__ import annotations

import dlgen
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dunelog
from dunelog.card import format as F
from dunelog.card.bulk import (
    CAN_DTYPE,
    CANFD_DTYPE,
    as_blocks,
    block_headers,
    decode_chunk,
    index_records,
)
from dunelog.card.records import CanFrame, decode_record
from dunelog.card.reference import reference_block_records, reference_segment_records


def frames_from_arrays(classic: np.ndarray, fd: np.ndarray) -> list[CanFrame]:
    out = []
    for arr, is_fd in ((classic, False), (fd, True)):
        for r in arr:
            out.append(CanFrame(int(r["time_us"]), int(r["boot"]), int(r["channel"]),
                                int(r["id"]), int(r["flags"]), int(r["dlc"]),
                                bytes(r["data"][:r["data_len"]]), is_fd))
    return out


def check_blocks(blocks: list[bytes], bs: int) -> None:
    ref = []
    for b in blocks:
        ref.extend(reference_block_records(b, bs)[1])
    arr = as_blocks(b"".join(blocks), bs)
    hdr = block_headers(arr)
    index, bad = index_records(arr, hdr)
    assert not bad.any()
    dec = decode_chunk(arr, hdr, index)
    codes = {dunelog.GnssFix: F.REC_GNSS, dunelog.TimeSync: F.REC_TIMESYNC,
             dunelog.Event: F.REC_EVENT, dunelog.Status: F.REC_STATUS,
             dunelog.Overflow: F.REC_OVERFLOW, dunelog.SessionStart: F.REC_SESSION}
    assert dec.types.tolist() == [
        r.type if isinstance(r, dunelog.UnknownRecord) else
        (F.REC_CANFD if r.fd else F.REC_CAN) if isinstance(r, CanFrame) else codes[type(r)]
        for r in ref]
    # times of all records
    assert dec.time_us.tolist() == [r.time_us for r in ref]
    # CAN arrays == construct, classic then FD, each in record order
    ref_can = [r for r in ref if isinstance(r, CanFrame)]
    got = frames_from_arrays(dec.classic, dec.fd)
    assert got == [r for r in ref_can if not r.fd] + [r for r in ref_can if r.fd]
    assert dec.classic.dtype == CAN_DTYPE and dec.fd.dtype == CANFD_DTYPE
    # data bytes beyond data_len are zero
    for arr_, w in ((dec.classic, 8), (dec.fd, 64)):
        for r in arr_:
            assert not r["data"][r["data_len"]:].any()
    # per-record struct decoder == construct for every record
    flat = arr.reshape(-1)
    typed = [decode_record(memoryview(flat), int(p), int(t), int(b))
             for p, t, b in zip(index.pos, dec.time_us, dec.boot)]
    assert typed == ref


@dlgen.HSET
@given(dlgen.st_timed(max_records=80), st.sampled_from([512, 1024, 4096]))
def test_bulk_equals_construct_hypothesis(timed, bs):
    blocks = list(F.pack_blocks(timed, block_size=bs, boot=3, logger_id=4))
    if blocks:
        check_blocks(blocks, bs)


@pytest.mark.parametrize("seed", range(3))
def test_bulk_equals_construct_random(seed):
    seg = dlgen.make_segment(3000, seed=seed, block_size=4096)
    check_blocks(seg.blocks, 4096)


def test_full_blocks_edge_records():
    # a block packed to the last byte with FD-64 frames and an 8-byte classic at the end
    recs = [F.rec_can(i, i, bytes([i]) * 64, fd=True) for i in range(5)]
    recs.append(F.rec_can(9, 9, b"\xff" * 8))
    used = sum(F.record_len(r) for r in recs)
    assert used + 2 * len(recs) + 36 <= 512
    blk = F.build_block(recs, seq=0, block_size=512)
    check_blocks([blk], 512)
    # unknown types only, and an empty block
    check_blocks([F.build_block([F.rec_raw(0, 0xEE, b"z" * 9)], seq=0, block_size=512),
                  F.build_block([], seq=1, block_size=512)], 512)


def test_dump_records_equal_reference(segment_file):
    path, seg = segment_file(n_records=2000, seed=11, block_size=1024)
    ref = list(reference_segment_records(seg.data))
    d = dunelog.open(path)
    assert list(d.records()) == ref
    assert d.problems == [] or {p.kind for p in d.problems} == {"unknown_type"}
    classic, fd = d.can_arrays()
    ref_can = [r for r in ref if isinstance(r, CanFrame)]
    assert frames_from_arrays(classic, fd) == \
        [r for r in ref_can if not r.fd] + [r for r in ref_can if r.fd]


def test_malformed_can_record_is_unknown(tmp_path):
    # a CRC-valid block whose classic CAN record claims data_len 12 (> len allows)
    blk = bytearray(F.build_block([F.rec_can(0, 1, b"12345678"), F.rec_can(1, 2, b"ab")],
                                  seq=0, block_size=512))
    blk[32 + 13] = 12
    data = F.build_segment_header(block_size=512) + F.fix_crc(blk)
    p = tmp_path / "m.dlg"
    p.write_bytes(data)
    d = dunelog.open(p)
    recs = list(d.records())
    assert isinstance(recs[0], dunelog.UnknownRecord) and recs[0].type == 1
    assert recs[1] == CanFrame(1, 1, 0, 2, 0, 2, b"ab", False)
    [prob] = [x for x in d.problems if x.kind == "malformed_record"]
    assert prob.offset == 512 + 32 and prob.seq == 0
    classic, _ = d.can_arrays()
    assert classic["id"].tolist() == [2]

"""Damaged segment files: every intact block is recovered, every fault is reported with
file and offset, and nothing raises or hangs."""

from __future__ import annotations

import random
import zlib

import dlgen
from hypothesis import given
from hypothesis import strategies as st

import dunelog
from dunelog.card import format as F
from dunelog.card.blocks import SegmentScanner

BS = 512
SEG = dlgen.make_segment(400, seed=5, block_size=BS)   # ~20 blocks
NB = len(SEG.blocks)
NAME = "B00001_S0000.dlg"


def read(path, chunk_size=None):
    kw = {} if chunk_size is None else {"chunk_size": chunk_size}
    d = dunelog.open(path, **kw)
    seqs = []
    for chunk in d.block_chunks():
        seqs.extend(chunk.headers["seq"].tolist())
    return seqs, d.problems


def covered(problems, path, offset):
    for p in problems:
        if p.file != str(path):
            continue
        if p.offset == offset:
            return True
        if p.nbytes and p.offset is not None and p.offset <= offset < p.offset + p.nbytes:
            return True
    return False


def block_range(k):
    s = SEG.block_offset(k)
    return s, s + BS


def expect_gaps(problems, lost, recovered):
    """Every run of lost seqs followed by a recovered block is a reported seq_gap."""
    gaps = {p.missing for p in problems if p.kind == "seq_gap"}
    runs, run = [], []
    for k in range(NB):
        if k in lost:
            run.append(k)
        else:
            if run:
                runs.append((run[0], run[-1]))
            run = []
    assert gaps == set(runs)


def test_clean(tmp_path):
    path = dlgen.write(tmp_path / NAME, SEG.data)
    seqs, problems = read(path)
    assert seqs == list(range(NB))
    assert [p for p in problems if p.kind != "unknown_type"] == []


@dlgen.HSET
@given(st.lists(st.tuples(st.integers(0, len(SEG.data) - 1), st.integers(1, 255)),
                min_size=1, max_size=6, unique_by=lambda f: f[0]),
       st.sampled_from([None, 300, 1500]))
def test_flipped_bytes(tmp_path_factory, flips, chunk):
    data = bytearray(SEG.data)
    for pos, x in flips:
        data[pos] ^= x
    path = dlgen.write(tmp_path_factory.mktemp("f") / NAME, bytes(data))
    seqs, problems = read(path, chunk)
    lost = {k for k in range(NB)
            if any(block_range(k)[0] <= pos < block_range(k)[1] for pos, _ in flips)}
    assert seqs == [k for k in range(NB) if k not in lost]
    for k in lost:
        assert covered(problems, path, block_range(k)[0]), (k, problems)
    if any(pos < SEG.header_size for pos, _ in flips):
        assert any(p.kind == "bad_segment_header" and p.offset == 0 for p in problems)
    expect_gaps(problems, lost, seqs)


@dlgen.HSET
@given(st.integers(0, len(SEG.data)))
def test_truncated(tmp_path_factory, cut):
    path = dlgen.write(tmp_path_factory.mktemp("t") / NAME, SEG.data[:cut])
    seqs, problems = read(path)
    whole = [k for k in range(NB) if block_range(k)[1] <= cut]
    assert seqs == whole
    part = [k for k in range(NB) if block_range(k)[0] < cut < block_range(k)[1]]
    for k in part:
        [p] = [p for p in problems if p.kind == "torn_tail"]
        assert p.offset == block_range(k)[0] and p.file == str(path)
        if cut - block_range(k)[0] >= 32:
            assert p.seq == k
    if cut >= SEG.header_size and not part:
        assert [p for p in problems if p.kind not in ("unknown_type",)] == []


@dlgen.HSET
@given(st.integers(0, NB - 1), st.integers(1, 3))
def test_deleted_blocks(tmp_path_factory, k, n):
    gone = set(range(k, min(k + n, NB)))
    data = SEG.data[:SEG.block_offset(k)] + SEG.data[SEG.block_offset(max(gone) + 1):]
    path = dlgen.write(tmp_path_factory.mktemp("d") / NAME, data)
    seqs, problems = read(path)
    assert seqs == [s for s in range(NB) if s not in gone]
    gaps = [p for p in problems if p.kind == "seq_gap"]
    if max(gone) + 1 < NB:
        [g] = gaps
        assert g.missing == (min(gone), max(gone)) and g.seq == max(gone) + 1
        assert g.offset == SEG.block_offset(k) and g.file == str(path)
    else:
        assert gaps == []


@dlgen.HSET
@given(st.integers(0, len(SEG.data)), st.integers(0, 300), st.binary(max_size=1200),
       st.booleans())
def test_deleted_range(tmp_path_factory, a, n, garbage, plant_magic):
    b = min(a + n, len(SEG.data))
    if plant_magic:
        garbage = garbage[:7] + b"DLGB\x01\x09" + garbage[7:]
    data = SEG.data[:a] + garbage + SEG.data[b:]
    path = dlgen.write(tmp_path_factory.mktemp("r") / NAME, data)
    seqs, problems = read(path, chunk_size=700)
    # a block survives if the edit does not touch it (an insertion exactly at a block
    # boundary touches nothing)
    def intact(k):   # the block's bytes are still there, whole
        return SEG.blocks[k] in data
    assert seqs == [k for k in range(NB) if intact(k)]
    expect_gaps(problems, {k for k in range(NB) if not intact(k)}, seqs)
    if garbage and any(s < a + len(garbage) for s in [len(data)]):
        assert covered(problems, path, a) or a == len(SEG.data) and not garbage


@dlgen.HSET
@given(st.binary(min_size=1, max_size=3000))
def test_appended_garbage(tmp_path_factory, tail):
    path = dlgen.write(tmp_path_factory.mktemp("a") / NAME, SEG.data + tail)
    seqs, problems = read(path)
    assert seqs == list(range(NB))
    assert covered(problems, path, len(SEG.data))


@dlgen.HSET
@given(st.binary(max_size=5000), st.booleans())
def test_random_bytes_never_crash(tmp_path_factory, blob, with_header):
    if with_header:
        blob = F.build_segment_header(block_size=BS) + blob
    # sprinkle block magics with plausible headers
    blob = bytearray(blob)
    for i in range(0, len(blob) - 8, 97):
        blob[i:i + 6] = b"DLGB\x01\x09"
    path = dlgen.write(tmp_path_factory.mktemp("x") / NAME, bytes(blob))
    seqs, problems = read(path, chunk_size=999)
    assert seqs == []
    for p in problems:
        assert p.file == str(path) and isinstance(p.message, str)


def test_slot_table_inconsistent_but_crc_valid(tmp_path):
    k = 7
    blk = bytearray(SEG.blocks[k])
    count = int.from_bytes(blk[6:8], "little")
    assert count >= 2
    blk[BS - 4 - 4] ^= 4          # slot of record 1 moved by 4 bytes
    data = bytearray(SEG.data)
    s = SEG.block_offset(k)
    data[s:s + BS] = F.fix_crc(blk)
    path = dlgen.write(tmp_path / NAME, bytes(data))
    for chunk in (None, 200, 1000, 4096):
        seqs, problems = read(path, chunk)
        assert seqs == [x for x in range(NB) if x != k]
        [p] = [p for p in problems if p.kind == "slot_table"]
        assert p.offset == s and p.seq == k
        [g] = [p for p in problems if p.kind == "seq_gap"]
        assert g.missing == (k, k)


def test_count_used_impossible(tmp_path):
    k = 3
    blk = bytearray(SEG.blocks[k])
    blk[8:10] = (600).to_bytes(2, "little")     # used larger than the block
    data = bytearray(SEG.data)
    s = SEG.block_offset(k)
    data[s:s + BS] = F.fix_crc(blk)
    path = dlgen.write(tmp_path / NAME, bytes(data))
    seqs, problems = read(path)
    assert seqs == [x for x in range(NB) if x != k]
    assert any(p.kind == "slot_table" and p.offset == s for p in problems)


def test_chunk_sizes_agree(tmp_path):
    rng = random.Random(3)
    data = bytearray(SEG.data)
    for _ in range(5):
        i = rng.randrange(len(data))
        data[i:i] = rng.randbytes(rng.randrange(1, 50))
    path = dlgen.write(tmp_path / NAME, bytes(data))
    base = read(path)
    for chunk in (64, 333, 512, 4096, 1 << 20):
        assert read(path, chunk) == base


def test_header_damage_still_orders_and_reads(tmp_path):
    data = bytearray(SEG.data)
    data[20] ^= 0xFF
    path = dlgen.write(tmp_path / "weird_name.dlg", bytes(data))
    d = dunelog.open(path)
    assert d.segments[0].header is None and d.segments[0].boot == 1
    seqs, problems = read(path)
    assert seqs == list(range(NB))
    assert any(p.kind == "bad_segment_header" for p in problems)


def test_problem_cap(tmp_path):
    path = dlgen.write(tmp_path / NAME, b"DLGB\x01\x09" * 20000)
    seqs, problems = read(path)
    assert seqs == [] and len(problems) < 2000
    assert any(p.kind == "suppressed" for p in problems)


def test_missing_file_scanner_reports_io_error(tmp_path):
    sc = SegmentScanner(tmp_path / "nope.dlg")
    assert list(sc) == []
    assert [p.kind for p in sc.problems] == ["io_error"]


def test_block_of_another_size_is_recovered_and_reported(tmp_path):
    other = F.build_block([F.rec_can(0, 0x55, b"big")], seq=5, block_size=1024)
    data = SEG.data[:SEG.block_offset(5)] + other + SEG.data[SEG.block_offset(6):]
    path = dlgen.write(tmp_path / NAME, data)
    seqs, problems = read(path)
    assert seqs == list(range(NB))
    [m] = [p for p in problems if p.kind == "mismatch"]
    assert m.offset == SEG.block_offset(5) and m.seq == 5
    recs = list(dunelog.open(path).records())
    assert any(isinstance(r, dunelog.CanFrame) and r.id == 0x55 for r in recs)


def test_block_of_another_boot_is_reported(tmp_path):
    alien = F.build_block([F.rec_can(0, 1, b"")], seq=3, boot=99, block_size=BS)
    data = SEG.data[:SEG.block_offset(3)] + alien + SEG.data[SEG.block_offset(4):]
    path = dlgen.write(tmp_path / NAME, data)
    seqs, problems = read(path)
    assert seqs == list(range(NB))
    assert [(p.kind, p.offset, p.boot) for p in problems if p.kind == "mismatch"] == [
        ("mismatch", SEG.block_offset(3), 99)]


def test_problem_str_and_dict():
    p = dunelog.Problem("seq_gap", "a.dlg", 4096, "block 3 missing", seq=4, boot=1,
                        missing=(3, 3))
    assert str(p) == "a.dlg@4096 seq 4: seq_gap: block 3 missing"
    assert p.to_dict()["missing"] == [3, 3]


def _scan_all(path, chunk_size, fast):
    """Everything a scan yields and reports, with the run check on or off."""
    from dunelog.card import blocks
    old = blocks._FAST
    blocks._FAST = fast
    try:
        kw = {} if chunk_size is None else {"chunk_size": chunk_size}
        sc = SegmentScanner(path, **kw)
        offs = [c.offsets.tolist() for c in sc]
        probs = [(p.kind, p.offset, p.message, p.seq, p.boot, p.nbytes)
                 for p in sc.problems]
        return offs, probs, sc.n_blocks, sc.first, sc.last
    finally:
        blocks._FAST = old


SEG4K = dlgen.make_segment(3000, seed=9, block_size=4096)


@dlgen.HSET
@given(st.sampled_from(["512", "4k"]),
       st.lists(st.tuples(st.sampled_from(["flip", "cut", "garbage", "magic", "other",
                                           "count", "dup"]),
                          st.floats(0, 1), st.integers(1, 255)), max_size=4),
       st.sampled_from([None, 300, 1500, 5000, 9000]))
def test_runs_of_good_blocks_read_as_block_by_block(tmp_path_factory, which, damage, chunk):
    """The scanner checks a run of good blocks at once (header fields and CRCs of the run,
    then one acceptance each); whatever the damage and the read size, it accepts the same
    blocks and reports the same problems as the block-by-block loop."""
    seg = SEG if which == "512" else SEG4K
    data = bytearray(seg.data)
    bs = 512 if which == "512" else 4096
    for kind, where, x in damage:
        at = int(where * (len(data) - 1))
        if kind == "flip":
            data[at] ^= x
        elif kind == "cut":
            del data[at:at + x * 7]
        elif kind == "garbage":
            data[at:at] = bytes(random.Random(x).randrange(256) for _ in range(x))
        elif kind == "magic":                  # a block magic where no block starts
            data[at:at] = F.BLOCK_MAGIC + bytes([F.FORMAT_VERSION, 9]) + bytes(x)
        elif kind == "other":                  # a valid block of another size
            k = seg.block_offset(int(where * (len(seg.blocks) - 1)))
            data[k:k] = F.build_block([F.rec_can(0, 0x55, b"x")], seq=x,
                                      block_size=1024 if bs != 1024 else 512)
        elif kind == "count":                  # count/used impossible, CRC made valid
            k = seg.block_offset(int(where * (len(seg.blocks) - 1)))
            if k + bs <= len(data):
                blk = bytearray(data[k:k + bs])
                blk[6:8] = (x + 900).to_bytes(2, "little")
                blk[-4:] = zlib.crc32(bytes(blk[:-4])).to_bytes(4, "little")
                data[k:k + bs] = blk
        else:                                  # a block written twice
            k = seg.block_offset(int(where * (len(seg.blocks) - 1)))
            data[k:k] = data[k:k + bs]
    path = dlgen.write(tmp_path_factory.mktemp("r") / NAME, bytes(data))
    fast = _scan_all(path, chunk, True)
    assert fast == _scan_all(path, chunk, False)
    if not damage:
        assert fast[2] == len(seg.blocks) and not [p for p in fast[1]
                                                   if p[0] != "unknown_type"]

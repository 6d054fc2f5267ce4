"""Whole dumps: discovery, ordering, seq continuity across segments and boots, UTC."""

from __future__ import annotations

import shutil

import dlgen
import numpy as np
import pytest

import dunelog
from dunelog.card import format as F
from dunelog.card.reference import reference_segment_records

BS = 1024


def build_boot(boot, n_segments, per_segment=300, *, logger_id=1, seed=0):
    """Segments of one boot with continuous seqs and times."""
    segs = []
    seq = 0
    t = 0
    for s in range(n_segments):
        seg = dlgen.make_segment(per_segment, seed=seed * 100 + s, block_size=BS, boot=boot,
                                 logger_id=logger_id, segment=s, first_seq=seq, t0=t)
        segs.append(seg)
        seq += len(seg.blocks)
        t = seg.timed[-1][0] + 1
    return segs


@pytest.fixture
def tree(tmp_path):
    b1 = build_boot(1, 3, seed=1)
    b2 = build_boot(2, 2, seed=2)
    root = tmp_path / "sd"
    # file names deliberately misleading: the headers are authoritative
    names = ["x/B00002_S0001.dlg", "B00001_S0000.dlg", "y/z/a.dlg", "B00009_S0000.DLG",
             "c.dlg"]
    for name, seg in zip(names, b1 + b2):
        dlgen.write(root / name, seg.data)
    (root / "notes.txt").write_text("not a segment")
    return root, b1 + b2


def test_order_and_records(tree):
    root, segs = tree
    d = dunelog.open(root)
    assert [(s.boot, s.segment) for s in d.segments] == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]
    recs = list(d.records())
    ref = [r for seg in segs for r in reference_segment_records(seg.data)]
    assert recs == ref
    assert [p for p in d.problems if p.kind != "unknown_type"] == []
    # times never decrease within a boot, boots in order
    for boot in (1, 2):
        t = [r.time_us for r in recs if r.boot == boot]
        assert t == sorted(t) and len(t) > 0
    assert d.stats.complete


def test_can_chunks_match_records(tree):
    root, _ = tree
    d = dunelog.open(root)
    frames = [r for r in d.records() if isinstance(r, dunelog.CanFrame)]
    classic, fd = d.can_arrays()
    assert classic["id"].tolist() == [f.id for f in frames if not f.fd]
    assert fd["time_us"].tolist() == [f.time_us for f in frames if f.fd]
    assert classic["boot"].tolist() == [f.boot for f in frames if not f.fd]
    assert sum(1 for c in d.can_chunks() for _ in c.classic) == classic.size


def test_missing_segment_file_is_a_gap(tree):
    root, segs = tree
    s1, s2 = segs[1], segs[2]
    # boot 1 segment 0 (stored as x/B00002_S0001.dlg) missing: seqs 0.. missing
    seg0 = root / "x/B00002_S0001.dlg"
    seg0.rename(root / "seg0.bak")
    d = dunelog.open(root)
    d.scan()
    gaps = [p for p in d.problems if p.kind == "seq_gap"]
    assert [(g.boot, g.missing, g.offset, g.file) for g in gaps] == [
        (1, (0, s1.first_seq - 1), 0, str(root / "B00001_S0000.dlg"))]
    # boot 1 segment 1 (stored as B00001_S0000.dlg) missing instead
    (root / "seg0.bak").rename(seg0)
    (root / "B00001_S0000.dlg").unlink()
    d = dunelog.open(root)
    d.scan()
    gaps = [p for p in d.problems if p.kind == "seq_gap"]
    assert [(g.boot, g.missing, g.offset, g.seq) for g in gaps] == [
        (1, (s1.first_seq, s2.first_seq - 1), 0, s2.first_seq)]
    assert gaps[0].file == str(root / "y/z/a.dlg")
    # the last segment of a boot missing is not detectable; boot 2 restarts at 0
    (root / "y/z/a.dlg").unlink()
    dlgen.write(root / "B00001_S0000.dlg", s1.data)
    d = dunelog.open(root)
    d.scan()
    assert [p for p in d.problems if p.kind in ("seq_gap", "seq_order")] == []


def test_damaged_header_falls_back_to_first_block(tree):
    root, segs = tree
    p = root / "y/z/a.dlg"                      # boot 1 segment 2
    data = bytearray(p.read_bytes())
    data[:BS] = bytes(BS)                      # header wiped
    p.write_bytes(bytes(data))
    d = dunelog.open(root)
    seg = [s for s in d.segments if s.path == str(p)][0]
    assert seg.header is None and seg.boot == 1 and seg.first_seq == segs[2].first_seq
    assert [s.path for s in d.segments][2] == str(p)
    recs = list(d.records())
    assert len(recs) == sum(len(list(reference_segment_records(s.data))) for s in segs)
    kinds = {p.kind for p in d.problems} - {"unknown_type"}
    assert kinds == {"bad_segment_header", "garbage"}


def test_duplicate_segment_not_read_twice(tree):
    root, segs = tree
    shutil.copy(root / "c.dlg", root / "copy_of_c.dlg")
    d = dunelog.open(root)
    n = sum(1 for _ in d.records())
    assert n == sum(len(list(reference_segment_records(s.data))) for s in segs)
    assert [p.kind for p in d.problems if p.kind == "duplicate_segment"] == ["duplicate_segment"]


def test_two_loggers_and_filter(tmp_path):
    a = dlgen.make_segment(100, seed=1, logger_id=7, boot=1, block_size=BS)
    b = dlgen.make_segment(100, seed=2, logger_id=3, boot=1, block_size=BS)
    dlgen.write(tmp_path / "l7/B00001_S0000.dlg", a.data)
    dlgen.write(tmp_path / "l3/B00001_S0000.dlg", b.data)
    d = dunelog.open(tmp_path)
    assert d.loggers == [3, 7]
    assert [s.logger_id for s in d.segments] == [3, 7]
    only = dunelog.open(tmp_path, logger_id=7)
    assert [s.logger_id for s in only.segments] == [7]
    assert list(only.records()) == list(reference_segment_records(a.data))


def test_utc_mapping(tmp_path):
    day = 20000
    timed = [(0, F.rec_session(0, firmware="1", vehicle="v")),
             (1_000_000, F.rec_can(0, 1, b"")),
             (2_000_000, F.rec_timesync(0, utc_days=day, utc_ms=10_000, utc_us=5)),
             (3_000_000, F.rec_can(0, 1, b"")),
             (5_000_000, F.rec_timesync(0, utc_days=day, utc_ms=13_000, utc_us=0,
                                        source=F.SYNC_PPS, flags=1)),
             (9_000_000, F.rec_overflow(0, {1: 5, 16: 1})),
             (9_500_000, F.rec_overflow(0, {1: 2}))]
    seg = dlgen.make_segment(timed=timed, boot=3, block_size=512)
    path = dlgen.write(tmp_path / "B00003_S0000.dlg", seg.data)
    d = dunelog.open(path)
    base = day * 86_400_000_000
    # before the first sync: use the first one after
    assert d.utc_us(3, 1_000_000) == base + 10_000_000 + 5 - 1_000_000
    assert d.utc_us(3, 2_000_000) == base + 10_000_005
    assert d.utc_us(3, 4_000_000) == base + 12_000_005
    assert d.utc_us(3, 6_000_000) == base + 14_000_000       # latest at or before
    assert d.utc_us(4, 6_000_000) is None                      # no sync in that boot
    assert d.utc(3, 5_000_000).isoformat() == "2024-10-04T00:00:13+00:00"
    tb = d.timebase()
    arr = tb.utc_us_array(3, np.array([1_000_000, 4_000_000, 6_000_000]))
    assert arr.tolist() == [d.utc_us(3, t) for t in (1_000_000, 4_000_000, 6_000_000)]
    assert d.overflow_totals == {1: 7, 16: 1}


def test_open_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        dunelog.open(tmp_path / "missing")
    assert dunelog.open(tmp_path).segments == []


def test_memory_flat_streaming(tmp_path):
    # many small chunks: after the first read (>= 64 KiB, a header of any size) chunks
    # never hold more than chunk_size of blocks
    seg = dlgen.make_segment(6000, seed=9, block_size=512)
    path = dlgen.write(tmp_path / "B00001_S0000.dlg", seg.data)
    d = dunelog.open(path, chunk_size=4096)
    sizes = [c.blocks.nbytes for c in d.block_chunks()]
    assert max(sizes) <= 65536 and max(sizes[1:]) <= 4096 and len(sizes) > 5
    assert list(d.records()) == list(reference_segment_records(seg.data))

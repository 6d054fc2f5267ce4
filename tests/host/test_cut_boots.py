"""What a power cut around a segment rotation leaves, as `dunelog info` must report it
(docs/FORMAT.md section 5; the power-cut campaign, docs/RELIABILITY.md): a boot ends
`closed` only if its LAST block is in its highest-numbered segment file; an empty segment
file, or one whose header is cut short, is `cut_at_open` (not a damaged header) and the
boot is `cut`; a header present at full length but wrong stays `bad_segment_header`."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import dlgen
import pytest

import dunelog
from dunelog.card.format import BLOCK_FLAG_LAST, fix_crc
from dunelog.card.info import dump_info, format_info
from dunelog.cli import main

BS = 512
LOGGER = 7


def with_last(seg: dlgen.Seg) -> bytes:
    """The segment's bytes with LAST set on its final block (as the firmware closes it)."""
    data = bytearray(seg.data)
    off = seg.block_offset(len(seg.blocks) - 1)
    blk = bytearray(data[off:off + BS])
    struct.pack_into("<H", blk, 10, struct.unpack_from("<H", blk, 10)[0] | BLOCK_FLAG_LAST)
    data[off:off + BS] = fix_crc(blk)
    return bytes(data)


def card(tmp_path: Path, boot: int = 3, n: int = 2) -> tuple[Path, list[dlgen.Seg]]:
    """A card with boot 1 (one segment, closed) and `boot` rotated into n segments, each
    closed by a LAST block."""
    root = tmp_path / "sd"
    segs = []
    b1 = dlgen.make_segment(40, seed=1, logger_id=LOGGER, boot=1, can_share=1.0)
    dlgen.write(root / "B00001_S0000.dlg", with_last(b1))
    seq, t = 0, 0
    for i in range(n):
        s = dlgen.make_segment(60, seed=10 + i, logger_id=LOGGER, boot=boot, segment=i,
                               first_seq=seq, t0=t, can_share=1.0)
        dlgen.write(root / f"B{boot:05d}_S{i:04d}.dlg", with_last(s))
        segs.append(s)
        seq += len(s.blocks)
        t = s.timed[-1][0] + 1
    return root, segs


def next_header(segs: list[dlgen.Seg], boot: int = 3) -> bytes:
    """The header of the segment the rotation after `segs` opens."""
    last = segs[-1]
    nxt = dlgen.make_segment(5, seed=99, logger_id=LOGGER, boot=boot, segment=len(segs),
                             first_seq=last.first_seq + len(last.blocks))
    return nxt.data[:nxt.header_size]


def problems(root: Path) -> list[str]:
    d = dunelog.open(root)
    d.scan()
    return [p.kind for p in d.problems]


def ends(root: Path) -> dict[int, str]:
    return {b["boot"]: b["end"] for b in dump_info(dunelog.open(root))["boots"]}


def info_exit(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["info", str(root), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_every_segment_closed_by_last_is_a_closed_boot(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    root, _ = card(tmp_path)
    assert ends(root) == {1: "closed", 3: "closed"}
    code, info = info_exit(root, capsys)
    assert code == 0 and info["problems"] == []


def test_header_only_next_segment_means_cut(tmp_path: Path) -> None:
    """Cut after the rotation flushed LAST and the next header, before its first block."""
    root, segs = card(tmp_path)
    dlgen.write(root / "B00003_S0002.dlg", next_header(segs))
    d = dunelog.open(root)
    assert ends(root) == {1: "closed", 3: "cut"}
    d.scan()
    assert d.problems == []


@pytest.mark.parametrize("keep", [0, 1, 4, 5, 95, 96, 100, BS - 1])
def test_empty_or_cut_short_header_is_cut_at_open(tmp_path: Path, keep: int,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Cut while the rotation opened the next segment: nothing or part of its header."""
    root, segs = card(tmp_path)
    path = dlgen.write(root / "B00003_S0002.dlg", next_header(segs)[:keep])
    assert ends(root) == {1: "closed", 3: "cut"}
    code, info = info_exit(root, capsys)
    kinds = [(p["kind"], Path(p["file"]).name) for p in info["problems"]]
    assert kinds == [("cut_at_open", path.name)], kinds
    # exit 3 as for a torn tail: read, with the cut reported (README "Exit status")
    assert code == 3
    [seg] = [s for s in info["segments"] if s["file"] == str(path)]
    assert seg["cut_at_open"] and not seg["header_ok"]
    assert (seg["logger_id"], seg["boot"], seg["segment"]) == (LOGGER, 3, 2)
    text = format_info(info)
    assert "cut_at_open" in text and "bad_segment_header" not in text


def test_cut_at_open_of_a_boots_first_segment(tmp_path: Path) -> None:
    """The cut boot's only file is empty: reported as cut at open, the others untouched."""
    root, _ = card(tmp_path, n=1)
    dlgen.write(root / "B00004_S0000.dlg", b"")
    assert ends(root) == {1: "closed", 3: "closed"}
    assert problems(root) == ["cut_at_open"]


@pytest.mark.parametrize("damage", ["crc", "version", "magic", "zeros"])
def test_header_present_but_wrong_is_still_damage(tmp_path: Path, damage: str) -> None:
    root, segs = card(tmp_path)
    h = bytearray(next_header(segs))
    if damage == "crc":
        h[40] ^= 0x55
    elif damage == "version":
        h[4] = 9
    elif damage == "magic":
        h[0] = ord("X")
    else:
        h[:] = bytes(len(h))
    keep = len(h) if damage in ("crc", "zeros") else 100     # short but not a header start
    dlgen.write(root / "B00003_S0002.dlg", bytes(h[:keep]))
    kinds = problems(root)
    assert "bad_segment_header" in kinds and "cut_at_open" not in kinds, kinds


def test_damaged_file_of_full_size_is_not_cut_at_open(tmp_path: Path) -> None:
    """A segment whose header is torn but whose blocks follow: damage, blocks still read."""
    root, segs = card(tmp_path)
    p = root / "B00003_S0001.dlg"
    data = bytearray(p.read_bytes())
    data[8:12] = b"\xff\xff\xff\xff"
    p.write_bytes(bytes(data))
    d = dunelog.open(root)
    d.scan()
    kinds = {p.kind for p in d.problems}
    assert "bad_segment_header" in kinds and "cut_at_open" not in kinds
    assert d.stats is not None and d.stats.boots[(LOGGER, 3)].records == sum(
        len(s.timed) for s in segs)


@pytest.mark.parametrize("tail", ["closed", "header_only", "empty"])
def test_the_datasets_power_cuts_follow_the_same_rule(tmp_path: Path, tail: str) -> None:
    """`decode --dataset` plans from each file's context, not from one pass over the dump:
    its integrity table must still call a boot cut exactly where `info` does."""
    pq = pytest.importorskip("pyarrow.parquet", reason="the dataset is Parquet (pyarrow)")
    from dunelog.fleet import DecodeSpec, build_dataset
    root, segs = card(tmp_path)
    if tail == "header_only":
        dlgen.write(root / "B00003_S0002.dlg", next_header(segs))
    elif tail == "empty":
        dlgen.write(root / "B00003_S0002.dlg", b"")
    want = {b for b, end in ends(root).items() if end == "cut"}
    assert want == (set() if tail == "closed" else {3})
    out = tmp_path / "ds"
    build_dataset(str(root), str(out), DecodeSpec.make([]))
    rows = pq.read_table(out / "integrity").to_pylist() if (out / "integrity").exists() \
        else []
    assert {r["boot"] for r in rows if r["kind"] == "power_cut"} == want

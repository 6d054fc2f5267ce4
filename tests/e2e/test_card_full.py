"""Card full, each policy, on a real small file system (tmpfs): the firmware under
MicroPython never crashes; "stop" keeps the oldest data and stops, "overwrite" drops the
oldest segments and keeps logging; the host reads what is there without integrity errors."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import dunelog
from dunelog.card.records import CanFrame
from hil.synth import recce_drive

pytestmark = pytest.mark.micropython


@pytest.fixture
def small_card(tmp_path: Path):
    """A 1 MiB tmpfs: a full card in seconds."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs card needs root (CI runs as root)")
    mnt = tmp_path / "card"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def fill(firmware, card: Path, policy: str) -> tuple[str, list]:
    # ~2 MiB of blocks into 1 MiB: 150 s of drive, 64 KiB segments
    feed = recce_drive(150, seed=8, seg_blocks=16, flush_ms=1000)
    summary = firmware(feed, card, extra=["--card-full", policy, "--reserve-kib", "64"],
                       feed_dir=card.parent)
    dump = dunelog.open(card)
    frames = [r for r in dump.records() if isinstance(r, CanFrame)]
    bad = [p for p in dump.problems if p.kind not in ("torn_tail", "seq_gap")]
    assert not bad, bad
    return summary, frames, dump, feed


def test_card_full_stop_keeps_the_oldest_data(small_card: Path, firmware) -> None:
    summary, frames, dump, feed = fill(firmware, small_card, "stop")
    assert "stopped 1" in summary and "deleted 0" in summary
    fed = [f for f in feed.fed if f.kind == "can"]
    # everything logged is the beginning of the drive, in order, unaltered
    assert [(f.time_us, f.id, f.data) for f in frames] == [
        (x.t_us, x.fields["id"], x.fields["data"]) for x in fed[:len(frames)]]
    assert 0.2 * len(fed) < len(frames) < 0.6 * len(fed)


def test_card_full_overwrite_keeps_the_newest_data(small_card: Path, firmware) -> None:
    summary, frames, dump, feed = fill(firmware, small_card, "overwrite")
    assert "stopped 0" in summary
    deleted = int(summary.split("deleted ")[1].split()[0])
    assert deleted > 0
    fed = [f for f in feed.fed if f.kind == "can"]
    # the newest data is all there, up to the last frame; the oldest segments are gone
    assert frames[-1].time_us == fed[-1].t_us
    tail = [(x.t_us, x.fields["id"], x.fields["data"]) for x in fed[-len(frames):]]
    got = [(f.time_us, f.id, f.data) for f in frames]
    assert got[-1000:] == tail[-1000:]
    assert frames[0].time_us > 10_000_000        # the first 10 s were overwritten
    assert [p for p in dump.problems if p.kind == "seq_gap"], "the host reports the removed blocks"

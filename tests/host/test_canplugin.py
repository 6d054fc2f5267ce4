"""python-can plugin: can.LogReader, can.logconvert and can.player on dunelog segments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import can
import pytest

from dunelog.io import iter_messages
from dunelog.io.plugin import DunelogReader

DRIVE = Path(__file__).resolve().parents[1] / "vectors" / "drive"
SEG = DRIVE / "B00002_S0000.dlg"


def _k(m):
    return (m.timestamp, m.arbitration_id, m.is_extended_id, m.is_fd, m.bitrate_switch,
            m.error_state_indicator, m.is_remote_frame, m.is_error_frame, m.channel, m.dlc,
            bytes(m.data))


def test_logreader_uses_plugin_and_matches_our_reader():
    with can.LogReader(SEG) as r:
        assert isinstance(r, DunelogReader)
        msgs = list(r)
    assert msgs and [_k(m) for m in msgs] == [_k(m) for m in iter_messages(SEG)]


def test_logreader_every_segment_of_drive():
    total = 0
    for seg in sorted(DRIVE.glob("*.dlg")):
        with can.LogReader(seg) as r:
            got = [_k(m) for m in r]
        assert got == [_k(m) for m in iter_messages(seg)]
        total += len(got)
    assert total == 3372 + 1124


def test_logconvert_subprocess(tmp_path):
    out = tmp_path / "seg.blf"
    p = subprocess.run([sys.executable, "-m", "can.logconvert", str(SEG), str(out)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    with can.LogReader(out) as r:
        back = list(r)
    orig = list(iter_messages(SEG))
    assert [(m.arbitration_id, bytes(m.data), m.channel, m.is_fd) for m in back] == \
        [(m.arbitration_id, bytes(m.data), m.channel, m.is_fd) for m in orig]


def test_player_subprocess_virtual(tmp_path):
    """`python -m can.player` replays a dunelog segment (1124 frames) on a virtual bus;
    --ignore-timestamps --gap 0 keeps it short."""
    p = subprocess.run([sys.executable, "-m", "can.player", "--interface", "virtual",
                        "--channel", "dunelog-test", "--ignore-timestamps", "--gap", "0",
                        str(SEG)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_reader_rejects_file_objects():
    with pytest.raises(TypeError):
        DunelogReader(open(SEG, "rb"))  # noqa: SIM115
    with pytest.raises(FileNotFoundError):
        DunelogReader(DRIVE / "nope.dlg")

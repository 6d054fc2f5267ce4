"""``dunelog info``: text and JSON output, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import dlgen
import pytest

from dunelog.card import format as F
from dunelog.cli import main


@pytest.fixture
def dump_dir(tmp_path):
    timed = [(0, F.rec_session(0, firmware="2.1.0", vehicle="T1-204", logger_id=5))]
    t = 0
    for i in range(1000):
        t += 10_000                       # 100 Hz
        timed.append((t, F.rec_can(0, 0x123, b"\x01\x02", channel=0)))
        if i % 2 == 0:                    # 50 Hz, extended, channel 1
            timed.append((t, F.rec_can(0, 0x18FEF100, b"\xff" * 8, channel=1,
                                       flags=F.CAN_EXT)))
        if i % 100 == 0:
            timed.append((t, F.rec_timesync(0, utc_days=20000, utc_ms=43_200_000 + t // 1000)))
            timed.append((t, F.rec_gnss(0, lat=480000000, lon=20000000)))
    timed.append((t + 1, F.rec_overflow(0, {1: 12, 16: 1})))
    seg = dlgen.make_segment(timed=timed, logger_id=5, boot=12, block_size=4096)
    bad = bytearray(seg.blocks[3])
    bad[200] ^= 0x55
    data = seg.data[:seg.block_offset(3)] + bytes(bad) + b"\xAA" * 100 \
        + seg.data[seg.block_offset(4):] + seg.blocks[-1][:1000]
    root = tmp_path / "card" / "dunelog"
    dlgen.write(root / "B00012_S0000.dlg", data)
    return tmp_path / "card", seg


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_info_text(dump_dir, capsys):
    root, seg = dump_dir
    rc, out, err = run(capsys, "info", str(root), "--no-progress")
    assert rc == 3                  # read, with integrity problems (EXIT_PROBLEMS)
    assert "B00012_S0000.dlg" in out
    assert "0x123" in out and "0x18FEF100" in out
    assert "  ch  id " in out and "rate_hz" in out
    assert "2024-10-04T12:00:00" in out                # UTC start of the boot
    assert "Overflow: 13 record(s) dropped: can 12, gnss 1" in out
    assert "crc" in out and "garbage" in out and "seq_gap" in out and "torn_tail" in out
    assert str(seg.block_offset(3)) in out


def test_info_json(dump_dir, capsys):
    root, seg = dump_dir
    rc, out, _ = run(capsys, "info", str(root), "--json")
    assert rc == 3                  # read, with integrity problems (EXIT_PROBLEMS)
    info = json.loads(out)
    [s] = info["segments"]
    assert (s["logger_id"], s["boot"], s["segment"], s["header_ok"], s["firmware"],
            s["vehicle"]) == (5, 12, 0, True, "1.0.0", "test")
    [b] = info["boots"]
    assert b["boot"] == 12 and b["time_synced"] and b["utc_start"].startswith("2024-10-04T12")
    ids = {(c["channel"], c["id"], c["extended"]): c for c in info["can_ids"]}
    c1 = ids[(0, 0x123, False)]
    c2 = ids[(1, 0x18FEF100, True)]
    # one 4 KiB block of ~1/8 of the frames is lost: the mean logged rate drops a little
    assert c1["rate_hz"] == pytest.approx(100, rel=0.15)
    assert c2["rate_hz"] == pytest.approx(50, rel=0.15)
    assert c1["count"] + c2["count"] < 1500
    assert info["overflow"] == {"total": 13, "by_type": {"can": 12, "gnss": 1}}
    assert info["records_by_type"]["session"] == 1
    kinds = info["problem_counts"]
    assert kinds["seq_gap"] == 1 and kinds["torn_tail"] == 1
    gap = [p for p in info["problems"] if p["kind"] == "seq_gap"][0]
    assert gap["missing"] == [3, 3] and gap["seq"] == 4
    assert gap["file"].endswith("B00012_S0000.dlg")
    crc = [p for p in info["problems"] if p["kind"] == "crc"][0]
    assert crc["offset"] == seg.block_offset(3)


def test_info_rates_exact(tmp_path, capsys):
    timed = [(i * 10_000, F.rec_can(0, 0x7E8, b"\x00")) for i in range(500)]
    seg = dlgen.make_segment(timed=timed, block_size=512)
    dlgen.write(tmp_path / "B00001_S0000.dlg", seg.data)
    rc, out, _ = run(capsys, "info", str(tmp_path), "--no-progress")
    assert rc == 0 and "Integrity: no problems" in out
    assert "0x7E8" in out and "100.00" in out


def test_exit_codes(tmp_path, capsys):
    rc, out, err = run(capsys, "info", str(tmp_path / "nope"))
    assert rc == 2 and "no such file" in err and "Traceback" not in err
    rc, out, err = run(capsys, "info", str(tmp_path))
    assert rc == 2 and "no dunelog segment files" in err
    (tmp_path / "junk.dlg").write_bytes(b"\x00" * 5000)
    rc, out, err = run(capsys, "info", str(tmp_path))
    assert rc == 2 and "no readable dunelog data" in err
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2


def test_console_script_runs(dump_dir):
    root, _ = dump_dir
    r = subprocess.run([sys.executable, "-m", "dunelog", "info", str(root), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr            # the fixture's dump is damaged
    assert json.loads(r.stdout)["boots"][0]["boot"] == 12

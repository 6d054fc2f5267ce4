"""``dunelog decode`` on the firmware-written demo dump."""

from __future__ import annotations

import csv
import os

import cantools
import numpy as np
import pyarrow.parquet as pq
import pytest

import dunelog
from dunelog.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECCE = os.path.join(ROOT, "dbc", "recce.dbc")
OBD2 = os.path.join(ROOT, "dbc", "obd2.dbc")
DRIVE = os.path.join(ROOT, "tests", "vectors", "drive")


def _counts():
    n = {}
    for chunk in dunelog.open(DRIVE).can_chunks():
        for arr in (chunk.classic, chunk.fd):
            for i, c in zip(*np.unique(arr["id"], return_counts=True)):
                n[int(i)] = n.get(int(i), 0) + int(c)
    return n


def test_parquet_wide(tmp_path, capsys):
    out = tmp_path / "drive.parquet"
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(out)]) == 0
    files = sorted(os.listdir(out))
    assert files == sorted(f"{m}.parquet" for m in ("EngineData", "WheelSpeeds",
                           "SteeringBrakes", "DrivelineMode", "CCVS1", "InertialFD"))
    db = cantools.database.load_file(RECCE)
    counts = _counts()
    for f in files:
        t = pq.read_table(out / f)
        msg = db.get_message_by_name(f[:-8])
        assert t.num_rows == counts[msg.frame_id]
        assert {"time_us", "boot", "utc", "channel", "frame_id"} <= set(t.column_names)
        assert {s.name for s in msg.signals} <= set(t.column_names)
        assert t.column("utc").null_count == 0
    t = pq.read_table(out / "InertialFD.parquet")
    assert set(t.column("channel").to_pylist()) == {1}
    err = capsys.readouterr().err
    assert "decoded 4496 of 4496" in err


def test_csv_long_filters_window(tmp_path):
    out = tmp_path / "d.csv"
    rc = main(["decode", DRIVE, "--dbc", RECCE, "-o", str(out), "--ids", "0x2F0,WheelSpeeds",
               "--signals", "TerrainMode", "WheelSpeedFL", "--start", "1", "--end", "5.5"])
    assert rc == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["timestamp", "channel", "frame_id", "message", "signal",
                             "value", "unit", "label", "logger_id", "vehicle"]
    assert {(r["logger_id"], r["vehicle"]) for r in rows} == {("7", "RECCE-07")}
    assert {r["signal"] for r in rows} == {"TerrainMode", "WheelSpeedFL"}
    labels = {"Auto", "Sand", "Rock", "Mud", "Snow", "Gravel", "SNA", ""}
    assert {r["label"] for r in rows if r["signal"] == "TerrainMode"} <= labels
    assert any(r["label"] for r in rows if r["signal"] == "TerrainMode")
    assert all(r["unit"] == "km/h" and r["label"] == "" for r in rows
               if r["signal"] == "WheelSpeedFL")
    n_terrain = sum(r["signal"] == "TerrainMode" for r in rows)
    assert 0 < n_terrain < 12


def test_csv_wide_and_parquet_long(tmp_path):
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(tmp_path / "w.csv"),
                 "--layout", "wide"]) == 0
    assert "EngineData.csv" in os.listdir(tmp_path / "w.csv")
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(tmp_path / "l.parquet"),
                 "--layout", "long", "--ids", "0xC0"]) == 0
    t = pq.read_table(tmp_path / "l.parquet")
    assert t.num_rows == _counts()[0xC0] * 8
    assert set(t.column("message").to_pylist()) == {"EngineData"}


def test_dbc_channel_binding_and_reports(tmp_path, capsys):
    out = tmp_path / "x.parquet"
    assert main(["decode", DRIVE, "--dbc", RECCE, "--channel", "1", "--dbc", OBD2,
                 "-o", str(out)]) == 0
    assert os.listdir(out) == ["InertialFD.parquet"]
    err = capsys.readouterr().err
    assert "id 0xC0 on channel 0: not in any DBC" in err


def test_errors(tmp_path, capsys):
    assert main(["decode", DRIVE, "--dbc", str(tmp_path / "nope.dbc"),
                 "-o", str(tmp_path / "a.parquet")]) == 2
    assert "nope.dbc" in capsys.readouterr().err
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(tmp_path / "a.xyz")]) == 2
    assert "unknown output format" in capsys.readouterr().err
    assert main(["decode", DRIVE, "--dbc", RECCE, "--ids", "0x555",
                 "-o", str(tmp_path / "a.csv")]) == 2
    with pytest.raises(SystemExit):
        main(["decode", DRIVE, "--channel", "1", "--dbc", RECCE, "-o", "x.csv"])


def test_foreign_log_input(tmp_path):
    """A log python-can reads decodes to the same values as the dunelog dump."""
    can = pytest.importorskip("can")
    from dunelog import io as sources
    log = tmp_path / "drive.blf"
    with can.Logger(str(log)) as w:
        for msg in sources.iter_messages(DRIVE):
            w.on_message_received(msg)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert main(["decode", str(log), "--dbc", RECCE, "-o", str(a)]) == 0
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(b)]) == 0
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for f in os.listdir(a):
        ta, tb = pq.read_table(a / f), pq.read_table(b / f)
        sig = [c for c in tb.column_names
               if c not in ("time_us", "boot", "utc", "logger_id", "vehicle")]
        assert ta["logger_id"].null_count == ta.num_rows    # a foreign log has no logger id
        key = lambda t: t.select(sig).to_pylist()  # noqa: E731
        ra = sorted(map(repr, key(ta)))     # repr: NaN payloads compare equal
        rb = sorted(map(repr, key(tb)))
        assert ra == rb, f
    # the BLF's timestamps are UTC epoch seconds: kept as utc
    assert pq.read_table(a / "EngineData.parquet").column("utc").null_count == 0


def test_frame_formats_go_to_export(tmp_path, capsys):
    out = tmp_path / "x.blf"
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(out)]) == 0
    assert out.stat().st_size > 0
    assert "raw CAN frame" in capsys.readouterr().err


@pytest.mark.parametrize("out,layout", [("d.parquet", "wide"), ("d.parquet", "long"),
                                        ("d.csv", "long"), ("d.csv", "wide")])
def test_tables_written_on_a_thread_equal_those_written_inline(tmp_path, out, layout):
    """Parquet/CSV are encoded and written on a thread while the next chunk decodes: the
    same bytes as written inline, the thread gone when the decode returns."""
    import threading

    from dunelog.decode import Decoder
    from dunelog.decode.sink import decode_dump
    files = {}
    for threaded in (True, False):
        dest = tmp_path / str(threaded) / out
        dest.parent.mkdir()
        decode_dump(dunelog.open(DRIVE), Decoder([(RECCE, None)]), str(dest), layout=layout,
                    threaded=threaded)
        files[threaded] = {p.relative_to(dest.parent).as_posix(): p.read_bytes()
                           for p in sorted(dest.parent.rglob("*")) if p.is_file()}
        assert not [t for t in threading.enumerate() if t.name.startswith("dunelog-write")]
    assert files[True] == files[False] and len(files[True]) == (6 if layout == "wide" else 1)


_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails (EFBIG)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.RLIM_INFINITY))
from dunelog.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("name,layout", [("d.parquet", "wide"), ("d.csv", "long")])
def test_an_output_that_cannot_be_written_is_one_line(tmp_path, name, layout):
    """A write that fails (files limited to 20 kB, as a full disk fails it), on the
    writing thread or not: one line naming the output, exit 2, nothing left of it."""
    import subprocess
    import sys
    out = tmp_path / name
    r = subprocess.run([sys.executable, "-c", _FULL_DISK, "decode", DRIVE, "--dbc", RECCE,
                        "-o", str(out), "--layout", layout, "--no-progress"],
                       capture_output=True, text=True, timeout=120)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert err[0] == f"dunelog: error: cannot write {out}: File too large (nothing written)"
    assert os.listdir(tmp_path) == []

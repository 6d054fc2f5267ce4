"""Vehicle identity is never lost (issue 16 part 1): an archive and a flat directory of three
loggers (three vehicles, one of them on two UTC days), decoded, converted, tracked,
reported and plotted; each result compared with the same command on each logger alone."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from dunelog.card.format import (
    build_segment_header,
    pack_blocks,
    rec_can,
    rec_event,
    rec_gnss,
    rec_session,
    rec_timesync,
)
from dunelog.cli import main
from dunelog.io import iter_messages, write_frames
from dunelog.io.gnss_can import GnssCan

DBC = str(Path(__file__).resolve().parents[2] / "dbc" / "recce.dbc")
DAY = 20420                      # 2025-11-28
BS = 4096
#: (logger id, vehicle, archive directory, boots: (boot, UTC day))
LOGGERS = [
    (7, "RECCE-07", "RECCE-07", [(1, DAY), (2, DAY + 1)]),
    (9, "Hilux 309", "Hilux-309", [(4, DAY)]),
    (11, "T1 #204", "T1-204", [(1, DAY + 1)]),
]
DATES = {DAY: "2025-11-28", DAY + 1: "2025-11-29"}


def boot_segment(logger_id: int, vehicle: str, boot: int, day: int, seconds: int = 12,
                 header_vehicle: str | None = None) -> bytes:
    """One boot of one logger: session start, a time sync, 10 Hz GNSS fixes moving east,
    EngineData and WheelSpeeds frames, a button mark."""
    rng = random.Random(logger_id * 100 + boot)
    lat0, lon0 = 23_0000000 + logger_id * 1_000_000, 5_0000000 + boot * 100_000
    t0_ms = (8 + logger_id % 5) * 3_600_000
    timed = [(0, rec_session(0, firmware="1.2.0", vehicle=vehicle, logger_id=logger_id)),
             (1000, rec_timesync(0, utc_days=day, utc_ms=t0_ms))]
    for k in range(seconds * 10):
        t = 100_000 * (k + 1)
        timed.append((t, rec_gnss(0, lat=lat0, lon=lon0 + 300 * k, alt_mm=400_000,
                                  utc_days=day, utc_ms=t0_ms + t // 1000 - 1,
                                  speed_cms=1500, course_cdeg=9000, hdop_c=90)))
        timed.append((t + 10, rec_can(0, 0x0C0, rng.randbytes(8))))
        timed.append((t + 20, rec_can(0, 0x1A0, rng.randbytes(8))))
        if k == 50:
            timed.append((t + 30, rec_event(0, kind=1, code=1, text=f"mark {vehicle}")))
    blocks = list(pack_blocks(timed, boot=boot, logger_id=logger_id, block_size=BS))
    return build_segment_header(logger_id=logger_id, boot=boot, segment=0,
                                firmware="1.2.0", block_size=BS,
                                vehicle=vehicle if header_vehicle is None else header_vehicle) \
        + b"".join(blocks)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> dict:
    """``archive`` (vehicle/date/segment, as `dunelog ingest` lays it out), ``flat`` (every
    file in one directory) and ``solo[logger]`` / ``solo_day[(logger, date)]``."""
    root = tmp_path_factory.mktemp("fleet")
    out: dict = {"root": root, "archive": root / "archive", "flat": root / "flat",
                 "solo": {}, "solo_day": {}}
    out["flat"].mkdir()
    for lg, vehicle, vdir, boots in LOGGERS:
        for boot, day in boots:
            data = boot_segment(lg, vehicle, boot, day)
            name = f"B{boot:05d}_S0000.dlg"
            for d in (out["archive"] / vdir / DATES[day], root / "solo" / str(lg),
                      root / "solo_day" / f"{lg}_{DATES[day]}"):
                d.mkdir(parents=True, exist_ok=True)
                (d / name).write_bytes(data)
            (out["flat"] / f"L{lg}_{name}").write_bytes(data)
            out["solo_day"][(lg, DATES[day])] = root / "solo_day" / f"{lg}_{DATES[day]}"
        out["solo"][lg] = root / "solo" / str(lg)
    return out


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_identity_comes_from_the_session_start(tmp_path):
    import dunelog
    (tmp_path / "B00003_S0000.dlg").write_bytes(
        boot_segment(5, "Session name", 3, DAY, seconds=2, header_vehicle="Header name"))
    (ident,) = dunelog.open(tmp_path).identities().values()
    assert (ident.logger_id, ident.boot, ident.vehicle, ident.date) == \
        (5, 3, "Session name", "2025-11-28")


# ------------------------------------------------------------------------------ decode
def _read(path: Path, fmt: str):
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return pq.read_table(path)
    import pyarrow.csv as pcsv
    return pcsv.read_csv(path)


@pytest.mark.parametrize("where", ["archive", "flat"])
@pytest.mark.parametrize("suffix,layout", [(".parquet", "wide"), (".parquet", "long"),
                                           (".csv", "long"), (".csv", "wide")])
def test_decode_tables_carry_logger_and_vehicle(fleet, tmp_path, where, suffix, layout):
    import pyarrow.compute as pc
    fmt = suffix[1:]
    out = tmp_path / f"all{suffix}"
    assert main(["decode", str(fleet[where]), "--dbc", DBC, "-o", str(out),
                 "--layout", layout, "--no-progress"]) == 0
    solos = {}
    for lg, *_ in LOGGERS:
        so = tmp_path / f"solo{lg}{suffix}"
        assert main(["decode", str(fleet["solo"][lg]), "--dbc", DBC, "-o", str(so),
                     "--layout", layout, "--no-progress"]) == 0
        solos[lg] = so
    files = [("EngineData", "WheelSpeeds")] if layout == "wide" else [None]
    for names in files:
        for name in names or [None]:
            path = out / f"{name}.{fmt}" if name else out
            t = _read(path, fmt)
            assert t.column_names.count("logger_id") == 1 and "vehicle" in t.column_names
            if layout == "wide":
                assert t.column_names[:7] == ["time_us", "boot", "utc", "channel",
                                              "frame_id", "logger_id", "vehicle"]
            else:
                assert t.column_names[-2:] == ["logger_id", "vehicle"]
            got = {}
            for lg, vehicle, _, _ in LOGGERS:
                part = t.filter(pc.equal(t["logger_id"], lg))
                assert set(part["vehicle"].to_pylist()) == {vehicle}
                solo = _read(solos[lg] / f"{name}.{fmt}" if name else solos[lg], fmt)
                assert part.num_rows == solo.num_rows > 0
                assert part.to_pylist() == solo.to_pylist()      # row for row, same values
                got[lg] = part.num_rows
            assert sum(got.values()) == t.num_rows               # nothing unattributed
            if fmt == "parquet":
                import pyarrow.parquet as pq
                meta = pq.read_schema(path).metadata
                assert json.loads(meta[b"dunelog.loggers"]) == {
                    str(lg): [v] for lg, v, *_ in LOGGERS}


def test_decode_selects_a_vehicle(fleet, tmp_path):
    import pyarrow.parquet as pq
    out, solo = tmp_path / "h.parquet", tmp_path / "solo.parquet"
    assert main(["decode", str(fleet["archive"]), "--dbc", DBC, "-o", str(out),
                 "--vehicle", "Hilux 309", "--no-progress"]) == 0
    assert main(["decode", str(fleet["solo"][9]), "--dbc", DBC, "-o", str(solo),
                 "--no-progress"]) == 0
    a, b = pq.read_table(out / "EngineData.parquet"), pq.read_table(solo / "EngineData.parquet")
    assert set(a["logger_id"].to_pylist()) == {9} and a.to_pylist() == b.to_pylist()
    # the archive's directory name selects it too; an unknown vehicle is one line, exit 2
    assert main(["decode", str(fleet["archive"]), "--dbc", DBC, "-o", str(tmp_path / "x.csv"),
                 "--vehicle", "Hilux-309", "--no-progress"]) == 0


def test_decode_raw_frames_refuses_to_merge(fleet, tmp_path, capsys):
    out = tmp_path / "all.blf"
    assert main(["decode", str(fleet["flat"]), "--dbc", DBC, "-o", str(out),
                 "--no-progress"]) == 2
    line = _one_error_line(capsys)
    assert "3 loggers" in line and "--logger" in line and "{vehicle}" in line
    assert not out.exists()


def test_decode_signals_to_mf4_keeps_one_vehicle(fleet, tmp_path, capsys):
    """An MF4 of decoded signals has no logger column: several loggers are refused, one
    selected vehicle is written."""
    out = tmp_path / "all.mf4"
    assert main(["decode", str(fleet["flat"]), "--dbc", DBC, "-o", str(out),
                 "--no-progress"]) == 2
    line = _one_error_line(capsys)
    assert "3 loggers" in line and "--vehicle" in line and not out.exists()
    assert main(["decode", str(fleet["flat"]), "--dbc", DBC, "-o", str(out),
                 "--vehicle", "Hilux 309", "--no-progress"]) == 0
    assert out.is_file()


# ------------------------------------------------------------------------------ convert
def _frames(path: Path) -> list[tuple]:
    return [(m.timestamp, m.channel, m.arbitration_id, bytes(m.data), m.is_extended_id)
            for m in iter_messages(str(path))]


@pytest.mark.parametrize("where", ["archive", "flat"])
def test_convert_refuses_to_merge_loggers(fleet, tmp_path, capsys, where):
    out = tmp_path / "all.blf"
    assert main(["convert", str(fleet[where]), "-o", str(out), "--no-progress"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("dunelog: error: ") and "3 loggers" in line
    for lg, vehicle, *_ in LOGGERS:
        assert f"{lg} ({vehicle})" in line
    assert "--logger ID" in line and "{vehicle}" in line
    assert not out.exists()


def test_convert_logger_picks_one(fleet, tmp_path):
    out, solo = tmp_path / "nine.blf", tmp_path / "solo.blf"
    assert main(["convert", str(fleet["archive"]), "-o", str(out), "--logger", "9",
                 "-q", "--no-progress"]) == 0
    assert main(["convert", str(fleet["solo"][9]), "-o", str(solo), "-q"]) == 0
    # 240 CAN frames, and (BLF: on by default) the 120 fixes of logger 9 as 4 frames each
    assert _frames(out) == _frames(solo) and len(_frames(out)) == 240 + 4 * 120
    vout = tmp_path / "t1.log"
    assert main(["convert", str(fleet["flat"]), "-o", str(vout), "--vehicle", "T1 #204",
                 "-q", "--no-progress"]) == 0
    assert _frames(vout) == _frames(Path(write_frames(tmp_path / "s.log",
                                                      str(fleet["solo"][11])).path))


@pytest.mark.parametrize("where", ["archive", "flat"])
def test_convert_pattern_writes_one_file_per_vehicle(fleet, tmp_path, where):
    out = tmp_path / where
    assert main(["convert", str(fleet[where]), "-o", str(out / "{vehicle}.blf"), "-q",
                 "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Hilux-309.blf", "RECCE-07.blf",
                                                     "T1-204.blf"]
    for lg, _, vdir, _ in LOGGERS:
        solo = write_frames(tmp_path / f"solo{lg}.blf", str(fleet["solo"][lg]),
                            gnss=GnssCan()).path      # BLF: GNSS frames on by default
        assert _frames(out / f"{vdir}.blf") == _frames(Path(solo))
    # per vehicle and day, and per logger
    days = tmp_path / "days"
    assert main(["convert", str(fleet[where]), "-o", str(days / "{vehicle}_{date}.log"),
                 "-q", "--no-progress"]) == 0
    assert sorted(p.name for p in days.iterdir()) == [
        "Hilux-309_2025-11-28.log", "RECCE-07_2025-11-28.log", "RECCE-07_2025-11-29.log",
        "T1-204_2025-11-29.log"]
    for (lg, date), d in fleet["solo_day"].items():
        vdir = next(v for g, _, v, _ in LOGGERS if g == lg)
        solo = write_frames(tmp_path / f"sd{lg}{date}.log", str(d)).path
        assert _frames(days / f"{vdir}_{date}.log") == _frames(Path(solo))
    assert main(["convert", str(fleet[where]), "-o", str(tmp_path / "L{logger}.asc"), "-q",
                 "--no-progress"]) == 0
    assert all((tmp_path / f"L{lg}.asc").exists() for lg, *_ in LOGGERS)


def test_convert_single_logger_as_before(fleet, tmp_path):
    out, ref = tmp_path / "a.log", tmp_path / "ref.log"
    assert main(["convert", str(fleet["solo"][7]), "-o", str(out), "-q"]) == 0
    write_frames(ref, str(fleet["solo"][7]))
    assert out.read_bytes() == ref.read_bytes()


def test_pattern_collision_is_refused(fleet, tmp_path, capsys):
    # two loggers named alike: {vehicle} alone cannot tell them apart
    d = tmp_path / "twins"
    shutil.copytree(fleet["solo"][9], d / "a")
    (d / "b").mkdir()
    (d / "b" / "B00001_S0000.dlg").write_bytes(boot_segment(12, "Hilux 309", 1, DAY))
    assert main(["convert", str(d), "-o", str(tmp_path / "{vehicle}.blf"), "-q"]) == 2
    line = _one_error_line(capsys)
    assert "{logger}" in line and "Hilux-309.blf" in line


# --------------------------------------------------------------------- track / report / plot
def _geo_points(path: Path) -> list:
    g = json.loads(path.read_text())
    return g["features"][0]["geometry"]["coordinates"]


@pytest.mark.parametrize("where", ["archive", "flat"])
def test_track_one_file_per_vehicle_and_day(fleet, tmp_path, capsys, where):
    out = tmp_path / "routes"
    assert main(["track", str(fleet[where]), "-o", str(out / "{vehicle}_{date}.geojson"),
                 "-q", "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "Hilux-309_2025-11-28.geojson", "RECCE-07_2025-11-28.geojson",
        "RECCE-07_2025-11-29.geojson", "T1-204_2025-11-29.geojson"]
    for (lg, date), d in fleet["solo_day"].items():
        vdir = next(v for g, _, v, _ in LOGGERS if g == lg)
        solo = tmp_path / f"solo{lg}{date}.geojson"
        assert main(["track", str(d), "-o", str(solo), "-q"]) == 0
        assert _geo_points(out / f"{vdir}_{date}.geojson") == _geo_points(solo)
    # without a pattern or a selection: one line naming the loggers and both ways out
    capsys.readouterr()
    assert main(["track", str(fleet[where]), "-o", str(tmp_path / "all.gpx")]) == 2
    line = _one_error_line(capsys)
    assert "RECCE-07" in line and "Hilux 309" in line and "T1 #204" in line
    assert "--vehicle" in line and "{vehicle}" in line


def test_track_selects_a_vehicle(fleet, tmp_path):
    out, solo = tmp_path / "t1.geojson", tmp_path / "solo.geojson"
    assert main(["track", str(fleet["archive"]), "--vehicle", "T1 #204", "-o", str(out),
                 "-q"]) == 0
    assert main(["track", str(fleet["solo"][11]), "-o", str(solo), "-q"]) == 0
    assert _geo_points(out) == _geo_points(solo)
    assert main(["track", str(fleet["flat"]), "--logger", "9", "-o", str(out), "-q"]) == 0


def test_report_one_page_per_vehicle_and_day(fleet, tmp_path, capsys):
    out = tmp_path / "reports"
    assert main(["report", str(fleet["archive"]), "-o", str(out / "{vehicle}" / "{date}.html"),
                 "-q", "--no-progress"]) == 0
    pages = sorted(str(p.relative_to(out)) for p in out.rglob("*.html"))
    assert pages == ["Hilux-309/2025-11-28.html", "RECCE-07/2025-11-28.html",
                     "RECCE-07/2025-11-29.html", "T1-204/2025-11-29.html"]
    for page in pages:
        text = (out / page).read_text()
        assert "mark " + {"Hilux-309": "Hilux 309", "RECCE-07": "RECCE-07",
                          "T1-204": "T1 #204"}[page.split("/")[0]] in text
    capsys.readouterr()
    assert main(["report", str(fleet["flat"]), "-o", str(tmp_path / "day.html")]) == 2
    line = _one_error_line(capsys)
    assert "3 loggers" in line and "{vehicle}" in line
    assert main(["report", str(fleet["flat"]), "--vehicle", "RECCE-07", "-q",
                 "-o", str(tmp_path / "day.html")]) == 0


def test_plot_one_image_per_vehicle(fleet, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots"
    assert main(["plot", str(fleet["flat"]), "--dbc", DBC, "--signal", "EngineSpeed",
                 "-o", str(out / "{vehicle}.svg"), "-q", "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Hilux-309.svg", "RECCE-07.svg",
                                                     "T1-204.svg"]
    assert main(["plot", str(fleet["flat"]), "--dbc", DBC, "--signal", "EngineSpeed",
                 "-o", str(tmp_path / "all.svg")]) == 2
    assert "3 loggers" in _one_error_line(capsys)


def test_info_selects_a_vehicle(fleet, capsys):
    assert main(["info", str(fleet["archive"]), "--vehicle", "RECCE-07", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {s["logger_id"] for s in info["segments"]} == {7} and len(info["segments"]) == 2
    assert main(["info", str(fleet["archive"]), "--vehicle", "nobody", "--json"]) == 2
    line = _one_error_line(capsys)
    assert "nobody" in line and "9 (Hilux 309)" in line

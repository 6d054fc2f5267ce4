"""The notebook API (issue 16 part 6): ``dunelog.open(x).decode(dbc)`` gives per-message
frames as pandas / Polars / pyarrow equal to ``dunelog decode -o x.parquet``, with a UTC
index and the DBC units, for dumps and for every log format :mod:`dunelog.io` reads."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import cantools
import numpy as np
import pyarrow.parquet as pq
import pytest
from test_vehicles import DAY, boot_segment

import dunelog
from dunelog.card.format import build_segment_header, pack_blocks, rec_can
from dunelog.cli import main
from dunelog.decode import Decoded
from dunelog.io import write_frames
from dunelog.io.log import DumpLog, ForeignLog

pd = pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parents[2]
RECCE = str(ROOT / "dbc" / "recce.dbc")
DRIVE = str(ROOT / "tests" / "vectors" / "drive")
MESSAGES = ["EngineData", "WheelSpeeds", "SteeringBrakes", "DrivelineMode", "CCVS1",
            "InertialFD"]


def _cli(tmp_path: Path, src: str | Path, *extra: str) -> dict:
    """``dunelog decode SRC --dbc recce.dbc -o out.parquet EXTRA``: message -> table."""
    out = tmp_path / f"cli{len(list(tmp_path.iterdir()))}.parquet"
    assert main(["decode", str(src), "--dbc", RECCE, "-o", str(out), "--no-progress",
                 *extra]) == 0
    return {f[:-len(".parquet")]: pq.read_table(out / f) for f in sorted(os.listdir(out))}


def _rows(table, columns) -> list[str]:
    """Rows as text, so NaN payloads (float signals of random data) compare equal."""
    return [repr(r) for r in table.select(columns).to_pylist()]


def _same_table(a, b) -> None:
    """Two pyarrow tables hold the same columns, types and values (metadata aside)."""
    assert [(f.name, f.type) for f in a.schema] == [(f.name, f.type) for f in b.schema]
    assert _rows(a, a.column_names) == _rows(b, b.column_names)


def _same_values(a, b) -> None:
    """Two pandas Series (or Index) hold the same values, NaN/NaT equal to NaN/NaT."""
    assert len(a) == len(b)
    na, nb = pd.isna(a), pd.isna(b)
    assert (np.asarray(na) == np.asarray(nb)).all()
    assert list(np.asarray(a)[~np.asarray(na)]) == list(np.asarray(b)[~np.asarray(nb)])


@pytest.fixture(scope="module")
def drive() -> Decoded:
    return dunelog.open(DRIVE).decode(RECCE)


# ------------------------------------------------------------------ a dump, as the CLI
def test_open_keeps_the_dump_api():
    d = dunelog.open(DRIVE)
    assert isinstance(d, dunelog.Dump) and isinstance(d, DumpLog)
    assert sum(len(c.classic) + len(c.fd) for c in d.can_chunks()) == 4496
    assert isinstance(d.select(vehicle="RECCE-07"), DumpLog)     # selections decode too
    with pytest.raises(FileNotFoundError):
        dunelog.open(ROOT / "no" / "such.blf")
    assert "dataset" in dunelog.__all__ and callable(dunelog.dataset)


def test_a_segment_file_with_another_suffix_is_still_a_dump(tmp_path):
    seg = tmp_path / "segment.bin"
    seg.write_bytes((Path(DRIVE) / "B00001_S0000.dlg").read_bytes())
    assert isinstance(dunelog.open(seg), DumpLog)


def test_pandas_equals_the_cli_parquet(drive, tmp_path):
    cli = _cli(tmp_path, DRIVE)
    assert drive.messages == MESSAGES and sorted(cli) == sorted(MESSAGES)
    db = cantools.database.load_file(RECCE)
    for name in MESSAGES:
        ref = cli[name]
        # the pyarrow table is the Parquet file's, column for column
        _same_table(drive.to_arrow(name), ref)
        df = drive[name]
        want = ref.to_pandas()
        assert isinstance(df.index, pd.DatetimeIndex) and df.index.name == "utc"
        assert str(df.index.tz) == "UTC" and str(df.index.dtype).startswith("datetime64[")
        _same_values(df.index, want["utc"])
        sigs = drive.signals(name)
        assert sigs == [s.name for s in db.get_message_by_name(name).signals
                        if s.name in sigs] and sigs
        assert list(df.columns[-5:]) == ["logger_id", "vehicle", "boot", "channel",
                                         "frame_id"]
        for col in df.columns:
            assert df[col].dtype == want[col].dtype, (name, col)
            _same_values(df[col], want[col])
        assert set(df.columns) == set(want.columns) - {"utc", "time_us"}


def test_units_and_provenance(drive):
    db = cantools.database.load_file(RECCE)
    msg = db.get_message_by_name("EngineData")
    df = drive["EngineData"]
    units = {s.name: s.unit or "" for s in msg.signals}
    assert df.attrs["units"] == units == drive.units("EngineData")
    assert df.attrs["units"]["EngineSpeed"] == "rpm"
    # pandas hands a frame's attrs to its columns and slices
    assert df["EngineSpeed"].attrs["units"]["EngineSpeed"] == "rpm"
    assert df.iloc[:10].attrs["units"] == units
    prov = df.attrs["dunelog"]
    assert prov["message"] == "EngineData" and prov["frame_id"] == 0x0C0
    assert prov["source"] == DRIVE and prov["dbc"] == [RECCE] and prov["time"] == "utc"
    assert prov["loggers"] == {"7": ["RECCE-07"]}
    schema = drive.to_arrow("EngineData").schema
    assert schema.field("EngineSpeed").metadata == {b"unit": b"rpm"}
    assert schema.field("frame_id").metadata is None
    assert schema.metadata[b"dunelog.message"] == b"EngineData"
    # value tables: a categorical label next to the signal
    assert df["EngineState_label"].dtype == "category"
    assert set(df["EngineState_label"].dropna()) <= set(
        str(v) for v in msg.get_signal_by_name("EngineState").choices.values())
    assert drive.report.decoded == 4496 and drive.problems == []


def test_polars_equals_pandas(drive):
    pl = pytest.importorskip("polars")
    for name in MESSAGES:
        pdf, plf = drive[name], drive.to_polars(name)
        assert isinstance(plf, pl.DataFrame)
        assert plf.columns == ["utc"] + list(pdf.columns)
        assert plf.schema["utc"] == pl.Datetime("us", "UTC")
        _same_values(pdf.index, plf["utc"].to_pandas())
        for col in pdf.columns:
            _same_values(pdf[col], plf[col].to_pandas())
    assert plf.schema["vehicle"] == pl.Categorical


def test_polars_missing_is_one_line(drive, monkeypatch):
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ImportError, match="pip install polars"):
        drive.to_polars("EngineData")


# ------------------------------------------------------------------ selections
def test_selection_and_window_as_the_cli(tmp_path):
    d = dunelog.open(DRIVE)
    start, end = "2025-11-28T08:00:01Z", "2025-11-28T08:00:04.5Z"
    res = d.decode(RECCE, messages="WheelSpeeds", ids=[0x2F0], signals=["WheelSpeedFL",
                   "TerrainMode"], start=start, end=end)
    cli = _cli(tmp_path, DRIVE, "--messages", "WheelSpeeds", "--ids", "0x2F0", "--signal",
               "WheelSpeedFL,TerrainMode", "--start", start, "--end", end)
    assert res.messages == ["WheelSpeeds", "DrivelineMode"] and sorted(cli) == sorted(
        res.messages)
    for name in res.messages:
        _same_table(res.to_arrow(name), cli[name])
    assert res.signals("WheelSpeeds") == ["WheelSpeedFL"]
    # the same window as datetimes, and as a pandas Timestamp
    t0 = datetime(2025, 11, 28, 8, 0, 1, tzinfo=timezone.utc)
    again = d.decode(RECCE, ids="0x1A0", start=t0, end=pd.Timestamp(end))
    assert again.to_arrow("WheelSpeeds").num_rows == cli["WheelSpeeds"].num_rows
    idx = again["WheelSpeeds"].index
    assert idx.min() >= t0 and idx.max() < pd.Timestamp(end)
    naive = d.decode(RECCE, ids=0x1A0, start=np.datetime64("2025-11-28T08:00:01"),
                     end=datetime(2025, 11, 28, 8, 0, 4, 500_000))
    assert naive["WheelSpeeds"].index.equals(idx)
    # seconds since boot
    boot = d.decode(RECCE, ids=range(0x1A0, 0x1A1), start=1, end=5.5)
    _same_table(boot.to_arrow("WheelSpeeds"), _cli(tmp_path, DRIVE, "--ids", "0x1A0",
                                                   "--start", "1", "--end", "5.5")["WheelSpeeds"])


def test_bad_selections_say_what(tmp_path):
    d = dunelog.open(DRIVE)
    with pytest.raises(ValueError, match="EngineDta"):
        d.decode(RECCE, messages="EngineDta")
    with pytest.raises(ValueError, match="EngineSped"):
        d.decode(RECCE, signals="EngineSped")
    with pytest.raises(ValueError, match="no message"):
        d.decode(RECCE, ids="0x555")
    with pytest.raises(ValueError, match="messages="):
        d.decode(RECCE, ids="EngineData")
    with pytest.raises(FileNotFoundError, match="nope.dbc"):
        d.decode(str(tmp_path / "nope.dbc"))
    with pytest.raises(KeyError, match="decoded: EngineData"):
        d.decode(RECCE, messages="EngineData")["WheelSpeeds"]


def test_databases_as_objects_and_channel_bindings(drive):
    db = cantools.database.load_file(RECCE)
    res = dunelog.open(DRIVE).decode([(db, 1)])             # InertialFD is on channel 1
    assert res.messages == ["InertialFD"]
    _same_table(res.to_arrow("InertialFD"), drive.to_arrow("InertialFD"))
    assert "ch0:0xC0" in res.report.as_dict()["unknown_ids"]


# ------------------------------------------------------------------ foreign logs
@pytest.mark.parametrize("suffix", [".blf", ".asc", ".log", ".mf4", ".parquet", ".csv"])
def test_a_log_of_the_dump_decodes_to_the_same_values(drive, tmp_path, suffix):
    if suffix == ".mf4":
        pytest.importorskip("asammdf")
    log = tmp_path / f"drive{suffix}"
    write_frames(log, DRIVE)
    opened = dunelog.open(log)
    assert isinstance(opened, ForeignLog)
    assert sum(len(c) for c in opened.can_chunks()) == 4496
    res = opened.decode(RECCE)
    assert res.messages == drive.messages
    for name in res.messages:
        a, b = drive.to_arrow(name), res.to_arrow(name)
        assert _rows(a, drive.signals(name)) == _rows(b, drive.signals(name)), name
        df = res[name]
        assert df["logger_id"].isna().all() and (df["boot"] == 0).all()
        assert df.attrs["units"] == drive.units(name)
    if suffix == ".asc":          # ASC times are relative to the log's start: no UTC
        assert res.time == "boot" and res["EngineData"].index.name == "time_s"
    else:                          # epoch timestamps: UTC, to the microsecond
        assert res.time == "utc"
        for name in res.messages:
            assert res[name].index.equals(drive[name].index)
    with pytest.raises(ValueError, match="not a dunelog dump"):
        opened.decode(RECCE, logger=7)


def test_boot_time_index_without_time_sync(tmp_path):
    timed = [(10_000 * (k + 1), rec_can(0, 0x0C0, bytes([k, 0, 0, 0, 0, 0, 0, 0])))
             for k in range(50)]
    data = build_segment_header(logger_id=3, boot=2, segment=0, firmware="1.2.0",
                                block_size=4096, vehicle="Bench") \
        + b"".join(pack_blocks(timed, boot=2, logger_id=3, block_size=4096))
    (tmp_path / "B00002_S0000.dlg").write_bytes(data)
    res = dunelog.open(tmp_path).decode(RECCE)
    assert res.time == "boot"
    df = res["EngineData"]
    assert df.index.name == "time_s" and df.index.dtype == np.float64
    assert np.allclose(df.index, res.to_arrow("EngineData")["time_us"].to_numpy() / 1e6)
    assert set(df["boot"]) == {2} and set(df["vehicle"]) == {"Bench"}
    pl = pytest.importorskip("polars")
    plf = res.to_polars("EngineData")
    assert plf.columns[0] == "time_s" and plf.schema["time_s"] == pl.Float64


# ------------------------------------------------------------------ several loggers
LOGGERS = [(7, "RECCE-07", 1, DAY), (9, "Hilux 309", 4, DAY), (11, "T1 #204", 1, DAY + 1)]


@pytest.fixture(scope="module")
def flat(tmp_path_factory) -> Path:
    """Three loggers' segments in one directory (and each alone in ``solo/<id>``)."""
    root = tmp_path_factory.mktemp("fleet")
    for lg, vehicle, boot, day in LOGGERS:
        data = boot_segment(lg, vehicle, boot, day, seconds=4)
        (root / f"L{lg}_B{boot:05d}_S0000.dlg").write_bytes(data)
        (root / "solo" / str(lg)).mkdir(parents=True)
        (root / "solo" / str(lg) / f"B{boot:05d}_S0000.dlg").write_bytes(data)
    return root


def test_rows_keep_their_logger_and_vehicle(flat, tmp_path):
    res = dunelog.open(flat).decode(RECCE)
    df = res["EngineData"]
    pairs = set(zip(df["logger_id"].astype(int), df["vehicle"].astype(str)))
    assert pairs == {(lg, v) for lg, v, *_ in LOGGERS}
    assert df.attrs["dunelog"]["loggers"] == {str(lg): [v] for lg, v, *_ in LOGGERS}
    cli = _cli(tmp_path, flat)
    _same_table(res.to_arrow("EngineData"), cli["EngineData"])
    for lg, *_ in LOGGERS:        # each logger's rows as when it is decoded alone
        alone = dunelog.open(flat / "solo" / str(lg)).decode(RECCE)["EngineData"]
        mine = df[df["logger_id"] == lg]
        _same_values(mine.index, alone.index)
        _same_values(mine["EngineSpeed"], alone["EngineSpeed"])


@pytest.mark.parametrize("how,want", [({"logger": 9}, 9), ({"vehicle": "T1-204"}, 11),
                                      ({"vehicle": "T1 #204"}, 11),
                                      ({"logger": 7, "vehicle": "RECCE-07"}, 7)])
def test_logger_and_vehicle_select_as_the_cli(flat, tmp_path, how, want):
    res = dunelog.open(flat).decode(RECCE, **how)
    df = res["WheelSpeeds"]
    assert set(df["logger_id"]) == {want}
    args = [x for k, v in how.items() for x in (f"--{k}", str(v))]
    _same_table(res.to_arrow("WheelSpeeds"), _cli(tmp_path, flat, *args)["WheelSpeeds"])


def test_a_selection_that_matches_nothing_names_the_loggers(flat):
    with pytest.raises(ValueError, match=r"no vehicle 'Nope'.*9 \(Hilux 309\)"):
        dunelog.open(flat).decode(RECCE, vehicle="Nope")
    with pytest.raises(ValueError, match="no logger 5"):
        dunelog.open(flat).decode(RECCE, logger=5)

"""dunelog.decode: odd layouts, the Decoder (grouping, J1939, length checks, UTC) on the
demo dump and synthetic frames."""

from __future__ import annotations

import os

import cantools
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dunelog
from dunelog.card.bulk import CAN_DTYPE
from dunelog.decode import Decoder, compile_message, decode_columns, j1939_pgn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECCE = os.path.join(ROOT, "dbc", "recce.dbc")
OBD2 = os.path.join(ROOT, "dbc", "obd2.dbc")
DRIVE = os.path.join(ROOT, "tests", "vectors", "drive")

ODD_DBC = '''VERSION ""
NS_ :
BS_:
BU_: A
BO_ 1024 Odd: 64 A
 SG_ MotU64 : 101|64@0+ (1,0) [0|0] "" A
 SG_ MotS64 : 189|64@0- (1,0) [0|0] "" A
 SG_ IntS64 : 259|64@1- (1,0) [0|0] "" A
 SG_ MotF64 : 343|64@0- (1,0) [0|0] "" A
 SG_ MotF32 : 415|32@0- (2,1) [0|0] "" A
 SG_ IntS1 : 448|1@1- (1,0) [0|0] "" A
 SG_ MotS7 : 455|7@0- (0.5,-3) [0|0] "" A
 SG_ IntU57 : 449|57@1+ (3,7) [0|0] "" A
BO_ 2566844926 J1939Msg: 8 A
 SG_ Speed : 8|16@1+ (0.00390625,0) [0|0] "km/h" A
BA_DEF_ "ProtocolType" STRING ;
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved","StandardCAN_FD","ExtendedCAN_FD";
BA_ "ProtocolType" "J1939";
BA_ "VFrameFormat" BO_ 1024 14;
BA_ "VFrameFormat" BO_ 2566844926 3;
SIG_VALTYPE_ 1024 MotF64 : 2;
SIG_VALTYPE_ 1024 MotF32 : 1;
'''  # noqa: E501 - the VFrameFormat enum is one DBC line


@pytest.fixture(scope="module")
def odd_db():
    return cantools.database.load_string(ODD_DBC, strict=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=64, max_size=64), min_size=1, max_size=16))
def test_odd_layouts_equal_cantools(odd_db, payloads):
    msg = odd_db.get_message_by_name("Odd")
    cm = compile_message(msg)
    assert cm.unsupported is None
    data = np.frombuffer(b"".join(payloads), np.uint8).reshape(len(payloads), 64)
    cols = decode_columns(cm, data)
    for i, p in enumerate(payloads):
        ref = msg.decode(p, decode_choices=False)
        for name, v in ref.items():
            ours = cols.values[name][i]
            if isinstance(v, float):
                assert (np.isnan(v) and np.isnan(ours)) or v == pytest.approx(float(ours),
                                                                             rel=1e-12)
            else:
                assert int(ours) == v, name


def _frames(dtype, rows):
    a = np.zeros(len(rows), dtype)
    for i, (t, cid, ch, fl, payload) in enumerate(rows):
        a[i]["time_us"], a[i]["id"], a[i]["channel"], a[i]["flags"] = t, cid, ch, fl
        a[i]["boot"] = 1
        a[i]["data_len"] = a[i]["dlc"] = len(payload)
        a[i]["data"][:len(payload)] = np.frombuffer(payload, np.uint8)
    return a


def test_j1939_pgn_matching_any_source_address(odd_db):
    dec = Decoder([odd_db])
    ids = [0x18FEF1FE, 0x18FEF100, 0x0CFEF117]        # same PGN 65265, other SA/priority
    rows = [(10 * i, cid, 0, 1, bytes([0, 0x00, 0x32, 0, 0, 0, 0, 0])) for i, cid in
            enumerate(ids)] + [(99, 0x18FEF200, 0, 1, bytes(8))]
    out = dec.decode(_frames(CAN_DTYPE, rows))
    assert [m.message.name for m in out] == ["J1939Msg"]
    assert out[0].frame_id.tolist() == ids
    assert out[0].columns.values["Speed"].tolist() == [50.0] * 3
    assert dec.report.unknown_ids == {(0, True, 0x18FEF200): 1}
    assert j1939_pgn(0x18FEF100) == cantools.j1939.pgn_from_frame_id(0x18FEF100)
    assert j1939_pgn(0x0CEA21F9) == cantools.j1939.pgn_from_frame_id(0x0CEA21F9)


def test_length_mismatch_reported_not_misdecoded():
    dec = Decoder([RECCE])
    rows = [(1, 0x0C0, 0, 0, bytes(8)), (2, 0x0C0, 0, 0, bytes(5)),
            (3, 0x2F0, 0, 0, bytes([2, 0, 0, 0, 9, 9, 9, 9])), (4, 0x123, 0, 0, bytes(8)),
            (5, 0x0C0, 0, 2, bytes(8))]   # RTR
    out = {m.message.name: m for m in dec.decode(_frames(CAN_DTYPE, rows))}
    assert len(out["EngineData"]) == 1 and out["EngineData"].time_us.tolist() == [1]
    assert out["DrivelineMode"].columns.values["TerrainMode"].tolist() == [2]
    r = dec.report
    assert r.short == {("EngineData", 0x0C0, 5): 1}
    assert r.long == {("DrivelineMode", 0x2F0, 8): 1}
    assert r.unknown_ids == {(0, False, 0x123): 1}
    assert r.skipped_rtr_err == 1
    assert any("shorter" in line for line in r.lines())


def test_channel_binding():
    dec = Decoder([(RECCE, 1), (OBD2, None)])
    rows = [(1, 0x0C0, 0, 0, bytes(8)), (2, 0x0C0, 1, 0, bytes(8)),
            (3, 0x7E8, 0, 0, bytes([4, 0x41, 0x0C, 0x1A, 0xF8, 0, 0, 0]))]
    out = {m.message.name: m for m in dec.decode(_frames(CAN_DTYPE, rows))}
    assert out["EngineData"].channel.tolist() == [1]
    assert out["OBD2_Response_ECU0"].columns.values["S01PID0C_EngineSpeed"][0] == 1726.0
    assert out["OBD2_Response_ECU0"].columns.present["S01PID05_CoolantTemp"].tolist() == [False]
    assert dec.report.unknown_ids == {(0, False, 0x0C0): 1}


def test_drive_dump_matches_cantools():
    """Every frame of the firmware-written demo dump decodes as cantools does."""
    db = cantools.database.load_file(RECCE)
    dump = dunelog.open(DRIVE)
    dec = Decoder([db])
    tb = dump.timebase()
    seen = set()
    for chunk in dump.can_chunks():
        for arr in (chunk.classic, chunk.fd):
            for dm in dec.decode(arr, tb):
                seen.add(dm.message.name)
                sel = arr[np.isin(arr["id"], dm.frame_id)]
                assert len(sel) == len(dm)
                assert dm.utc_us is not None and (dm.utc_us > 0).all()
                wide = dm.to_arrow().to_pylist()
                for fr, row in zip(sel, wide):
                    ref = db.decode_message(int(fr["id"]), bytes(fr["data"][:fr["data_len"]]),
                                            decode_choices=True)
                    for s in dm.message.signals:
                        v = ref[s.name]
                        if isinstance(v, cantools.database.namedsignalvalue.NamedSignalValue):
                            assert row[s.column + "_label"] == v.name
                            v = v.value
                        if isinstance(v, float) and np.isnan(v):
                            assert np.isnan(row[s.column])
                        else:
                            assert row[s.column] == pytest.approx(v, rel=1e-12), s.name
    assert seen == {"EngineData", "WheelSpeeds", "SteeringBrakes", "DrivelineMode", "CCVS1",
                    "InertialFD"}
    r = dec.report
    assert r.decoded == r.frames == 3372 + 1124
    assert not r.short and not r.long and not r.unknown_ids


def test_long_layout_and_signal_filter():
    dec = Decoder([RECCE], ids=["0x2F0"], signals=["TerrainMode", "GearSelected"])
    dump = dunelog.open(DRIVE)
    tabs = []
    for chunk in dump.can_chunks():
        for dm in dec.decode(chunk.classic, dump.timebase()):
            tabs.extend(dm.to_long())
    import pyarrow as pa
    t = pa.concat_tables(tabs)
    assert t.column_names == ["timestamp", "channel", "frame_id", "message", "signal",
                              "value", "unit", "label"]
    assert set(t.column("signal").to_pylist()) == {"TerrainMode", "GearSelected"}
    labels = dict(zip(t.column("value").to_pylist(), t.column("label").to_pylist()))
    assert set(t.column("message").to_pylist()) == {"DrivelineMode"}
    assert all(isinstance(x, str) for x in labels.values())


def test_compiled_database_cache(tmp_path):
    """A database file seen before is decoded from its cached compiled form, without
    importing cantools (which imports python-can and asammdf); the same messages; an
    edited file is compiled again."""
    import shutil
    import subprocess
    import sys
    dbc = tmp_path / "recce.dbc"
    shutil.copy(RECCE, dbc)
    env = {**os.environ, "DUNELOG_CACHE": str(tmp_path / "cache")}
    code = ("import sys; from dunelog.decode import Decoder; d = Decoder([sys.argv[1]]); "
            "print(len(d.messages), 'cantools' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code, str(dbc)], env=env, check=True,
                           capture_output=True, text=True).stdout.split() for _ in range(2)]
    assert runs[0][1] == "True" and runs[1] == [runs[0][0], "False"]
    assert len(list((tmp_path / "cache" / "dbc").glob("*.pickle"))) == 1
    dbc.write_text(dbc.read_text().replace("EngineData", "EngineDat2"))
    r = subprocess.run([sys.executable, "-c", code, str(dbc)], env=env, check=True,
                       capture_output=True, text=True).stdout.split()
    assert r[1] == "True"
    assert len(list((tmp_path / "cache" / "dbc").glob("*.pickle"))) == 2

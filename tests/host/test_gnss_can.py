"""GNSS fixes as CAN frames (issue 16 part 5): the shipped DBC, the packing (equal to
cantools' encode, decoded by cantools equal to the fix fields), BLF and MF4 round trips
read back by python-can and asammdf, ids and channel configurable, nothing added when off
or for a foreign log, frames in time order; and ``convert``/``decode`` on the command line."""

from __future__ import annotations

import random
from pathlib import Path

import can
import cantools
import numpy as np
import pytest

import dunelog
from dunelog.card.format import (
    CAN_EXT,
    build_segment_header,
    pack_blocks,
    rec_can,
    rec_gnss,
    rec_session,
    rec_timesync,
)
from dunelog.card.records import GnssFix
from dunelog.cli import main
from dunelog.io import iter_frame_chunks, iter_messages, write_frames
from dunelog.io.gnss_can import (
    DEFAULT_BASE_ID,
    DEFAULT_CHANNEL,
    FIX_DTYPE,
    MESSAGES,
    GnssCan,
    dbc_text,
    fix_frames,
    fixes_array,
    gnss_database,
    merge_frames,
)

ROOT = Path(__file__).resolve().parents[2]
GNSS_DBC = ROOT / "dbc" / "dunelog_gnss.dbc"
RECCE = str(ROOT / "dbc" / "recce.dbc")
DAY = 20420                      # 2025-11-28
#: signal -> the GnssFix field it carries, and its factor
FIELDS = {"GnssFixType": ("fix_type", 1), "GnssSatellites": ("sats", 1),
          "GnssHDOP": ("hdop_c", 0.01), "GnssLatitude": ("lat", 1e-7),
          "GnssLongitude": ("lon", 1e-7), "GnssAltitude": ("alt_mm", 0.001),
          "GnssSpeed": ("speed_cms", 0.01), "GnssCourse": ("course_cdeg", 0.01),
          "GnssUtcTimeOfDay": ("utc_ms", 0.001), "GnssUtcDays": ("utc_days", 1)}
EDGE = [  # every "not available" marker, the extremes of every field, south-west
    dict(fix_type=0, sats=0, lat=0, lon=0, alt_mm=0, utc_ms=0xFFFFFFFF, utc_days=0xFFFF,
         speed_cms=0xFFFF, course_cdeg=0xFFFF, hdop_c=0xFFFF),
    dict(fix_type=6, sats=255, lat=-900_000_000, lon=-1_800_000_000, alt_mm=-2**31,
         utc_ms=86_399_999, utc_days=0, speed_cms=0, course_cdeg=35999, hdop_c=0),
    dict(fix_type=255, sats=1, lat=900_000_000, lon=1_800_000_000, alt_mm=2**31 - 1,
         utc_ms=0, utc_days=65534, speed_cms=65534, course_cdeg=0, hdop_c=65534),
]


def _random_fix(rng: random.Random) -> dict:
    return dict(fix_type=rng.randint(0, 6), sats=rng.randint(0, 40),
                lat=rng.randint(-900_000_000, 900_000_000),
                lon=rng.randint(-1_800_000_000, 1_800_000_000),
                alt_mm=rng.randint(-500_000, 9_000_000), utc_ms=rng.randint(0, 86_399_999),
                utc_days=rng.randint(0, 65534), speed_cms=rng.randint(0, 65534),
                course_cdeg=rng.randint(0, 35999), hdop_c=rng.randint(0, 65534))


def gnss_segment(n: int = 80, *, seed: int = 0, boot: int = 1, logger_id: int = 7,
                 block_size: int = 512) -> bytes:
    """A boot with a time sync, ``n`` fixes at 25 Hz (the edge cases first) and CAN frames
    before, at the same time as, and after each fix, on channels 0 and 1."""
    rng = random.Random(seed)
    timed = [(0, rec_session(0, firmware="1.2.0", vehicle="RECCE-07", logger_id=logger_id)),
             (1000, rec_timesync(0, utc_days=DAY, utc_ms=8 * 3_600_000))]
    for k in range(n):
        t = 40_000 * (k + 1)
        fix = EDGE[k] if k < len(EDGE) else _random_fix(rng)
        timed.append((t - 5, rec_can(0, 0x0C0, rng.randbytes(8))))
        timed.append((t, rec_gnss(0, **fix)))
        timed.append((t, rec_can(0, 0x1A0, rng.randbytes(8), channel=1)))
        timed.append((t + 7, rec_can(0, 0x6D0, rng.randbytes(4))))   # same id, channel 0
    blocks = pack_blocks(timed, boot=boot, logger_id=logger_id, block_size=block_size)
    return build_segment_header(logger_id=logger_id, boot=boot, segment=0, firmware="1.2.0",
                                block_size=block_size, vehicle="RECCE-07") + b"".join(blocks)


@pytest.fixture(scope="module")
def seg(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("gnss") / "B00001_S0000.dlg"
    p.write_bytes(gnss_segment())
    return p


def _fixes(path) -> tuple[list[GnssFix], list[float]]:
    """The fix records of a dump and their timestamps (UTC s) as the exports give them."""
    dump = dunelog.open(path)
    fixes = [r for r in dump.records() if isinstance(r, GnssFix)]
    tb = dump.timebase()
    return fixes, [tb.utc_us(f.boot, f.time_us) / 1e6 for f in fixes]


def _check_gnss_messages(msgs: list[can.Message], path, cfg: GnssCan = GnssCan(),
                         tol: float = 1e-6) -> None:
    """``msgs`` (read back) hold, per fix record of ``path``, the four GNSS frames with
    its timestamp, which cantools decodes (dbc/dunelog_gnss.dbc) to the fix's fields."""
    fixes, times = _fixes(path)
    db = gnss_database(cfg)
    names = {cfg.base_id + m.offset: m.name for m in MESSAGES}
    g = [m for m in msgs if m.channel == cfg.channel and m.arbitration_id in names
         and m.is_extended_id == cfg.is_extended]
    assert len(g) == 4 * len(fixes) > 0
    for i, (fix, t) in enumerate(zip(fixes, times)):
        for j, m in enumerate(g[4 * i:4 * i + 4]):
            msg = db.get_message_by_name(MESSAGES[j].name)
            assert m.arbitration_id == msg.frame_id and m.dlc == msg.length
            assert m.timestamp == pytest.approx(t, abs=tol)
            raw = msg.decode(bytes(m.data), scaling=False, decode_choices=False)
            phys = msg.decode(bytes(m.data), decode_choices=False)
            for sig, v in raw.items():
                field, factor = FIELDS[sig]
                assert v == getattr(fix, field), (sig, i)
                assert phys[sig] == pytest.approx(getattr(fix, field) * factor, rel=1e-12)


def _can_only(msgs: list[can.Message], cfg: GnssCan = GnssCan()) -> list[tuple]:
    ids = range(cfg.base_id, cfg.base_id + len(MESSAGES))
    return [(m.channel, m.arbitration_id, bytes(m.data)) for m in msgs
            if not (m.channel == cfg.channel and m.arbitration_id in ids)]


def _read(path) -> list[can.Message]:
    with can.LogReader(str(path)) as r:
        return list(r)


# ------------------------------------------------------------------------- the DBC
def test_shipped_dbc_is_the_generated_one():
    assert GNSS_DBC.read_text() == dbc_text()
    db = cantools.database.load_file(GNSS_DBC, strict=True)
    assert [(m.frame_id, m.name, m.length, m.is_extended_frame) for m in db.messages] == [
        (0x6D0, "DunelogGnssStatus", 4, False), (0x6D1, "DunelogGnssPosition", 8, False),
        (0x6D2, "DunelogGnssMotion", 8, False), (0x6D3, "DunelogGnssTime", 6, False)]
    sig = {s.name: s for m in db.messages for s in m.signals}
    assert set(sig) == set(FIELDS)
    assert sig["GnssLatitude"].unit == "deg" and sig["GnssLatitude"].scale == 1e-7
    assert sig["GnssAltitude"].unit == "m" and sig["GnssSpeed"].unit == "m/s"
    assert sig["GnssFixType"].choices[3] == "DGNSS"
    assert sig["GnssSpeed"].choices[0xFFFF] == "Not available"
    assert all(s.byte_order == "little_endian" for s in sig.values())
    assert (DEFAULT_BASE_ID, DEFAULT_CHANNEL) == (0x6D0, 8)


def test_configured_ids_standard_and_extended():
    cfg = GnssCan(base_id=0x500, channel=2)
    assert cfg.ids == {"DunelogGnssStatus": 0x500, "DunelogGnssPosition": 0x501,
                       "DunelogGnssMotion": 0x502, "DunelogGnssTime": 0x503}
    assert not cfg.is_extended
    ext = GnssCan(base_id=0x7FD)                   # 0x800 does not fit 11 bits
    assert ext.is_extended
    db = gnss_database(GnssCan(base_id=0x18FF5000))
    assert [(m.frame_id, m.is_extended_frame) for m in db.messages] == [
        (0x18FF5000 + k, True) for k in range(4)]
    for bad in (dict(base_id=-1), dict(base_id=0x1FFFFFFE), dict(channel=256),
                dict(base_id=0x7FD, extended=False)):
        with pytest.raises(ValueError):
            GnssCan(**bad)


# ------------------------------------------------------------------------- packing
@pytest.mark.parametrize("cfg", [GnssCan(), GnssCan(base_id=0x18FF5000, channel=3)])
def test_packing_equals_cantools_encode_and_decodes_to_the_fix(cfg):
    rng = random.Random(5)
    rows = EDGE + [_random_fix(rng) for _ in range(300)]
    fixes = np.zeros(len(rows), FIX_DTYPE)
    for i, r in enumerate(rows):
        fixes[i] = (1000 * i, 1, *r.values())
    fr = fix_frames(fixes, cfg)
    assert len(fr) == 4 * len(rows)
    assert (fr["channel"] == cfg.channel).all()
    assert (((fr["flags"] & CAN_EXT) != 0) == cfg.is_extended).all()
    db = gnss_database(cfg)
    for i, r in enumerate(rows):
        for j, m in enumerate(MESSAGES):
            f = fr[4 * i + j]
            msg = db.get_message_by_name(m.name)
            assert f["id"] == msg.frame_id and f["time_us"] == 1000 * i and f["boot"] == 1
            assert f["dlc"] == f["data_len"] == msg.length
            data = f["data"][:msg.length].tobytes()
            raw = {s.name: r[FIELDS[s.name][0]] for s in msg.signals}
            assert msg.encode(raw, scaling=False, strict=False) == data
            assert msg.decode(data, scaling=False, decode_choices=False) == raw
            phys = msg.decode(data, decode_choices=False)
            for k, v in raw.items():
                assert phys[k] == pytest.approx(v * FIELDS[k][1], rel=1e-12)
            assert not f["data"][msg.length:].any()


def test_fixes_array_takes_only_fixes():
    recs = [GnssFix(5, 2, 3, 9, 1, 2, 3, 4, 5, 6, 7, 8), object(), "x"]
    a = fixes_array(recs)
    assert a.dtype == FIX_DTYPE and len(a) == 1 and a[0]["hdop_c"] == 8 and a[0]["boot"] == 2
    assert len(fixes_array([])) == 0 and len(fix_frames(fixes_array([]))) == 0


def test_merge_keeps_time_order_and_can_order():
    from dunelog.card.bulk import CAN_DTYPE
    can_ = np.zeros(6, CAN_DTYPE)
    can_["time_us"] = [10, 20, 20, 30, 40, 50]
    can_["id"] = [1, 2, 3, 4, 5, 6]
    fx = np.zeros(3, FIX_DTYPE)
    fx["time_us"] = [5, 20, 45]
    g = fix_frames(fx)
    out = merge_frames(can_, g)
    assert list(out["time_us"]) == [5] * 4 + [10, 20, 20] + [20] * 4 + [30, 40] + \
        [45] * 4 + [50]
    assert [int(i) for i in out["id"] if i < 0x100] == [1, 2, 3, 4, 5, 6]
    # several boots in a chunk: ordered by (boot, time), stable
    can_["boot"] = [2, 2, 2, 1, 1, 1]
    fx["boot"] = [1, 2, 2]
    out = merge_frames(can_, fix_frames(fx))
    key = list(zip(out["boot"].tolist(), out["time_us"].tolist()))
    assert key == sorted(key) and len(out) == 6 + 12
    assert len(merge_frames(can_[:0], g)) == 12 and merge_frames(can_, g[:0]) is can_


# ------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", [".blf", ".mf4"])
def test_round_trip_python_can(seg, tmp_path, suffix):
    out = tmp_path / f"g{suffix}"
    res = write_frames(out, seg, gnss=GnssCan())
    fixes, times = _fixes(seg)
    assert res.gnss_frames == 4 * len(fixes) == 4 * 80
    back = _read(out)
    assert res.frames == len(back)
    _check_gnss_messages(back, seg)
    # the CAN frames are exactly those written without GNSS (0x6D0 on channel 0 kept)
    plain = list(iter_messages(seg))
    assert _can_only(back) == _can_only(plain) and len(back) == len(plain) + res.gnss_frames
    t = [m.timestamp for m in back]
    assert all(b >= a - 1e-6 for a, b in zip(t, t[1:]))                # time order


def test_mf4_asammdf_decodes_with_the_shipped_dbc(seg, tmp_path):
    asammdf = pytest.importorskip("asammdf")
    out = tmp_path / "g.mf4"
    write_frames(out, seg, gnss=GnssCan())
    fixes, times = _fixes(seg)
    with asammdf.MDF(out) as mdf:
        dec = mdf.extract_bus_logging({"CAN": [(str(GNSS_DBC), DEFAULT_CHANNEL)]})
        lat = dec.get("GnssLatitude")
        alt = dec.get("GnssAltitude")
        start = mdf.header.start_time.timestamp()
    np.testing.assert_allclose(lat.samples, [f.lat * 1e-7 for f in fixes], rtol=0, atol=1e-12)
    np.testing.assert_allclose(alt.samples, [f.alt_mm / 1000 for f in fixes], atol=1e-9)
    np.testing.assert_allclose(lat.timestamps + start, times, atol=1e-5)
    assert lat.unit == "deg"


def test_configured_ids_and_channel_round_trip(seg, tmp_path):
    for cfg in (GnssCan(base_id=0x500, channel=2), GnssCan(base_id=0x18FF5000, channel=0)):
        out = tmp_path / f"c{cfg.base_id:x}.blf"
        write_frames(out, seg, gnss=cfg)
        back = _read(out)
        _check_gnss_messages(back, seg, cfg)
        assert not [m for m in back if m.arbitration_id == DEFAULT_BASE_ID + 1]


def test_nothing_added_when_off_or_for_a_foreign_log(seg, tmp_path):
    plain = tmp_path / "plain.blf"
    res = write_frames(plain, seg)
    assert res.gnss_frames == 0
    assert len(_read(plain)) == len(list(iter_messages(seg)))
    again = tmp_path / "again.blf"
    res = write_frames(again, plain, gnss=GnssCan())        # a BLF has no fix records
    assert res.gnss_frames == 0 and len(_read(again)) == len(_read(plain))


def test_time_order_across_chunks_and_boots(tmp_path):
    d = tmp_path / "two"
    d.mkdir()
    (d / "B00001_S0000.dlg").write_bytes(gnss_segment(1000, seed=1, boot=1))
    (d / "B00002_S0000.dlg").write_bytes(gnss_segment(30, seed=2, boot=2))
    dump = dunelog.Dump(d, chunk_size=4096)     # 64 KiB first, then 8 blocks per chunk
    chunks = list(iter_frame_chunks(dump, gnss=GnssCan()))
    assert len(chunks) > 10
    n = 0
    for c in chunks:
        key = list(zip(c.classic["boot"].tolist(), c.classic["time_us"].tolist()))
        assert key == sorted(key)
        g = c.classic[(c.classic["channel"] == DEFAULT_CHANNEL)]
        n += len(g)
    assert n == 4 * 1030
    # the messages of one boot come out in time order; boot 2 follows boot 1
    out = tmp_path / "two.blf"
    write_frames(out, d, gnss=GnssCan())
    back = _read(out)
    t = [m.timestamp for m in back]
    drops = [i for i in range(1, len(t)) if t[i] < t[i - 1] - 1e-6]
    assert drops == [7 * 1000]          # boot 1: 3 CAN + 4 GNSS frames per fix; then boot 2


# ------------------------------------------------------------------------- command line
def test_cli_convert_default_on_for_blf_and_mf4_only(seg, tmp_path, capsys):
    n_can = len(list(iter_messages(seg)))
    for suffix, on in ((".blf", True), (".mf4", True), (".asc", False), (".log", False)):
        out = tmp_path / f"d{suffix}"
        assert main(["convert", str(seg), "-o", str(out), "--no-progress"]) == 0
        err = capsys.readouterr().err
        assert len(_read(out)) == n_can + (320 if on else 0), suffix
        assert ("320 GNSS frames, ids 0x6D0-0x6D3 on channel 8" in err) == on, err
    out = tmp_path / "off.blf"
    assert main(["convert", str(seg), "-o", str(out), "--no-gnss-can", "-q"]) == 0
    assert len(_read(out)) == n_can
    out = tmp_path / "on.asc"
    assert main(["convert", str(seg), "-o", str(out), "--gnss-can", "-q"]) == 0
    assert len(_read(out)) == n_can + 320


def test_cli_convert_ids_and_channel(seg, tmp_path, capsys):
    out = tmp_path / "x.blf"
    assert main(["convert", str(seg), "-o", str(out), "--gnss-id", "0x18FF5000",
                 "--gnss-channel", "5"]) == 0
    assert "ids 0x18FF5000-0x18FF5003 (extended) on channel 5" in capsys.readouterr().err
    _check_gnss_messages(_read(out), seg, GnssCan(base_id=0x18FF5000, channel=5))
    assert main(["convert", str(seg), "-o", str(out), "--gnss-id", "0x1FFFFFFF"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "29 bits" in err[0]
    with pytest.raises(SystemExit):
        main(["convert", str(seg), "-o", str(out), "--gnss-id", "lots"])


def test_cli_decode_mf4_has_gnss_groups(seg, tmp_path, capsys):
    asammdf = pytest.importorskip("asammdf")
    out = tmp_path / "sig.mf4"
    assert main(["decode", str(seg), "--dbc", RECCE, "-o", str(out), "--no-progress"]) == 0
    fixes, times = _fixes(seg)
    with asammdf.MDF(out) as mdf:
        groups = {g.channel_group.acq_name for g in mdf.groups}
        assert {m.name for m in MESSAGES} <= groups and "EngineData" in groups
        start = mdf.header.start_time.timestamp()
        lat = mdf.get("GnssLatitude")
        assert lat.unit == "deg"
        np.testing.assert_allclose(lat.samples, [f.lat * 1e-7 for f in fixes], atol=1e-12)
        np.testing.assert_allclose(lat.timestamps + start, times, atol=1e-5)
        ft = mdf.get("GnssFixType", raw=True)
        assert list(ft.samples) == [f.fix_type for f in fixes]
        text = ft.conversion.convert(ft.samples[:3], as_object=True).tolist()
        assert [x.decode() if isinstance(x, bytes) else x for x in text] == \
            ["No fix", "Dead reckoning", 255]                  # 255: no entry, the number
        spd = mdf.get("GnssSpeed", raw=True)
        np.testing.assert_allclose(spd.samples, [f.speed_cms * 0.01 for f in fixes])
        assert spd.conversion.convert(spd.samples[:1], as_object=True)[0] in \
            (b"Not available", "Not available")
    off = tmp_path / "off.mf4"
    assert main(["decode", str(seg), "--dbc", RECCE, "-o", str(off), "--no-gnss-can",
                 "--no-progress"]) == 0
    with asammdf.MDF(off) as mdf:
        assert not {m.name for m in MESSAGES} & {g.channel_group.acq_name for g in mdf.groups}
    # parquet: off by default, on when asked
    pq = tmp_path / "sig.parquet"
    assert main(["decode", str(seg), "--dbc", RECCE, "-o", str(pq), "--no-progress"]) == 0
    assert not (pq / "DunelogGnssPosition.parquet").exists()
    assert main(["decode", str(seg), "--dbc", RECCE, "-o", str(tmp_path / "g.parquet"),
                 "--gnss-can", "--no-progress"]) == 0
    assert (tmp_path / "g.parquet" / "DunelogGnssPosition.parquet").exists()


def test_cli_decode_foreign_log_with_gnss_frames(seg, tmp_path):
    """A BLF dunelog wrote carries the GNSS frames; decoding it to MF4 decodes them."""
    asammdf = pytest.importorskip("asammdf")
    blf = tmp_path / "in.blf"
    write_frames(blf, seg, gnss=GnssCan())
    out = tmp_path / "f.mf4"
    assert main(["decode", str(blf), "--dbc", RECCE, "-o", str(out)]) == 0
    fixes, _ = _fixes(seg)
    with asammdf.MDF(out) as mdf:
        alt = mdf.get("GnssAltitude")
        np.testing.assert_allclose(alt.samples, [f.alt_mm / 1000 for f in fixes], atol=1e-9)


def test_cli_decode_frame_output_gets_gnss(seg, tmp_path):
    out = tmp_path / "raw.blf"
    assert main(["decode", str(seg), "--dbc", RECCE, "-o", str(out), "--no-progress"]) == 0
    _check_gnss_messages(_read(out), seg)

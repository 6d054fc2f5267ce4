"""dunelog report / plot: what the page says equals what the dump holds (firmware-written
vectors and synthetic dumps with known drops, CRC damage, ids that come and go)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import cantools
import dlgen
import numpy as np
import pytest

import dunelog
from dunelog.card.format import (
    CAN_ERR,
    REC_CAN,
    REC_CANFD,
    rec_can,
    rec_gnss,
    rec_overflow,
    rec_session,
    rec_timesync,
)
from dunelog.cli import main
from dunelog.report import build_report, gather, render_html
from dunelog.report.envelope import Envelope
from dunelog.report.render import route_svg

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DRIVE, OVERFLOW = VECTORS / "drive", VECTORS / "overflow"
ROOT = Path(__file__).resolve().parents[2]
RECCE = str(ROOT / "dbc" / "recce.dbc")


class Page(HTMLParser):
    """Collects element ids/classes/attributes, text and the embedded JSON data."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._script: str | None = None
        self.data: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "script":
            self._script = a.get("id") or ""

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script == "dl-data":
            self.data = json.loads(data)
        elif self._script is None:
            self.text.append(data)

    def by_id(self, i: str) -> dict:
        return next(a for t, a in self.tags if a.get("id") == i)

    def card(self, key: str) -> str:
        i = next(k for k, (t, a) in enumerate(self.tags) if a.get("id") == f"card-{key}")
        return next(a["data-value"] for t, a in self.tags[i:] if "data-value" in a)



@pytest.fixture(scope="module")
def drive_report():
    dump = dunelog.open(DRIVE)
    data = gather(dump, dbc=[RECCE])
    return dump, data, render_html(data, command="dunelog report drive -o r.html")


# ---------------------------------------------------------------------- envelope
def test_envelope_min_max_mean_per_bucket():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 100, 10_000)
    v = rng.normal(size=x.size)
    env = Envelope(0, 100, 10)
    env.add(x[:5000], v[:5000])
    env.add(x[5000:], v[5000:])
    b = np.clip((x / 10).astype(int), 0, 9)
    for k in range(10):
        m = b == k
        assert env.lo[k] == v[m].min() and env.hi[k] == v[m].max()
        assert env.mean[k] == pytest.approx(v[m].mean())
        assert env.count[k] == m.sum()
    env.add(np.array([1.0]), np.array([np.nan]))          # NaN ignored
    assert env.samples == 10_000


# ---------------------------------------------------------------------- drive vector
def test_drive_integrity_numbers(drive_report):
    dump, data, text = drive_report
    page = Page(text)
    info = dunelog.card.info.dump_info(dunelog.open(DRIVE))
    assert page.card("records") == f"{info['records']:,}"
    assert page.card("drops") == str(sum(dump.overflow_totals.values())) == "0"
    sessions = [r for r in dunelog.open(DRIVE).records() if isinstance(r, dunelog.SessionStart)]
    assert page.card("power") == str(len(sessions)) == "2"
    tl = {lane["name"]: lane for lane in page.data["timeline"]}
    assert len(tl["logged"]["items"]) == len(info["boots"]) == 2
    assert len(tl["logged"]["points"]) == 2                      # session starts
    # timeline is UTC: the first boot starts at the UTC of its first record
    b1 = info["boots"][0]
    assert page.data["axis"]["utc"] is True
    assert tl["logged"]["items"][0]["x0"] == pytest.approx(
        dump.utc_us(1, b1["first_us"]) / 1e6, abs=1e-6)
    assert "dunelog report drive -o r.html" in "".join(page.text)
    assert f"dunelog {dunelog.__version__}" in "".join(page.text)


def test_drive_route(drive_report):
    dump, data, text = drive_report
    fixes = [r for r in dunelog.open(DRIVE).records()
             if isinstance(r, dunelog.GnssFix) and r.fix_type != 0]
    _, stats = route_svg(data)
    assert stats["points"] == len(fixes) == 160
    assert stats["segments"] == 2 and stats["waypoints"] == 1
    # every drawn vertex is on the map: count path vertices in the route SVG
    svg = text[text.index('<svg id="route-map"'):]
    svg = svg[:svg.index("</svg>")]
    paths = re.findall(r'<path class="spd\d+"[^>]* d="([^"]+)"', svg)
    verts = sum(len(re.findall(r"[ML]", d)) for d in paths)
    runs = sum(d.count("M") for d in paths)
    assert verts - (runs - stats["segments"]) == stats["drawn_points"] == 160
    assert "WP001 hazard" in svg
    charts = Page(text).data["charts"]
    sp = charts["speed_dist"]["series"][0]
    assert sum(sp["n"]) == len(fixes)
    assert max(sp["hi"]) == pytest.approx(max(f.speed_cms for f in fixes) * 0.036, rel=1e-4)


def test_drive_signals_units_and_values(drive_report):
    dump, data, text = drive_report
    db = cantools.database.load_file(RECCE)
    charts = Page(text).data["charts"]
    cl, _ = dunelog.open(DRIVE).can_arrays()
    names = [s.name for s in data.signals]
    assert names == ["WheelBasedVehicleSpeed", "EngineSpeed", "CoolantTemp", "TransOilTemp"]
    assert data.missing_signals == ["TyrePressure", "FuelLevel"]   # not on the demo bus
    assert data.unknown_signals == []
    for i, s in enumerate(data.signals):
        msg = db.get_message_by_name(s.message)
        unit = msg.get_signal_by_name(s.name).unit
        spec = charts[f"sig{i}"]
        assert spec["ylabel"] == f"{s.name} ({unit})" and unit
        assert spec["xkind"] == "utc"
        sel = cl[(cl["id"] == msg.frame_id & 0x1FFFFFFF)]
        vals = [db.decode_message(msg.frame_id, bytes(r["data"][:r["data_len"]]),
                                  decode_choices=False)[s.name] for r in sel]
        ser = spec["series"][0]
        assert sum(ser["n"]) == len(vals) > 0
        assert min(ser["lo"]) == pytest.approx(min(vals), rel=1e-5)
        assert max(ser["hi"]) == pytest.approx(max(vals), rel=1e-5)
        # the same samples against distance (within the track's time span)
        assert f"sig{i}_d" in charts and charts[f"sig{i}_d"]["xkind"] == "km"


def test_drive_bus(drive_report):
    dump, data, text = drive_report
    cl, fd = dunelog.open(DRIVE).can_arrays()
    charts = Page(text).data["charts"]
    total = sum(e.samples for e in data.bus_frames.values())
    assert total == cl.size + fd.size
    assert sorted(data.bus_frames) == sorted(set(cl["channel"].tolist()) |
                                             set(fd["channel"].tolist()))
    assert len(charts["bus_load"]["series"]) == len(data.bus_frames)
    page = Page(text)
    ids = page.by_id("ids")
    assert ids is not None
    rows = re.findall(r"<tr><td>(\d+)</td><td>(0x[0-9A-F]+)</td>", text)
    keys = {(int(c), int(h, 16)) for c, h in rows}
    assert keys == {(int(a), int(b)) for a, b in zip(np.r_[cl["channel"], fd["channel"]],
                                                      np.r_[cl["id"], fd["id"]])}


def test_self_contained(drive_report):
    _, _, text = drive_report
    page = Page(text)
    for tag, a in page.tags:
        assert "src" not in a or a["src"].startswith("data:"), (tag, a)
        if tag == "link":
            assert a.get("href", "").startswith("data:"), a
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


# ---------------------------------------------------------------------- overflow vector
def test_overflow_vector_drops():
    dump = dunelog.open(OVERFLOW)
    text = build_report(dump)
    page = Page(text)
    recs = list(dunelog.open(OVERFLOW).records())
    ovfs = [r for r in recs if isinstance(r, dunelog.Overflow)]
    total = sum(dunelog.open(OVERFLOW).overflow_totals.values())
    assert total == sum(o.total for o in ovfs) > 0
    assert page.card("drops") == f"{total:,}"
    drops = next(lane for lane in page.data["timeline"] if lane["name"] == "drops")
    assert len(drops["items"]) == len(ovfs)
    assert sum(int(i["label"].split()[0]) for i in drops["items"]) == total
    # no time sync in this vector: seconds, not UTC
    assert page.data["axis"]["utc"] is False
    assert page.data["charts"]["bus_load"]["xkind"] == "s"
    assert "no DBC given" in "".join(page.text)


# ---------------------------------------------------------------------- synthetic dump
DAY = 20420
T0_MS = 8 * 3600 * 1000


def _synthetic(tmp_path) -> Path:
    """60 s, one boot: 0x100 all along at 100 Hz, 0x200 only for the first 20 s, 0x300
    from 40 s on, 3 error frames, 1 Hz sync, 10 Hz fixes, an overflow, then a block with a
    flipped byte (CRC failure)."""
    timed = [(0, rec_session(0, firmware="1.2.3", vehicle="RECCE-09", config_hash=1,
                             logger_id=1))]
    for t in range(0, 60_000_000, 10_000):
        timed.append((t + 1, rec_can(0, 0x100, bytes(8), channel=0)))
        if t < 20_000_000 and t % 50_000 == 0:
            timed.append((t + 2, rec_can(0, 0x200, bytes(8), channel=0)))
        if t >= 40_000_000 and t % 50_000 == 0:
            timed.append((t + 3, rec_can(0, 0x300, bytes(8), channel=1)))
        if t % 1_000_000 == 0:
            timed.append((t + 4, rec_timesync(0, utc_days=DAY, utc_ms=T0_MS + t // 1000)))
        if t % 100_000 == 0:
            timed.append((t + 5, rec_gnss(0, lat=275_000_000 + t // 1000, lon=416_000_000,
                                          utc_days=DAY, utc_ms=T0_MS + t // 1000,
                                          speed_cms=1500)))
        if t in (10_000_000, 30_000_000, 50_000_000):
            timed.append((t + 6, rec_can(0, 0, b"", channel=0, flags=CAN_ERR)))
        if t == 25_000_000:
            timed.append((t + 7, rec_overflow(0, {REC_CAN: 17, REC_CANFD: 3},
                                              first_ago_us=900_000, last_ago_us=100_000)))
    seg = dlgen.make_segment(timed=timed, boot=3, block_size=4096, logger_id=1)
    raw = bytearray(seg.data)
    off = seg.block_offset(len(seg.blocks) // 2) + 100
    raw[off] ^= 0xFF
    return dlgen.write(tmp_path / "card" / "B00003_S0000.dlg", bytes(raw)).parent


def test_synthetic_ids_errors_problems(tmp_path):
    card = _synthetic(tmp_path)
    dump = dunelog.open(card)
    data = gather(dump)
    text = render_html(data)
    page = Page(text)
    probs = dunelog.open(card)
    list(probs.records())
    kinds = sorted(p.kind for p in probs.problems)
    assert kinds == ["crc", "garbage", "seq_gap"]     # one damaged block, as the reader says
    assert page.card("integrity") == "3"
    lane = next(lane for lane in page.data["timeline"] if lane["name"] == "CRC / seq")
    placed = [p for p in probs.problems if p.seq is not None or p.missing is not None]
    assert len(lane["points"]) == len(placed) == 2
    # the damaged block sits mid-dump in time
    x = lane["points"][0]["x"]
    assert page.data["axis"]["x0"] < x < page.data["axis"]["x1"]
    assert page.card("errors") == "3" and data.error_frames == 3
    assert page.card("drops") == "20"
    notes = "".join(page.text)
    assert re.search(r"ch 0 0x200 vanished at 08:00:1\d", notes)
    assert re.search(r"ch 1 0x300 appeared at 08:00:[34]\d", notes)
    assert "0x100 appeared" not in notes and "0x100 vanished" not in notes
    assert "bus_err" in page.data["charts"]
    assert sum(sum(s["mean"]) for s in page.data["charts"]["bus_err"]["series"]) == 3
    # drop window: 0.9 s .. 0.1 s before the overflow record at 25 s
    (item,) = next(lane for lane in page.data["timeline"] if lane["name"] == "drops")["items"]
    t0 = datetime(2025, 11, 28, 8, tzinfo=timezone.utc).timestamp()
    assert item["x0"] == pytest.approx(t0 + 24.1, abs=0.01)
    assert item["x1"] == pytest.approx(t0 + 24.9, abs=0.01)
    # bus load of channel 0: 100 + 20 (first third) frames/s of 8 bytes at 500 kbit/s
    load = page.data["charts"]["bus_load"]["series"][0]
    mid = [v for x, v in zip(load["x"], load["mean"]) if t0 + 45 < x < t0 + 55]
    assert np.median(mid) == pytest.approx(100 * 111 / 500_000 * 100, rel=0.02)


# ---------------------------------------------------------------------- CLI
def test_cli_report_and_plot(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(DRIVE), "--dbc", RECCE, "--signal", "EngineSpeed,Nope",
                 "--signal", "FuelLevel", "-o", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"{out}:" in err and "1 signal plot(s)" in err
    assert "signal Nope not plotted: not in the database(s)" in err
    assert "signal FuelLevel not plotted: no frames in this dump" in err
    page = Page(out.read_text(encoding="utf-8"))
    assert [k for k in page.data["charts"] if k.startswith("sig")] == ["sig0", "sig0_d"]
    assert f"dunelog report {DRIVE} --dbc {RECCE} --signal EngineSpeed,Nope --signal " \
        f"FuelLevel -o {out}" in "".join(page.text)
    png = tmp_path / "p.png"
    assert main(["plot", str(DRIVE), "--dbc", RECCE, "--signal", "EngineSpeed,CoolantTemp",
                 "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "p.svg"
    assert main(["plot", str(DRIVE), "--dbc", RECCE, "--signal", "CoolantTemp",
                 "-o", str(svg)]) == 0
    s = svg.read_text()
    assert "(degC)" in s and "time (UTC, 2025-11-28)" in s


def test_cli_errors(tmp_path, capsys):
    assert main(["report", str(DRIVE), "-o", str(tmp_path / "r.txt")]) == 2
    assert main(["report", str(tmp_path / "nope"), "-o", str(tmp_path / "r.html")]) == 2
    assert main(["report", str(DRIVE), "--dbc", str(tmp_path / "x.dbc"),
                 "-o", str(tmp_path / "r.html")]) == 2
    assert main(["plot", str(DRIVE), "--dbc", RECCE, "--signal", "NoSuchSignal",
                 "-o", str(tmp_path / "p.png")]) == 2
    assert "no signal to plot" in capsys.readouterr().err
    assert main(["plot", str(DRIVE), "--dbc", RECCE, "--signal", "EngineSpeed",
                 "-o", str(tmp_path / "p.bmp")]) == 2


def test_bitrate_per_channel(tmp_path):
    from dunelog.cli.report import parse_bitrate
    assert parse_bitrate("250k") == 250_000 and parse_bitrate("1M") == 1_000_000
    assert parse_bitrate("0=500k,1=1M") == {0: 500_000, 1: 1_000_000}
    card = _synthetic(tmp_path)
    a = gather(dunelog.open(card))
    b = gather(dunelog.open(card), bitrate={0: 1_000_000})
    assert b.bus_bits[0].sum() == pytest.approx(a.bus_bits[0].sum() / 2, rel=1e-12)
    assert b.bus_bits[1].sum() == pytest.approx(a.bus_bits[1].sum(), rel=1e-12)
    # classic 8-byte standard frames: 111 bits each at 500 kbit/s
    n0 = a.bus_frames[0].samples - a.error_frames
    assert a.bus_bits[0].sum() == pytest.approx((n0 * 111 + 3 * 47) / 500_000, rel=1e-9)


def test_dump_without_fixes(tmp_path):
    timed = [(t, rec_can(0, 0x123, bytes(4))) for t in range(0, 5_000_000, 1000)]
    seg = dlgen.make_segment(timed=timed, boot=1, block_size=4096)
    card = dlgen.write(tmp_path / "c" / "B00001_S0000.dlg", seg.data).parent
    page = Page(build_report(dunelog.open(card), dbc=[RECCE]))
    assert "no valid GNSS fix in this dump" in "".join(page.text)
    assert "speed_dist" not in page.data["charts"]
    assert page.card("fix") == "0.0 %" and page.card("records") == "5,000"
    assert page.data["axis"]["utc"] is False


def test_tyre_pressures_one_series_per_tyre(tmp_path):
    db = cantools.database.load_file(RECCE)
    msg = db.get_message_by_name("TyrePressures")
    timed = [(0, rec_timesync(0, utc_days=DAY, utc_ms=T0_MS))]
    for i in range(400):                          # 4 Hz per tyre, tyre 2 leaks slowly
        pos = i % 4
        kpa = 200 + 10 * pos - (i * 0.25 if pos == 2 else 0)
        data = msg.encode({"TpmsGroup": 0, "TyrePosition": pos, "TyrePressure": kpa,
                           "TyreTemp": 30, "TyreLeakRate": 0})
        timed.append((1000 + i * 62_500, rec_can(0, msg.frame_id, data)))
    seg = dlgen.make_segment(timed=timed, boot=1, block_size=4096)
    card = dlgen.write(tmp_path / "c" / "B00001_S0000.dlg", seg.data).parent
    data = gather(dunelog.open(card), dbc=[RECCE], signals=["TyrePressure"])
    (s,) = data.signals
    assert [lab for lab, _, _ in s.split] == [f"TyrePosition={k}" for k in range(4)]
    spec = Page(render_html(data)).data["charts"]["sig0"]
    assert spec["ylabel"] == "TyrePressure (kPa)"
    series = {x["name"]: x for x in spec["series"]}
    assert sorted(series) == [f"TyrePressure TyrePosition={k}" for k in range(4)]
    for k in (0, 1, 3):
        x = series[f"TyrePressure TyrePosition={k}"]
        assert min(x["lo"]) == max(x["hi"]) == 200 + 10 * k and sum(x["n"]) == 100
    leak = series["TyrePressure TyrePosition=2"]
    # tyre 2 is frames i = 2, 6, ..., 398: 220 - i/4 kPa
    assert max(leak["hi"]) == 220 - 2 * 0.25 and min(leak["lo"]) == 220 - 398 * 0.25

"""Tracks: GNSS fixes -> GPX / GeoJSON / KML with marks as waypoints and gaps kept open."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dlgen
import gpxpy
import pytest

import dunelog
from dunelog.card.format import rec_event, rec_gnss, rec_timesync
from dunelog.cli import main
from dunelog.track import (
    GPXTPX_NS,
    KML_NS,
    build_track,
    haversine_km,
    write_geojson,
    write_gpx,
    write_kml,
    write_track,
)

DRIVE = Path(__file__).resolve().parents[1] / "vectors" / "drive"
K = f"{{{KML_NS}}}"
DAY = 20420                      # 2025-11-28
T0_MS = 8 * 3600 * 1000          # 08:00:00 UTC at boot time 0


def utc(ms_of_day: float) -> datetime:
    return datetime(2025, 11, 28, tzinfo=timezone.utc) + timedelta(milliseconds=ms_of_day)


# ---------------------------------------------------------------------- drive vector
@pytest.fixture(scope="module")
def drive():
    dump = dunelog.open(DRIVE)
    fixes = [r for r in dump.records() if isinstance(r, dunelog.GnssFix)]
    return dump, fixes


def test_drive_track_model(drive):
    dump, fixes = drive
    tr = build_track(dump)
    assert [len(s) for s in tr.segments] == [120, 40]          # boot 1, boot 2
    assert [g.reason for g in tr.gaps] == ["new_boot"]
    assert tr.excluded_fixes == 0
    p0 = tr.segments[0][0]
    assert (p0.lat, p0.lon) == (fixes[0].lat_deg, fixes[0].lon_deg)
    assert p0.time == fixes[0].utc == dump.utc(1, fixes[0].time_us)
    # distance: sum of haversine legs inside the segments only
    exp = sum(haversine_km(a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg)
              for a, b in zip(fixes, fixes[1:]) if a.boot == b.boot)
    assert tr.distance_km == pytest.approx(exp, rel=1e-12)
    (wp,) = tr.waypoints
    assert wp.name == "WP001 hazard" and wp.kind == "button" and wp.code == 301
    assert wp.placement == "interpolated" and wp.boot == 1
    assert wp.time == datetime(2025, 11, 28, 8, 0, 5, tzinfo=timezone.utc)
    a, b = [f for f in fixes if f.boot == 1 and f.time_us in (4_950_000, 5_050_000)]
    assert wp.lat == pytest.approx((a.lat_deg + b.lat_deg) / 2, abs=1e-9)
    assert wp.lon == pytest.approx((a.lon_deg + b.lon_deg) / 2, abs=1e-9)
    assert wp.course == pytest.approx((a.course_cdeg + b.course_cdeg) / 200, abs=1e-6)
    pa = tr.segments[0][49]
    assert pa.time_us == 4_950_000
    assert wp.dist_km == pytest.approx(pa.dist_km + haversine_km(
        a.lat_deg, a.lon_deg, b.lat_deg, b.lon_deg) / 2, rel=1e-9)


def test_drive_gpx(drive, tmp_path):
    dump, fixes = drive
    out = tmp_path / "route.gpx"
    assert write_track(out, build_track(dump)) == "gpx"
    g = gpxpy.parse(out.read_text(encoding="utf-8"))
    assert len(g.tracks) == 1
    segs = g.tracks[0].segments
    assert [len(s.points) for s in segs] == [120, 40]
    pts = [p for s in segs for p in s.points]
    for p, f in zip(pts, fixes):
        assert p.latitude == pytest.approx(f.lat_deg, abs=1e-9)
        assert p.longitude == pytest.approx(f.lon_deg, abs=1e-9)
        assert p.elevation == pytest.approx(f.alt_m, abs=1e-3)
        assert p.time == f.utc
        assert p.satellites == f.sats
        assert p.horizontal_dilution == pytest.approx(f.hdop)
        (ext,) = p.extensions
        assert float(ext.find(f"{{{GPXTPX_NS}}}speed").text) == pytest.approx(f.speed_ms)
        assert float(ext.find(f"{{{GPXTPX_NS}}}course").text) == pytest.approx(f.course_deg)
    (w,) = g.waypoints
    assert w.name == "WP001 hazard"
    assert w.time == datetime(2025, 11, 28, 8, 0, 5, tzinfo=timezone.utc)
    assert "0.109 km" in w.description and "course 92.1°" in w.description
    assert "dist_km=0.109" in w.comment


def test_drive_geojson(drive, tmp_path):
    dump, fixes = drive
    out = tmp_path / "route.geojson"
    write_track(out, build_track(dump))
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["type"] == "FeatureCollection"
    line, wp = d["features"]
    assert line["geometry"]["type"] == "MultiLineString"
    parts = line["geometry"]["coordinates"]
    assert [len(p) for p in parts] == [120, 40]
    flat = [c for p in parts for c in p]
    for c, f in zip(flat, fixes):
        assert c == pytest.approx([f.lon_deg, f.lat_deg, f.alt_m], abs=1e-7)
    times = line["properties"]["coordinateProperties"]["times"]
    assert times[0][0] == "2025-11-28T08:00:00.050Z"
    assert [len(t) for t in times] == [120, 40]
    assert line["properties"]["gaps_detail"][0]["reason"] == "new_boot"
    assert wp["geometry"]["type"] == "Point"
    assert wp["properties"]["name"] == "WP001 hazard"
    assert wp["properties"]["dist_km"] == pytest.approx(0.109, abs=5e-4)
    assert wp["properties"]["course_deg"] == pytest.approx(92.09, abs=0.01)
    assert wp["properties"]["time"] == "2025-11-28T08:00:05.000Z"


def test_drive_kml(drive, tmp_path):
    dump, fixes = drive
    out = tmp_path / "route.kml"
    write_track(out, build_track(dump))
    root = ET.parse(out).getroot()
    assert root.tag == f"{K}kml"
    doc = root.find(f"{K}Document")
    track_pm = doc.find(f"{K}Placemark")
    lines = track_pm.findall(f"{K}MultiGeometry/{K}LineString")
    assert len(lines) == 2
    coords = [[tuple(map(float, c.split(","))) for c in ls.find(f"{K}coordinates").text.split()]
              for ls in lines]
    assert [len(c) for c in coords] == [120, 40]
    f = fixes[0]
    assert coords[0][0] == pytest.approx((f.lon_deg, f.lat_deg, f.alt_m), abs=1e-7)
    (pm,) = doc.findall(f"{K}Folder/{K}Placemark")
    assert pm.find(f"{K}name").text == "WP001 hazard"
    assert pm.find(f"{K}TimeStamp/{K}when").text == "2025-11-28T08:00:05.000Z"
    data = {d.get("name"): d.find(f"{K}value").text
            for d in pm.findall(f"{K}ExtendedData/{K}Data")}
    assert float(data["dist_km"]) == pytest.approx(0.109, abs=5e-4)
    assert float(data["course_deg"]) == pytest.approx(92.09, abs=0.01)
    assert "km" in pm.find(f"{K}description").text


# ---------------------------------------------------------------------- synthetic dump
LAT0 = 250_000_000               # 25 deg
LON0 = 450_000_000               # 45 deg
STEP = 100                       # 1e-7 deg of longitude per 0.1 s (~1 m)


def lon_at(t_us: int) -> int:
    return LON0 + STEP * (t_us // 100_000)


def synthetic_timed(boot: int, *, outage=(3_000_000, 6_000_000), marks=(), seconds=10,
                    utc_in_fix=True, zero_fixes_in_outage=True, sync=True):
    """10 Hz fixes heading east, 1 Hz sync, fix loss in ``outage`` (fix_type 0 records
    or nothing), marks as ``(t_us, kind, code, text)``."""
    timed = []
    for t in range(0, seconds * 1_000_000, 100_000):
        if sync and t % 1_000_000 == 0:
            timed.append((t + 10, rec_timesync(
                0, utc_days=DAY, utc_ms=T0_MS + t // 1000 + 3600_000 * boot, utc_us=10)))
        in_out = outage[0] <= t < outage[1]
        if in_out and not zero_fixes_in_outage:
            continue
        ms = T0_MS + t // 1000 + 3600_000 * boot
        timed.append((t + 20, rec_gnss(
            0, fix_type=0 if in_out else 3, sats=0 if in_out else 10,
            lat=0 if in_out else LAT0, lon=0 if in_out else lon_at(t),
            alt_mm=100_000 + t // 1000,
            utc_ms=ms if utc_in_fix else 0xFFFFFFFF, utc_days=DAY if utc_in_fix else 0xFFFF,
            speed_cms=1000, course_cdeg=9000, hdop_c=90)))
    for t, kind, code, text in marks:
        timed.append((t, rec_event(0, kind=kind, code=code, text=text)))
    timed.sort(key=lambda x: x[0])
    return timed


@pytest.fixture
def synth_dump(tmp_path):
    def make(boots: dict[int, dict]):
        for boot, kw in boots.items():
            seg = dlgen.make_segment(timed=synthetic_timed(boot, **kw), boot=boot)
            dlgen.write(tmp_path / "dump" / f"B{boot:05d}_S0000.dlg", seg.data)
        return dunelog.open(tmp_path / "dump")
    return make


MARKS = [(1_500_020, 1, 1, "WP001 hazard"),      # inside segment 1: interpolated
         (4_000_000, 2, 0, "in the tunnel"),     # in the outage: nearest fix (2.9 s)
         (8_000_070, 1, 2, "")]                   # 50 us after a fix, no text


def test_synthetic_gap_splits_and_marks(synth_dump):
    dump = synth_dump({1: {"marks": MARKS}})
    tr = build_track(dump)
    assert [len(s) for s in tr.segments] == [30, 40]           # 0..2.9 s, 6.0..9.9 s
    assert tr.excluded_fixes == 30
    (gap,) = tr.gaps
    assert gap.reason == "no_fix" and gap.duration_s == pytest.approx(3.1)
    assert gap.chord_km > 0
    seg1_km = haversine_km(25, 45, 25, lon_at(2_900_000) * 1e-7)
    seg2_km = haversine_km(25, lon_at(6_000_000) * 1e-7, 25, lon_at(9_900_000) * 1e-7)
    assert tr.distance_km == pytest.approx(seg1_km + seg2_km, rel=1e-9)   # gap not counted
    assert gap.at_km == pytest.approx(seg1_km, rel=1e-9)
    w1, w2, w3 = tr.waypoints
    assert (w1.name, w1.kind, w1.placement) == ("WP001 hazard", "button", "interpolated")
    assert w1.lon == pytest.approx((LON0 + 15 * STEP) * 1e-7, abs=1e-10)
    assert w1.dist_km == pytest.approx(haversine_km(25, 45, 25, w1.lon), rel=1e-6)
    assert w1.course == pytest.approx(90.0)
    assert w1.time == utc(T0_MS + 3600_000 + 1500.02)
    assert (w2.name, w2.kind, w2.placement) == ("in the tunnel", "mark", "nearest")
    assert w2.lon == pytest.approx(lon_at(2_900_000) * 1e-7)     # 1.1 s before, 2 s after
    assert w2.dist_km == pytest.approx(seg1_km, rel=1e-9)
    assert w2.offset_s == pytest.approx(1.09998)
    assert w3.name == "BUTTON 2" and w3.placement == "interpolated"
    assert w3.lon == pytest.approx((lon_at(8_000_000) + STEP * 50 / 100_000) * 1e-7, abs=1e-12)


def test_synthetic_outputs_never_bridge_gap(synth_dump, tmp_path):
    dump = synth_dump({1: {"marks": MARKS},
                       2: {"outage": (0, 1_000_000), "zero_fixes_in_outage": False}})
    tr = build_track(dump)
    assert [len(s) for s in tr.segments] == [30, 40, 90]
    assert [g.reason for g in tr.gaps] == ["no_fix", "new_boot"]
    write_gpx(tr, tmp_path / "r.gpx")
    write_geojson(tr, tmp_path / "r.geojson")
    write_kml(tr, tmp_path / "r.kml")

    g = gpxpy.parse((tmp_path / "r.gpx").read_text(encoding="utf-8"))
    segs = g.tracks[0].segments
    assert [len(s.points) for s in segs] == [30, 40, 90]
    assert segs[0].points[-1].time == utc(T0_MS + 3600_000 + 2900)
    assert segs[1].points[0].time == utc(T0_MS + 3600_000 + 6000)
    assert segs[2].points[0].time == utc(T0_MS + 7200_000 + 1000)
    for s in segs:       # every leg within a segment is one 0.1 s step (no bridge)
        for a, b in zip(s.points, s.points[1:]):
            assert (b.time - a.time).total_seconds() == pytest.approx(0.1)
    assert [w.name for w in g.waypoints] == ["WP001 hazard", "in the tunnel", "BUTTON 2"]

    d = json.loads((tmp_path / "r.geojson").read_text(encoding="utf-8"))
    parts = d["features"][0]["geometry"]["coordinates"]
    assert [len(p) for p in parts] == [30, 40, 90]
    for p in parts:
        for a, b in zip(p, p[1:]):
            assert round((b[0] - a[0]) * 1e7) == STEP
    assert [f["properties"]["placement"] for f in d["features"][1:]] == \
        ["interpolated", "nearest", "interpolated"]

    root = ET.parse(tmp_path / "r.kml").getroot()
    lines = root.findall(f".//{K}MultiGeometry/{K}LineString")
    assert [len(ls.find(f"{K}coordinates").text.split()) for ls in lines] == [30, 40, 90]
    names = [pm.find(f"{K}name").text for pm in root.findall(f".//{K}Folder/{K}Placemark")]
    assert names == ["WP001 hazard", "in the tunnel", "BUTTON 2"]


def test_gap_threshold(synth_dump):
    dump = synth_dump({1: {}})
    assert len(build_track(dump, gap_s=2.0).segments) == 2
    tr = build_track(dump, gap_s=5.0)       # a 3.1 s hole is within tolerance: one segment
    assert [len(s) for s in tr.segments] == [70] and not tr.gaps
    with pytest.raises(ValueError):
        build_track(dump, gap_s=0)


def test_time_from_sync_when_fix_has_no_utc(synth_dump):
    dump = synth_dump({1: {"utc_in_fix": False, "outage": (0, 0)}})
    tr = build_track(dump)
    p = tr.segments[0][5]
    assert p.time_us == 500_020
    assert p.time == dump.utc(1, p.time_us) == utc(T0_MS + 3600_000 + 500.02)


def test_no_utc_at_all(synth_dump, tmp_path):
    dump = synth_dump({1: {"utc_in_fix": False, "sync": False, "marks": MARKS[:1]}})
    tr = build_track(dump)
    assert all(p.time is None for p in tr.points) and tr.waypoints[0].time is None
    for suffix in (".gpx", ".geojson", ".kml"):
        write_track(tmp_path / f"r{suffix}", tr)
    g = gpxpy.parse((tmp_path / "r.gpx").read_text(encoding="utf-8"))
    assert g.tracks[0].segments[0].points[0].time is None


def test_lone_point_segment_and_unplaced_mark(synth_dump, tmp_path):
    # boot 1: only one valid fix (at 9.9 s); boot 2: no fix at all but a mark
    dump = synth_dump({1: {"outage": (0, 9_900_000)},
                       2: {"outage": (0, 10_000_000), "marks": [(1_000, 1, 7, "lost")]}})
    tr = build_track(dump)
    assert [len(s) for s in tr.segments] == [1]
    assert [e.text for e in tr.unplaced] == ["lost"] and not tr.waypoints
    write_geojson(tr, tmp_path / "r.geojson")
    (part,) = json.loads((tmp_path / "r.geojson").read_text())["features"][0]["geometry"][
        "coordinates"]
    assert len(part) == 2 and part[0] == part[1]      # a LineString needs two positions


def test_empty_dump_track(synth_dump, tmp_path):
    dump = synth_dump({1: {"outage": (0, 10_000_000)}})
    tr = build_track(dump)
    assert tr.n_points == 0 and tr.distance_km == 0
    for suffix in (".gpx", ".geojson", ".kml"):
        write_track(tmp_path / f"r{suffix}", tr)
    assert gpxpy.parse((tmp_path / "r.gpx").read_text()).tracks[0].segments == []
    assert json.loads((tmp_path / "r.geojson").read_text())["features"][0]["geometry"][
        "coordinates"] == []


def test_haversine():
    # one degree of latitude ~ 111.2 km; quarter meridian ~ 10 007.5 km
    assert haversine_km(0, 0, 1, 0) == pytest.approx(111.195, abs=1e-3)
    assert haversine_km(0, 0, 90, 0) == pytest.approx(math.pi / 2 * 6371.0088)


# ---------------------------------------------------------------------- CLI
@pytest.mark.parametrize("suffix", [".gpx", ".geojson", ".kml"])
def test_cli_track(tmp_path, capsys, suffix):
    out = tmp_path / f"route{suffix}"
    assert main(["track", str(DRIVE), "-o", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "160 points in 2 segment(s)" in err and "1 waypoint(s)" in err
    assert out.stat().st_size > 0


def test_cli_track_errors(tmp_path, capsys):
    assert main(["track", str(DRIVE), "-o", str(tmp_path / "r.txt")]) == 2
    assert "unknown track format" in capsys.readouterr().err
    assert main(["track", str(tmp_path / "nope"), "-o", str(tmp_path / "r.gpx")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["track", str(DRIVE), "-o", str(tmp_path / "r.gpx"), "--gap", "0"]) == 2


def test_cli_gap_option(synth_dump, tmp_path, capsys):
    synth_dump({1: {}})
    out = tmp_path / "r.gpx"
    assert main(["track", str(tmp_path / "dump"), "-o", str(out), "--gap", "5", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert len(gpxpy.parse(out.read_text()).tracks[0].segments) == 1

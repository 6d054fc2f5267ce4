"""Routes from a dump: GNSS fixes as a track, button / text marks as waypoints.

:func:`build_track` reads the GNSS fix records (type 0x10) and the event records of
kind 1 (button mark) and 2 (text mark) of a dump and returns a :class:`Track`:

* **points** are the fixes with ``fix_type != 0``, in dump order; each has its UTC time
  (the fix's own UTC epoch, else the boot time mapped through the time syncs), altitude,
  speed, course, satellites, HDOP and the cumulative distance along the track;
* **segments** split the points wherever fix coverage breaks: no valid fix for more than
  ``gap_s`` seconds of boot time, or a new boot.  A gap is *never* bridged with a straight
  line; every gap is listed in :attr:`Track.gaps`;
* **waypoints** are the marks, placed at the position linearly interpolated between the
  two fixes of the same segment around the mark's boot time, or - when the mark falls in
  a gap, before the first or after the last fix of its boot - at the nearest valid fix of
  the same boot in time.  Each has the cumulative distance (km, haversine along the
  track) and the course there.

Cumulative distance runs along the recorded segments only: the unseen path through a gap
adds nothing (its straight-line length is in :attr:`Gap.chord_km`).

Writers: :func:`write_gpx` (gpxpy, GPX 1.1), :func:`write_geojson` (RFC 7946),
:func:`write_kml` (KML 2.2, xml.etree), and :func:`write_track` which picks one by suffix.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Iterator

from .card.records import Event, GnssFix, TimeSync, utc_datetime
from .card.timebase import TimeBase

__all__ = [
    "TrackPoint", "Waypoint", "Gap", "Track", "build_track", "track_from_records",
    "write_gpx", "write_geojson", "write_kml", "write_track", "haversine_km",
    "TRACK_FORMATS", "MARK_KINDS", "EARTH_RADIUS_KM",
]

#: mean Earth radius used for haversine distances (IUGG), km
EARTH_RADIUS_KM = 6371.0088
#: event kinds that become waypoints: 1 button mark, 2 text mark
MARK_KINDS = {1: "button", 2: "mark"}
#: output suffix -> format name
TRACK_FORMATS = {".gpx": "gpx", ".geojson": "geojson", ".json": "geojson", ".kml": "kml"}

GPXTPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v2"
KML_NS = "http://www.opengis.net/kml/2.2"


# ---------------------------------------------------------------------- data model
@dataclass(slots=True)
class TrackPoint:
    """One valid GNSS fix on the track."""

    lat: float                      # degrees
    lon: float                      # degrees
    ele: float                      # m above mean sea level
    time: datetime | None           # UTC
    speed: float | None             # m/s
    course: float | None            # degrees, true
    sats: int
    hdop: float | None
    fix_type: int
    boot: int
    time_us: int                    # boot time of the fix record
    dist_km: float = 0.0            # cumulative distance along the track


@dataclass(slots=True)
class Waypoint:
    """A button or text mark placed on the track."""

    name: str
    kind: str                       # "button" or "mark"
    code: int                       # button: press count
    boot: int
    time_us: int
    time: datetime | None           # UTC of the mark
    lat: float
    lon: float
    ele: float | None
    dist_km: float                  # cumulative distance along the track at the mark
    course: float | None            # degrees, true
    placement: str                  # "interpolated" or "nearest"
    offset_s: float = 0.0           # |mark time - fix time| when placed at nearest fix

    @property
    def description(self) -> str:
        """Human-readable description: kind, distance and course."""
        what = f"button mark #{self.code}" if self.kind == "button" else "text mark"
        crs = "course n/a" if self.course is None else f"course {self.course:.1f}°"
        s = f"{what}; {self.dist_km:.3f} km; {crs}"
        if self.placement == "nearest":
            s += f"; at nearest fix ({self.offset_s:.1f} s away)"
        return s


@dataclass(slots=True)
class Gap:
    """A break in fix coverage between two segments (not drawn)."""

    reason: str                     # "no_fix" or "new_boot"
    boot_before: int
    boot_after: int
    start: datetime | None          # UTC of the last fix before
    end: datetime | None            # UTC of the first fix after
    duration_s: float | None        # boot-time length (no_fix), UTC length (new_boot)
    chord_km: float                 # straight-line distance across (not counted)
    at_km: float                    # cumulative distance where the gap starts


@dataclass
class Track:
    """A route: segments of points, waypoints and the gaps between segments."""

    segments: list[list[TrackPoint]] = field(default_factory=list)
    waypoints: list[Waypoint] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    unplaced: list[Event] = field(default_factory=list)   # marks of boots without fixes
    excluded_fixes: int = 0                                 # fix_type 0 records
    gap_s: float = 2.0
    name: str = "dunelog track"

    @property
    def points(self) -> Iterator[TrackPoint]:
        """All points, segment after segment."""
        for seg in self.segments:
            yield from seg

    @property
    def n_points(self) -> int:
        """Number of points."""
        return sum(len(s) for s in self.segments)

    @property
    def distance_km(self) -> float:
        """Total distance along the segments, km."""
        for seg in reversed(self.segments):
            if seg:
                return seg[-1].dist_km
        return 0.0

    @property
    def start(self) -> datetime | None:
        """Earliest UTC of any point (None without UTC)."""
        return min((p.time for p in self.points if p.time is not None), default=None)

    @property
    def end(self) -> datetime | None:
        """Latest UTC of any point (None without UTC)."""
        return max((p.time for p in self.points if p.time is not None), default=None)

    def summary(self) -> dict:
        """Counts and extents as a JSON-able dict."""
        return {"segments": len(self.segments), "points": self.n_points,
                "waypoints": len(self.waypoints), "gaps": len(self.gaps),
                "unplaced_marks": len(self.unplaced), "excluded_fixes": self.excluded_fixes,
                "distance_km": round(self.distance_km, 6),
                "start": _iso(self.start), "end": _iso(self.end)}


# ---------------------------------------------------------------------- geometry
def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points (degrees), km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing from point 1 to point 2, degrees [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def _lerp_angle(a: float, b: float, f: float) -> float:
    d = (b - a + 180.0) % 360.0 - 180.0
    return (a + f * d) % 360.0


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------- building
def _mark_records(dump) -> Iterator:
    """The non-CAN records of a dump in order.  Uses the dump's single pass without
    materialising CAN frames when available (a 12-h stage holds millions of them)."""
    inner = getattr(dump, "_pass", None)
    if inner is None:       # pragma: no cover - other Dump-like objects
        yield from dump.records()
        return
    for _chunk, _dec, others in inner():
        yield from others


def build_track(dump, gap_s: float = 2.0, *, name: str | None = None) -> Track:
    """Build the :class:`Track` of a :class:`~dunelog.card.dump.Dump` (one full pass).

    :param gap_s: a segment ends when no valid fix follows for more than this (s).
    :raises ValueError: the dump holds several loggers (open it with ``logger_id``).
    """
    loggers = getattr(dump, "loggers", [])
    if len(loggers) > 1:
        raise ValueError(f"dump holds several loggers {loggers}; "
                         f"open it with logger_id (dunelog track --logger N)")
    recs = _mark_records(dump)
    if name is None:
        name = os.path.basename(os.path.normpath(getattr(dump, "path", ""))) or "dunelog"
    return track_from_records(recs, gap_s=gap_s, name=name)


def track_from_records(records: Iterable, gap_s: float = 2.0, *, name: str = "dunelog",
                       timebase: TimeBase | None = None) -> Track:
    """Build a :class:`Track` from typed records of one logger (any order within a boot
    is accepted for marks; fixes are taken in the order given).  Time syncs among the
    records feed ``timebase`` (a new one by default)."""
    if gap_s <= 0:
        raise ValueError("gap_s must be > 0")
    tb = timebase if timebase is not None else TimeBase()
    gap_us = gap_s * 1e6
    pts: list[TrackPoint] = []
    marks: list[Event] = []
    excluded = 0
    for r in records:
        t = type(r)
        if t is GnssFix:
            if r.fix_type == 0:
                excluded += 1
            else:       # no UTC in the fix: mapped through the time syncs below
                pts.append(TrackPoint(r.lat_deg, r.lon_deg, r.alt_m, r.utc, r.speed_ms,
                                      r.course_deg, r.sats, r.hdop, r.fix_type, r.boot,
                                      r.time_us))
        elif t is Event:
            if r.kind in MARK_KINDS:
                marks.append(r)
        elif t is TimeSync:
            tb.add_sync(r)

    def utc_of(boot: int, time_us: int) -> datetime | None:
        u = tb.utc_us(boot, time_us)
        return None if u is None else utc_datetime(u)

    track = Track(gap_s=gap_s, name=name, excluded_fixes=excluded)
    seg: list[TrackPoint] = []
    prev: TrackPoint | None = None
    dist = 0.0
    for p in pts:
        if p.time is None:
            p.time = utc_of(p.boot, p.time_us)
        if prev is not None:
            new_boot = p.boot != prev.boot
            dt = p.time_us - prev.time_us
            if new_boot or dt > gap_us or dt < 0:
                if new_boot:
                    dur = ((p.time - prev.time).total_seconds()
                           if p.time is not None and prev.time is not None else None)
                else:
                    dur = dt / 1e6
                track.gaps.append(Gap("new_boot" if new_boot else "no_fix", prev.boot,
                                      p.boot, prev.time, p.time, dur,
                                      haversine_km(prev.lat, prev.lon, p.lat, p.lon), dist))
                track.segments.append(seg)
                seg = []
            else:
                dist += haversine_km(prev.lat, prev.lon, p.lat, p.lon)
        p.dist_km = dist
        seg.append(p)
        prev = p
    if seg:
        track.segments.append(seg)
    del pts

    # index points by boot for placing marks: (time_us list, [(seg_i, pt_i)])
    by_boot: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}
    for si, s in enumerate(track.segments):
        for pi, p in enumerate(s):
            times, refs = by_boot.setdefault(p.boot, ([], []))
            times.append(p.time_us)
            refs.append((si, pi))
    for b, (times, refs) in by_boot.items():
        if any(x > y for x, y in zip(times, times[1:])):   # boot clock stepped back
            order = sorted(range(len(times)), key=times.__getitem__)
            by_boot[b] = ([times[i] for i in order], [refs[i] for i in order])
    for ev in marks:
        wp = _place(ev, track, by_boot, utc_of)
        if wp is None:
            track.unplaced.append(ev)
        else:
            track.waypoints.append(wp)
    return track


def _course_at(seg: list[TrackPoint], i: int) -> float | None:
    p = seg[i]
    if p.course is not None:
        return p.course
    if len(seg) < 2:
        return None
    a, b = (seg[i - 1], p) if i > 0 else (p, seg[i + 1])
    if a.lat == b.lat and a.lon == b.lon:
        return None
    return bearing_deg(a.lat, a.lon, b.lat, b.lon)


def _place(ev: Event, track: Track, by_boot, utc_of: Callable) -> Waypoint | None:
    kind = MARK_KINDS[ev.kind]
    name = ev.text.strip() or (f"BUTTON {ev.code}" if ev.kind == 1 else "MARK")
    entry = by_boot.get(ev.boot)
    if not entry:
        return None
    times, refs = entry
    k = bisect_left(times, ev.time_us)
    utc = utc_of(ev.boot, ev.time_us)
    if k < len(times) and times[k] == ev.time_us:
        si, pi = refs[k]
        p = track.segments[si][pi]
        return Waypoint(name, kind, ev.code, ev.boot, ev.time_us, utc or p.time, p.lat,
                        p.lon, p.ele, p.dist_km, _course_at(track.segments[si], pi),
                        "interpolated")
    if 0 < k < len(times):
        (sa, ia), (sb, ib) = refs[k - 1], refs[k]
        if sa == sb:    # inside a segment: interpolate between the two fixes
            seg = track.segments[sa]
            a, b = seg[ia], seg[ib]
            f = (ev.time_us - a.time_us) / (b.time_us - a.time_us)
            ca, cb = a.course, b.course
            if ca is not None and cb is not None:
                crs = _lerp_angle(ca, cb, f)
            elif a.lat != b.lat or a.lon != b.lon:
                crs = bearing_deg(a.lat, a.lon, b.lat, b.lon)
            else:
                crs = ca if ca is not None else cb
            if utc is None and a.time is not None and b.time is not None:
                utc = a.time + (b.time - a.time) * f
            return Waypoint(name, kind, ev.code, ev.boot, ev.time_us, utc,
                            a.lat + f * (b.lat - a.lat), a.lon + f * (b.lon - a.lon),
                            a.ele + f * (b.ele - a.ele),
                            a.dist_km + f * (b.dist_km - a.dist_km), crs, "interpolated")
    # in a gap, or outside the fixes of its boot: nearest fix in time
    cands = [j for j in (k - 1, k) if 0 <= j < len(times)]
    j = min(cands, key=lambda j: abs(times[j] - ev.time_us))
    si, pi = refs[j]
    p = track.segments[si][pi]
    return Waypoint(name, kind, ev.code, ev.boot, ev.time_us, utc, p.lat, p.lon, p.ele,
                    p.dist_km, _course_at(track.segments[si], pi), "nearest",
                    abs(times[j] - ev.time_us) / 1e6)


# ---------------------------------------------------------------------- GPX
def to_gpx(track: Track):
    """The track as a :class:`gpxpy.gpx.GPX` (GPX 1.1).  One ``trk``, one ``trkseg`` per
    segment; ``ele``, ``time``, ``sat``, ``hdop`` natively, speed (m/s) and course (deg)
    in Garmin's TrackPointExtension v2; one ``wpt`` per waypoint."""
    import gpxpy.gpx

    gpx = gpxpy.gpx.GPX()
    gpx.creator = "dunelog track"
    gpx.name = track.name
    gpx.nsmap["gpxtpx"] = GPXTPX_NS
    trk = gpxpy.gpx.GPXTrack(name=track.name)
    gpx.tracks.append(trk)
    for seg in track.segments:
        gseg = gpxpy.gpx.GPXTrackSegment()
        trk.segments.append(gseg)
        for p in seg:
            gp = gpxpy.gpx.GPXTrackPoint(round(p.lat, 7), round(p.lon, 7),
                                         elevation=round(p.ele, 3), time=p.time)
            gp.satellites = p.sats
            if p.hdop is not None:
                gp.horizontal_dilution = p.hdop
            if p.speed is not None or p.course is not None:
                ext = ET.Element(f"{{{GPXTPX_NS}}}TrackPointExtension")
                if p.speed is not None:
                    ET.SubElement(ext, f"{{{GPXTPX_NS}}}speed").text = f"{p.speed:.2f}"
                if p.course is not None:
                    ET.SubElement(ext, f"{{{GPXTPX_NS}}}course").text = f"{p.course:.2f}"
                gp.extensions.append(ext)
            gseg.points.append(gp)
    for w in track.waypoints:
        gw = gpxpy.gpx.GPXWaypoint(round(w.lat, 7), round(w.lon, 7),
                                   elevation=None if w.ele is None else round(w.ele, 3),
                                   time=w.time, name=w.name, description=w.description,
                                   type=w.kind)
        gw.comment = (f"dist_km={w.dist_km:.3f} course_deg="
                      f"{'' if w.course is None else f'{w.course:.1f}'}")
        gw.symbol = "Danger Area" if "hazard" in w.name.lower() else "Flag, Blue"
        gpx.waypoints.append(gw)
    return gpx


def write_gpx(track: Track, path: str | os.PathLike[str]) -> None:
    """Write the track as GPX 1.1 (see :func:`to_gpx`)."""
    xml = to_gpx(track).to_xml(version="1.1")
    with open(path, "w", encoding="utf-8") as f:
        f.write(xml)


# ---------------------------------------------------------------------- GeoJSON
def _pos(lon: float, lat: float, ele: float | None) -> list[float]:
    out = [round(lon, 7), round(lat, 7)]
    if ele is not None:
        out.append(round(ele, 3))
    return out


def to_geojson(track: Track) -> dict:
    """The track as a GeoJSON FeatureCollection (RFC 7946): one MultiLineString feature
    (one part per segment; per-point times, speeds... in ``coordinateProperties``, parts
    aligned) and one Point feature per waypoint."""
    parts, times, speed, course, sats, hdop = [], [], [], [], [], []
    for seg in track.segments:
        coords = [_pos(p.lon, p.lat, p.ele) for p in seg]
        if len(coords) == 1:     # a LineString needs two positions: degenerate line
            coords.append(list(coords[0]))
        parts.append(coords)
        times.append([_iso(p.time) for p in seg])
        speed.append([p.speed for p in seg])
        course.append([p.course for p in seg])
        sats.append([p.sats for p in seg])
        hdop.append([p.hdop for p in seg])
    s = track.summary()
    line = {"type": "Feature",
            "geometry": {"type": "MultiLineString", "coordinates": parts},
            "properties": {
                "name": track.name, "kind": "track", **s, "gap_s": track.gap_s,
                "gaps_detail": [{"reason": g.reason, "boot_before": g.boot_before,
                                 "boot_after": g.boot_after, "start": _iso(g.start),
                                 "end": _iso(g.end), "duration_s": g.duration_s,
                                 "chord_km": round(g.chord_km, 6),
                                 "at_km": round(g.at_km, 6)} for g in track.gaps],
                "coordinateProperties": {"times": times, "speed_ms": speed,
                                         "course_deg": course, "sats": sats,
                                         "hdop": hdop}}}
    feats = [line]
    for w in track.waypoints:
        feats.append({"type": "Feature",
                      "geometry": {"type": "Point", "coordinates": _pos(w.lon, w.lat, w.ele)},
                      "properties": {"name": w.name, "kind": w.kind, "code": w.code,
                                     "time": _iso(w.time), "boot": w.boot,
                                     "time_us": w.time_us, "dist_km": round(w.dist_km, 6),
                                     "course_deg": None if w.course is None
                                     else round(w.course, 2),
                                     "placement": w.placement, "offset_s": w.offset_s,
                                     "description": w.description}})
    return {"type": "FeatureCollection", "features": feats}


def write_geojson(track: Track, path: str | os.PathLike[str]) -> None:
    """Write the track as GeoJSON (see :func:`to_geojson`)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(to_geojson(track), ensure_ascii=False, separators=(",", ":")))
        f.write("\n")


# ---------------------------------------------------------------------- KML
def to_kml(track: Track) -> ET.ElementTree:
    """The track as KML 2.2: a Document with a track Placemark (MultiGeometry, one
    LineString per segment) and a Waypoints Folder (one Point Placemark each, with
    TimeStamp, description and ExtendedData dist_km / course_deg)."""
    ET.register_namespace("", KML_NS)

    def el(parent, tag, text=None, **attrib):
        e = ET.SubElement(parent, f"{{{KML_NS}}}{tag}", attrib)
        if text is not None:
            e.text = text
        return e

    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = el(root, "Document")
    el(doc, "name", track.name)
    st = el(doc, "Style", id="track")
    ls = el(st, "LineStyle")
    el(ls, "color", "ff0000ff")
    el(ls, "width", "3")
    st = el(doc, "Style", id="waypoint")
    ic = el(el(st, "IconStyle"), "Icon")
    el(ic, "href", "http://maps.google.com/mapfiles/kml/paddle/red-circle.png")

    pm = el(doc, "Placemark", id="track")
    el(pm, "name", track.name)
    s = track.summary()
    el(pm, "description", f"{s['points']} points in {s['segments']} segment(s), "
                          f"{s['distance_km']:.3f} km, {s['gaps']} gap(s) not drawn")
    if track.start is not None and track.end is not None:
        ts = el(pm, "TimeSpan")
        el(ts, "begin", _iso(track.start))
        el(ts, "end", _iso(track.end))
    el(pm, "styleUrl", "#track")
    ed = el(pm, "ExtendedData")
    for k in ("distance_km", "segments", "points", "gaps", "excluded_fixes"):
        el(el(ed, "Data", name=k), "value", str(s[k]))
    mg = el(pm, "MultiGeometry")
    for seg in track.segments:
        coords = [f"{p.lon:.7f},{p.lat:.7f},{p.ele:.3f}" for p in seg]
        if len(coords) == 1:
            coords.append(coords[0])
        lsx = el(mg, "LineString")
        el(lsx, "tessellate", "1")
        el(lsx, "coordinates", " ".join(coords))

    fo = el(doc, "Folder")
    el(fo, "name", "Waypoints")
    for w in track.waypoints:
        pm = el(fo, "Placemark")
        el(pm, "name", w.name)
        el(pm, "description", w.description)
        if w.time is not None:
            el(el(pm, "TimeStamp"), "when", _iso(w.time))
        el(pm, "styleUrl", "#waypoint")
        ed = el(pm, "ExtendedData")
        vals = {"kind": w.kind, "code": str(w.code), "dist_km": f"{w.dist_km:.6f}",
                "course_deg": "" if w.course is None else f"{w.course:.2f}",
                "placement": w.placement}
        for k, v in vals.items():
            el(el(ed, "Data", name=k), "value", v)
        ele = 0.0 if w.ele is None else w.ele
        el(el(pm, "Point"), "coordinates", f"{w.lon:.7f},{w.lat:.7f},{ele:.3f}")
    tree = ET.ElementTree(root)
    ET.indent(tree, space=" ")
    return tree


def write_kml(track: Track, path: str | os.PathLike[str]) -> None:
    """Write the track as KML (see :func:`to_kml`)."""
    to_kml(track).write(path, encoding="utf-8", xml_declaration=True)


# ---------------------------------------------------------------------- by suffix
def track_format(path: str | os.PathLike[str]) -> str:
    """``"gpx"``, ``"geojson"`` or ``"kml"`` from the suffix of ``path``."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    fmt = TRACK_FORMATS.get(suffix)
    if fmt is None:
        raise ValueError(f"unknown track format {suffix!r} for {os.fspath(path)}; "
                         f"use .gpx, .geojson or .kml")
    return fmt


def write_track(path: str | os.PathLike[str], track: Track) -> str:
    """Write ``track`` to ``path`` in the format its suffix names; returns the format."""
    fmt = track_format(path)
    {"gpx": write_gpx, "geojson": write_geojson, "kml": write_kml}[fmt](track, path)
    return fmt

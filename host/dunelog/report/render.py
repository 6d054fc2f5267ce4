"""The report as one self-contained HTML page (no CDN, no tiles, no network).

The route map is an SVG drawn here (equirectangular projection about the track's mean
latitude, so distances are to scale across a stage); the timeline and every x-y chart are
drawn in the browser by a small inline script (``report.js``) from the envelopes embedded
as JSON, so they can be zoomed (wheel), panned (drag) and reset (double-click); time
charts zoom together.  Tables sort by clicking a column header.
"""

from __future__ import annotations

import html
import json
import math
import os
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any, Sequence

import numpy as np

from .._version import __version__
from ..card.info import type_name
from ..track import MARK_KINDS
from .envelope import Envelope
from .gather import ReportData

__all__ = ["render_html", "route_svg", "SPEED_COLOURS"]

#: speed colour scale (slow -> fast), km/h class edges in :func:`route_svg`
SPEED_COLOURS = ("#2c7bb6", "#00a6ca", "#00ccbc", "#90eb9d", "#ffff8c", "#f9d057",
                 "#f29e2e", "#e76818", "#d7191c")
#: at most this many points drawn on the route map
MAP_POINTS = 40_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _esc(s: Any) -> str:
    return html.escape("" if s is None else str(s), quote=True)


def _iso(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return (EPOCH + timedelta(seconds=x)).strftime("%Y-%m-%d %H:%M:%S UTC")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _dur(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _num(v: float, digits: int = 6) -> float:
    return float(f"{v:.{digits}g}")


# ---------------------------------------------------------------------- route map
def route_svg(data: ReportData, width: int = 900, height: int = 600) -> tuple[str, dict]:
    """The route as an SVG string (drawn to scale, coloured by speed, waypoints, fix
    gaps) and a dict of what was drawn (points, segments, speed classes)."""
    tr = data.track
    segs = [s for s in tr.segments if s]
    n = sum(len(s) for s in segs)
    stats = {"points": n, "drawn_points": 0, "segments": len(segs), "waypoints": 0,
             "gaps": len(tr.gaps), "vmax_kmh": 0.0}
    if n == 0:
        return ('<svg id="route-map" class="route empty" viewBox="0 0 900 120" '
                'xmlns="http://www.w3.org/2000/svg"><text x="450" y="60" '
                'text-anchor="middle">no valid GNSS fix in this dump</text></svg>', stats)
    lat = np.fromiter((p.lat for s in segs for p in s), np.float64, n)
    lon = np.fromiter((p.lon for s in segs for p in s), np.float64, n)
    spd = np.fromiter((np.nan if p.speed is None else p.speed * 3.6 for s in segs for p in s),
                      np.float64, n)
    lat0 = float(np.mean(lat))
    k = math.cos(math.radians(lat0))
    # metres east / north of the box's west / south edge (equirectangular, to scale)
    xm = (lon - lon.min()) * k * 111_320.0
    ym = (lat - lat.min()) * 110_574.0
    w_m, h_m = max(float(xm.max()), 1.0), max(float(ym.max()), 1.0)
    pad = 0.05 * max(w_m, h_m)
    vw, vh = w_m + 2 * pad, h_m + 2 * pad
    X = xm + pad                            # noqa: N806 - map coordinates
    Y = h_m + pad - ym                      # noqa: N806 - north up
    finite = spd[np.isfinite(spd)]
    vmax = float(np.percentile(finite, 99)) if finite.size else 0.0
    vmax = max(vmax, 1.0)
    stats["vmax_kmh"] = round(vmax, 1)
    ncls = len(SPEED_COLOURS)
    # unknown speeds (NaN) get class 0; cast only finite values (NaN -> int warns)
    cls = np.clip(np.nan_to_num(spd / vmax * ncls, nan=0.0, posinf=ncls - 1, neginf=0.0)
                  .astype(np.int64), 0, ncls - 1)
    step = max(1, math.ceil(n / MAP_POINTS))
    stroke = max(vw, vh) / 400
    paths: dict[int, list[str]] = {c: [] for c in range(ncls)}
    drawn = 0
    start = 0
    for s in segs:
        idx = np.arange(start, start + len(s))[::step]
        if idx[-1] != start + len(s) - 1:
            idx = np.r_[idx, start + len(s) - 1]
        start += len(s)
        drawn += idx.size
        if idx.size == 1:
            i = int(idx[0])
            paths[int(cls[i])].append(f"M{X[i]:.1f} {Y[i]:.1f}h0.1")
            continue
        runs = cls[idx[:-1]]
        brk = np.flatnonzero(np.diff(runs)) + 1
        for a, b in zip(np.r_[0, brk], np.r_[brk, runs.size]):
            pts = idx[a:b + 1]
            d = "M" + " L".join(f"{X[i]:.1f} {Y[i]:.1f}" for i in pts.tolist())
            paths[int(runs[a])].append(d)
    stats["drawn_points"] = drawn
    out = [f'<svg id="route-map" class="route zoomable" viewBox="0 0 {vw:.1f} {vh:.1f}" '
           f'data-km-per-unit="0.001" preserveAspectRatio="xMidYMid meet" '
           f'xmlns="http://www.w3.org/2000/svg" style="--sw:{stroke:.2f}">',
           '<g class="track" fill="none" stroke-linecap="round" stroke-linejoin="round">']
    for c, ds in paths.items():
        if ds:
            out.append(f'<path class="spd{c}" data-points="{len(ds)}" stroke="{SPEED_COLOURS[c]}" '
                       f'stroke-width="{stroke:.2f}" d="{" ".join(ds)}"/>')
    out.append("</g>")

    def xy(la: float, lo: float) -> tuple[float, float]:
        return ((lo - lon.min()) * k * 111_320.0 + pad,
                h_m + pad - (la - lat.min()) * 110_574.0)

    out.append('<g class="gaps">')
    seg_first = [s[0] for s in segs]
    seg_last = [s[-1] for s in segs]
    for a, b, g in zip(seg_last, seg_first[1:], tr.gaps):
        (x1, y1), (x2, y2) = xy(a.lat, a.lon), xy(b.lat, b.lon)
        dur = "?" if g.duration_s is None else f"{g.duration_s:.1f} s"
        out.append(f'<g class="gap"><title>fix gap ({g.reason}) at {g.at_km:.2f} km: {dur}, '
                   f'{g.chord_km:.2f} km straight line (not counted)</title>'
                   f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                   f'stroke="#888" stroke-width="{stroke / 2:.2f}" '
                   f'stroke-dasharray="{stroke * 2:.1f} {stroke * 2:.1f}"/>'
                   f'<circle cx="{x1:.1f}" cy="{y1:.1f}" r="{stroke * 1.5:.1f}" fill="#fff" '
                   f'stroke="#c00" stroke-width="{stroke / 2:.2f}"/>'
                   f'<circle cx="{x2:.1f}" cy="{y2:.1f}" r="{stroke * 1.5:.1f}" fill="#fff" '
                   f'stroke="#c00" stroke-width="{stroke / 2:.2f}"/></g>')
    out.append("</g>")
    p0, p1 = seg_first[0], seg_last[-1]
    for p, lab, col in ((p0, "start", "#1a9641"), (p1, "end", "#000")):
        x, y = xy(p.lat, p.lon)
        out.append(f'<circle class="{lab}" cx="{x:.1f}" cy="{y:.1f}" r="{stroke * 2.5:.1f}" '
                   f'fill="{col}"><title>{lab}</title></circle>')
    out.append('<g class="waypoints">')
    for wp in tr.waypoints:
        x, y = xy(wp.lat, wp.lon)
        t = "" if wp.time is None else wp.time.strftime(" %H:%M:%S UTC")
        out.append(f'<g class="wpt"><title>{_esc(wp.name)}{t}: {_esc(wp.description)}</title>'
                   f'<path d="M{x:.1f} {y:.1f} l{-stroke * 2:.1f} {-stroke * 5:.1f} '
                   f'h{stroke * 4:.1f} z" fill="#e41a1c" stroke="#000" '
                   f'stroke-width="{stroke / 4:.2f}"/>'
                   f'<text x="{x + stroke * 2.5:.1f}" y="{y - stroke * 5:.1f}" '
                   f'style="font-size:{stroke * 9:.1f}px">{_esc(wp.name)}</text></g>')
    stats["waypoints"] = len(tr.waypoints)
    out.append("</g>")
    # scale bar: a round length near a fifth of the width
    target = vw / 5
    mag = 10 ** math.floor(math.log10(target))
    bar = max(m * mag for m in (1, 2, 5) if m * mag <= target)
    lab = f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m"
    sx, sy = pad, vh - pad / 2
    out.append(f'<g class="scale"><path d="M{sx:.1f} {sy:.1f} h{bar:.1f}" stroke="#000" '
               f'stroke-width="{stroke:.2f}"/><text x="{sx:.1f}" y="{sy - stroke * 2:.1f}" '
               f'style="font-size:{stroke * 10:.1f}px">{lab}</text>'
               f'<text x="{vw - pad:.1f}" y="{pad:.1f}" style="font-size:{stroke * 12:.1f}px" '
               f'text-anchor="end">N ↑</text></g>')
    out.append("</svg>")
    return "".join(out), stats


def _legend(vmax: float) -> str:
    n = len(SPEED_COLOURS)
    cells = "".join(f'<span style="background:{c}" title="{i * vmax / n:.0f}-'
                    f'{(i + 1) * vmax / n:.0f} km/h"></span>' for i, c in enumerate(SPEED_COLOURS))
    return (f'<div class="legend">speed 0 <span class="ramp">{cells}</span> '
            f'{vmax:.0f}+ km/h</div>')


# ---------------------------------------------------------------------- data for charts
def _series(env: Envelope, name: str, scale: float = 1.0, digits: int = 6) -> dict:
    s = env.series(digits)
    if scale != 1.0:
        for k in ("lo", "hi", "mean"):
            s[k] = [_num(v * scale, digits) for v in s[k]]
    s["name"] = name
    return s


def _timeline(data: ReportData) -> list[dict]:
    ax = data.axis
    info = data.info
    lanes: list[dict] = []
    items = []
    for b in info["boots"]:
        if b["first_us"] is None:
            continue
        items.append({"x0": ax.x_scalar(b["boot"], b["first_us"]),
                      "x1": ax.x_scalar(b["boot"], b["last_us"]),
                      "cls": "boot " + b["end"],
                      "label": f"boot {b['boot']}: {b['records']} records, "
                               f"{_dur(b['duration_s'] or 0)}, ended {b['end']}"
                               + ("" if b["time_synced"] else ", no UTC")})
    lanes.append({"name": "logged", "items": items, "points": [
        {"x": ax.x_scalar(s.boot, s.time_us), "cls": "session",
         "label": f"session start (boot {s.boot}): firmware {s.firmware}, vehicle "
                  f"{s.vehicle}, config {s.config_hash:08x}"} for s in data.sessions]})
    drops = []
    for o in data.overflows:
        a = ax.x_scalar(o.boot, o.time_us - o.first_ago_us)
        b = ax.x_scalar(o.boot, o.time_us - o.last_ago_us)
        drops.append({"x0": min(a, b), "x1": max(a, b), "cls": "drop",
                      "label": f"{o.total} record(s) dropped: " + ", ".join(
                          f"{type_name(t)} {c}" for t, c in sorted(o.counts.items()))})
    lanes.append({"name": "drops", "items": drops, "points": []})
    probs = []
    for p in data.problems:
        x = _problem_x(data, p)
        if x is not None:
            probs.append({"x": x, "cls": "problem", "label": str(p)})
    lanes.append({"name": "CRC / seq", "items": [], "points": probs})
    fixes, gaps = [], []
    for seg in data.track.segments:
        if seg:
            fixes.append({"x0": ax.x_scalar(seg[0].boot, seg[0].time_us),
                          "x1": ax.x_scalar(seg[-1].boot, seg[-1].time_us), "cls": "fix",
                          "label": f"{len(seg)} fixes, {seg[0].dist_km:.2f}-"
                                   f"{seg[-1].dist_km:.2f} km"})
    for before, after, g in zip(data.track.segments, data.track.segments[1:],
                                data.track.gaps):
        if g.reason == "no_fix" and before and after:
            gaps.append({"x0": ax.x_scalar(before[-1].boot, before[-1].time_us),
                         "x1": ax.x_scalar(after[0].boot, after[0].time_us), "cls": "gap",
                         "label": f"no fix for {g.duration_s:.1f} s at {g.at_km:.2f} km"})
    lanes.append({"name": "GNSS fix", "items": fixes + gaps, "points": []})
    evs = []
    for e in data.events:
        kind = MARK_KINDS.get(e.kind) or {3: "error", 4: "config", 5: "info"}.get(e.kind, "event")
        evs.append({"x": ax.x_scalar(e.boot, e.time_us), "cls": "ev-" + kind,
                    "label": f"{kind} {e.code}: {e.text}".strip()})
    lanes.append({"name": "events", "items": [], "points": evs})
    return lanes


def _problem_x(data: ReportData, p) -> float | None:
    if p.boot is None or p.seq is None and p.missing is None:
        return None
    bt = data.block_times.get(p.boot)
    if bt is None or not bt[0].size:
        return None
    seqs, xs = bt
    seq = p.missing[0] if p.missing is not None else p.seq
    i = int(np.searchsorted(seqs, seq))
    i = min(max(i, 0), seqs.size - 1)
    return float(xs[i])


def _id_rows(data: ReportData) -> tuple[list[dict], list[str]]:
    """Per-id table rows and notes on ids appearing / vanishing / falling silent."""
    rows = []
    notes = []
    ax = data.axis
    by_key: dict[int, list] = {}
    boot_span: dict[int, tuple[int, int]] = {}
    stats = data.boot_ids
    for (bt, key), (n, first, last) in stats.items():
        by_key.setdefault(key, []).append((bt, n, first, last))
        lo, hi = boot_span.get(bt, (first, last))
        boot_span[bt] = (min(lo, first), max(hi, last))
    for c in data.info["can_ids"]:
        ext = c["extended"]
        key = (c["channel"] << 40) | (int(ext) << 32) | c["id"]
        pres = data.id_presence.get(key)
        silent = 0
        if pres is not None and pres.size:
            nz = np.flatnonzero(pres)
            if nz.size:
                inner = pres[nz[0]:nz[-1] + 1]
                typical = float(np.median(pres[nz]))
                if typical >= 3:
                    silent = int((inner == 0).sum())
        appeared = vanished = None
        for bt, n, first, last in by_key.get(key, []):
            lo, hi = boot_span[bt]
            period = (last - first) / max(n - 1, 1)
            slack = max(10e6, 10 * period)
            if first - lo > slack:
                appeared = ax.x_scalar(bt, first)
                notes.append(f"ch {c['channel']} {c['id_hex']} appeared at {_fmt_x(ax, appeared)} "
                             f"(boot {bt}, {(first - lo) / 1e6:.1f} s after the bus started)")
            if hi - last > slack:
                vanished = ax.x_scalar(bt, last)
                notes.append(f"ch {c['channel']} {c['id_hex']} vanished at {_fmt_x(ax, vanished)} "
                             f"(boot {bt}, {(hi - last) / 1e6:.1f} s before the bus ended)")
        rows.append({"channel": c["channel"], "id": c["id_hex"], "ext": ext, "count": c["count"],
                     "rate": c["rate_hz"], "silent": silent,
                     "first": _fmt_x(ax, ax.x_scalar(*_first_of(by_key.get(key)))),
                     "last": _fmt_x(ax, ax.x_scalar(*_last_of(by_key.get(key)))),
                     "appeared": appeared is not None, "vanished": vanished is not None})
    return rows, notes


def _first_of(lst):
    bt, n, first, last = min(lst, key=lambda e: (e[0], e[2]))
    return bt, first


def _last_of(lst):
    bt, n, first, last = max(lst, key=lambda e: (e[0], e[3]))
    return bt, last


def _fmt_x(ax, x: float) -> str:
    if ax.utc:
        return (EPOCH + timedelta(seconds=x)).strftime("%H:%M:%S")
    return f"{x:.1f} s"


# ---------------------------------------------------------------------- page
def render_html(data: ReportData, *, command: Sequence[str] | str | None = None,
                title: str | None = None) -> str:
    """The whole report page as a string."""
    info = data.info
    ax = data.axis
    tr = data.track
    boots = [b for b in info["boots"] if b["first_us"] is not None]
    logged_s = sum(b["duration_s"] or 0 for b in boots)
    ovf = info["overflow"]
    probs = info["problems"]
    integrity_kinds = {"crc", "seq_gap", "seq_order", "torn_tail", "cut_at_open",
                       "cut_in_rotation", "garbage", "bad_block_header", "slot_table",
                       "bad_segment_header"}
    n_integrity = sum(1 for p in probs if p["kind"] in integrity_kinds)
    cuts = sum(1 for b in boots if b["end"] == "cut")
    fix_s = sum((s[-1].time_us - s[0].time_us) / 1e6 for s in tr.segments if s)
    fix_cov = 100 * fix_s / logged_s if logged_s > 0 else 0.0
    if title is None:
        title = f"dunelog report: {os.path.basename(os.path.normpath(data.path))}"
    if command is None:
        command = "dunelog report"
    cmd = command if isinstance(command, str) else " ".join(_shquote(a) for a in command)
    vehicles = sorted({s.vehicle for s in data.sessions if s.vehicle})
    firmwares = sorted({s.firmware for s in data.sessions if s.firmware})

    route, rstats = route_svg(data)
    charts: dict[str, dict] = {}
    tkind = "utc" if ax.utc else "s"
    bucket_s = (ax.x1 - ax.x0) / max(1, next(iter(data.bus_frames.values())).n) \
        if data.bus_frames else 1.0
    load_series, rate_series, err_series = [], [], []
    for ch, env in sorted(data.bus_frames.items()):
        m = env.count > 0
        xs = [_num(v, 13) for v in env.centres()[m].tolist()]
        load = data.bus_bits[ch][m] / bucket_s * 100
        per_s = env.count[m] / bucket_s
        load_series.append({"name": f"ch {ch} ({data.bitrate_of(ch) / 1000:g} kbit/s)", "x": xs,
                            "mean": [_num(v, 4) for v in load.tolist()]})
        rate_series.append({"name": f"ch {ch}", "x": xs,
                            "mean": [_num(v, 5) for v in per_s.tolist()]})
        em = data.bus_errors[ch] > 0
        if em.any():
            err_series.append({"name": f"ch {ch}", "x": [_num(v, 13) for v in
                                                          env.centres()[em].tolist()],
                               "mean": data.bus_errors[ch][em].tolist(), "bars": True})
    charts["bus_load"] = {"title": "Bus load per channel", "xkind": tkind, "ylabel": "load (%)",
                          "series": load_series}
    charts["bus_rate"] = {"title": "Frame rate per channel", "xkind": tkind,
                          "ylabel": "frames/s", "series": rate_series}
    if err_series:
        charts["bus_err"] = {"title": "Error frames", "xkind": tkind,
                             "ylabel": "error frames per bucket", "series": err_series}
    # route profiles against distance
    pts = list(tr.points)
    if pts:
        d = np.fromiter((p.dist_km for p in pts), np.float64, len(pts))
        dmax = float(d.max()) if d.size and d.max() > 0 else 1.0
        sp = np.fromiter((np.nan if p.speed is None else p.speed * 3.6 for p in pts),
                         np.float64, len(pts))
        al = np.fromiter((p.ele for p in pts), np.float64, len(pts))
        es, ea = Envelope(0, dmax, 4000), Envelope(0, dmax, 4000)
        es.add(d, sp)
        ea.add(d, al)
        charts["speed_dist"] = {"title": "Speed (GNSS) against distance", "xkind": "km",
                                "ylabel": "speed (km/h)", "series": [_series(es, "speed")]}
        charts["alt_dist"] = {"title": "Altitude (GNSS, above mean sea level) against distance",
                              "xkind": "km", "ylabel": "altitude (m)",
                              "series": [_series(ea, "altitude")]}
    sig_keys = []
    for i, s in enumerate(data.signals):
        unit = s.unit or "-"
        key = f"sig{i}"
        tser = ([_series(env, f"{s.name} {lab}") for lab, env, _ in s.split] if s.split
                else [_series(s.by_time, s.name)])
        charts[key] = {"title": f"{s.name} ({s.message})", "xkind": tkind,
                       "ylabel": f"{s.name} ({unit})", "unit": s.unit,
                       "series": tser, "alt": key + "_d"}
        if s.by_dist is not None and s.by_dist.samples:
            dser = ([_series(bd, f"{s.name} {lab}") for lab, _, bd in s.split if bd is not None]
                    if s.split else [_series(s.by_dist, s.name)])
            charts[key + "_d"] = {"title": f"{s.name} ({s.message}) against distance",
                                  "xkind": "km", "ylabel": f"{s.name} ({unit})", "unit": s.unit,
                                  "series": dser, "alt": key}
        else:
            charts[key].pop("alt")
        sig_keys.append((key, s))
    payload = {"axis": {"utc": ax.utc, "x0": ax.x0, "x1": ax.x1},
               "timeline": _timeline(data), "charts": charts}

    id_rows, id_notes = _id_rows(data)
    e = _esc
    h: list[str] = []
    w = h.append
    w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w('<link rel="icon" href="data:,">')
    w(f"<title>{e(title)}</title>\n<style>{_asset('report.css')}</style></head><body>")
    w(f"<header><h1>{e(title)}</h1><p class=\"sub\">{e(data.path)}"
      + (f" · vehicle {e(', '.join(vehicles))}" if vehicles else "")
      + (f" · firmware {e(', '.join(firmwares))}" if firmwares else "")
      + f" · {e(_iso(ax.x0) if ax.utc else 'no UTC time sync')}"
      + (f" → {e(_iso(ax.x1))}" if ax.utc else "") + "</p>")
    w('<nav><a href="#integrity">Integrity</a><a href="#bus">Bus</a><a href="#route">Route</a>'
      '<a href="#signals">Signals</a><a href="#made">Made by</a></nav></header><main>')

    # integrity
    w('<section id="integrity"><h2>Integrity</h2><div class="cards">')
    cards = [
        ("logged", f"{logged_s / 3600:.2f} h", f"{_dur(logged_s)} in {len(boots)} boot(s)"),
        ("records", f"{info['records']:,}", ", ".join(f"{k} {v:,}" for k, v in
                                                      info["records_by_type"].items())),
        ("drops", f"{ovf['total']:,}", f"in {len(data.overflows)} overflow window(s)"
         + ("" if not ovf["by_type"] else ": " + ", ".join(f"{k} {v}" for k, v in
                                                           ovf["by_type"].items()))),
        ("integrity", f"{n_integrity}", "CRC / sequence / torn-block problems"
         + (f"; {len(probs)} problem(s) in all" if len(probs) != n_integrity else "")),
        ("power", f"{len(data.sessions)}", f"session start(s); {cuts} boot(s) ended by a "
                                           f"power cut"),
        ("fix", f"{fix_cov:.1f} %", f"GNSS fix coverage; {len(tr.gaps)} gap(s), "
                                    f"{tr.excluded_fixes} no-fix record(s)"),
        ("distance", f"{tr.distance_km:.1f} km", f"{tr.n_points:,} fixes, "
                                                 f"{len(tr.waypoints)} waypoint(s)"),
        ("errors", f"{data.error_frames:,}", "CAN error frames"),
    ]
    for key, big, small in cards:
        bad = (key == "drops" and ovf["total"]) or (key == "integrity" and n_integrity) or \
              (key == "errors" and data.error_frames)
        w(f'<div class="card{" bad" if bad else ""}" id="card-{key}"><div class="k">{key}</div>'
          f'<div class="v" data-value="{e(big)}">{e(big)}</div>'
          f'<div class="s">{e(small)}</div></div>')
    w("</div>")
    w('<h3>Timeline</h3><p class="hint">wheel: zoom · drag: pan · double-click: reset · '
      'time charts zoom together' + (" · times in UTC" if ax.utc else
                                     " · no UTC: boots laid end to end, seconds") + "</p>")
    w('<div id="timeline" class="timeline" data-chart="timeline"></div>')
    if probs:
        w(f"<details><summary>{len(probs)} integrity problem(s)</summary>"
          '<div class="tablewrap"><table class="sortable"><thead><tr>'
          "<th>kind</th><th>file</th><th>offset</th><th>seq</th><th>boot</th><th>message</th></tr></thead><tbody>")
        for p in probs:
            w(f"<tr><td>{e(p['kind'])}</td><td>{e(os.path.basename(p['file']))}</td>"
              f"<td>{e(p['offset'])}</td><td>{e(p['seq'])}</td><td>{e(p['boot'])}</td>"
              f"<td>{e(p['message'])}</td></tr>")
        w("</tbody></table></div></details>")
    w('<table class="sortable" id="boots"><thead><tr><th>boot</th><th>start</th><th>end</th>'
      "<th>duration</th><th>records</th><th>ended</th><th>unlogged before</th><th>drops</th>"
      "</tr></thead><tbody>")
    for b in info["boots"]:
        ub = b["unlogged_before_s"]
        w(f"<tr><td>{b['boot']}</td><td>{e(b['utc_start'] or '-')}</td>"
          f"<td>{e(b['utc_end'] or '-')}</td>"
          f"<td data-v=\"{b['duration_s'] or 0}\">{_dur(b['duration_s'] or 0)}</td>"
          f"<td>{b['records']}</td><td>{b['end']}</td>"
          f"<td>{'-' if ub is None else f'{ub:.1f} s'}</td>"
          f"<td>{sum(b['overflow'].values())}</td></tr>")
    w("</tbody></table></section>")

    # bus
    w('<section id="bus"><h2>Bus</h2>')
    rates = ", ".join(f"ch {c}: {data.bitrate_of(c) / 1000:g}" for c in sorted(data.bus_frames))
    w(f'<p class="hint">load = frame bits (no stuff bits: a lower bound) at the nominal rate '
      f'({rates or "-"}'
      f' kbit/s; FD data phase {data.data_bitrate / 1e6:g} Mbit/s), averaged over '
      f'{bucket_s:.3g} s buckets</p>')
    w('<div class="chart" data-chart="bus_load"></div><div class="chart" data-chart="bus_rate">'
      '</div>')
    if err_series:
        w('<div class="chart" data-chart="bus_err"></div>')
    w(f"<h3>Frame rate per id ({len(id_rows)})</h3>")
    if id_notes:
        w('<ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in id_notes) + "</ul>")
    else:
        w('<p class="hint">no id appeared or vanished mid-drive</p>')
    w('<div class="tablewrap"><table class="sortable" id="ids"><thead><tr>'
      "<th>ch</th><th>id</th><th>ext</th><th>frames</th><th>rate (Hz)</th><th>first</th>"
      "<th>last</th>"
      "<th title=\"buckets without the id between its first and last frame\">silent buckets"
      "</th><th>appeared / vanished</th></tr></thead><tbody>")
    for r in id_rows:
        rate = "" if r["rate"] is None else f"{r['rate']:.2f}"
        av = " / ".join(x for x, f in (("appeared", r["appeared"]), ("vanished", r["vanished"]))
                        if f)
        w(f"<tr><td>{r['channel']}</td><td>{r['id']}</td><td>{'x' if r['ext'] else ''}</td>"
          f"<td>{r['count']}</td><td data-v=\"{r['rate'] or 0}\">{rate}</td>"
          f"<td>{r['first']}</td><td>{r['last']}</td><td>{r['silent']}</td><td>{av}</td></tr>")
    w("</tbody></table></div></section>")

    # route
    w('<section id="route"><h2>Route</h2>')
    w(f'<p class="hint">{rstats["points"]:,} fixes ({rstats["drawn_points"]:,} drawn) in '
      f'{rstats["segments"]} segment(s), {tr.distance_km:.2f} km, {len(tr.waypoints)} '
      f'waypoint(s), {len(tr.gaps)} fix gap(s) (dashed, not counted); equirectangular '
      f'projection, north up, to scale</p>')
    w(_legend(rstats["vmax_kmh"]))
    w(f'<div class="map">{route}</div>')
    if "speed_dist" in charts:
        w('<div class="chart" data-chart="speed_dist"></div>'
          '<div class="chart" data-chart="alt_dist"></div>')
    if tr.waypoints:
        w('<div class="tablewrap"><table class="sortable" id="waypoints"><thead><tr>'
          "<th>name</th><th>time</th><th>km</th><th>lat</th><th>lon</th><th>placement</th></tr></thead><tbody>")
        for wp in tr.waypoints:
            t = "-" if wp.time is None else wp.time.strftime("%H:%M:%S")
            w(f"<tr><td>{e(wp.name)}</td><td>{t}</td><td>{wp.dist_km:.3f}</td>"
              f"<td>{wp.lat:.6f}</td><td>{wp.lon:.6f}</td><td>{wp.placement}</td></tr>")
        w("</tbody></table></div>")
    w("</section>")

    # signals
    w('<section id="signals"><h2>Signals</h2>')
    if not data.dbc:
        w('<p class="hint">no DBC given: run <code>dunelog report DUMP --dbc FILE</code> '
          "for signal plots</p>")
    else:
        w(f'<p class="hint">decoded with {e(", ".join(os.path.basename(x) for x in data.dbc))}; '
          "band: min..max per bucket, line: mean; units from the DBC</p>")
        if data.missing_signals:
            w(f'<p class="hint" id="no-frames">not plotted, no frames in this dump: '
              f'{e(", ".join(data.missing_signals))}</p>')
        if data.unknown_signals:
            w(f'<p class="hint" id="unknown-signals">not plotted, not in the database(s): '
              f'{e(", ".join(data.unknown_signals))}</p>')
        for key, s in sig_keys:
            alt = charts[key].get("alt")
            toggle = (f' <button class="xtoggle" data-for="{key}" data-alt="{alt}">against '
                      f'distance</button>' if alt else "")
            w(f'<div class="sigwrap"><div class="chart signal" data-chart="{key}" '
              f'data-signal="{e(s.name)}" data-unit="{e(s.unit)}"></div>{toggle}</div>')
    w("</section>")

    w(f'<section id="made"><h2>Made by</h2><pre class="cmd">{e(cmd)}</pre>'
      f"<p>dunelog {e(__version__)}, "
      f"{e(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC'))}"
      "</p></section></main>")
    blob = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    w(f'<script id="dl-data" type="application/json">{blob}</script>')
    w(f"<script>{_asset('report.js')}</script></body></html>\n")
    return "".join(h)


def _shquote(a: str) -> str:
    import shlex
    return shlex.quote(a)

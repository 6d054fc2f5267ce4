"""The report opened in headless Chromium with the network disabled: it renders without
console errors, asks for nothing but its own file, and the timeline, the route and the
signal plots are drawn and non-empty.  A full-page screenshot is kept as a test artefact
(``out/test-artifacts/`` or ``$DUNELOG_ARTIFACTS``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from headless import ARTIFACTS, Browser, find_chromium

import dunelog
from dunelog.report import write_report

ROOT = Path(__file__).resolve().parents[2]
DRIVE = ROOT / "tests" / "vectors" / "drive"
OVERFLOW = ROOT / "tests" / "vectors" / "overflow"
RECCE = str(ROOT / "dbc" / "recce.dbc")
CHROMIUM = find_chromium()

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="chromium not installed (apt-get install chromium)")


def artifacts() -> Path:
    d = Path(os.environ.get("DUNELOG_ARTIFACTS") or ROOT / "out" / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


JS_STATE = """(() => {
  const q = s => Array.from(document.querySelectorAll(s));
  const tl = document.querySelector('#timeline svg');
  return {
    rendered: document.body.getAttribute('data-rendered'),
    timelineItems: tl ? Number(tl.getAttribute('data-items')) : -1,
    laneItems: Object.fromEntries(q('#timeline g.lane-items').map(
        g => [g.getAttribute('data-lane'), g.querySelectorAll('rect, path').length])),
    charts: Object.fromEntries(q('svg.xy').map(
        s => [s.getAttribute('data-key'), Number(s.getAttribute('data-points'))])),
    lines: Object.fromEntries(q('svg.xy').map(
        s => [s.getAttribute('data-key'),
              Array.from(s.querySelectorAll('path.line, path.bars')).reduce(
                  (n, p) => n + (p.getAttribute('d') || '').length, 0)])),
    signals: q('div.chart.signal svg').length,
    ylabels: q('div.chart.signal svg text.axis').map(t => t.textContent),
    xlabels: q('div.chart.signal svg text.axis').map(t => t.textContent),
    routeVertices: q('#route-map g.track path').reduce(
        (n, p) => n + (p.getAttribute('d').match(/[ML]/g) || []).length, 0),
    routeBox: (() => { const b = document.querySelector('#route-map g.track').getBBox();
                       return [b.width, b.height]; })(),
    waypoints: q('#route-map g.wpt').length,
    tableRows: q('#ids tbody tr').length,
  };
})()"""


def _open(html: Path, shot: Path):
    with Browser(CHROMIUM) as b:
        b.open(html.resolve().as_uri())
        state = b.eval(JS_STATE)
        # zoom the time charts with the wheel and sort the id table: still no error
        b.eval("""(() => { const d = document.querySelector('div.chart[data-chart=bus_load]');
                 const r = d.getBoundingClientRect();
                 d.dispatchEvent(new WheelEvent('wheel', {deltaY: -300,
                                 clientX: r.left + r.width / 2, clientY: r.top + 50,
                                 bubbles: true, cancelable: true}));
                 document.querySelector('#ids th:nth-child(4)').click(); return 1; })()""")
        b.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        zoomed = b.eval("document.querySelector('div.chart[data-chart=bus_load] text.axis')"
                        ".textContent")
        size = b.screenshot(str(shot))
        return state, zoomed, size, list(b.errors), list(b.requests)


def test_report_renders_in_chromium(tmp_path):
    html = tmp_path / "report.html"
    dump = dunelog.open(DRIVE)
    data = write_report(html, dump, dbc=[RECCE], command="dunelog report drive")
    shot = artifacts() / "report-drive.png"
    state, zoomed, size, errors, requests = _open(html, shot)
    ARTIFACTS.append(("screenshot of the drive-vector report", str(shot)))
    print(f"\nscreenshot: {shot} ({size} bytes)")
    assert errors == []
    assert requests == [html.resolve().as_uri()]          # nothing fetched but itself
    assert int(state["rendered"]) >= 1 + 2 + 2 + len(data.signals)
    # timeline: both boots, the session starts, fix coverage, the mark
    lanes = state["laneItems"]
    assert lanes["logged"] == 2 + 2 and lanes["GNSS fix"] == 2 and lanes["events"] == 1
    assert state["timelineItems"] == sum(lanes.values())
    # route: every point drawn, with an extent, and the waypoint
    assert state["routeVertices"] >= data.track.n_points == 160
    assert state["routeBox"][0] > 0 and state["routeBox"][1] > 0
    assert state["waypoints"] == 1
    # signal plots: drawn, non-empty, units from the DBC, UTC time axis
    assert state["signals"] == len(data.signals) == 4
    for i, s in enumerate(data.signals):
        assert state["charts"][f"sig{i}"] > 0 and state["lines"][f"sig{i}"] > 0
    assert "EngineSpeed (rpm)" in state["ylabels"] and "CoolantTemp (degC)" in state["ylabels"]
    assert any(t.startswith("time, UTC (2025-11-28") for t in state["xlabels"])
    assert state["charts"]["bus_load"] > 0 and state["lines"]["bus_load"] > 0
    assert state["tableRows"] == len(data.info["can_ids"])
    assert zoomed.startswith("time, UTC")
    assert shot.stat().st_size == size > 10_000


def test_report_without_utc_or_dbc_renders(tmp_path):
    html = tmp_path / "report.html"
    data = write_report(html, dunelog.open(OVERFLOW))
    shot = artifacts() / "report-overflow.png"
    state, _, size, errors, _ = _open(html, shot)
    ARTIFACTS.append(("screenshot of the overflow-vector report (no UTC, no DBC)", str(shot)))
    print(f"\nscreenshot: {shot} ({size} bytes)")
    assert errors == []
    assert state["laneItems"]["drops"] == len(data.overflows) > 0
    assert state["signals"] == 0
    assert state["charts"]["bus_load"] > 0

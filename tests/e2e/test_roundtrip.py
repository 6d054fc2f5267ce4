"""Firmware under MicroPython -> card -> host: the host must get back exactly what was fed."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import dunelog
from dunelog.card.records import CanFrame, Event, GnssFix, Overflow, SessionStart, Status, TimeSync
from hil.synth import TICKS_WRAP, Feed, overflow_drive, recce_drive

pytestmark = pytest.mark.micropython

FIX_FIELDS = ("fix_type", "sats", "lat", "lon", "alt_mm", "utc_ms", "utc_days", "speed_cms",
              "course_cdeg", "hdop_c")


def as_fed(rec) -> tuple | None:
    """A host record in the shape hil.synth.Fed records inputs."""
    if isinstance(rec, CanFrame):
        return ("can", rec.time_us, rec.channel, rec.id, rec.flags, rec.dlc, rec.data, rec.fd)
    if isinstance(rec, GnssFix):
        return ("fix", rec.time_us) + tuple(getattr(rec, k) for k in FIX_FIELDS)
    if isinstance(rec, TimeSync):
        return ("sync", rec.time_us, rec.source, rec.flags, rec.utc_days, rec.utc_ms, rec.utc_us)
    if isinstance(rec, Event):
        return ("event", rec.time_us, rec.kind, rec.code, rec.text)
    if isinstance(rec, Status):
        return ("status", rec.time_us)
    return None


def fed_tuple(f) -> tuple:
    d = f.fields
    if f.kind == "can":
        return ("can", f.t_us, d["channel"], d["id"], d["flags"], d["dlc"], d["data"], d["fd"])
    if f.kind == "fix":
        return ("fix", f.t_us) + tuple(d[k] for k in FIX_FIELDS)
    if f.kind == "sync":
        return ("sync", f.t_us, d["source"], d["flags"], d["utc_days"], d["utc_ms"], d["utc_us"])
    if f.kind == "event":
        return ("event", f.t_us, d["kind"], d["code"], d["text"])
    return (f.kind, f.t_us)


def test_drive_round_trips_exactly_across_a_ticks_wrap(tmp_path: Path, firmware) -> None:
    # starts 30 s before the boards' 2**30 us tick wrap and drives 90 s across it
    feed = recce_drive(90, seed=3, start_ticks=TICKS_WRAP - 30_000_000)
    firmware(feed, tmp_path / "card")
    dump = dunelog.open(tmp_path / "card")
    recs = list(dump.records())
    assert not dump.problems, dump.problems
    assert isinstance(recs[0], SessionStart)
    assert recs[0].vehicle == "RECCE-07" and recs[0].logger_id == 7
    got = [t for t in (as_fed(r) for r in recs) if t is not None]
    want = [fed_tuple(f) for f in feed.fed]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"record {i}: logged {g} != fed {w}"
    assert not any(isinstance(r, Overflow) for r in recs)
    times = [r.time_us for r in recs]
    assert times == sorted(times) and times[-1] > 30_000_000     # monotonic across the wrap
    from dunelog.card.info import dump_info
    assert [b["end"] for b in dump_info(dump)["boots"]] == ["closed"]   # clean shutdown


def test_bulk_path_matches_what_was_fed(tmp_path: Path, firmware) -> None:
    feed = recce_drive(20, seed=4)
    firmware(feed, tmp_path / "card")
    dump = dunelog.open(tmp_path / "card")
    classic = [f for f in feed.fed if f.kind == "can" and not f.fields["fd"]]
    fd = [f for f in feed.fed if f.kind == "can" and f.fields["fd"]]
    chunks = list(dump.can_chunks())
    c = np.concatenate([ch.classic for ch in chunks])
    f = np.concatenate([ch.fd for ch in chunks])
    assert c["time_us"].tolist() == [x.t_us for x in classic]
    assert c["id"].tolist() == [x.fields["id"] for x in classic]
    assert [bytes(row["data"][:row["data_len"]]) for row in c] == \
        [x.fields["data"] for x in classic]
    assert f["time_us"].tolist() == [x.t_us for x in fd]
    assert [bytes(row["data"][:row["data_len"]]) for row in f] == [x.fields["data"] for x in fd]


def test_ticks_wraps_over_a_long_stage(tmp_path: Path, firmware) -> None:
    # 3 hours: ~10 wraps of the 2**30 us tick; a frame every 4 s, the loop every 1 s
    feed = Feed(start_ticks=TICKS_WRAP - 5_000_000, flush_ms=2000, seg_s=3600)
    for s in range(3 * 3600):
        if s % 4 == 0:
            feed.can(s * 1_000_000 + 17, 0, 0x123, s.to_bytes(4, "little"))
        feed.service(s * 1_000_000 + 500)
    feed.close(3 * 3600 * 1_000_000)
    firmware(feed, tmp_path / "card")
    dump = dunelog.open(tmp_path / "card")
    frames = [r for r in dump.records() if isinstance(r, CanFrame)]
    assert [r.time_us for r in frames] == [f.t_us for f in feed.fed]
    assert frames[-1].time_us > 10 * TICKS_WRAP
    assert not dump.problems


def test_overflow_counts_are_exact(tmp_path: Path, firmware) -> None:
    feed = overflow_drive(bursts=30, seed=5)
    summary = firmware(feed, tmp_path / "card")
    dump = dunelog.open(tmp_path / "card")
    recs = list(dump.records())
    assert not dump.problems, dump.problems
    fed = [fed_tuple(f) for f in feed.fed]
    type_of = {"can": None, "fix": 0x10, "event": 0x20, "sync": 0x11, "status": 0x21}

    def rtype(t: tuple) -> int:
        if t[0] == "can":
            return 0x02 if t[7] else 0x01
        return type_of[t[0]]

    # Walk the log against the feed: logged records are the fed ones minus the dropped
    # ones; each run of drops is announced by exactly one overflow record, just before
    # the first record logged after the run, whose counts equal that run by type and
    # whose first/last drop times are the run's.
    def check(ovf: Overflow | None, run: list[tuple]) -> None:
        if not run:
            assert ovf is None, f"overflow record at {ovf.time_us} with nothing dropped"
            return
        assert ovf is not None, f"{len(run)} records dropped from {run[0]} unreported"
        assert ovf.counts == dict(Counter(rtype(p) for p in run))
        assert ovf.time_us - ovf.first_ago_us == run[0][1]
        assert ovf.time_us - ovf.last_ago_us == run[-1][1]

    i = 0
    dropped_total = 0
    overflows = 0
    ovf: Overflow | None = None
    for r in recs:
        if isinstance(r, SessionStart):
            continue
        if isinstance(r, Overflow):
            assert ovf is None, "two overflow records for one run of drops"
            ovf = r
            overflows += 1
            continue
        g = as_fed(r)
        run = []
        while fed[i] != g:
            assert fed[i][1] <= g[1], f"logged {g} was never fed (next fed {fed[i]})"
            run.append(fed[i])
            i += 1
        check(ovf, run)
        dropped_total += len(run)
        ovf = None
        i += 1
    check(ovf, fed[i:])
    dropped_total += len(fed) - i
    assert overflows >= 10 and dropped_total > 500
    assert f"drops {dropped_total}" in summary                 # the firmware's own count
    fed_by_type = Counter(rtype(p) for p in fed)
    logged_by_type = Counter(rtype(t) for t in map(as_fed, recs) if t is not None)
    lost = {k: fed_by_type[k] - logged_by_type[k] for k in fed_by_type
            if fed_by_type[k] != logged_by_type[k]}
    assert dump.overflow_totals == lost

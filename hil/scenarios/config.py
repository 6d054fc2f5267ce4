"""Malformed config: a board whose config.json is edited badly (a wrong value and an
unknown key; then broken JSON) must still boot and log with its last good config, and
say in the log what was wrong, naming the key."""
from __future__ import annotations

import json

from dunelog.card.records import Event
from hil.check import check_frames
from hil.rig import DBC, Result, Rig
from hil.scenarios import scenario
from hil.scenarios.nominal import TOLERANCE_MS
from hil.vehicle import VehicleSim

EV_CONFIG = 4
CASES = [
    # (label, config.json text, what the config event must mention)
    ("bad value + unknown key", None, ["can[0].bitrate", "storge"]),
    ("broken JSON", '{"logger": {"id": 42,}', ["config.json"]),
]


@scenario(
    "malformed_config", unix_only=True,
    summary="bad bitrate + unknown key, then broken JSON: the DUT boots on "
            "its last good config, logs every frame, and records an event "
            "naming the key", minutes=0.5)
def malformed_config(rig: Rig, res: Result) -> None:
    sim = VehicleSim(str(DBC), profile="road", load_pct=10.0)
    good = rig.config()
    bad = dict(good, can=[rig.channel(bitrate=123456)],
               storge={"flush_ms": 100})
    texts = [json.dumps(good)] + [t if t is not None else json.dumps(bad) for _, t, _ in CASES]
    for n, text in enumerate(texts):
        rig.card.mkdir(parents=True, exist_ok=True)
        before = {p.name for p in rig.card.rglob("*.dlg")}
        dut = rig.dut(text)
        dut.start()
        dut.wait_logging(before=len(before))
        with rig.bus() as bus:
            from hil.sender import send_plan
            log = send_plan(bus, sim.plan(3.0))
        dut.stop()
        dump = rig.open()
        boot = max(r.boot for r in dump.records())
        recs = [r for r in dump.records() if r.boot == boot]
        events = [r for r in recs if isinstance(r, Event) and r.kind == EV_CONFIG]
        label = "good config" if n == 0 else CASES[n - 1][0]
        res.numbers[f"boot {boot} ({label}) config events"] = [e.text for e in events]
        res.frames(check_frames(log, recs, tolerance_ms=TOLERANCE_MS), f"boot {boot}")
        if n == 0:
            res.expect(not any(e.code == 1 for e in events), f"good config reported as bad: "
                                                              f"{[e.text for e in events]}")
            continue
        text_all = " ".join(e.text for e in events)
        for word in CASES[n - 1][2]:
            res.expect(word in text_all, f"{label}: no config event names {word!r} "
                                         f"(events: {[e.text for e in events]})")

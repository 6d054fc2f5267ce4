"""Nominal drive: the recce DBC's messages at 30 % of a 500 kbit/s bus for 5 minutes
(idle, road, dunes with wheelspin, road, stop), GNSS NMEA at 10 Hz along the built-in
loop. The card must hold every frame in order with its payload, no drops, 99 % of the
frames stamped within the runner's latency bound of their send (hil/bounds.py: 50 ms on a
native vcan, 300 ms in a one-CPU user-mode Linux guest) and none later than 1 s, and every
GNSS fix with its exact time and position."""
from __future__ import annotations

from hil.bounds import bounds
from hil.check import check_frames, check_gnss
from hil.rig import DBC, Result, Rig
from hil.scenarios import scenario
from hil.vehicle import VehicleSim

# Send-to-stamp latency bound on the p99, per runner (hil/bounds.py).
TOLERANCE_MS = bounds().latency_p99_ms


def drive_and_check(rig: Rig, res: Result, *, seconds: float, load: float, gnss_hz: int = 10,
                    profile: str = "recce", tolerance_ms: float | None = TOLERANCE_MS) -> None:
    """The shared body of drive scenarios: vehicle + GNSS simulators, exact checks."""
    sim = VehicleSim(str(DBC), profile=profile, bitrate=500_000, load_pct=load)
    plan = sim.plan(seconds)
    gnss = rig.gnss_sim(rate_hz=gnss_hz) if gnss_hz else None
    cfg = rig.config(gnss=rig.gnss_config(gnss) if gnss else {"enabled": False})
    try:
        log, out = rig.drive(plan, dut=rig.dut(cfg), gnss=gnss)
    finally:
        if gnss is not None:
            gnss.close()
    dump = rig.open()
    recs = list(dump.records())
    res.numbers["stimulus"] = {"bus_load_pct": round(sim.load_pct(), 1),
                               "planned_fps": round(sim.frames_per_s()),
                               "achieved_fps": round(log.rate()),
                               "sender_late_max_ms": round(log.late_max_s * 1e3, 1)}
    res.numbers["firmware"] = rig.firmware_summary(out)
    rig.integrity(res, dump)
    rep = check_frames(log, recs, tolerance_ms=tolerance_ms)
    res.frames(rep)
    res.expect(rep.dropped_counted == 0, f"{rep.dropped_counted} frames dropped at "
                                         f"{load} % load (must be none)")
    if gnss is not None:
        g = check_gnss(gnss.sent, recs)
        res.gnss(g)
        res.expect(g.matched == g.sent_fix > 0, f"{g.matched} of {g.sent_fix} fixes logged")


@scenario("nominal", "recce drive, 30 % of 500 kbit/s, 5 min, GNSS 10 Hz: every frame and fix "
                     "logged exactly, none dropped, timestamps within 50 ms "
                     "(p99; 300 ms in UML)", minutes=5.5)
def nominal(rig: Rig, res: Result) -> None:
    drive_and_check(rig, res, seconds=rig.seconds(300), load=30.0)

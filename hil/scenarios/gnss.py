"""GNSS outage and recovery: the receiver loses its fix, jumps, restarts (silent, then
no-fix epochs) while the vehicle drives. The log must hold every fix epoch sent, with its
exact UTC time and position (the jumped ones too: the logger records what the receiver
says), no fix for a no-fix epoch, and its fix gaps where the script put them."""
from __future__ import annotations

from hil.check import check_frames, check_gnss
from hil.gnss_sim import GnssEvent, GnssSim
from hil.rig import DBC, Result, Rig
from hil.scenarios import scenario
from hil.scenarios.nominal import TOLERANCE_MS
from hil.vehicle import VehicleSim


def _gnss_run(rig: Rig, res: Result, sim_g: GnssSim, seconds: float, protocol: str) -> None:
    sim = VehicleSim(str(DBC), profile="recce", load_pct=10.0)
    cfg = rig.config(gnss=rig.gnss_config(sim_g, protocol))
    try:
        log, out = rig.drive(sim.plan(seconds), dut=rig.dut(cfg), gnss=sim_g)
    finally:
        sim_g.close()
    dump = rig.open()
    recs = list(dump.records())
    rig.integrity(res, dump)
    res.numbers["firmware"] = rig.firmware_summary(out)
    res.frames(check_frames(log, recs, tolerance_ms=TOLERANCE_MS))
    g = check_gnss(sim_g.sent, recs)
    res.gnss(g)
    res.expect(g.matched == g.sent_fix > 0, f"{g.matched} of {g.sent_fix} fix epochs logged")
    # the fix gaps in the log are the script's: each sent gap of > 1 s found within 0.3 s
    fixes = [e for e in sim_g.sent if e.kind == "fix"]
    want = [round((b.utc - a.utc).total_seconds(), 1) for a, b in zip(fixes, fixes[1:])
            if (b.utc - a.utc).total_seconds() > 1.0]
    res.numbers["fix_gaps_sent_s"] = want
    got = g.gaps_s
    res.expect(len(got) == len(want) and all(abs(a - b) < 0.3 for a, b in zip(got, want)),
               f"fix gaps in the log {[round(x, 2) for x in got]} s, sent {want} s")


@scenario("gnss_outage", "NMEA 10 Hz, 60 s: fix lost 10-20 s, 300 m jump 25-27 s, receiver "
                         "restart 35-40 s (+2 s without fix): every fix logged exactly, none "
                         "for no-fix epochs, gaps where scripted", minutes=1.2)
def gnss_outage(rig: Rig, res: Result) -> None:
    k = rig.seconds(60, least=50) / 60
    script = (GnssEvent("outage", 10 * k, 10 * k), GnssEvent("jump", 25 * k, 2 * k, 300.0),
              GnssEvent("restart", 35 * k, 5 * k))
    sim_g = rig.gnss_sim(rate_hz=10, script=script)
    _gnss_run(rig, res, sim_g, 60 * k, "nmea")
    res.expect(len(res.numbers["fix_gaps_sent_s"]) == 2, "the script should leave two gaps")


@scenario("gnss_ubx_25hz", "UBX NAV-PVT at 25 Hz, 20 s, with a 3 s fix loss: every fix logged "
                           "exactly", minutes=0.5)
def gnss_ubx(rig: Rig, res: Result) -> None:
    s = rig.seconds(20, least=12)
    sim_g = rig.gnss_sim(rate_hz=25, protocol="ubx",
                         script=(GnssEvent("outage", s / 2, 3.0),))
    _gnss_run(rig, res, sim_g, s, "ubx")

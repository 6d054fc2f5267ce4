"""Bus stress: a saturated 1 Mbit/s bus, CAN FD with a 2 Mbit/s data phase, and bursts
that overflow the DUT's ring. Whatever the load, every frame sent is either logged
exactly, in order, or counted by an overflow record at the place it went missing:
frames sent - frames logged == frames the overflow records count."""
from __future__ import annotations

from hil.check import check_frames
from hil.rig import DBC, Result, Rig
from hil.scenarios import scenario
from hil.scenarios.nominal import TOLERANCE_MS
from hil.sender import Frame
from hil.vehicle import VehicleSim


def _run(rig: Rig, res: Result, sim: VehicleSim | None, plan: list[Frame], cfg: dict,
         fd: bool, tolerance_ms: float | None = TOLERANCE_MS) -> None:
    log, out = rig.drive(plan, fd=fd, dut=rig.dut(cfg))
    dump = rig.open()
    recs = list(dump.records())
    stim = {"planned_frames": len(plan), "achieved_fps": round(log.rate()),
            "sender_late_max_ms": round(log.late_max_s * 1e3, 1)}
    if sim is not None:
        stim.update(planned_fps=round(sim.frames_per_s()),
                    planned_load_pct=round(sim.load_pct(), 1),
                    achieved_load_pct=round(sim.load_pct() * log.rate() / sim.frames_per_s(), 1))
    res.numbers["stimulus"] = stim
    res.numbers["firmware"] = rig.firmware_summary(out)
    res.numbers["overflow_totals"] = {hex(k): v for k, v in dump.overflow_totals.items()}
    rig.integrity(res, dump)
    rep = check_frames(log, recs, tolerance_ms=tolerance_ms)
    res.frames(rep)
    res.expect(rep.sent - rep.logged == rep.dropped_counted,
               f"frames sent {rep.sent} - logged {rep.logged} = {rep.sent - rep.logged}, but "
               f"the overflow records count {rep.dropped_counted}")


@scenario("saturated", "1 Mbit/s bus at 100 % load (dune profile, 10 s): every frame logged "
                       "or counted as dropped, exactly", minutes=1.0)
def saturated(rig: Rig, res: Result) -> None:
    sim = VehicleSim(str(DBC), profile="dunes", bitrate=1_000_000, load_pct=100.0)
    cfg = rig.config(can=[rig.channel(bitrate=1_000_000)])
    # the stamp latency of a saturated bus is the backlog's, not a timing fault: not bounded
    _run(rig, res, sim, sim.plan(rig.seconds(10)), cfg, fd=False, tolerance_ms=None)


@scenario("fd", "CAN FD, 500 kbit/s arbitration / 2 Mbit/s data phase, 30 % load incl. 64-byte "
                "inertial frames with BRS, 30 s: FD and BRS flags and every payload byte exact",
          minutes=0.8)
def fd(rig: Rig, res: Result) -> None:
    sim = VehicleSim(str(DBC), profile="recce", bitrate=500_000, data_bitrate=2_000_000,
                     load_pct=30.0, fd=True)
    cfg = rig.config(can=[rig.channel(fd=True, data_bitrate=2_000_000)])
    plan = sim.plan(rig.seconds(30))
    _run(rig, res, sim, plan, cfg, fd=True)
    n_fd = sum(f.fd for f in plan)
    res.numbers["fd_frames_sent"] = n_fd
    res.expect(n_fd > 0, "the plan had no FD frames")
    res.expect(res.numbers["can"]["dropped_counted"] == 0, "frames dropped at 30 % load")


BURST = 1500            # 64-byte FD frames back to back: ~100 KiB against a 4 KiB ring


@scenario("overflow", "bursts of 1,500 64-byte FD frames into a 4 KiB ring, 15 s: the ring "
                      "overflows and sent - logged == counted by overflow records, each drop "
                      "at its place in the stream", minutes=0.6)
def overflow(rig: Rig, res: Result) -> None:
    plan = []
    seconds = int(rig.seconds(15))
    seq = 0
    for b in range(1, seconds):
        for k in range(BURST):
            body = seq.to_bytes(4, "little") + bytes((seq + i) & 0xFF for i in range(60))
            plan.append(Frame(float(b), 0x300 + k % 4, False, True, True, body, "burst"))
            seq += 1
    cfg = rig.config(can=[rig.channel(fd=True)],
                     storage={"flush_ms": 500, "ring_kib": 4})
    _run(rig, res, None, plan, cfg, fd=True, tolerance_ms=None)
    res.expect(res.numbers["can"]["dropped_counted"] > 0,
               "no frame was dropped: the bursts did not overflow the ring, the scenario "
               "proved nothing")

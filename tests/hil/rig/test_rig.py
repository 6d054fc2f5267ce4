"""The HIL rig's own parts, without a bus: the vehicle simulator's frames decode (cantools)
to its drive profile at the bus load asked for; the GNSS simulator's epochs are valid
sentences / UBX frames on a real pty; the checks name the frame and what differed.

They run on the host: tests/hil/conftest.py sends only the tests directly in tests/hil to a
guest with a vcan0, not these in tests/hil/rig/."""
from __future__ import annotations

import os
import select
import time
from pathlib import Path

import cantools
import pytest

from dunelog.card.format import CAN_BRS, CAN_EXT, REC_CAN, REC_CANFD
from dunelog.card.records import CanFrame, Overflow
from hil.check import check_frames
from hil.gnss_sim import GnssEvent, GnssSim, Route
from hil.nmea import checksum, parse, sentence
from hil.sender import Frame, SendLog
from hil.vehicle import VehicleSim, frame_bits

ROOT = Path(__file__).resolve().parents[3]

DBC = str(ROOT / "dbc" / "recce.dbc")


def test_frame_bits_worst_case_stuffing() -> None:
    # 8-byte standard frame: 8*8 + 47 + floor((34 + 64 - 1) / 4) = 135 bits
    assert frame_bits(8, False, False, False, 500_000) == pytest.approx(135 / 500_000)
    # extended: 8*8 + 67 + floor((54 + 64 - 1) / 4) = 160 bits
    assert frame_bits(8, True, False, False, 1_000_000) == pytest.approx(160 / 1_000_000)
    # FD with BRS: the data phase at the data rate is shorter than without
    assert frame_bits(64, False, True, True, 500_000, 2_000_000) < \
        frame_bits(64, False, True, False, 500_000, 2_000_000)


@pytest.mark.parametrize("load", [10.0, 30.0, 100.0])
def test_vehicle_plan_meets_the_load_target(load: float) -> None:
    sim = VehicleSim(DBC, load_pct=load, bitrate=500_000)
    plan = sim.plan(20.0)
    bits = sum(frame_bits(len(f.data), f.ext, f.fd, f.brs, 500_000) for f in plan)
    assert bits / 20.0 * 100 == pytest.approx(load, rel=0.03)
    assert all(0 <= f.t < 20.0 for f in plan) and plan == sorted(plan, key=lambda f: f.t)
    assert not any(f.fd for f in plan), "FD frames on a classic bus"


def test_vehicle_frames_decode_to_the_drive_profile() -> None:
    db = cantools.database.load_file(DBC)
    sim = VehicleSim(DBC, profile="recce", fd=True, data_bitrate=2_000_000)
    plan = sim.plan(100.0)
    speeds = {}
    for f in plan:
        m = db.get_message_by_frame_id(f.id)
        assert f.fd == m.is_fd and len(f.data) == m.length
        v = m.decode(f.data)
        if m.name == "WheelSpeeds":
            speeds[int(f.t // 20)] = v["WheelSpeedFL"]
        if m.name == "EngineData":
            assert 700 <= v["EngineSpeed"] <= 4100
    # idle, road, dunes, road, stop: 20 s each
    assert speeds[0] < 5 and speeds[1] > 60 and 15 < speeds[2] < 70 and speeds[4] < 30
    # the multiplexed tyre message cycles through every page: group 0 per tyre, group 1
    pages = {tuple(sorted((k, v) for k, v in db.get_message_by_name("TyrePressures").decode(
        f.data, decode_choices=False).items() if k in ("TpmsGroup", "TyrePosition")))
        for f in plan if f.name == "TyrePressures"}
    assert len(pages) == 5


def _read(fd: int, seconds: float) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if select.select([fd], [], [], 0.05)[0]:
            out += os.read(fd, 65536)
    return out


def test_gnss_sim_sends_valid_nmea_on_a_pty_with_scripted_outage() -> None:
    sim = GnssSim(rate_hz=10, script=(GnssEvent("outage", 0.3, 0.3),))
    fd = os.open(sim.port, os.O_RDONLY | os.O_NOCTTY)
    try:
        sim.start(1.0)
        data = _read(fd, 1.4)
    finally:
        sim.close()
        os.close(fd)
    lines = [ln for ln in data.split(b"\r\n") if ln]
    for ln in lines:
        parse(ln)                                   # framing and checksum, or ValueError
    kinds = [e.kind for e in sim.sent]
    assert kinds == ["fix"] * 3 + ["nofix"] * 3 + ["fix"] * 4
    assert sum(ln.startswith(b"$GNGGA") for ln in lines) == 10
    assert sum(b",V," in ln for ln in lines if ln.startswith(b"$GNRMC")) == 3


def test_nmea_checksum_and_framing() -> None:
    # a u-blox M8 sentence as the receiver printed it (checksum from the receiver)
    assert checksum("GPGGA,092725.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,") \
        == 0x5B
    s = sentence("GNTXT,01,01,02,ANTSTATUS=OK")
    assert s.startswith(b"$GNTXT,") and s.endswith(b"\r\n")
    assert parse(s) == b"GNTXT,01,01,02,ANTSTATUS=OK"
    with pytest.raises(ValueError, match="bad checksum"):
        parse(s[:-4] + b"00\r\n")
    with pytest.raises(ValueError, match="not a framed"):
        parse(b"GNTXT,01,01,02*12")


def test_gnss_sim_ubx_frames_and_route() -> None:
    sim = GnssSim(rate_hz=25, protocol="ubx")
    try:
        data, ep = sim.epoch_bytes(5)
    finally:
        sim.close()
    assert data[:4] == b"\xb5\x62\x01\x07" and ep.kind == "fix"
    r = Route.loop(speed_kmh=72)
    la, lo, _ = r.at(0)
    la2, lo2, _ = r.at(r.cum[-1] / r.speed)         # one full lap later: same place
    assert (la, lo) == pytest.approx((la2, lo2), abs=1e-9)


def _frame(i: int) -> Frame:
    return Frame(i / 1000, 0x100 + i % 3, False, i % 5 == 0, i % 5 == 0,
                 bytes([i & 0xFF, i >> 8, 1, 2]), "M")


def _logged(f: Frame, t_us: int) -> CanFrame:
    flags = (CAN_EXT if f.ext else 0) | (CAN_BRS if f.brs else 0)
    return CanFrame(t_us, 1, 0, f.id, flags, len(f.data), f.data, f.fd)


def _log(n: int) -> SendLog:
    frames = [_frame(i) for i in range(n)]
    return SendLog(frames, [f.t + 10.0 for f in frames])


def test_check_accepts_an_exact_log_and_counted_drops() -> None:
    log = _log(100)
    recs = [_logged(f, int(f.t * 1e6) + 500) for f in log.frames]
    assert check_frames(log, recs, tolerance_ms=5).errors == []
    # frames 40-49 dropped, announced by one overflow record before frame 50
    fd_drops = sum(f.fd for f in log.frames[40:50])
    ovf = Overflow(50_000, 1, 10_000, 1_000, {REC_CAN: 10 - fd_drops, REC_CANFD: fd_drops})
    rep = check_frames(log, recs[:40] + [ovf] + recs[50:], tolerance_ms=5)
    assert rep.errors == [] and rep.dropped_counted == 10 and rep.logged == 90


def test_check_names_a_missing_frame_a_corrupt_byte_and_a_late_stamp() -> None:
    log = _log(100)
    recs = [_logged(f, int(f.t * 1e6)) for f in log.frames]
    rep = check_frames(log, recs[:37] + recs[38:], tolerance_ms=5)
    assert rep.missing == 1
    assert "sent frame #37 (id 0x101" in rep.errors[0] and "no overflow record counts it" \
        in rep.errors[0]
    bad = list(recs)
    f = log.frames[61]
    bad[61] = _logged(Frame(f.t, f.id, f.ext, f.fd, f.brs, f.data[:2] + b"\xee" + f.data[3:]),
                      int(f.t * 1e6))
    rep = check_frames(log, bad, tolerance_ms=5)
    assert rep.corrupted == 1 and "sent frame #61" in rep.errors[0] \
        and "byte 2 differs (sent 0x01, logged 0xEE)" in rep.errors[0]
    late = [_logged(f, int(f.t * 1e6) + (2_000_000 if i == 70 else 0))
            for i, f in enumerate(log.frames)]
    rep = check_frames(log, late, tolerance_ms=5)
    assert any("sent frame #70" in e and "2000.0 ms late" in e for e in rep.errors)
    # an overflow record that over-counts is an error too
    ovf = Overflow(50_000, 1, 10_000, 1_000, {REC_CAN: 3})
    rep = check_frames(log, recs[:50] + [ovf] + recs[50:], tolerance_ms=5)
    assert any("counts 3 dropped" in e for e in rep.errors)


def test_dunelog_hil_list_and_unknown_scenario(capsys) -> None:
    from dunelog.cli import main
    from hil.scenarios import all_scenarios
    assert main(["hil", "list"]) == 0
    out = capsys.readouterr().out
    for name in all_scenarios():
        assert name in out
    assert "[root]" in out                         # card_full_* say they need root
    assert main(["hil", "run", "no_such_scenario"]) == 2
    assert "unknown scenario(s) no_such_scenario" in capsys.readouterr().err

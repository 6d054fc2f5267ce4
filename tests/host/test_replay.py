"""dunelog replay on python-can's 'virtual' interface: order, filters, remap, channel map,
speed, loop, window, FD, timing schedule, and the --live-bus guard."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import can
import pytest

from dunelog.cli import main
from dunelog.io.replay import (
    LiveBusRefused,
    bus_guard,
    is_virtual_bus,
    parse_channel_map,
    parse_ids,
    parse_remap,
    replay,
)

_n = itertools.count()


def vchan() -> str:
    return f"replay-test-{next(_n)}"


def msgs(n=20, dt=0.001, t0=1000.0, ch=0, fd_every=0):
    out = []
    for i in range(n):
        fd = bool(fd_every) and i % fd_every == 0
        out.append(can.Message(timestamp=t0 + i * dt, arbitration_id=0x100 + i,
                               data=bytes([i & 0xFF]) * (12 if fd else 8), is_fd=fd,
                               bitrate_switch=fd, channel=ch, is_extended_id=False))
    return out


def drain(bus, timeout=0.2):
    got = []
    while (m := bus.recv(timeout)) is not None:
        got.append(m)
    return got


def run(messages, **kw):
    ch = vchan()
    with can.Bus(interface="virtual", channel=ch) as tx, \
            can.Bus(interface="virtual", channel=ch) as rx:
        rep = replay(messages, tx, **kw)
        return rep, drain(rx)


def test_order_payload_and_fd():
    src = msgs(30, fd_every=5)
    rep, got = run(src, speed=10)
    assert rep.sent == 30 and rep.sent_fd == 6 and rep.skipped == 0
    assert [(m.arbitration_id, bytes(m.data), m.is_fd, m.bitrate_switch) for m in got] == \
        [(m.arbitration_id, bytes(m.data), m.is_fd, m.bitrate_switch) for m in src]
    assert rep.error_p50 is not None and rep.error_p99 >= rep.error_p50
    assert rep.error_max >= rep.error_p99


def test_id_filters_and_remap():
    src = msgs(20)
    rep, got = run(src, speed=10, ids=parse_ids("0x100-0x109,0x110"),
                   exclude_ids=[0x105], remap=parse_remap(["0x101:0x18FF0001", "0x102:0x7FF"]))
    ids = [m.arbitration_id for m in got]
    assert ids == [0x100, 0x18FF0001, 0x7FF, 0x103, 0x104, 0x106, 0x107, 0x108, 0x109, 0x110]
    assert got[1].is_extended_id and not got[2].is_extended_id
    assert rep.sent == 10 and rep.skipped_filter == 10 and rep.skipped == 10


def test_window():
    src = msgs(100, dt=0.01)          # 0.00 .. 0.99 s
    rep, got = run(src, speed=10, start=0.2, end=0.5)
    assert [m.arbitration_id for m in got] == [0x100 + i for i in range(20, 50)]
    assert rep.skipped_window == 70
    assert rep.wall_s < 0.1            # starts at the window, not at the first frame


def test_loop():
    src = msgs(5)
    rep, got = run(iter(src), speed=10, loop=3)        # a one-shot iterator is cached
    assert [m.arbitration_id for m in got] == [m.arbitration_id for m in src] * 3
    assert rep.passes == 3 and rep.sent == 15


def test_channel_map_two_buses():
    a, b, _spare = vchan(), vchan(), vchan()
    src = sorted(msgs(10, ch=0) + msgs(10, t0=1000.0005, ch=1) + msgs(3, ch=2),
                 key=lambda m: m.timestamp)
    with can.Bus(interface="virtual", channel=a) as ta, \
            can.Bus(interface="virtual", channel=b) as tb, \
            can.Bus(interface="virtual", channel=a) as ra, \
            can.Bus(interface="virtual", channel=b) as rb:
        rep = replay(src, {"0": ta, "1": tb}, speed=10)
        ga, gb = drain(ra), drain(rb)
    assert len(ga) == 10 and len(gb) == 10 and rep.skipped_channel == 3
    assert [m.arbitration_id for m in ga] == [0x100 + i for i in range(10)]
    assert sum(rep.per_bus.values()) == 20


def test_speed_factor_timing():
    src = msgs(11, dt=0.05)            # 0.5 s of log
    rep, got = run(src, speed=5)
    assert 0.095 < rep.wall_s < 0.2
    assert rep.error_p99 < 0.005
    gaps = [b.timestamp - a.timestamp for a, b in zip(got, got[1:])]
    assert all(0.005 < g < 0.02 for g in gaps), gaps


def test_absolute_schedule_with_fake_clock():
    """Each frame is due at t0 + (t - t_first) / speed, however late earlier sends were."""
    now = [100.0]
    sends = []

    class SlowBus:
        def send(self, msg, timeout=None):
            sends.append(now[0])
            now[0] += 0.003             # every send takes 3 ms

    def clock():
        now[0] += 1e-7
        return now[0]

    def sleep(s):
        now[0] += s

    src = msgs(5, dt=0.01)
    rep = replay(src, SlowBus(), speed=2.0, clock=clock, sleep=sleep)
    due = [sends[0] + i * 0.005 for i in range(5)]
    assert all(abs(s - d) < 1e-5 for s, d in zip(sends, due)), (sends, due)
    assert rep.sent == 5 and rep.error_max < 1e-5      # slow sends do not push the schedule


def test_backwards_time_and_max_gap():
    src = msgs(3, t0=50.0) + msgs(3, t0=10.0) + msgs(2, t0=500.0)
    now = [0.0]
    sends = []

    class Bus:
        def send(self, msg, timeout=None):
            sends.append(now[0])

    def clock():
        return now[0]

    def sleep(s):
        now[0] += s

    def spin_clock():
        now[0] += 1e-6
        return now[0]

    replay(src, Bus(), max_gap=1.0, clock=spin_clock, sleep=sleep)
    rel = [s - sends[0] for s in sends]
    # 0,1,2 ms; back in time -> continues at 2 ms; 490 s gap -> 1 s
    assert rel[3] == pytest.approx(0.002, abs=1e-4)
    assert rel[6] == pytest.approx(1.004, abs=1e-4)


def test_error_frames_not_sent():
    src = msgs(3)
    src[1].is_error_frame = True
    rep, got = run(src, speed=10)
    assert rep.sent == 2 and rep.skipped_error == 1 and len(got) == 2


# --------------------------------------------------------------------------- guard
def fake_net(tmp_path: Path) -> Path:
    net = tmp_path / "net"
    for name, kind, dev in (("vcan0", 280, False), ("can0", 280, True), ("eth0", 1, True),
                            ("vxcan1", 280, False)):
        (net / name).mkdir(parents=True)
        (net / name / "type").write_text(f"{kind}\n")
        if dev:
            (net / name / "device").mkdir()
    return net


def test_guard_sysfs(tmp_path):
    net = fake_net(tmp_path)
    assert is_virtual_bus("socketcan", "vcan0", net)[0]
    assert is_virtual_bus("socketcan", "vxcan1", net)[0]
    assert not is_virtual_bus("socketcan", "can0", net)[0]
    assert not is_virtual_bus("socketcan", "eth0", net)[0]
    assert not is_virtual_bus("socketcan", "nope0", net)[0]
    assert not is_virtual_bus("socketcan", "../x", net)[0]
    assert is_virtual_bus("virtual", "anything")[0]
    assert is_virtual_bus("udp_multicast", "239.0.0.1")[0]
    for iface, ch in (("pcan", "PCAN_USBBUS1"), ("kvaser", 0), ("slcan", "/dev/ttyACM0")):
        assert not is_virtual_bus(iface, ch)[0]
    with pytest.raises(LiveBusRefused, match="move actuators"):
        bus_guard("socketcan", "can0", sys_class_net=net)
    assert "--live-bus" in bus_guard("socketcan", "can0", live_bus=True, sys_class_net=net)


@pytest.mark.parametrize("argv", [["-i", "socketcan", "-c", "can0"],
                                  ["-i", "pcan", "-c", "PCAN_USBBUS1"],
                                  ["--map-channel", "0:can0", "-i", "socketcan"]])
def test_cli_refuses_live_bus(tmp_path, capsys, argv):
    log = tmp_path / "x.asc"
    _write_asc(log, msgs(3))
    rc = main(["replay", str(log), *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert "refusing to replay" in err and "can move actuators" in err and "--live-bus" in err


def test_cli_config_file_is_guarded(tmp_path, capsys):
    cfg = tmp_path / "can.ini"
    cfg.write_text("[default]\ninterface = pcan\nchannel = PCAN_USBBUS1\n")
    log = tmp_path / "x.asc"
    _write_asc(log, msgs(3))
    assert main(["replay", str(log), "--config", str(cfg)]) == 2
    assert "can move actuators" in capsys.readouterr().err


def _write_asc(path: Path, messages) -> None:
    with can.ASCWriter(str(path)) as w:
        for m in messages:
            w.on_message_received(m)


def test_cli_virtual_end_to_end(tmp_path, capsys):
    log = tmp_path / "x.asc"
    src = msgs(40, dt=0.002)
    _write_asc(log, src)
    ch = vchan()
    report = tmp_path / "r.json"
    with can.Bus(interface="virtual", channel=ch) as rx:
        rc = main(["replay", str(log), "-i", "virtual", "-c", ch, "--speed", "4",
                   "--ids", "0x100-0x11F", "--remap", "0x100:0x1FF", "--report", str(report)])
        got = drain(rx)
    err = capsys.readouterr().err
    assert rc == 0, err
    assert [m.arbitration_id for m in got] == [0x1FF] + [0x100 + i for i in range(1, 32)]
    r = json.loads(report.read_text())
    assert r["sent"] == 32 and r["skipped_filter"] == 8 and r["skipped"] == 8
    assert r["timing_error_s"]["p99"] is not None
    assert "p50" in err and "p99" in err and "skipped 8" in err


def test_cli_dunelog_dump(capsys):
    vec = Path(__file__).resolve().parents[1] / "vectors" / "drive"
    ch = vchan()
    with can.Bus(interface="virtual", channel=ch) as rx:
        rc = main(["replay", str(vec), "-i", "virtual", "-c", ch, "--speed", "1000", "-q"])
        got = drain(rx, 0.3)
    assert rc == 0
    assert len(got) == 4496 and sum(m.is_fd for m in got) == 320


def test_cli_bad_args(tmp_path, capsys):
    log = tmp_path / "x.asc"
    _write_asc(log, msgs(2))
    assert main(["replay", str(log), "-i", "virtual", "-c", "x", "--remap", "zz"]) == 2
    assert main(["replay", str(log), "-i", "virtual", "-c", "x", "--speed", "0"]) == 2
    assert main(["replay", str(tmp_path / "missing.blf"), "-i", "virtual", "-c", "x"]) == 2
    assert main(["replay", str(log), "-i", "virtual"]) == 2
    assert "no bus channel" in capsys.readouterr().err


def test_parsers():
    assert parse_ids("0x10, 5-7") == [range(16, 17), range(5, 8)]
    assert parse_channel_map(["0:vcan0", "1:vcan1"]) == {"0": "vcan0", "1": "vcan1"}
    with pytest.raises(ValueError):
        parse_channel_map(["vcan0"])
    with pytest.raises(ValueError):
        parse_ids("7-5")

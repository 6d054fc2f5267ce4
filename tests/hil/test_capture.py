"""HIL: the firmware under MicroPython reads a real vcan0 and logs every frame python-can
puts on it, classic and FD, standard and extended ids, with filters and prescalers
applied exactly."""
from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import can
import numpy as np
import pytest
from conftest import Dut

import dunelog
from dunelog.card.records import CanFrame, Overflow

pytestmark = pytest.mark.hil

RATE = 2000            # frames/s
SECONDS = int(os.getenv("HIL_SECONDS", "60"))
PRESCALE = {(0x0C1, False): 20, (0x18FEF100, True): 100}   # id -> min interval ms
CONFIG = {
    "logger": {"id": 21, "vehicle": "HIL"},
    "can": [{
        "channel": 0, "port": "vcan0", "fd": True, "listen_only": True,
        "filters": [
            {"action": "reject", "from": "0x700", "to": "0x7FF"},
            {"action": "reject", "id": "0x18DA0000", "mask": "0x1FFF0000", "ext": True},
        ],
        "prescale": [{"id": "0x0C1", "min_interval_ms": 20},
                     {"id": "0x18FEF100", "ext": True, "min_interval_ms": 100}],
    }],
    "gnss": {"enabled": False},
    "storage": {"flush_ms": 500, "ring_kib": 64},
}
# one 10-frame pattern every 5 ms = 2000 frames/s
PATTERN = [
    (0x100, False, False, 8), (0x0C1, False, False, 8), (0x7E8, False, False, 8),
    (0x101, False, False, 3), (0x18FEF100, True, False, 8), (0x300, False, True, 64),
    (0x18DA10F1, True, False, 8), (0x1ABCDE, True, True, 12), (0x102, False, False, 0),
    (0x103, False, False, 8),
]


def rejected(cid: int, ext: bool) -> bool:
    return (not ext and 0x700 <= cid <= 0x7FF) or (ext and cid & 0x1FFF0000 == 0x18DA0000)


def send(bus: can.BusABC, sent: list, seconds: float, rate: int) -> None:
    per = len(PATTERN) / rate
    t0 = time.monotonic()
    seq = 0
    for k in range(int(seconds * rate / len(PATTERN))):
        while time.monotonic() < t0 + k * per:
            time.sleep(0.0005)
        for cid, ext, fd, n in PATTERN:
            body = struct.pack("<I", seq) + bytes((seq + i) & 0xFF for i in range(max(0, n - 4)))
            msg = can.Message(arbitration_id=cid, is_extended_id=ext, is_fd=fd,
                              bitrate_switch=fd, data=body[:n])
            bus.send(msg)
            sent.append((time.monotonic(), cid, ext, fd, bytes(msg.data)))
            seq += 1


def test_logs_every_frame_at_2000_fps_for_60_s(board: Path) -> None:
    (board / "config.json").write_text(json.dumps(CONFIG))
    dut = Dut(board, seconds=SECONDS * 3).start()      # a bound; stopped below
    dut.wait_logging()
    sent: list = []
    with can.Bus(interface="socketcan", channel="vcan0", fd=True) as bus:
        send(bus, sent, SECONDS, RATE)
    out = dut.stop()
    print(f"sender: {len(sent)} frames in {sent[-1][0] - sent[0][0]:.2f} s; "
          f"firmware: {out.strip()}")
    dump = dunelog.open(dut.card)
    recs = list(dump.records())
    assert not dump.problems, dump.problems
    assert not [r for r in recs if isinstance(r, Overflow)], "ring overflowed"
    frames = [r for r in recs if isinstance(r, CanFrame)]
    key = lambda cid, ext, fd, data: (cid, ext, fd, data)  # noqa: E731
    got = [key(f.id, f.is_extended, f.fd, f.data) for f in frames]
    assert not any(rejected(g[0], g[1]) for g in got), "a rejected id was logged"
    plain = [s for s in sent if not rejected(s[1], s[2]) and (s[1], s[2]) not in PRESCALE]
    got_plain = [(f, g) for f, g in zip(frames, got) if (g[0], g[1]) not in PRESCALE]
    assert len(got_plain) == len(plain), \
        f"{len(plain)} accepted frames sent, {len(got_plain)} logged"
    for i, (s, (f, g)) in enumerate(zip(plain, got_plain)):
        assert g == key(*s[1:]), f"frame {i}: sent {s[1:]} logged {g}"
        assert f.brs == s[3]
    # Prescalers: kept frames are >= N ms apart (firmware time), and no frame was dropped
    # that arrived >= N ms after the last kept one: a dropped frame arrived no earlier than
    # the logged frame sent just before it (same 5 ms burst), so that frame's time bounds it.
    fw_time = {struct.unpack_from("<I", f.data)[0]: f.time_us for f in frames if len(f.data) >= 4}
    for (cid, ext), ms in PRESCALE.items():
        kept = [f for f in frames if f.id == cid and f.is_extended == ext]
        gaps = np.diff([f.time_us for f in kept])
        assert gaps.min() >= ms * 1000, f"{cid:#x}: two frames {gaps.min()} us apart"
        last = None
        for s in (s for s in sent if s[1] == cid and s[2] == ext):
            seq = struct.unpack_from("<I", s[4])[0]
            if seq in fw_time:
                last = fw_time[seq]
                continue
            prev = seq - 1
            while prev not in fw_time:
                prev -= 1
            if last is not None:
                assert fw_time[prev] - last < ms * 1000, (
                    f"{cid:#x} seq {seq} dropped though it arrived "
                    f"{(fw_time[prev] - last) / 1000:.1f} ms or more after the last kept")
        # one kept per N ms plus at most one 5 ms sending period, give or take the jitter
        assert len(kept) >= SECONDS * 1000 / (ms + 5) * 0.95, len(kept)
    print(f"sent {len(sent)}, logged {len(frames)}; firmware: {out.strip()}")

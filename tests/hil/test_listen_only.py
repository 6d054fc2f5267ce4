"""HIL: the logger never transmits on the bus unless its config says so. The firmware DUT
runs on vcan0 while a second python-can socket records every frame on vcan0 and a third
puts nominal traffic, remote frames and error frames on it: every frame the recorder saw
must be one the stimulus sent (the DUT's own socket would show up as an extra frame).
Shown for the default config (listen-only) and for ``listen_only: false`` without OBD (a
normal node with nothing of its own to send). A firmware copy whose HAL writes one frame
to its socket is caught: the check can fail. OBD polling (``listen_only: false`` and
``obd.enabled``), reserved as the one configured way to transmit, is not implemented yet
(docs/CONFIG.md says so)."""
from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import can
import pytest
from conftest import Dut

from hil.dut import FIRMWARE

pytestmark = pytest.mark.hil

SECONDS = 1.0                       # of stimulus per DUT run
Key = tuple[int, bool, bool, bool, bytes]


def key(m: can.Message) -> Key:
    return (m.arbitration_id, m.is_extended_id, m.is_remote_frame, m.is_error_frame,
            bytes(m.data))


class Recorder:
    """Every frame on vcan0 that other sockets send, in a thread, from start to stop."""

    def __init__(self) -> None:
        self.bus = can.Bus(interface="socketcan", channel="vcan0", fd=True,
                           receive_own_messages=False)
        self.frames: list[can.Message] = []
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            m = self.bus.recv(timeout=0.05)
            if m is not None:
                self.frames.append(m)

    def stop(self) -> list[can.Message]:
        time.sleep(0.3)                     # the last frames in flight
        self._stop.set()
        self._th.join()
        self.bus.shutdown()
        return self.frames


def stimulus(seconds: float) -> list[can.Message]:
    """Nominal traffic (std and ext ids, 0-8 bytes, 1 kHz), a remote frame and an error
    frame every 50 ms; returns what was sent."""
    sent = []
    with can.Bus(interface="socketcan", channel="vcan0", fd=True) as bus:
        t0 = time.monotonic()
        k = 0
        while time.monotonic() - t0 < seconds:
            msgs = [can.Message(arbitration_id=0x100 + k % 16, is_extended_id=False,
                                data=bytes((k + i) & 0xFF for i in range(k % 9))),
                    can.Message(arbitration_id=0x18FEF100 + k % 4, is_extended_id=True,
                                data=k.to_bytes(4, "little") * 2)]
            if k % 50 == 0:
                msgs.append(can.Message(arbitration_id=0x7DF, is_extended_id=False,
                                        is_remote_frame=True, dlc=8))
                msgs.append(can.Message(arbitration_id=0x004, is_error_frame=True,
                                        is_extended_id=False, data=bytes(8)))
            for m in msgs:
                bus.send(m)
                sent.append(m)
            k += 1
            time.sleep(0.002)
    return sent


def run(board: Path, config: dict, firmware: Path = FIRMWARE) -> tuple[list, list, str]:
    """The DUT with ``config`` on vcan0 under the recorder: (sent, recorded, its output)."""
    rec = Recorder()
    dut = Dut(board, seconds=60, firmware=firmware)
    dut.configure(config)
    dut.start()
    dut.wait_logging()
    sent = stimulus(SECONDS)
    out = dut.stop()
    return sent, rec.stop(), out


def extra(sent: list[can.Message], seen: list[can.Message]) -> list[Key]:
    """Frames on the bus that the stimulus did not send (each sent frame used once)."""
    return list((Counter(key(m) for m in seen) - Counter(key(m) for m in sent)).elements())


def check_silent(sent: list[can.Message], seen: list[can.Message]) -> None:
    # the recorder saw the whole stimulus, error and remote frames too...
    assert not Counter(key(m) for m in sent) - Counter(key(m) for m in seen), \
        "the recorder missed frames of the stimulus"
    assert any(m.is_error_frame for m in seen) and any(m.is_remote_frame for m in seen)
    # ...and nothing else: the DUT sent nothing
    assert extra(sent, seen) == []


def test_default_config_sends_nothing(board: Path) -> None:
    sent, seen, out = run(board, {})                 # every default: listen_only true
    print(f"default config: {len(sent)} frames sent, {len(seen)} on the bus; DUT: "
          f"{out.strip()[-200:]}")
    check_silent(sent, seen)


def test_listen_only_false_without_obd_sends_nothing(board: Path) -> None:
    sent, seen, _ = run(board, {"can": [{"channel": 0, "listen_only": False}]})
    check_silent(sent, seen)


def test_a_transmitting_hal_is_caught(board: Path, tmp_path: Path) -> None:
    """Negative control: the same firmware, its HAL writing one OBD request (0x7DF) to its
    socket when it opens the channel: the recorder shows it as the one extra frame."""
    fw = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, fw, ignore=shutil.ignore_patterns("__pycache__"))
    hal = fw / "hal_unix.py"
    src = hal.read_text()
    bind = '        s.setblocking(False)\n'
    assert bind in src
    hal.write_text(src.replace(bind, '        s.send(struct.pack("<IB3x8s", 0x7DF, 8, '
                                     'b"\\x02\\x01\\x0c\\x00\\x00\\x00\\x00\\x00"))\n' + bind,
                               1))
    sent, seen, _ = run(board, {}, firmware=fw)
    assert extra(sent, seen) == [(0x7DF, False, False, False,
                                  b"\x02\x01\x0c\x00\x00\x00\x00\x00")]

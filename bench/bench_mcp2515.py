# MCP2515 driver cost (MicroPython): frames/s the driver's receive path sustains, the SPI
# transfers themselves taken as free (a "null chip" that answers at once: RX STATUS says
# both buffers full, READ RX BUFFER gives a fixed 8-byte frame, EFLG 0), frames into the
# real Capture + Ring (drained by a consumer every 64 frames, not timed apart).
#
#   micropython bench/bench_mcp2515.py [FRAMES]          # wall clock on this machine
#   micropython bench/bench_mcp2515.py FRAMES --harness   # the null chip's own share
#   valgrind --tool=callgrind micropython bench/bench_mcp2515.py N [--harness]  (N and
#       11 N: per frame = (I(11N) - I(N)) / 10N, as bench/RESULTS.md "Firmware path cost";
#       driver = run - harness)
import sys
import time

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, _here + "/../firmware")

import mcp2515  # noqa: E402
from capture import Capture  # noqa: E402
from ring import Ring  # noqa: E402


class NullChip:
    """SPI + CS of a chip that always has two frames waiting."""

    def __init__(self):
        self.frame = bytes((0, 0x24, 0x60, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8))

    def __call__(self, v=None):     # the CS pin
        return 0

    def write(self, buf):
        pass

    def write_readinto(self, w, r):
        c = w[0]
        if c == 0xB0:
            r[1] = 0xC0
        elif c & 0xF9 == 0x90:
            f = self.frame
            for i in range(14):
                r[i] = f[i]
        else:
            for i in range(len(r)):
                r[i] = 0


def harness(n, chip):
    """The null chip's own share: the same SPI and CS calls per pair of frames as the
    driver makes (8 CS calls, RX STATUS, two READ RX BUFFER, EFLG READ), no driver."""
    st = bytearray((0xB0, 0))
    rd = bytearray(14)
    rd[0] = 0x90
    e = bytearray((3, 0x2D, 0))
    r2 = bytearray(2)
    r14 = bytearray(14)
    r3 = bytearray(3)
    done = 0
    while done < n:
        for _ in range(32):
            for _ in range(4):
                chip(0)
                chip(1)
            chip.write_readinto(st, r2)
            chip.write_readinto(rd, r14)
            chip.write_readinto(rd, r14)
            chip.write_readinto(e, r3)
        done += 64
    return done


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    chip = NullChip()
    if len(sys.argv) > 2 and sys.argv[2] == "--harness":
        t0 = time.ticks_us()
        done = harness(n, chip)
        dt = time.ticks_diff(time.ticks_us(), t0)
        print("null chip alone: %d frames in %.3f s" % (done, dt / 1e6))
        return
    ring = Ring(65536)
    cap = Capture(ring, None)
    dev = mcp2515.Mcp2515(chip, chip, 8000000)
    ch = mcp2515.McpChan(0, dev, cap, lambda: 0)
    t0 = time.ticks_us()
    done = 0
    while done < n:
        done += ch._service(64)
        ring.tail = ring.head               # consumer: the ring emptied
    dt = time.ticks_diff(time.ticks_us(), t0)
    print("mcp2515 driver: %d frames in %.3f s: %d frames/s (SPI free); 2 SPI transactions"
          " a frame (a pair: RX STATUS, 2 x READ RX BUFFER, EFLG)"
          % (done, dt / 1e6, done * 1000000 // dt))


main()

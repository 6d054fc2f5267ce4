# DUT runner for synthetic input: runs the firmware core under the MicroPython Unix port,
# fed from a text file of timed inputs instead of a bus (the HIL rig feeds vcan0 instead).
#
#   micropython hil/feed.py FEED OUTDIR [--heap-lock]
#
# FEED lines (ticks are unwrapped microseconds; the runner presents them to the firmware
# as the boards' 30-bit wrapping ticks_us, so a feed that crosses 2**30 crosses a wrap):
#   I ticks logger_id ring_size block_shift seg_blocks seg_s flush_ms vehicle
#   C ticks chan flags id dlc hexdata       CAN classic frame received
#   D ticks chan flags id dlc hexdata       CAN FD frame received
#   G ticks fix sats lat lon alt_mm utc_ms utc_days speed_cms course_cdeg hdop_c
#   Y ticks source flags utc_days utc_ms utc_us
#   E ticks kind code text...
#   T ticks                                  status record
#   S ticks                                  one main-loop service pass
#   X ticks                                  clean shutdown
# --heap-lock pushes every CAN frame under micropython.heap_lock(): the rx path must not
# allocate. --card-full stop|overwrite [--reserve-kib N] checks free space on OUTDIR's
# file system (os.statvfs) and applies that policy when it runs out.
# Prints one summary line: "fed N logged-by-ring M drops D blocks B".
import binascii
import os
import sys

import micropython

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, _here + "/../firmware")

from logger import Logger  # noqa: E402

_MASK = 0x3FFFFFFF


def lines(path):
    # Chunked: the Unix port's readline does a system call per byte.
    with open(path) as f:
        rest = ""
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            parts = (rest + chunk).split("\n")
            rest = parts.pop()
            for ln in parts:
                yield ln
    if rest:
        yield rest


class FeedClock:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t & _MASK


def main(argv):
    feed, out = argv[1], argv[2]
    lock = "--heap-lock" in argv
    policy = argv[argv.index("--card-full") + 1] if "--card-full" in argv else None
    reserve = int(argv[argv.index("--reserve-kib") + 1]) if "--reserve-kib" in argv else 0

    def free_kib():
        st = os.statvfs(out)
        return st[0] * st[4] // 1024
    clk = FeedClock()
    log = None
    ring = None
    done = None
    fed = 0
    views = [memoryview(bytearray(64))[:n] for n in range(65)]   # one view per length
    for line in lines(feed):
        if not line or line[0] == "#":
            continue
        p = line.split(None, 4) if line[0] == "E" else line.split()
        if not p:
            continue
        op = p[0]
        clk.t = int(p[1])
        t = clk()
        if op == "C" or op == "D":
            data = binascii.unhexlify(p[6]) if len(p) > 6 else b""
            n = len(data)
            v = views[n]
            v[:] = data
            fed += 1
            if lock:
                micropython.heap_lock()
                try:
                    ring.push_can(t, int(p[2]), int(p[3]), int(p[4]), int(p[5]), v, n,
                                  op == "D")
                finally:
                    micropython.heap_unlock()
            else:
                ring.push_can(t, int(p[2]), int(p[3]), int(p[4]), int(p[5]), v, n,
                              op == "D")
        elif op == "S":
            log.service()
        elif op == "G":
            a = [int(x) for x in p[2:]]
            log.log_fix(t, *a)
        elif op == "Y":
            a = [int(x) for x in p[2:]]
            log.log_sync(t, *a)
        elif op == "E":
            log.log_event(t, int(p[2]), int(p[3]),
                          p[4].rstrip("\n") if len(p) > 4 else "")
        elif op == "T":
            log.log_status(t)
        elif op == "X":
            log.close()
            done, log = log, None
        elif op == "I":
            log = Logger(out, clk, logger_id=int(p[2]), ring_size=int(p[3]),
                         block_shift=int(p[4]), seg_blocks=int(p[5]), seg_s=int(p[6]),
                         flush_ms=int(p[7]), vehicle=p[8] if len(p) > 8 else "",
                         free_fn=free_kib if policy else None, reserve_kib=reserve,
                         card_full=policy or "stop")
            ring = log.ring
    last = log or done
    seg = last.seg if last else None
    print("fed", fed, "drops", ring.drops_total if ring else 0,
          "blocks", last.blocks_written if last else 0,
          "lost", seg.blocks_lost if seg else 0, "deleted", seg.deleted if seg else 0,
          "stopped", int(seg.stopped) if seg else 0)


main(sys.argv)

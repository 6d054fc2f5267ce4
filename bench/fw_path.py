# The firmware's CAN logging path, driven as a board's main loop would drive it, for
# instruction counting (bench/bench_firmware.py runs this under valgrind --tool=callgrind).
# MicroPython script:
#
#   micropython bench/fw_path.py FIRMWARE_DIR OUT_DIR N VARIANT [BATCH]
#
# VARIANT
#   plain    Capture(ring, None): receive -> ring -> block -> segment file
#   filter   Capture(ring, config.frame_filters(cfg)) with 4 reject filters and a prescaler
#            for every id, all of which every frame passes (worst case: the whole filter
#            list is scanned, the prescaler table searched and hit, and the frame is still
#            logged)
#   harness  the same loop without the frame() and service() calls: the driver loop's own
#            cost, subtracted to get the firmware's
#   stress   not for counting: a 2 KiB ring, 512-byte blocks, service every 256 frames,
#            classic frames of 0-8 bytes and FD frames of 12-64 bytes, so the ring fills,
#            drops, writes overflow records and wraps (bench_firmware.py --check compares
#            its output byte for byte between the baseline and the current firmware)
#
# N frames, 20 ids (16 standard, 4 extended), one every 125 us (a fully loaded 1 Mbit/s
# classic bus: ~8,000 frames/s), ticks wrapping at 2**30 like a board's (the run crosses
# one wrap). The producer path runs under micropython.heap_lock() in batches of BATCH
# frames (default 16, what one main-loop pass drains); after each batch the main loop does
# what app.App.step does: `if ring.due(st, ticks()): log.service()` (a block's worth
# waiting or 20 ms passed; before issue 14 part 3 the app called service() every pass:
# BATCH=0 means that); log.close() at the end. The driver calls the capture path as the
# HALs do: fr(wa, ticks, chan, id, flags, dlc, n, cap) with fr, wa = cap.fn, cap.wa
# taken and the receive buffer registered at can_open (hal_common.rx_entry; the data is
# at the start of that buffer, as a real driver's recv leaves it); a firmware before that
# (--before) is called fr(cap, ..., data, n, fd) with fr = type(cap).frame. Prints one
# line: "frames N logged L rejected R drops D blocks B".
import sys

import micropython

fw, out, N, variant = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
BATCH = int(sys.argv[5]) if len(sys.argv) > 5 else (256 if variant == "stress" else 16)
EVERY = BATCH == 0 or variant == "stress"  # service() after every pass (the old main loop)
BATCH = BATCH or 16
sys.path.insert(0, fw)

_MASK = 0x3FFFFFFF
_BACK = 0x3FFFFF83                       # 2**30 - 125: t + 125 wraps from here

IDS = (0x0C1, 0x0C5, 0x0F9, 0x120, 0x1A0, 0x1E5, 0x215, 0x260, 0x2A8, 0x316,
       0x329, 0x3D3, 0x43F, 0x545, 0x5A0, 0x690,
       0x0CF00400, 0x18FEF100, 0x18FEEE00, 0x18FEF200)
EXT = tuple(1 if i > 0x7FF else 0 for i in IDS)        # flags: fmt.F_EXT = 1

CFG = {
    "can": [{
        "channel": 0,
        "filters": [
            {"action": "reject", "from": "0x700", "to": "0x7FF"},
            {"action": "reject", "id": "0x18DA0000", "mask": "0x1FFF0000", "ext": True},
            {"action": "reject", "id": "0x7DF"},
            {"action": "reject", "from": "0x1FFFF000", "to": "0x1FFFFFFF", "ext": True},
        ],
        # every id in the stream has a prescaler: 1 ms is shorter than its 2.5 ms period
        "prescale": [{"id": i, "ext": i > 0x7FF, "min_interval_ms": 1} for i in IDS],
    }],
}

FD_LEN = (12, 16, 20, 24, 32, 48, 64)


class Ticks:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def main():
    t0 = 0x3FF00000                      # ~1 s before the 2**30 wrap
    clk = Ticks(t0)
    view = memoryview(bytearray(b"\x11\x22\x33\x44\x55\x66\x77\x88"))
    log = cap = fr = w = due = rst = None
    if variant != "harness":
        from capture import Capture
        from logger import Logger
        if not EVERY:
            from ring import due
        if variant == "stress":
            log = Logger(out, clk, ring_size=2048, block_shift=9, seg_blocks=64)
        else:
            log = Logger(out, clk)
        filters = None
        if variant == "filter":
            import config
            cfg, errs = config.validate(CFG)
            assert not errs, errs
            filters = config.frame_filters(cfg)
        cap = Capture(log.ring, filters)
        if hasattr(cap, "fn"):           # as a HAL's can_open takes it (hal_common.rx_entry)
            cap.rx_buffer(0, view)       # the driver's receive buffer (its address is fixed)
            fr, w = cap.fn, cap.wa
        else:                            # firmware before issue 14 part 3 round 2 (--before)
            fr = type(cap).frame
        if not EVERY:
            rst = log.ring.st
            log.ring.pace(log.enc.bs, t0)    # as app.App does
    if variant == "stress":
        stress(log, cap, clk, t0)
        return
    ids = IDS
    ext = EXT
    nid = len(ids)
    t = t0
    k = 0
    left = N
    lock = micropython.heap_lock
    unlock = micropython.heap_unlock
    # three copies of the inner loop that differ only in the call: the harness (no call)
    # runs exactly the driver's own bytecode
    while left > 0:
        b = BATCH if left > BATCH else left
        left -= b
        lock()
        if w is not None:                # fr(wa, ..., cap): the HALs' call
            while b:
                fr(w, t, 0, ids[k], ext[k], 8, 8, cap)
                k += 1
                if k == nid:
                    k = 0
                t = t - _BACK if t >= _BACK else t + 125     # (t + 125) & _MASK, no big int
                b -= 1
        elif fr is not None:             # fr(cap, ...): the call before
            while b:
                fr(cap, t, 0, ids[k], ext[k], 8, view, 8, False)
                k += 1
                if k == nid:
                    k = 0
                t = t - _BACK if t >= _BACK else t + 125
                b -= 1
        else:                            # harness: the loop alone
            while b:
                k += 1
                if k == nid:
                    k = 0
                t = t - _BACK if t >= _BACK else t + 125
                b -= 1
        unlock()
        clk.t = t
        if log is not None and (EVERY or due(rst, clk())):
            log.service()
    report(log, cap)


def stress(log, cap, clk, t):
    buf = bytearray(range(64))
    views = [memoryview(buf)[:n] for n in range(65)]
    i = 0
    while i < N:
        micropython.heap_lock()
        j = 0
        while j < BATCH and i < N:
            cid = IDS[i % len(IDS)]
            if i % 11 == 5:                                  # CAN FD
                n = FD_LEN[i % len(FD_LEN)]
                cap.frame(t, 1, cid, EXT[i % len(IDS)] | 0x08, n, views[n], n, True)
            else:
                n = i % 9
                cap.frame(t, 0, cid, EXT[i % len(IDS)], n, views[n], n, False)
            d = 37 + (i % 200)
            t = t + d if t <= _MASK - d else t - (_MASK - d) - 1   # no big int on a board
            i += 1
            j += 1
        micropython.heap_unlock()
        clk.t = t
        log.service()
    report(log, cap)


def report(log, cap):
    if log is None:
        print("frames", N, "logged", 0, "rejected", 0, "drops", 0, "blocks", 0)
        return
    log.close()
    print("frames", N, "logged", cap.rx - cap.rejected - log.ring.drops_total,
          "rejected", cap.rejected, "drops", log.ring.drops_total,
          "blocks", log.blocks_written)


main()

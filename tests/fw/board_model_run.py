# The board-model property run (tests/fw/test_board_model.py, docs/TESTING.md): the logger
# app (firmware/app.py App.step, the real main loop) over hours of simulated vehicle time,
# on a simulated HAL whose ticks are the boards' 30-bit wrapping ticks_us. Meant for the
# i386 build of the Unix port (31-bit small ints: anything >= 2**30 is a heap big int).
#
#   micropython [-X heapsize=N] tests/fw/board_model_run.py FIRMWARE CONFIG CARD HOURS FPS PASS_MS
#
# Every producer call runs under micropython.heap_lock(): each CAN frame into
# Capture.frame (filters, prescalers, ring), and every GNSS read into GnssParser.feed
# (UBX NAV-PVT -> App._fix/_sync -> Logger.log_fix/log_sync) once the RTC is set (the first
# GNSS date sets it, allocating once). gc.mem_alloc() is sampled around every main-loop
# pass. The harness itself keeps every value a small int (time as 30-bit ticks + counts).
# Prints one line "@@{json}" with the counts.
import gc
import json
import struct
import sys

import micropython

fw, cfg_path, card, hours, fps, pass_ms = sys.argv[1:7]
sys.path.insert(0, fw)
from app import App  # noqa: E402

MASK = 0x3FFFFFFF
PASS_US = int(pass_ms) * 1000
FPS = int(fps)
PASSES = int(float(hours) * 3600000) // int(pass_ms)
START = MASK + 1 - 30000000          # the first wrap 30 s in: 3 h then cross 11 of them
# (channel, id, ext): a recce mix for config.example.json; 0x0C1 and 0x18FEF100 are
# prescaled, 0x7xx and 0x18DAxxxx rejected on channel 0, channel 1 keeps 0x7E8..0x7EF
IDS = ((0, 0x0C1, 0), (0, 0x123, 0), (0, 0x18FEF100, 1), (0, 0x2A0, 0), (0, 0x7E8, 0),
       (0, 0x18DA10F1, 1), (0, 0x3B4, 0), (0, 0x18FEE000, 1), (1, 0x7E8, 0), (1, 0x7DF, 0),
       (0, 0x0C1, 0), (0, 0x1F0, 0))


def add(t, us):
    """(t + us) mod 2**30 without the big int t + us can be on a board."""
    if t <= MASK - us:
        return t + us
    return us - (MASK - t) - 1


class SimHal:
    """The HAL contract (docs/FIRMWARE.md) with simulated time, CAN and a UBX receiver."""

    def __init__(self, root):
        self.root = root
        self.t = START                  # current ticks (30 bits)
        self.t_prev = START
        self.wraps = 0
        self.caps = []
        self.due = 0                    # frames to deliver at the next can_poll
        self.k = 0                      # frames delivered
        self.frames_locked = 0
        self.alloc_in_lock = 0
        self.data = bytearray(8)
        self.mv = memoryview(self.data)
        self.gbuf_n = 0                 # UBX bytes waiting
        self.pvt = bytearray(100)
        self.rtc = None

    # time
    def ticks(self):
        return self.t

    def advance(self, us):
        self.t_prev = self.t
        self.t = add(self.t, us)
        if self.t < self.t_prev:
            self.wraps += 1

    # CAN
    def can_open(self, ch, cap):
        if cap not in self.caps:
            self.caps.append(cap)

    def can_poll(self, cap):
        n = self.due
        self.due = 0
        if not n:
            return 0
        a0 = gc.mem_alloc()             # (a heap walk: once a poll, not per frame)
        sp = PASS_US // n
        ids = IDS
        d = self.data
        k = self.k
        for i in range(n):
            ch, cid, ext = ids[k % 12]
            d[0] = k & 255
            d[1] = (k >> 8) & 255
            d[7] = i
            t = add(self.t_prev, (i + 1) * sp)
            micropython.heap_lock()
            try:
                cap.frame(t, ch, cid, ext, 8, self.mv, 8, False)
            finally:
                micropython.heap_unlock()
            k += 1
        self.alloc_in_lock += gc.mem_alloc() - a0
        self.k = k
        self.frames_locked += n
        return n

    def can_stats(self):
        return (0, 0)

    # GNSS: a u-blox at the configured rate, NAV-PVT only
    def gnss_open(self, g):
        pass

    def gnss_read(self, buf):
        n = self.gbuf_n
        if n:
            buf[0:n] = self.pvt
            self.gbuf_n = 0
        return n

    def pps_ticks(self):
        return -1

    def set_rtc(self, *a):
        self.rtc = a

    # the rest of the contract
    def storage_root(self, root):
        return self.root

    def free_kib(self):
        return 30000000                 # 30 GB card, a small int

    def supply_mv(self):
        return 13800

    def temp_dc(self):
        return 412

    def pins_open(self, pins):
        pass

    def led(self, on):
        pass

    def button(self):
        return False

    def wdt_start(self, ms):
        pass

    def wdt_feed(self):
        pass

    def irq_off(self):
        return 0

    def irq_on(self, s):
        pass


def pvt_msg(b, itow, h, mi, s, nano, lon, lat, hmsl, speed, head):
    """Write one 100-byte UBX NAV-PVT (3D fix, 2026-05-04) into b, checksum included."""
    struct.pack_into("<BBBBHIHBBBBBBIiBBBBiiii", b, 0, 0xB5, 0x62, 0x01, 0x07, 92, itow,
                     2026, 5, 4, h, mi, s, 0x07, 25, nano, 3, 0x01, 0, 12, lon, lat,
                     hmsl + 40000, hmsl)
    struct.pack_into("<IIiiiiiIIHH", b, 46, 900, 1500, 0, 0, 0, speed, head, 80, 50, 85, 0)
    # payload 80..91 (reserved, headVeh, magDec, magAcc): zero; then the checksum
    for i in range(86, 98):
        b[i] = 0
    a = 0
    c = 0
    for i in range(2, 98):
        a = (a + b[i]) & 255
        c = (c + a) & 255
    b[98] = a
    b[99] = c


class LockedGnss:
    """The app's GnssParser, each feed() under heap_lock once the RTC is set."""

    def __init__(self, p, app):
        self.p = p
        self.app = app
        self.locked = 0

    def feed(self, buf, n, t):
        if not self.app.rtc_set:
            self.p.feed(buf, n, t)
            return
        micropython.heap_lock()
        try:
            self.p.feed(buf, n, t)
        finally:
            micropython.heap_unlock()
        self.locked += 1

    def flush(self):
        self.p.flush()


def main():
    hal = SimHal(card)
    app = App(hal, cfg_path, card + "/config.last.json")
    parser = app.gnss
    gl = LockedGnss(parser, app)
    app.gnss = gl
    rate = app.cfg["gnss"]["rate_hz"]
    epoch_us = 1000000 // rate
    frame_acc = 0                       # frames owed, in 1/1000
    gnss_due = 0                        # us until the next epoch
    utc_ms = 6 * 3600000                # 06:00:00.000 UTC, Monday 2026-05-04
    lon = 467000000                     # 46.7 E, 24.5 N (both below 2**30 in 1e-7 deg)
    lat = 245000000
    epochs = 0
    samples = 0
    gcs = 0
    tot = 0
    kind_n = [0, 0, 0]
    kind_max = [0, 0, 0]
    log = app.log
    hist = [0] * 8                      # passes allocating 0, <=16, <=32, ... <=1024, more bytes
    gc.collect()
    for _ in range(PASSES):
        hal.advance(PASS_US)
        frame_acc += FPS * PASS_US // 1000
        hal.due = frame_acc // 1000
        frame_acc -= hal.due * 1000
        gnss_due -= PASS_US
        if gnss_due <= 0:
            gnss_due += epoch_us
            utc_ms += epoch_us // 1000
            s = utc_ms // 1000
            lon += 37
            lat -= 11
            pvt_msg(hal.pvt, 86400000 + utc_ms + 18000, s // 3600, s // 60 % 60, s % 60,
                    (utc_ms % 1000) * 1000000, lon, lat, 412000, 1850, 12345678)
            hal.gbuf_n = 100
            epochs += 1
        b0 = log.blocks_written
        s0 = log.seg.seg
        a0 = gc.mem_alloc()
        app.step()
        d = gc.mem_alloc() - a0
        if d < 0:                       # a collection ran inside the pass: no sample
            gcs += 1
            continue
        samples += 1
        tot += d
        # pass kinds: 0 no block written, 1 block(s) written, 2 a segment file opened
        c = 2 if log.seg.seg != s0 else (1 if log.blocks_written != b0 else 0)
        kind_n[c] += 1
        if d > kind_max[c]:
            kind_max[c] = d
        j = 0
        if d:
            j = 1
            while j < 7 and d > (8 << j):
                j += 1
        hist[j] += 1
    app.close()
    c = app.cap
    r = app.log.ring
    print("@@" + json.dumps({
        "passes": PASSES, "samples": samples, "gc_in_pass": gcs, "alloc_total": tot,
        "alloc_max": max(kind_max), "hist": hist,
        "kind_n": kind_n, "kind_max": kind_max, "wraps": hal.wraps, "frames": hal.k,
        "frames_locked": hal.frames_locked, "alloc_in_lock": hal.alloc_in_lock,
        "rx": c.rx, "rejected": c.rejected, "drops": r.drops_total,
        "epochs": epochs, "gnss_locked": gl.locked, "gnss": parser.counters(),
        "gnss_last_error": repr(parser.last_error),
        "blocks": app.log.blocks_written, "errors": app.errors, "last_error": app.last_error,
        "sim_s": PASSES * PASS_US // 1000000, "maxsize": sys.maxsize,
        "mem_free": gc.mem_free()}))


main()

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
# Prints one line "@@{json}" with the counts. tests/fw/soak_run.py imports this module
# (SimHal, Feed) for the 24-hour soak.
import gc
import json
import struct
import sys

import micropython

MASK = 0x3FFFFFFF
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


def used_kib(root):
    """KiB the files directly in root take (what a card's statvfs would count)."""
    import os
    n = 0
    for name in os.listdir(root):
        n += (os.stat(root + "/" + name)[6] + 1023) >> 10
    return n


class SimHal:
    """The HAL contract (docs/FIRMWARE.md) with simulated time, CAN and a UBX receiver."""

    def __init__(self, root, pass_us, card_kib=0):
        self.root = root
        self.pass_us = pass_us
        self.card_kib = card_kib        # 0: a 30 GB card; else its size (free = size - files)
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
        sp = self.pass_us // n
        ids = IDS
        d = self.data
        k = self.k
        for i in range(n):
            ch, cid, ext = ids[k % 12]
            d[0] = k & 255
            d[1] = (k >> 8) & 255
            d[2] = (k >> 16) & 255      # the frame's number: the soak checks its order
            d[3] = k >> 24
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
        if not self.card_kib:
            return 30000000             # 30 GB card, a small int
        return self.card_kib - used_kib(self.root)

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


def pvt_msg(b, itow, h, mi, s, nano, lon, lat, hmsl, speed, head, day=4):
    """Write one 100-byte UBX NAV-PVT (3D fix, 2026-05-day) into b, checksum included."""
    struct.pack_into("<BBBBHIHBBBBBBIiBBBBiiii", b, 0, 0xB5, 0x62, 0x01, 0x07, 92, itow,
                     2026, 5, day, h, mi, s, 0x07, 25, nano, 3, 0x01, 0, 12, lon, lat,
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


class Feed:
    """The vehicle: one main-loop pass per pass_us of simulated time, fps CAN frames/s
    spread over each pass, one UBX NAV-PVT per GNSS epoch; gc.mem_alloc() around each
    App.step(), counted by pass kind (no block written / block(s) written / segment
    opened)."""

    def __init__(self, cfg_path, card, fps, pass_us, card_kib=0):
        from app import App
        self.hal = hal = SimHal(card, pass_us, card_kib)
        self.app = app = App(hal, cfg_path, card + "/config.last.json")
        self.parser = app.gnss
        self.gl = LockedGnss(self.parser, app)
        app.gnss = self.gl
        self.fps = fps
        self.pass_us = pass_us
        self.epoch_us = 1000000 // app.cfg["gnss"]["rate_hz"]
        self.frame_acc = 0              # frames owed, in 1/1000
        self.gnss_due = 0               # us until the next epoch
        self.utc_ms = 6 * 3600000       # 06:00:00.000 UTC, Monday 2026-05-04
        self.day = 4
        self.lon = 467000000            # 46.7 E, 24.5 N (both below 2**30 in 1e-7 deg)
        self.lat = 245000000
        self.passes = 0
        self.epochs = 0
        self.samples = 0
        self.gcs = 0
        self.tot = 0
        self.kind_n = [0, 0, 0]
        self.kind_max = [0, 0, 0]
        self.hist = [0] * 8             # passes allocating 0, <=16, <=32, ... <=1024, more B

    def step(self):
        """One main-loop pass of vehicle time."""
        hal = self.hal
        log = self.app.log
        hal.advance(self.pass_us)
        self.frame_acc += self.fps * self.pass_us // 1000
        hal.due = self.frame_acc // 1000
        self.frame_acc -= hal.due * 1000
        self.gnss_due -= self.pass_us
        if self.gnss_due <= 0:
            self.gnss_due += self.epoch_us
            self.utc_ms += self.epoch_us // 1000
            if self.utc_ms >= 86400000:  # midnight (the 24-hour soak): the next day
                self.utc_ms -= 86400000
                self.day += 1
            u = self.utc_ms
            s = u // 1000
            self.lon += 37
            self.lat -= 11
            # iTOW: ms of the GPS week (from Sunday), leap seconds 18 s; a small int
            pvt_msg(hal.pvt, (self.day - 3) * 86400000 + u + 18000, s // 3600,
                    s // 60 % 60, s % 60, (u % 1000) * 1000000, self.lon, self.lat, 412000,
                    1850, 12345678, self.day)
            hal.gbuf_n = 100
            self.epochs += 1
        self.passes += 1
        b0 = log.blocks_written
        s0 = log.seg.seg
        a0 = gc.mem_alloc()
        self.app.step()
        d = gc.mem_alloc() - a0
        if d < 0:                       # a collection ran inside the pass: no sample
            self.gcs += 1
            return
        self.samples += 1
        self.tot += d
        # pass kinds: 0 no block written, 1 block(s) written, 2 a segment file opened
        c = 2 if log.seg.seg != s0 else (1 if log.blocks_written != b0 else 0)
        self.kind_n[c] += 1
        if d > self.kind_max[c]:
            self.kind_max[c] = d
        j = 0
        if d:
            j = 1
            while j < 7 and d > (8 << j):
                j += 1
        self.hist[j] += 1

    def result(self):
        """The counts, once the app is closed."""
        app = self.app
        hal = self.hal
        c = app.cap
        return {
            "passes": self.passes, "samples": self.samples, "gc_in_pass": self.gcs,
            "alloc_total": self.tot, "alloc_max": max(self.kind_max), "hist": self.hist,
            "kind_n": self.kind_n, "kind_max": self.kind_max, "wraps": hal.wraps,
            "frames": hal.k, "frames_locked": hal.frames_locked,
            "alloc_in_lock": hal.alloc_in_lock, "rx": c.rx, "rejected": c.rejected,
            "drops": app.log.ring.drops_total, "epochs": self.epochs,
            "gnss_locked": self.gl.locked, "gnss": self.parser.counters(),
            "gnss_last_error": repr(self.parser.last_error),
            "blocks": app.log.blocks_written, "errors": app.errors,
            "last_error": app.last_error, "sim_s": self.passes * self.pass_us // 1000000,
            "maxsize": sys.maxsize, "mem_free": gc.mem_free()}


def main():
    fw, cfg_path, card, hours, fps, pass_ms = sys.argv[1:7]
    sys.path.insert(0, fw)
    pass_us = int(pass_ms) * 1000
    feed = Feed(cfg_path, card, int(fps), pass_us)
    gc.collect()
    for _ in range(int(float(hours) * 3600000) // int(pass_ms)):
        feed.step()
    feed.app.close()
    print("@@" + json.dumps(feed.result()))


if __name__ == "__main__":
    main()

# The logger application: boot (config, storage, logger, CAN, GNSS, watchdog), then the
# main loop. CAN is drained first and between every other job, so it never starves; any
# exception in the loop is recorded as an error event and the loop goes on.
import sys
import io
import time

import fmt
import config
from logger import Logger
from capture import Capture
from ring import due
from clock import diff

try:
    from version import VERSION    # stamped by `dunelog deploy`
except ImportError:
    VERSION = "0.2.0"
CONFIG = "config.json"             # on the board's flash, beside main.py
LAST_GOOD = "config.last.json"

# LED patterns: (on_ms, period_ms) repeating
_OK = (50, 1000)                   # short blink every second: logging
_CFG = (150, 300)                  # fast blinking: bad config, running on the last good one
_STOP = (1000, 1000)               # steady: card full under "stop", not logging
_ERR = (50, 100)                   # flicker for 5 s after an exception


class App:
    def __init__(self, hal, config_path=CONFIG, last_good=LAST_GOOD):
        self.hal = hal
        t = hal.ticks()
        self.errors = 0
        self.err_until = t
        cfg, chash, err = config.load_config(config_path, last_good)
        self.cfg = cfg
        kw = config.logger_kwargs(cfg, chash)
        st = cfg["storage"]
        root = hal.storage_root(kw.pop("root"))
        self.log = Logger(root, hal.ticks, firmware=VERSION, irq_off=hal.irq_off,
                          irq_on=hal.irq_on, free_fn=hal.free_kib,
                          reserve_kib=st["reserve_mb"] * 1024, card_full=st["card_full"], **kw)
        self.cfg_error = err
        self.chash = chash
        self.last_error = err or ""
        self.fix = None                 # [fix_type, sats, hdop_c] of the last fix: _fx
        self._fx = [0, 0, 0]            # preallocated: a fix allocates nothing (heap_lock)
        if err:
            self.log.log_event(t, fmt.EV_CONFIG, 1, err)
        elif config.last_note:
            self.log.log_event(t, fmt.EV_CONFIG, 0, config.last_note)
        try:
            hal.pins_open(cfg["pins"])
        except Exception as e:          # a wrong pin must not stop logging
            self.error(e, "pins_open")
        self.filters = config.frame_filters(cfg)
        self.cap = Capture(self.log.ring, self.filters)
        self.rst = self.log.ring.st     # due(): service() once a block waits, or 20 ms
        self.log.ring.pace(self.log.enc.bs, t)
        for ch in cfg["can"]:
            try:
                hal.can_open(ch, self.cap)
            except Exception as e:      # a missing transceiver must not stop GNSS logging
                self.error(e, "can_open channel %d" % ch["channel"])
        self.gbuf = bytearray(512)
        self.gnss = None
        g = cfg["gnss"]
        if g["enabled"]:
            try:
                from gnss import GnssParser
                self.gnss = GnssParser(self._fix, self._sync)
                hal.gnss_open(g)
            except Exception as e:
                self.error(e, "gnss_open")
        self.rtc_set = False
        self.status_us = cfg["status_s"] * 1000000
        self.last_status = t
        self.last_refresh = t
        self.presses = 0
        self.loops = 0
        self.boot_t = t
        self.last_console = t
        self.cline = ""
        self.cpoll = None
        try:                            # status queries on the USB console (console_status)
            import select
            self.cpoll = select.poll()
            self.cpoll.register(sys.stdin, select.POLLIN)
        except Exception:
            self.cpoll = None
        hal.wdt_start(cfg["watchdog_ms"])

    def _fix(self, ticks, fix_type, sats, lat, lon, alt_mm, utc_ms, utc_days, speed_cms,
             course_cdeg, hdop_c):
        fx = self._fx
        fx[0] = fix_type
        fx[1] = sats
        fx[2] = hdop_c
        self.fix = fx
        return self.log.log_fix(ticks, fix_type, sats, lat, lon, alt_mm, utc_ms, utc_days,
                                speed_cms, course_cdeg, hdop_c)

    def _sync(self, ticks, source, flags, utc_days, utc_ms, utc_us):
        self.log.log_sync(ticks, source, flags, utc_days, utc_ms, utc_us)
        p = self.hal.pps_ticks()
        if pps_marks(p, ticks, utc_ms, utc_us):
            # the PPS edge started this whole UTC second: a sub-ms accurate sync
            self.log.log_sync(p, fmt.SYNC_PPS, 1, utc_days, utc_ms, 0)
        if not self.rtc_set and utc_days != 0xFFFF:
            self.rtc_set = True
            y, mo, d = _civil(utc_days)
            s = utc_ms // 1000
            try:
                self.hal.set_rtc(y, mo, d, s // 3600, s // 60 % 60, s % 60)
            except Exception as e:
                self.error(e, "set_rtc")

    def error(self, e, where=""):
        """Record an exception as an error event (kind 3) and keep going."""
        self.errors += 1
        buf = io.StringIO()
        sys.print_exception(e, buf)
        t = self.hal.ticks()
        self.err_until = (t + 5000000) & 0x3FFFFFFF
        try:
            head = where + ": "
            self.last_error = head + buf.getvalue()[len(head) - 240:]   # keep the tail
            self.log.log_event(t, fmt.EV_ERROR, self.errors, self.last_error)
        except Exception:
            pass

    def _led(self, t):
        if self.log.seg.stopped:
            p = _STOP
        elif diff(self.err_until, t) > 0:
            p = _ERR
        elif self.cfg_error:
            p = _CFG
        else:
            p = _OK
        self.hal.led((t // 1000) % p[1] < p[0])

    def step(self):
        """One main-loop pass."""
        self.loops += 1
        hal = self.hal
        cap = self.cap
        hal.can_poll(cap)
        if due(self.rst, hal.ticks()):  # a block's worth waiting, or 20 ms since the last
            self.log.service()
        if self.gnss is not None:
            n = hal.gnss_read(self.gbuf)
            if n:
                self.gnss.feed(self.gbuf, n, hal.ticks())
            hal.can_poll(cap)
        t = hal.ticks()
        if diff(t, self.last_refresh) >= 1000000:
            self.last_refresh = t
            for f in self.filters:
                f.refresh(t)
        if diff(t, self.last_status) >= self.status_us:
            self.last_status = t
            self.log.log_status(t, hal.supply_mv(), hal.temp_dc(), hal.free_kib())
        if hal.button():
            self.presses += 1
            self.log.log_event(t, fmt.EV_BUTTON, self.presses, "mark %d" % self.presses)
        if diff(t, self.last_console) >= 100000:
            self.last_console = t
            self._console()
        self._led(t)
        hal.wdt_feed()

    def _console(self):
        """Answer a "#status" line on the USB console with one "@status {json}" line. The
        query is a comment at the REPL, so it is harmless when the app is not running;
        Ctrl-C still interrupts (mpremote), as the port handles it before stdin."""
        p = self.cpoll
        if p is None:
            return
        n = 0
        while n < 64 and p.poll(0):
            n += 1
            c = sys.stdin.read(1)
            if not c:
                self.cpoll = None       # stdin closed (no console): stop asking
                return
            if c == "\n" or c == "\r":
                if self.cline.strip() == "#status":
                    print("@status " + self.status_json())
                self.cline = ""
            elif len(self.cline) < 32:
                self.cline += c

    def status(self):
        """Live state for `dunelog status` (docs/TECHNICIAN.md lists the keys)."""
        log = self.log
        seg = log.seg
        r = log.ring
        t = self.hal.ticks()
        fx = self.fix
        rc = getattr(self.hal, "rx_counts", None)
        ce = getattr(self.hal, "can_errors", None)     # MCP2515: TEC, REC, EFLG, overflows
        return {
            "firmware": VERSION, "config_hash": "%08x" % self.chash,
            "logger_id": self.cfg["logger"]["id"], "vehicle": self.cfg["logger"]["vehicle"],
            "uptime_s": log.clock.extend(t) // 1000000,
            "rx": self.cap.rx, "rejected": self.cap.rejected,
            "rx_channels": rc() if rc else None,
            "can_errors": ce() if ce else None,
            "drops": r.drops_total, "ring_used": r.used(), "ring_high_water": r.high_water,
            "ring_size": r.size,
            "fix_type": fx[0] if fx else None, "sats": fx[1] if fx else None,
            "hdop": fx[2] / 100 if fx and fx[2] != 0xFFFF else None,
            "free_kib": self.hal.free_kib(), "boot": log.boot,
            "segment": fmt.seg_name(seg.boot, seg.seg) if seg.seg >= 0 else None,
            "blocks": log.blocks_written, "stopped": seg.stopped,
            "errors": self.errors, "last_error": self.last_error,
        }

    def status_json(self):
        import json
        return json.dumps(self.status())

    def run(self, seconds=None):
        """Log until stopped (or for seconds, in tests); exceptions are recorded and the loop
        restarts."""
        t0 = time.ticks_ms()
        while seconds is None or time.ticks_diff(time.ticks_ms(), t0) < seconds * 1000:
            try:
                self.step()
            except KeyboardInterrupt:
                raise
            except Exception as e:
                self.error(e, "main loop")

    def close(self):
        if self.gnss is not None:
            self.gnss.flush()       # the epoch still open: ignition off keeps the last fix
        self.log.close()
        c = self.cap
        print("dunelog: rx %d rejected %d drops %d blocks %d errors %d loops %d" % (
            c.rx, c.rejected, self.log.ring.drops_total, self.log.blocks_written, self.errors,
            self.loops))


def pps_marks(pps, ticks, utc_ms, utc_us):
    """True if the PPS edge at ticks `pps` marks the start of the whole UTC second that a
    GNSS time message received at `ticks` reports: receivers send the message for second S
    after the PPS edge of S, within the same second."""
    if pps < 0 or utc_ms % 1000 or utc_us:
        return False
    d = diff(ticks, pps)
    return 0 <= d < 1000000


def _civil(days):
    # days since 1970-01-01 -> (y, m, d); integer only (H. Hinnant's civil_from_days)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def board_hal():
    """The HAL for the board this runs on: manifest.BOARDS by sys.platform (any other
    platform: the Unix HAL)."""
    import manifest
    board = manifest.board_of(sys.platform) or "unix"
    b = manifest.BOARDS[board]
    hal = getattr(__import__(b["hal"]), b["cls"])
    if board != "unix":
        return hal()
    import os
    card = os.getenv("DUNELOG_CARD") or "sd"
    return hal(card, os.getenv("DUNELOG_CONTROL"))


def main(seconds=None):
    hal = board_hal()
    app = App(hal)
    try:
        app.run(seconds)
    finally:
        app.close()

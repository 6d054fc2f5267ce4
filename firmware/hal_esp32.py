# HAL for ESP32 boards on MicroPython (docs/BOARDS.md): machine.CAN on the TWAI
# controller, machine.UART for the GNSS receiver, machine.SDCard mounted at /sd,
# machine.Pin for the status LED, the mark button and PPS, machine.WDT, machine.RTC,
# esp32.mcu_temperature (or raw_temperature on the original ESP32), machine.ADC for an
# optional supply divider.
#
# CAN needs a MicroPython build whose esp32 port has machine.CAN (the port-independent
# machine.CAN API of docs/library/machine.CAN.rst). The 1.29 esp32 release has none (its
# stubs list no machine.CAN); the esp32 implementation is opt-in per board build. Without
# it can_open() raises RuntimeError and the logger keeps logging GNSS.
#
# The CAN rx IRQ allocates nothing: machine.CAN.recv fills a preallocated list
# [id, memoryview, flags, errors] and resizes that memoryview in place to the data length.
# The controller runs in MODE_SILENT unless the channel's config says listen_only: false.
import os
import time
import machine
import micropython
import esp32
from micropython import const

try:
    from machine import CAN  # type: ignore[attr-defined, unused-ignore]
except ImportError:             # esp32 builds without machine.CAN (every release to 1.29)
    CAN = None  # type: ignore[assignment, misc, unused-ignore]

_MASK = const(0x3FFFFFFF)          # ticks period 2**30 (the boards' own)
_F_EXT = const(0x01)               # record flags (FORMAT.md 3.4)
_F_RTR = const(0x02)
_STD = const(0x7FF)
_XID = const(0x1FFFFFFF)
_EPERM = const(1)
_DEBOUNCE_MS = const(50)

# An exception raised in the rx IRQ (heap locked) needs this to carry a message.
if hasattr(micropython, "alloc_emergency_exception_buf"):   # boards yes, Unix port no
    micropython.alloc_emergency_exception_buf(160)


def _now():
    """time.ticks_us() on the 2**30 period (already the boards' own: the mask is a no-op
    there). The stubs keep ticks opaque; the firmware core does its own 2**30 arithmetic."""
    return time.ticks_us() & _MASK  # type: ignore[operator]


def hw_filters(filters):
    """Controller acceptance filters for one channel's config `filters`: None to take every
    frame, else a list of (ext, id, mask) whose union holds every frame the software
    filters (config.FrameFilter, run in Capture) can accept (see hal_stm32.hw_filters)."""
    out = []
    for f in filters:
        if f.get("action", "accept") != "accept":
            continue
        ext = bool(f.get("ext", False))
        w = _XID if ext else _STD
        if "id" in f:
            m = f.get("mask", w) & w
            out.append((ext, f["id"] & m, m))
        else:
            lo = f["from"]
            hi = f["to"]
            m = w
            while (lo & m) != (hi & m):
                m = (m << 1) & w
            out.append((ext, lo & m, m))
    return out or None


class _Button:
    """Mark button: True once per press. An edge IRQ latches short presses the main loop
    would miss between passes; presses closer than _DEBOUNCE_MS to the last change are
    contact bounce."""

    def __init__(self, pressed):
        self.pressed = pressed          # () -> bool, True while held
        self.hit = False                # set by the edge IRQ (no allocation there)
        self.down = False
        self.t = time.ticks_ms()

    def edge(self, _pin=None):
        self.hit = True

    def poll(self):
        now = time.ticks_ms()
        p = self.pressed()
        hit = self.hit
        self.hit = False
        settled = time.ticks_diff(now, self.t) >= _DEBOUNCE_MS
        if not self.down:
            if (hit or p) and settled:
                self.down = True
                self.t = now
                return True
        elif not p and not hit and settled:
            self.down = False
            self.t = now
        return False


class _Chan:
    """One machine.CAN controller and its allocation-free receive path."""

    def __init__(self, chan, bus, cap):
        self.chan = chan
        self.bus = bus  # type: CAN
        self.cap = cap
        self.f_ext = CAN.FLAG_EXT_ID
        self.f_rtr = CAN.FLAG_RTR
        self.e_ovr = CAN.RECV_ERR_OVERRUN
        buf = bytearray(64)
        mv = memoryview(buf)
        self.mv = mv                    # recv resizes this very object to the data length
        self.mv8 = mv[:8]
        self.mv0 = mv[:0]
        self.lst = [0, mv, 0, 0]  # type: list[int | memoryview]
        self.cnt = [0, 0, 0, 0, 0, 0, 0, 0]  # type: list[int | None]
        self.busy = False               # the main loop is draining: the IRQ leaves it alone
        self.overruns = 0               # RECV_ERR_OVERRUN seen on received frames
        self.cb_errors = 0              # exceptions caught in the IRQ handler

    def _one(self):
        """Move one frame to Capture; False when none is waiting. Allocation-free: recv
        returns the list it was given, its memoryview resized to the data length."""
        r = self.bus.recv(self.lst)
        if r is None:
            return False
        t = _now()
        n = len(self.mv)
        fl = r[2]
        if r[3] & self.e_ovr:
            self.overruns += 1
        flags = _F_EXT if fl & self.f_ext else 0
        if fl & self.f_rtr:             # remote frame: the memoryview holds DLC zero bytes
            self.cap.frame(t, self.chan, r[0], flags | _F_RTR, n, self.mv0, 0, False)
        elif n > 8:
            self.cap.frame(t, self.chan, r[0], flags, n, self.mv8, 8, False)
        else:
            self.cap.frame(t, self.chan, r[0], flags, n, self.mv, n, False)
        return True

    def irq(self, _bus):                # IRQ_RX handler
        if self.busy:
            return
        self.busy = True
        try:
            while self._one():
                pass
        except Exception:
            self.cb_errors += 1
        self.busy = False

    def poll(self):
        """Main loop: drain the controller, interrupts held off per frame (the ring is
        shared with the IRQ path). Returns frames moved."""
        n = 0
        self.busy = True
        try:
            while True:
                st = machine.disable_irq()
                try:
                    got = self._one()
                finally:
                    machine.enable_irq(st)
                if not got:
                    break
                n += 1
        finally:
            self.busy = False
        return n

    def stats(self):
        """(overruns, times the controller entered warning, passive or bus off)."""
        try:
            c = self.bus.get_counters(self.cnt)
        except Exception:
            return self.overruns, 0
        e = 0
        for i in (2, 3, 4):
            v = c[i]
            if isinstance(v, int):
                e += v
        ov = c[7]
        return (ov if isinstance(ov, int) else self.overruns), e


class Esp32Hal:
    name = "esp32"

    def __init__(self, can_pins=None, gnss_uart=2, gnss_tx=17, gnss_rx=16, pps_pin=34,
                 led=2, button=0, sd_slot=2, sd_pins=None, sd_mount="/sd",
                 supply_pin=None, supply_ratio=11):
        """Defaults are for an ESP32-WROOM DevKit wired as docs/BOARDS.md says: GNSS on
        UART 2 (TX 17, RX 16), PPS on GPIO 34, LED on GPIO 2, the BOOT button (GPIO 0) as
        the mark button, the SD card on SPI (slot 2: SCK 18, MISO 19, MOSI 23, CS 5).
        can_pins: None uses the CAN controller pins of the firmware's board definition;
        else a dict of keyword arguments for machine.CAN (e.g. {"tx": 21, "rx": 22})
        where the build takes them. sd_pins: dict of machine.SDCard pin keywords."""
        self.can_pins = can_pins
        self.gnss_uart = gnss_uart
        self.gnss_tx = gnss_tx
        self.gnss_rx = gnss_rx
        self.pps_default = pps_pin
        self.led_default = led
        self.button_default = button
        self.sd_slot = sd_slot
        self.sd_pins = sd_pins
        self.sd_mount = sd_mount
        self.chans = []                 # type: list[_Chan]
        self.uart = None                # type: machine.UART | None
        self.pps_pin = None             # type: machine.Pin | None
        self.pps_t = -1                 # ticks of the last PPS edge (set in the IRQ)
        self.wdt = None                 # type: machine.WDT | None
        self.root = "/"
        self.supply = None              # type: machine.ADC | None
        self.supply_ratio = supply_ratio
        if supply_pin is not None:
            self.supply = machine.ADC(machine.Pin(supply_pin), atten=machine.ADC.ATTN_11DB)
        self.led_pin = None             # type: machine.Pin | None
        self.led_state = None           # type: bool | None
        self.btn = None                 # type: _Button | None
        self.pins_open({})

    # ---- time
    def ticks(self):
        return _now()

    # ---- CAN
    def can_open(self, ch_cfg, cap):
        """Open one config `can[]` channel: port null -> controller `channel`; an int is
        the 0-based controller index (the TWAI controller is 0)."""
        if CAN is None:
            raise RuntimeError("this MicroPython has no machine.CAN: CAN logging on ESP32 "
                               "needs a build whose esp32 port provides machine.CAN (TWAI), "
                               "which the 1.29 release does not (docs/BOARDS.md)")
        if ch_cfg.get("fd", False):
            raise ValueError("CAN FD: the ESP32 TWAI controller is classic CAN only")
        chan = ch_cfg["channel"]
        port = ch_cfg.get("port")
        if port is None:
            port = chan
        silent = ch_cfg.get("listen_only", True) is not False
        mode = CAN.MODE_SILENT if silent else CAN.MODE_NORMAL
        rate = ch_cfg.get("bitrate", 500000)
        sp = 75 if rate >= 1000000 else 87
        kw = self.can_pins or {}
        bus = CAN(port, rate, mode=mode, sample_point=sp, **kw)
        c = _Chan(chan, bus, cap)
        _set_filters(bus, hw_filters(ch_cfg.get("filters", ())))
        self.chans = [o for o in self.chans if o.chan != chan] + [c]
        try:
            bus.irq(c.irq, trigger=CAN.IRQ_RX, hard=True)
        except (TypeError, ValueError):     # a build with soft CAN IRQs only
            bus.irq(c.irq, trigger=CAN.IRQ_RX)

    def can_poll(self, cap=None):
        n = 0
        for c in self.chans:
            n += c.poll()
        return n

    def can_stats(self):
        ov = 0
        er = 0
        for c in self.chans:
            o, e = c.stats()
            ov += o
            er += e
        return (ov, er)

    # ---- GNSS
    def gnss_open(self, g_cfg):
        """The receiver's UART: config port (null = the board's gnss_uart), always on the
        wired pins gnss_tx / gnss_rx (an ESP32 UART goes to any pin; UART 1's default pins
        are the flash's)."""
        port = g_cfg.get("port")
        if port is None:
            port = self.gnss_uart
        baud = g_cfg.get("baud", 9600)
        self.uart = machine.UART(port, baudrate=baud, tx=self.gnss_tx, rx=self.gnss_rx,
                                 rxbuf=_rxbuf(baud), timeout=0)
        pin = g_cfg.get("pps_pin")
        if pin is None:
            pin = self.pps_default
        if pin is not None and pin != -1:
            p = machine.Pin(pin, machine.Pin.IN)
            p.irq(self._pps, trigger=machine.Pin.IRQ_RISING, hard=True)
            self.pps_pin = p

    def _pps(self, _pin):               # hard IRQ: store the tick, nothing else
        self.pps_t = _now()

    def gnss_read(self, buf):
        u = self.uart
        if u is None:
            return 0
        n = u.any()
        if n <= 0:
            return 0
        if n > len(buf):
            n = len(buf)
        return u.readinto(buf, n) or 0

    def pps_ticks(self):
        return self.pps_t if self.pps_pin is not None else -1

    # ---- storage
    def storage_root(self, root):
        mp = "/" + root.split("/")[1]
        if mp == self.sd_mount and not _mounted(mp):
            sp = self.sd_pins
            if sp:
                card = machine.SDCard(slot=self.sd_slot, sck=sp.get("sck"),
                                      miso=sp.get("miso"), mosi=sp.get("mosi"),
                                      cs=sp.get("cs"), freq=sp.get("freq", 20000000))
            else:
                card = machine.SDCard(slot=self.sd_slot)
            _mount(card, mp)
        _makedirs(root)
        self.root = root
        return root

    def free_kib(self):
        return _free_kib(self.root)

    # ---- LED, button
    def pins_open(self, p_cfg):
        """Set the LED and mark button from config `pins` (null = board default, -1 =
        none, else a GPIO number; the button is active low with the internal pull-up)."""
        led = p_cfg.get("led")
        if led is None:
            led = self.led_default
        if led is None or led == -1:
            self.led_pin = None
        else:
            self.led_pin = machine.Pin(led, machine.Pin.OUT, value=0)
        self.led_state = None
        b = p_cfg.get("button")
        if b is None:
            b = self.button_default
        if b is None or b == -1:
            self.btn = None
        else:
            pin = machine.Pin(b, machine.Pin.IN, machine.Pin.PULL_UP)
            btn = _Button(lambda: pin.value() == 0)
            pin.irq(btn.edge, trigger=machine.Pin.IRQ_FALLING, hard=True)
            self.btn = btn

    def led(self, on):
        lp = self.led_pin
        if lp is None or on == self.led_state:
            return
        self.led_state = on
        lp.value(1 if on else 0)

    def button(self):
        b = self.btn
        return b.poll() if b is not None else False

    # ---- watchdog, interrupts, RTC
    def wdt_start(self, ms):
        self.wdt = machine.WDT(timeout=ms)

    def wdt_feed(self):
        w = self.wdt
        if w is not None:
            w.feed()

    def irq_off(self):
        return machine.disable_irq()

    def irq_on(self, state):
        machine.enable_irq(state)

    def set_rtc(self, y, mo, d, h, mi, s):
        # ESP32 RTC: weekday 0 = Monday .. 6 (the port computes its own; given for form)
        machine.RTC().datetime((y, mo, d, _weekday(y, mo, d), h, mi, s, 0))

    # ---- supply, temperature
    def supply_mv(self):
        a = self.supply
        if a is None:
            return 0xFFFF
        try:
            mv = int(a.read_uv() * self.supply_ratio // 1000)
        except Exception:
            return 0xFFFF
        return mv if 0 <= mv < 0xFFFF else 0xFFFF

    def temp_dc(self):
        """Die temperature, 0.1 degC: esp32.mcu_temperature() (S2, S3, C3, C6) where the
        port has it, else raw_temperature() in degF (original ESP32, coarse)."""
        try:
            f = getattr(esp32, "mcu_temperature", None)
            if f is not None:
                t = int(f() * 10)
            else:
                t = (esp32.raw_temperature() - 32) * 50 // 9
        except Exception:
            return 0x7FFF
        return t if -0x8000 <= t < 0x7FFF else 0x7FFF


# ---- helpers shared by the methods above (main loop only, never in an IRQ)

def _set_filters(bus, flt):
    # type: (CAN, list[tuple[bool, int, int]] | None) -> None
    """Program the controller's acceptance filters (hw_filters() output, None = all).
    Falls back to every frame when the controller cannot take that many filters."""
    if flt is not None and len(flt) <= CAN.FILTERS_MAX:
        try:
            bus.set_filters([(i, m, CAN.FLAG_EXT_ID if e else 0) for e, i, m in flt])
            return
        except ValueError:              # a combination the hardware cannot make
            pass
    bus.set_filters(None)


def _rxbuf(baud):
    """UART receive buffer for >= 300 ms of bytes at `baud` (a slow main-loop pass, an SD
    write stall), a power of two from 1 KiB to 8 KiB: 4 KiB at 115200."""
    need = baud * 3 // 100
    n = 1024
    while n < need and n < 8192:
        n <<= 1
    return n


def _mounted(mp):
    """True if a file system is mounted at mp; False if not; None if the firmware cannot
    say (no vfs.mount() listing before MicroPython 1.23)."""
    try:
        import vfs
        for m in vfs.mount():
            if m[1] == mp:
                return True
        return False
    except Exception:
        return None


def _mount(card, mp):
    try:
        _vfs_mount(card, mp)
    except OSError as e:
        if e.args and e.args[0] == _EPERM:   # already mounted (boot.py)
            return
        raise


def _vfs_mount(card, mp):
    try:
        import vfs
    except ImportError:                 # MicroPython before 1.23: os.mount
        os.mount(card, mp)
        return
    vfs.mount(card, mp)


def _makedirs(path):
    p = ""
    for part in path.split("/"):
        if part:
            p += "/" + part
            try:
                os.mkdir(p)
            except OSError:
                pass


def _free_kib(path):
    try:
        st = os.statvfs(path)
    except OSError:
        return 0xFFFFFFFF
    bs = st[0]
    if bs >= 1024:
        return (bs // 1024) * st[4]
    return st[4] * bs // 1024


def _weekday(y, m, d):
    """0 = Monday .. 6 = Sunday (Sakamoto), integers only."""
    t = (0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4)
    if m < 3:
        y -= 1
    return (y + y // 4 - y // 100 + y // 400 + t[m - 1] + d + 6) % 7

# HAL for STM32 boards on MicroPython (docs/BOARDS.md): pyb.CAN (bxCAN on F4/F7, FDCAN
# with CAN FD on G4/H7), machine.UART for the GNSS receiver, pyb.SDCard mounted at /sd,
# pyb.LED / pyb.Switch (or named pins) for the status LED and the mark button,
# machine.WDT, machine.RTC, pyb.ADCAll for the die temperature.
#
# The CAN rx callback runs in hard-IRQ context: it allocates nothing. pyb.CAN.recv fills
# a preallocated list [id, ext, rtr, fmi, memoryview] and resizes that memoryview in place
# to the frame's data length, so the data handed to Capture.frame is a preallocated
# memoryview of exactly n bytes (MicroPython >= 1.20 list layout, as documented for 1.29).
# The controller starts in SILENT (bus monitoring) mode unless the channel's config says
# listen_only: false.
import os
import time
import machine
import micropython
import pyb
from micropython import const

_MASK = const(0x3FFFFFFF)          # ticks period 2**30 (the boards' own)
_F_EXT = const(0x01)               # record flags (FORMAT.md 3.4)
_F_RTR = const(0x02)
_STD = const(0x7FF)
_XID = const(0x1FFFFFFF)
_EPERM = const(1)
_DEBOUNCE_MS = const(50)
_BANKS = const(14)                 # bxCAN filter banks per controller (num_filter_banks)
_FD_STD = const(28)                # FDCAN standard / extended filter elements used at most
_FD_EXT = const(8)
_FD_LEN = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)

# FDCAN builds of pyb.CAN have the RANGE/DUAL/MASK filter modes, bxCAN builds MASK16 etc.
_FDCAN = hasattr(pyb.CAN, "RANGE")

# An exception raised in the rx callback (heap locked) needs this to carry a message.
if hasattr(micropython, "alloc_emergency_exception_buf"):   # boards yes, Unix port no
    micropython.alloc_emergency_exception_buf(160)


def _now():
    """time.ticks_us() on the 2**30 period (already the boards' own: the mask is a no-op
    there). The stubs keep ticks opaque; the firmware core does its own 2**30 arithmetic."""
    return time.ticks_us() & _MASK  # type: ignore[operator]


def len_to_dlc(n):
    """CAN FD data length (0..64) -> DLC code (0..15). Allocation-free."""
    if n <= 8:
        return n
    for i in range(9, 16):
        if _FD_LEN[i] >= n:
            return i
    return 15


def hw_filters(filters):
    """Controller acceptance filters for one channel's config `filters`: None to take every
    frame, else a list of (ext, id, mask) whose union holds every frame the software
    filters (config.FrameFilter, run in Capture) can accept. With at least one accept
    filter a frame that matches no filter is rejected, so the union of the accept filters
    is such a superset whatever rejects come first; a reject-only list (a deny list) needs
    every frame. A range becomes the mask of the bits its ends share (a superset)."""
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
    """One pyb.CAN controller and its allocation-free receive path."""

    def __init__(self, chan, bus, cap, fdc):
        self.chan = chan
        self.bus = bus  # type: pyb.CAN
        self.cap = cap
        self.fdc = fdc                  # FDCAN controller: frames up to 64 bytes
        buf = bytearray(64)
        mv = memoryview(buf)
        self.mv = mv                    # recv resizes this very object to the data length
        self.mv8 = mv[:8]               # classic frame with DLC 9..15: 8 data bytes
        self.mv0 = mv[:0]               # RTR: no data
        self.lst = [0, False, False, 0, mv]  # type: list[int | bool | memoryview]
        self.info = [0, 0, 0, 0, 0, 0, 0, 0]  # type: list[int]
        self.busy = False               # the main loop is draining: the IRQ leaves it alone
        self.overruns = 0               # rxcallback reason 2: a frame was lost, FIFO full
        self.cb_errors = 0              # exceptions caught in the callback

    def _one(self, fifo):
        """Move one frame from FIFO `fifo` to Capture. Allocation-free."""
        lst = self.lst
        self.bus.recv(fifo, lst)
        t = _now()
        n = len(self.mv)
        flags = _F_EXT if lst[1] else 0
        if lst[2]:                      # remote frame: the length is the requested DLC
            self.cap.frame(t, self.chan, lst[0], flags | _F_RTR, n, self.mv0, 0, False)
        elif n > 8:
            if self.fdc:                # only an FD frame carries more than 8 bytes
                self.cap.frame(t, self.chan, lst[0], flags, len_to_dlc(n), self.mv, n, True)
            else:                       # classic DLC 9..15 carries 8 bytes
                self.cap.frame(t, self.chan, lst[0], flags, n, self.mv8, 8, False)
        else:
            self.cap.frame(t, self.chan, lst[0], flags, n, self.mv, n, False)

    def _rx(self, fifo, reason):
        if reason == 2:
            self.overruns += 1
        if self.busy:
            return
        self.busy = True
        bus = self.bus
        try:
            while bus.any(fifo):
                self._one(fifo)
        except Exception:
            self.cb_errors += 1
        self.busy = False

    def rx0(self, bus, reason):         # hard IRQ: FIFO 0 non-empty / full / overrun
        self._rx(0, reason)

    def rx1(self, bus, reason):
        self._rx(1, reason)

    def poll(self):
        """Main loop: drain both FIFOs, interrupts held off per frame (the ring is shared
        with the other channels' callbacks). Returns frames moved."""
        bus = self.bus
        n = 0
        while True:
            self.busy = True
            try:
                for fifo in (0, 1):
                    while bus.any(fifo):
                        st = machine.disable_irq()
                        try:
                            self._one(fifo)
                        finally:
                            machine.enable_irq(st)
                        n += 1
            finally:
                self.busy = False
            # a frame that came while busy found the callback stepping aside: take it now
            if not (bus.any(0) or bus.any(1)):
                return n

    def errors(self):
        """Times the controller entered error warning, error passive or bus off."""
        try:
            r = self.bus.info(self.info)
            if r is None:               # FDCAN builds without info()
                return 0
            return r[2] + r[3] + r[4]
        except Exception:
            return 0


class Stm32Hal:
    name = "stm32"

    def __init__(self, gnss_uart=6, pps_pin="X3", led=2, button=None, sd_mount="/sd",
                 supply_pin=None, supply_ratio=11):
        """Defaults are for a pyboard v1.1 / PYBD-style board (docs/BOARDS.md): GNSS on
        UART 6 (Y1 TX, Y2 RX), PPS on X3, green LED 2, the USR switch as the mark button,
        the SD slot mounted at /sd, no supply divider. Pins are given by name."""
        self.gnss_uart = gnss_uart
        self.pps_default = pps_pin
        self.sd_mount = sd_mount
        self.chans = []                 # type: list[_Chan]
        self.uart = None                # type: machine.UART | None
        self.pps_pin = None             # type: machine.Pin | None
        self.pps_t = -1                 # ticks of the last PPS edge (set in the IRQ)
        self.wdt = None                 # type: machine.WDT | None
        self.root = "/"
        self.adcall = None              # type: pyb.ADCAll | None
        self.supply = None              # type: machine.ADC | None
        self.supply_ratio = supply_ratio
        if supply_pin is not None:
            self.supply = machine.ADC(machine.Pin(supply_pin))
        self.led_obj = None             # type: pyb.LED | machine.Pin | None
        self.led_state = None           # type: bool | None
        self.btn = None                 # type: _Button | None
        self.pins_open({"led": led, "button": button})

    # ---- time
    def ticks(self):
        return _now()

    # ---- CAN
    def can_open(self, ch_cfg, cap):
        """Open one config `can[]` channel: port null -> controller `channel`; an int is
        the 0-based controller index (0 = CAN1); a name ("YA", "YB") goes to pyb.CAN as is."""
        chan = ch_cfg["channel"]
        port = ch_cfg.get("port")
        if port is None:
            port = chan
        bus_id = port + 1 if isinstance(port, int) else port
        fd = ch_cfg.get("fd", False)
        if fd and not _FDCAN:
            raise ValueError("CAN%s: CAN FD needs an FDCAN controller (STM32G4/H7); "
                             "this board's pyb.CAN is bxCAN (classic CAN only)" % bus_id)
        silent = ch_cfg.get("listen_only", True) is not False
        mode = pyb.CAN.SILENT if silent else pyb.CAN.NORMAL
        rate = ch_cfg.get("bitrate", 500000)
        sp = 75 if rate >= 1000000 else 87
        # constructed silent: pyb.CAN(n, mode) starts the controller at its default timing,
        # and a normal node at a wrong bit rate would send error frames onto the bus
        bus = pyb.CAN(bus_id, pyb.CAN.SILENT)
        if fd:
            dr = ch_cfg.get("data_bitrate", 2000000)
            bus.init(mode, baudrate=rate, sample_point=sp, auto_restart=True,
                     brs_baudrate=dr, brs_sample_point=75)
        else:
            bus.init(mode, baudrate=rate, sample_point=sp, auto_restart=True)
        _set_filters(bus, hw_filters(ch_cfg.get("filters", ())))
        c = _Chan(chan, bus, cap, _FDCAN)
        self.chans = [o for o in self.chans if o.chan != chan] + [c]
        bus.rxcallback(0, c.rx0)
        bus.rxcallback(1, c.rx1)

    def can_poll(self, cap=None):
        n = 0
        for c in self.chans:
            n += c.poll()
        return n

    def can_stats(self):
        ov = 0
        er = 0
        for c in self.chans:
            ov += c.overruns
            er += c.errors()
        return (ov, er)

    # ---- GNSS
    def gnss_open(self, g_cfg):
        port = g_cfg.get("port")
        if port is None:
            port = self.gnss_uart
        baud = g_cfg.get("baud", 9600)
        self.uart = machine.UART(port, baudrate=baud, rxbuf=_rxbuf(baud), timeout=0)
        self._pps_open(g_cfg.get("pps_pin"))

    def _pps_open(self, pin):
        if pin is None:
            pin = self.pps_default
        if pin is None or pin == -1:
            return
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
            card = pyb.SDCard()
            if not card.present():
                raise OSError("no SD card in the slot")
            _mount(card, mp)
        _makedirs(root)
        self.root = root
        return root

    def free_kib(self):
        return _free_kib(self.root)

    # ---- LED, button
    def pins_open(self, p_cfg):
        """Set the LED and mark button from config `pins` (null = board default: LED 2
        and the USR switch; -1 = none; an int LED is a pyb.LED number; a name is a pin,
        the button active low with the internal pull-up)."""
        led = p_cfg.get("led")
        if led is None:
            led = 2
        if led == -1:
            self.led_obj = None
        elif isinstance(led, int):
            self.led_obj = pyb.LED(led)
        else:
            self.led_obj = machine.Pin(led, machine.Pin.OUT)
        self.led_state = None
        b = p_cfg.get("button")
        if b == -1:
            self.btn = None
        elif b is None:
            sw = pyb.Switch()
            btn = _Button(sw.value)
            sw.callback(btn.edge)
            self.btn = btn
        else:
            pin = machine.Pin(b, machine.Pin.IN, machine.Pin.PULL_UP)
            btn = _Button(lambda: pin.value() == 0)
            pin.irq(btn.edge, trigger=machine.Pin.IRQ_FALLING, hard=True)
            self.btn = btn

    def led(self, on):
        lo = self.led_obj
        if lo is None or on == self.led_state:
            return
        self.led_state = on
        if on:
            lo.on()
        else:
            lo.off()

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
        # STM32 RTC weekday: 1 = Monday .. 7 = Sunday
        machine.RTC().datetime((y, mo, d, _weekday(y, mo, d) + 1, h, mi, s, 0))

    # ---- supply, temperature
    def supply_mv(self):
        a = self.supply
        if a is None:
            return 0xFFFF
        try:
            mv = int(a.read_u16() * 3300 * self.supply_ratio // 65535)
        except Exception:
            return 0xFFFF
        return mv if 0 <= mv < 0xFFFF else 0xFFFF

    def temp_dc(self):
        try:
            if self.adcall is None:
                self.adcall = pyb.ADCAll(12, 0x70000)   # temperature, VREFINT, VBAT
            t = int(self.adcall.read_core_temp() * 10)
        except Exception:
            return 0x7FFF
        return t if -0x8000 <= t < 0x7FFF else 0x7FFF


# ---- helpers shared by the methods above (main loop only, never in an IRQ)

def _set_filters(bus, flt):
    # type: (pyb.CAN, list[tuple[bool, int, int]] | None) -> None
    """Program the controller's acceptance filters (hw_filters() output, None = all);
    if the controller refuses them, let every frame through instead."""
    if flt is not None:
        try:
            _program(bus, flt)
            return
        except (ValueError, OSError, TypeError):
            pass
    _program(bus, None)


def _program(bus, flt):
    # type: (pyb.CAN, list[tuple[bool, int, int]] | None) -> None
    if _FDCAN:
        std = [] if flt is None else [(i, m) for e, i, m in flt if not e]
        ext = [] if flt is None else [(i, m) for e, i, m in flt if e]
        if flt is None or len(std) > _FD_STD or len(ext) > _FD_EXT:
            std = [(0, 1), (1, 1)]  # everything, split over the two FIFOs by id bit 0
            ext = [(0, 1), (1, 1)]
        for k in range(len(std)):
            bus.setfilter(k, pyb.CAN.MASK, k & 1, std[k])
        try:
            for k in range(len(ext)):
                # extframe= is in the documented signature (docs: setfilter(bank, mode,
                # fifo, params, *, rtr, extframe=False)) but missing from the stub package
                bus.setfilter(k, pyb.CAN.MASK, k & 1, ext[k], extframe=True)  # type: ignore[call-overload]
        except (ValueError, OSError, TypeError):
            if flt is not None:
                raise
            # a build without extended-id filters: it can only take standard frames
        return
    # bxCAN: 16-bit mask filters, two per bank, without the IDE bit in the mask: a
    # standard (id, mask) also passes extended ids whose top 11 bits match, and an
    # extended filter keeps only its top 11 bits (id >> 18). Supersets, both.
    pairs = [] if flt is None else [((i >> 18, m >> 18) if e else (i, m)) for e, i, m in flt]
    if flt is None or (len(pairs) + 1) // 2 > _BANKS:
        pairs = [(0, 1), (1, 1)]    # everything, split over the two FIFOs by id bit 0
    if len(pairs) & 1:
        pairs.append(pairs[-1])
    for k in range(len(pairs) // 2):
        a = pairs[2 * k]
        b = pairs[2 * k + 1]
        bus.setfilter(k, pyb.CAN.MASK16, k & 1, (a[0], a[1], b[0], b[1]))


def _rxbuf(baud):
    """UART receive buffer for >= 300 ms of bytes at `baud` (a slow main-loop pass, an SD
    write stall), a power of two from 1 KiB to 8 KiB: 4 KiB at 115200."""
    need = baud * 3 // 100              # bytes in 300 ms at 10 bits a byte
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
        if e.args and e.args[0] == _EPERM:   # already mounted (boot.py, or auto-mount)
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

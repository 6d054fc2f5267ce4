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
import machine
import pyb
from micropython import const
from hal_common import (BoardHal, _Button, _now, _rxbuf, _weekday, hw_filters, hw_plan,
                        len_to_dlc, RX_FD, rx_entry)

_F_EXT = const(0x01)               # record flags (FORMAT.md 3.4)
_F_RTR = const(0x02)
_BANKS = const(14)                 # bxCAN filter banks per controller (num_filter_banks)
_FD_STD = const(28)                # FDCAN standard / extended filter elements used at most
_FD_EXT = const(8)

# FDCAN builds of pyb.CAN have the RANGE/DUAL/MASK filter modes, bxCAN builds MASK16 etc.
_FDCAN = hasattr(pyb.CAN, "RANGE")


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
        # the capture function and its word array's address, called fr(wa, ..., cap) with
        # the data at the start of mv: no method or buffer lookup per frame (capture.py)
        self.fr, self.wa = rx_entry(cap, chan, mv)
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
            self.fr(self.wa, t, self.chan, lst[0], flags | _F_RTR, n, 0, self.cap)
        elif n > 8:
            if self.fdc:                # only an FD frame carries more than 8 bytes
                self.fr(self.wa, t, self.chan, lst[0], flags, len_to_dlc(n), n | RX_FD,
                        self.cap)
            else:                       # classic DLC 9..15 carries 8 bytes
                self.fr(self.wa, t, self.chan, lst[0], flags, n, 8, self.cap)
        else:
            self.fr(self.wa, t, self.chan, lst[0], flags, n, n, self.cap)

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


class Stm32Hal(BoardHal):
    name = "stm32"

    def __init__(self, gnss_uart=6, pps_pin="X3", led=2, button=None, sd_mount="/sd",
                 supply_pin=None, supply_ratio=11):
        """Defaults are for a pyboard v1.1 / PYBD-style board (docs/BOARDS.md): GNSS on
        UART 6 (Y1 TX, Y2 RX), PPS on X3, green LED 2, the USR switch as the mark button,
        the SD slot mounted at /sd, no supply divider. Pins are given by name."""
        BoardHal.__init__(self, gnss_uart, pps_pin, sd_mount, supply_ratio)
        self.chans = []                 # type: list[_Chan]
        self.hw = {}                    # type: dict[int, tuple[bool, bool]]
        self.adcall = None              # type: pyb.ADCAll | None
        if supply_pin is not None:
            self.supply = machine.ADC(machine.Pin(supply_pin))
        self.led_obj = None             # type: pyb.LED | machine.Pin | None
        self.pins_open({"led": led, "button": button})

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
        std, ext = _set_exact(bus, ch_cfg.get("filters", ()))
        if std or ext:
            cap.hw(chan, std, ext)      # software skips what the controller filters exactly
        self.hw[chan] = (std, ext)
        c = _Chan(chan, bus, cap, _FDCAN)
        self.chans = [o for o in self.chans if o.chan != chan] + [c]
        bus.rxcallback(0, c.rx0)
        bus.rxcallback(1, c.rx1)

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

    # ---- storage
    def _sd_card(self):
        card = pyb.SDCard()
        if not card.present():
            raise OSError("no SD card in the slot")
        return card

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
            self._pin_button(b)

    def _led_write(self, lo, on):
        # type: (pyb.LED | machine.Pin, bool) -> None
        if on:
            lo.on()
        else:
            lo.off()

    # ---- RTC
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

def _set_exact(bus, filters):
    # type: (pyb.CAN, list) -> tuple[bool, bool]
    """Program the controller with the config's filters exactly where it can
    (hal_common.hw_plan) and return (std, ext): True where the controller now accepts
    exactly the standard / extended ids the config accepts. FDCAN: up to _FD_STD standard
    and _FD_EXT extended masks, each width on its own (a width that does not fit takes
    every id of that width). bxCAN (16-bit mask filters without the IDE bit): standard ids
    exactly when the config accepts no extended id (extended frames whose top 11 bits
    match still get in: software rejects them) and the masks fit the banks. Anything else:
    the superset of hw_filters(), nothing exact."""
    if filters:
        std, ext = hw_plan(filters)
        try:
            if _FDCAN:
                s_ok = std is not None and len(std) <= _FD_STD
                e_ok = ext is not None and len(ext) <= _FD_EXT
                if s_ok or e_ok:
                    _program_fd(bus, std if s_ok else None, ext if e_ok else None)
                    return s_ok, e_ok
            elif std is not None and ext == [] and (len(std) + 1) // 2 <= _BANKS:
                _program_bx(bus, std if std else [(0x7FF, 0x7FF)])  # none: one unused id
                return bool(std), False
        except (ValueError, OSError, TypeError):
            pass
    _set_filters(bus, hw_filters(filters))
    return False, False


def _program_fd(bus, std, ext):
    # type: (pyb.CAN, list[tuple[int, int]] | None, list[tuple[int, int]] | None) -> None
    """FDCAN mask filters per width; None = every id of that width (by id bit 0 over
    the two FIFOs)."""
    if std is None:
        std = [(0, 1), (1, 1)]
    if ext is None:
        ext = [(0, 1), (1, 1)]
    for k in range(len(std)):
        bus.setfilter(k, pyb.CAN.MASK, k & 1, std[k])
    for k in range(len(ext)):
        bus.setfilter(k, pyb.CAN.MASK, k & 1, ext[k], extframe=True)  # type: ignore[call-overload]


def _program_bx(bus, pairs):
    # type: (pyb.CAN, list[tuple[int, int]]) -> None
    """bxCAN 16-bit mask filters, two per bank, FIFOs alternating by bank."""
    pairs = list(pairs)
    if len(pairs) & 1:
        pairs.append(pairs[-1])
    for k in range(len(pairs) // 2):
        a = pairs[2 * k]
        b = pairs[2 * k + 1]
        bus.setfilter(k, pyb.CAN.MASK16, k & 1, (a[0], a[1], b[0], b[1]))


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

# HAL for ESP32 boards on MicroPython (docs/BOARDS.md): machine.CAN on the TWAI
# controller, machine.UART for the GNSS receiver, machine.SDCard mounted at /sd,
# machine.Pin for the status LED, the mark button and PPS, machine.WDT, machine.RTC,
# esp32.mcu_temperature (or raw_temperature on the original ESP32), machine.ADC for an
# optional supply divider.
#
# CAN needs a MicroPython build whose esp32 port has machine.CAN (the port-independent
# machine.CAN API of docs/library/machine.CAN.rst). The 1.29 esp32 release has none (its
# stubs list no machine.CAN); the esp32 implementation is opt-in per board build. Without
# it can_open() raises RuntimeError and the logger keeps logging GNSS. Or an MCP2515 on
# SPI carries the channel (config can[].mcp2515; mcp2515.py), on any release.
#
# The CAN rx IRQ allocates nothing: machine.CAN.recv fills a preallocated list
# [id, memoryview, flags, errors] and resizes that memoryview in place to the data length.
# The controller runs in MODE_SILENT unless the channel's config says listen_only: false.
import machine
import esp32
from micropython import const
from hal_common import BoardHal, _Button, _now, _rxbuf, _weekday, hw_filters, rx_entry

try:
    from machine import CAN  # type: ignore[attr-defined, unused-ignore]
except ImportError:             # esp32 builds without machine.CAN (every release to 1.29)
    CAN = None  # type: ignore[assignment, misc, unused-ignore]

_F_EXT = const(0x01)               # record flags (FORMAT.md 3.4)
_F_RTR = const(0x02)


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
        # the capture function and its word array's address, called fr(wa, ..., cap) with
        # the data at the start of mv: no method or buffer lookup per frame (capture.py)
        self.fr, self.wa = rx_entry(cap, chan, mv)
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
            self.fr(self.wa, t, self.chan, r[0], flags | _F_RTR, n, 0, self.cap)
        elif n > 8:                     # classic DLC 9..15: 8 data bytes
            self.fr(self.wa, t, self.chan, r[0], flags, n, 8, self.cap)
        else:
            self.fr(self.wa, t, self.chan, r[0], flags, n, n, self.cap)
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


class Esp32Hal(BoardHal):
    name = "esp32"

    def __init__(self, can_pins=None, gnss_uart=2, gnss_tx=17, gnss_rx=16, pps_pin=34,
                 led=2, button=0, sd_slot=2, sd_pins=None, sd_mount="/sd",
                 supply_pin=None, supply_ratio=11, mcp_pins=None):
        """Defaults are for an ESP32-WROOM DevKit wired as docs/BOARDS.md says: GNSS on
        UART 2 (TX 17, RX 16), PPS on GPIO 34, LED on GPIO 2, the BOOT button (GPIO 0) as
        the mark button, the SD card on SPI (slot 2: SCK 18, MISO 19, MOSI 23, CS 5).
        can_pins: None uses the CAN controller pins of the firmware's board definition;
        else a dict of keyword arguments for machine.CAN (e.g. {"tx": 21, "rx": 22})
        where the build takes them. sd_pins: dict of machine.SDCard pin keywords.
        mcp_pins: defaults for a config can[].mcp2515 section (SPI bus 2, SCK 14, MOSI 13,
        MISO 27, CS 26, INT 25), a dict of those keys."""
        BoardHal.__init__(self, gnss_uart, pps_pin, sd_mount, supply_ratio)
        self.can_pins = can_pins
        self.gnss_tx = gnss_tx
        self.gnss_rx = gnss_rx
        self.led_default = led
        self.button_default = button
        self.sd_slot = sd_slot
        self.sd_pins = sd_pins
        self.chans = []                 # type: list
        self.mcp_default = {"spi": 2, "sck": 14, "mosi": 13, "miso": 27, "cs": 26, "int": 25}
        self.mcp_default.update(mcp_pins or {})
        self.mcp_hold = None            # type: list[int] | None
        if supply_pin is not None:
            self.supply = machine.ADC(machine.Pin(supply_pin), atten=machine.ADC.ATTN_11DB)
        self.led_obj = None             # type: machine.Pin | None
        self.pins_open({})

    # ---- CAN
    def can_open(self, ch_cfg, cap):
        """Open one config `can[]` channel: port null -> controller `channel`; an int is
        the 0-based controller index (the TWAI controller is 0). A channel with an
        `mcp2515` section goes to that chip instead."""
        mc = ch_cfg.get("mcp2515")
        if mc is not None:
            self._mcp_open(ch_cfg, mc, cap)
            return
        if CAN is None:
            raise RuntimeError("this MicroPython has no machine.CAN: CAN logging on ESP32 "
                               "needs a build whose esp32 port provides machine.CAN (TWAI), "
                               "which the 1.29 release does not, or an MCP2515 on SPI "
                               "(config can[].mcp2515; docs/BOARDS.md)")
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

    def _mcp_open(self, ch_cfg, mc, cap):
        """A channel on an MCP2515: machine.SPI (mode 0), CS, and the INT pin's falling edge
        as a soft IRQ (SPI cannot run in a hard one); INT -1: polled by the main loop."""
        import mcp2515
        d = self.mcp_default
        p = {}
        for k in d:
            v = mc.get(k)
            p[k] = d[k] if v is None else v
        spi = machine.SPI(p["spi"], baudrate=mc.get("spi_hz", 10000000), polarity=0,
                          phase=0, sck=machine.Pin(p["sck"]), mosi=machine.Pin(p["mosi"]),
                          miso=machine.Pin(p["miso"]))
        cs = machine.Pin(p["cs"], machine.Pin.OUT, value=1)
        ip = None
        if p["int"] != -1:
            ip = machine.Pin(p["int"], machine.Pin.IN, machine.Pin.PULL_UP)
        chan = ch_cfg["channel"]
        c = mcp2515.open_channel(ch_cfg, cap, spi, cs, ip, _now,
                                 mc.get("osc_mhz", 8) * 1000000,
                                 hw_filters(ch_cfg.get("filters", ())))
        self.mcp_hold = mcp2515.hold
        self.chans = [o for o in self.chans if o.chan != chan] + [c]
        if ip is not None:
            ip.irq(c.irq, trigger=machine.Pin.IRQ_FALLING)

    def can_errors(self):
        """[[channel, TEC, REC, EFLG, overflows], ...] of the MCP2515 channels (status)."""
        return [c.errors() for c in self.chans if hasattr(c, "errors")]

    def irq_off(self):
        h = self.mcp_hold               # MCP2515 INT callbacks leave the ring alone too
        if h is not None:
            h[0] += 1
        return machine.disable_irq()

    def irq_on(self, state):
        machine.enable_irq(state)
        h = self.mcp_hold
        if h is not None:
            h[0] -= 1

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
        self._pps_open(g_cfg.get("pps_pin"))

    # ---- storage
    def _sd_card(self):
        sp = self.sd_pins
        if sp:
            return machine.SDCard(slot=self.sd_slot, sck=sp.get("sck"),
                                  miso=sp.get("miso"), mosi=sp.get("mosi"),
                                  cs=sp.get("cs"), freq=sp.get("freq", 20000000))
        return machine.SDCard(slot=self.sd_slot)

    # ---- LED, button
    def pins_open(self, p_cfg):
        """Set the LED and mark button from config `pins` (null = board default, -1 =
        none, else a GPIO number; the button is active low with the internal pull-up)."""
        led = p_cfg.get("led")
        if led is None:
            led = self.led_default
        if led is None or led == -1:
            self.led_obj = None
        else:
            self.led_obj = machine.Pin(led, machine.Pin.OUT, value=0)
        self.led_state = None
        b = p_cfg.get("button")
        if b is None:
            b = self.button_default
        if b is None or b == -1:
            self.btn = None
        else:
            self._pin_button(b)

    def _led_write(self, lo, on):
        # type: (machine.Pin, bool) -> None
        lo.value(1 if on else 0)

    # ---- RTC
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

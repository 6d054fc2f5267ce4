# MCP2515 stand-alone CAN controller on SPI (docs/BOARDS.md, "ESP32 with an MCP2515"):
# for ESP32 boards whose MicroPython has no machine.CAN (every release to 1.29) and for the
# many ESP32 CAN logger boards that carry an MCP2515 instead of a TWAI transceiver.
#
# Mcp2515: the chip. reset(), bit timing for any bit rate the crystal makes (125k-1M at
# 8/16 MHz and the config's other rates), listen-only by default (normal mode only when
# asked), both receive buffers with rollover (BUKT), the acceptance masks and filters
# (RXM0/1, RXF0-5, standard and extended), error counters (TEC, REC) and flags (EFLG).
# McpChan: one logger channel on it: the HAL contract's receive path (interrupt pin
# handler, main-loop poll), frames to Capture without allocation, RX overflows counted as
# dropped frames in the ring (overflow records, the status record's drops).
#
# Port independent: the HAL hands in the SPI object (write, readinto, write_readinto), the
# chip-select pin (called with 0/1) and the interrupt pin (value(); None = polled), so the
# tests run this very code against a register-level model (hil/mcp2515_model.py).
#
# Frame order with two buffers: a frame goes to RXB0 when it is empty, else (rollover) to
# RXB1, else it is lost (EFLG.RX1OVR). With both full RXB0 holds the older frame unless a
# frame rolled into RXB1 between an RX STATUS and the read of RXB0 and another refilled
# RXB0 before the next RX STATUS: two frames within two SPI transactions (10-20 us each on
# an ESP32; a frame at 1 Mbit/s takes 50-130 us). Slower than that, the order is exact.
from micropython import const

# SPI instructions (datasheet 12)
_RESET = const(0xC0)
_READ = const(0x03)
_WRITE = const(0x02)
_BITMOD = const(0x05)
_RX_STATUS = const(0xB0)
_READ_RXB0 = const(0x90)         # READ RX BUFFER from RXB0SIDH (clears RX0IF at CS high)
_READ_RXB1 = const(0x94)
# registers
_CANSTAT = const(0x0E)
_CANCTRL = const(0x0F)
_TEC = const(0x1C)
_REC = const(0x1D)
_RXM0 = const(0x20)
_RXM1 = const(0x24)
_CNF3 = const(0x28)
_CNF2 = const(0x29)
_CNF1 = const(0x2A)
_CANINTE = const(0x2B)
_CANINTF = const(0x2C)
_EFLG = const(0x2D)
_RXB0CTRL = const(0x60)
_RXB1CTRL = const(0x70)
_RXF = (0x00, 0x04, 0x08, 0x10, 0x14, 0x18)
# operation modes (CANCTRL.REQOP = CANSTAT.OPMOD, bits 7:5)
MODE_NORMAL = const(0x00)
MODE_LOOPBACK = const(0x40)
MODE_LISTEN = const(0x60)
MODE_CONFIG = const(0x80)
# EFLG bits
_RX1OVR = const(0x80)
_RX0OVR = const(0x40)
_OVR = const(0xC0)
_ERRS = const(0x3F)              # TXBO TXEP RXEP TXWAR RXWAR EWARN
_ERRIF = const(0x20)
# record flags (FORMAT.md 3.4) and the ring's record type for a dropped frame
_F_EXT = const(0x01)
_F_RTR = const(0x02)
_T_CAN = const(0x01)
_STD = const(0x7FF)
_XID = const(0x1FFFFFFF)


def bit_timing(osc_hz, bitrate):
    """(CNF1, CNF2, CNF3) for `bitrate` from an `osc_hz` crystal: the most time quanta a
    bit (5..20, fine resolution), sample point 87.5 % (75 % at 1 Mbit/s, the project's
    choice on every controller), SJW min(4, PS2), within 0.5 % of the rate. 1 Mbit/s from
    8 MHz gets 4 quanta (below the datasheet's 5-quantum minimum, the setting common MCP2515
    drivers ship; a 16 MHz crystal gives 8). ValueError: the crystal cannot make the rate."""
    sp = 750 if bitrate >= 1000000 else 875     # per mille
    for n in range(20, 3, -1):           # 20 at most: PROP + PS1 <= 16 at 87.5 %
        brp = (osc_hz + n * bitrate) // (2 * n * bitrate)     # rounded
        if brp < 1 or brp > 64:
            continue
        err = osc_hz // (2 * brp * n) - bitrate
        if err < 0:
            err = -err
        if err * 200 > bitrate:
            continue
        if n == 4:
            ps2 = 1
        else:
            ps2 = max(2, (n * (1000 - sp) + 500) // 1000)
        rest = n - 1 - ps2               # propagation + phase 1: 2..16
        if rest < 2 or ps2 > 8:
            continue
        ps1 = min(8, rest - 1)
        prop = rest - ps1
        sjw = min(4, ps2)
        return ((sjw - 1) << 6 | (brp - 1),
                0x80 | (ps1 - 1) << 3 | (prop - 1),     # BTLMODE: PS2 from CNF3
                ps2 - 1)
    raise ValueError("MCP2515: a %d Hz crystal cannot make %d bit/s" % (osc_hz, bitrate))


def _regs(v, ext):
    """An id / mask in the SIDH, SIDL, EID8, EID0 layout (EXIDE set for an extended one)."""
    if ext:
        return bytes((v >> 21 & 0xFF, (v >> 18 & 7) << 5 | 0x08 | (v >> 16 & 3),
                      v >> 8 & 0xFF, v & 0xFF))
    return bytes((v >> 3 & 0xFF, (v & 7) << 5, 0, 0))


class Mcp2515:
    """The chip on `spi` with chip select `cs` (a Pin, called with 0 / 1), crystal
    `osc_hz`. Setup methods allocate; recv_into and rx_status do not."""

    def __init__(self, spi, cs, osc_hz=8000000):
        self.spi = spi
        self.cs = cs
        self.osc_hz = osc_hz
        cs(1)
        self.t3 = bytearray(3)           # READ / BIT MODIFY command bytes
        self.r3 = bytearray(3)
        self.t4 = bytearray(4)
        self.r4 = bytearray(4)
        self.t2 = bytearray((_RX_STATUS, 0))
        self.r2 = bytearray(2)
        self.rd = (bytearray(14), bytearray(14))   # READ RX BUFFER RXB0 / RXB1 commands
        self.rd[0][0] = _READ_RXB0
        self.rd[1][0] = _READ_RXB1
        self.rx = bytearray(14)          # one frame: cmd echo, SIDH SIDL EID8 EID0 DLC D0-D7
        mv = memoryview(self.rx)
        self.data = tuple([mv[6:6 + n] for n in range(9)])   # a view per data length
        self.mode = MODE_CONFIG

    # ---- register access (setup and status: small, not per frame)
    def _xfer(self, t, r):
        cs = self.cs
        cs(0)
        try:
            self.spi.write_readinto(t, r)
        finally:
            cs(1)

    def reset(self):
        """RESET instruction, then wait for the oscillator (128 cycles; 2 ms is plenty) and
        check the chip answers in configuration mode. RuntimeError: no MCP2515 there."""
        import time
        cs = self.cs
        cs(0)
        try:
            self.spi.write(bytes((_RESET,)))
        finally:
            cs(1)
        time.sleep_ms(2)
        st = self.read(_CANSTAT)
        ctl = self.read(_CANCTRL)
        if st & 0xE0 != MODE_CONFIG or ctl & 0xE0 != MODE_CONFIG:
            raise RuntimeError("MCP2515 not answering on SPI after reset (CANSTAT 0x%02X, "
                               "CANCTRL 0x%02X): check SPI pins, CS, crystal and 3.3 V "
                               "supply" % (st, ctl))
        self.mode = MODE_CONFIG

    def read(self, addr):
        t = self.t3
        t[0] = _READ
        t[1] = addr
        t[2] = 0
        self._xfer(t, self.r3)
        return self.r3[2]

    def read2(self, addr):
        """Two consecutive registers as one int (first << 8 | second)."""
        t = self.t4
        t[0] = _READ
        t[1] = addr
        self._xfer(t, self.r4)
        return self.r4[2] << 8 | self.r4[3]

    def write(self, addr, data):
        """WRITE `data` (bytes) from register `addr` on (setup only: allocates)."""
        buf = bytes((_WRITE, addr)) + bytes(data)
        cs = self.cs
        cs(0)
        try:
            self.spi.write(buf)
        finally:
            cs(1)

    def modify(self, addr, mask, value):
        """BIT MODIFY: the `mask` bits of register `addr` to `value`."""
        t = self.t4
        t[0] = _BITMOD
        t[1] = addr
        t[2] = mask
        t[3] = value
        self._xfer(t, self.r4)

    # ---- configuration (configuration mode only)
    def set_bitrate(self, bitrate):
        c1, c2, c3 = bit_timing(self.osc_hz, bitrate)
        self.write(_CNF3, (c3, c2, c1))          # CNF3, CNF2, CNF1 are consecutive
        return c1, c2, c3

    def set_filters(self, flt):
        """Acceptance filters: None = every frame (masks and filters off), else a list of
        (ext, id, mask) (hal_common.hw_filters output) that the chip's superset covers:
        RXB0 (RXM0, RXF0-1) takes the first two, RXB1 (RXM1, RXF2-5) the next four, each
        buffer's mask the AND of its filters' masks (a standard filter's mask leaves the
        data-byte bits 0). More than six: every frame passes (software filters decide).
        Both buffers keep rollover. Returns True if filters are programmed."""
        if flt is not None and len(flt) > 6:
            flt = None
        if not flt:
            for a in _RXF:
                self.write(a, b"\0\0\0\0")
            self.write(_RXM0, b"\0\0\0\0")
            self.write(_RXM1, b"\0\0\0\0")
            self.write(_RXB0CTRL, (0x60 | 0x04,))     # RXM 11: any frame; BUKT
            self.write(_RXB1CTRL, (0x60,))
            return False
        groups = (flt[:2], flt[2:] or flt[:2])        # RXB1 repeats RXB0's if unused
        slots = (2, 4)
        base = 0
        for g in (0, 1):
            members = groups[g]
            m = _XID
            for ext, i, mk in members:
                m &= mk if ext else (mk & _STD) << 18
            r = _regs(m, True)                        # a mask has no EXIDE bit
            self.write(_RXM0 if g == 0 else _RXM1, (r[0], r[1] & 0xE3, r[2], r[3]))
            for k in range(slots[g]):
                ext, i, mk = members[k % len(members)]
                self.write(_RXF[base + k], _regs(i, ext))
            base += slots[g]
        self.write(_RXB0CTRL, (0x04,))                # RXM 00: filters on; BUKT
        self.write(_RXB1CTRL, (0x00,))
        return True

    def set_mode(self, mode):
        """Request an operation mode and wait (up to ~10 ms) until CANSTAT shows it."""
        import time
        self.modify(_CANCTRL, 0xE0, mode)
        for _ in range(20):
            if self.read(_CANSTAT) & 0xE0 == mode:
                self.mode = mode
                return
            time.sleep_ms(1)
        raise RuntimeError("MCP2515 did not enter mode 0x%02X (CANSTAT 0x%02X)"
                           % (mode, self.read(_CANSTAT)))

    def start(self, bitrate, listen_only=True, filters=None, int_rx=True):
        """reset, bit timing, filters, interrupts (RX0 and RX1 full on the INT pin), then
        listen-only (default) or normal mode. Returns the CNF registers."""
        self.reset()
        cnf = self.set_bitrate(bitrate)
        self.set_filters(filters)
        self.write(_CANINTF, (0,))
        self.write(_CANINTE, (0x03 if int_rx else 0,))     # RX1IE, RX0IE
        self.modify(_EFLG, _OVR, 0)
        self.set_mode(MODE_LISTEN if listen_only else MODE_NORMAL)
        return cnf

    # ---- receive path (no allocation)
    def rx_status(self):
        """RX STATUS: bit 6 a frame in RXB0, bit 7 in RXB1 (bits 4:0 type and filter)."""
        self._xfer(self.t2, self.r2)
        return self.r2[1]

    def recv_into(self, b):
        """READ RX BUFFER `b` (0/1) into self.rx (its flag clears at CS high)."""
        self._xfer(self.rd[b], self.rx)

    def errors(self):
        """(TEC, REC, EFLG)."""
        c = self.read2(_TEC)
        return c >> 8, c & 0xFF, self.read(_EFLG)

    def clear_overflow(self):
        self.modify(_EFLG, _OVR, 0)
        self.modify(_CANINTF, _ERRIF, 0)


# Held non-zero by the HAL around main-loop pushes into the ring (irq_off / irq_on): an
# INT pin callback that runs meanwhile (a soft IRQ scheduled just before) leaves the chip
# alone; the main loop's poll drains it.
hold = [0]


class McpChan:
    """One logger channel on an Mcp2515: the HAL contract's receive path. Frames go to
    `fn(wa, ticks, chan, id, flags, dlc, n, cap)` (hal_common.rx_entry: the data at the
    start of the registered view; = Capture.frame); an RX overflow the chip flags goes to `cap._drop` (one dropped frame per flag seen: the
    chip flags an overflow, it does not count the frames lost while both buffers stayed
    full). `ticks()` stamps the
    frames. The INT pin handler runs as a soft IRQ (SPI cannot run in a hard one), in the
    interpreter's thread: the busy flag and `hold` keep it off the ring while the main
    loop writes it, so no interrupt needs disabling around an SPI transfer."""

    def __init__(self, chan, dev, cap, ticks, int_pin=None):
        self.chan = chan
        self.dev = dev                   # type: Mcp2515
        self.cap = cap
        # the capture function and its words, the data at the start of dev.data[8]
        # (every dev.data[n] starts there): capture.py, hal_common.rx_entry
        cap.rx_buffer(chan, dev.data[8])
        self.fr = cap.fn
        self.wa = cap.wa
        self.ticks = ticks
        self.int_pin = int_pin
        self.busy = False                # the main loop is draining: the IRQ leaves it alone
        self.rx = 0                      # frames read (30-bit, wraps)
        self.overflows = 0               # RX0OVR / RX1OVR flags seen (each a dropped frame)
        self.bus_errors = 0              # entries into warning / passive / bus off
        self.eflg = 0                    # last EFLG error bits
        self.cb_errors = 0               # exceptions caught in the IRQ handler

    def _frame(self, b):
        """Read buffer b and hand the frame to Capture."""
        dev = self.dev
        dev.recv_into(b)
        t = self.ticks()
        r = dev.rx
        sidl = r[2]
        dlc = r[5] & 0x0F
        if sidl & 0x08:                  # IDE: extended
            cid = (r[1] << 21 | (sidl & 0xE0) << 13 | (sidl & 0x03) << 16 | r[3] << 8
                   | r[4])
            flags = _F_EXT | (_F_RTR if r[5] & 0x40 else 0)
        else:
            cid = r[1] << 3 | sidl >> 5
            flags = _F_RTR if sidl & 0x10 else 0
        n = 0 if flags & _F_RTR else (dlc if dlc < 8 else 8)
        self.rx = (self.rx + 1) & 0x3FFFFFFF
        self.fr(self.wa, t, self.chan, cid, flags, dlc, n, self.cap)

    def _check_flags(self):
        """EFLG after reading RXB1 (an overflow needs RXB1 full): each overflow flag is a
        dropped frame, counted in the ring after the frames buffered before it."""
        e = self.dev.read(_EFLG)
        if e & _OVR:
            t = self.ticks()
            if e & _RX0OVR:
                self.overflows += 1
                self.cap._drop(_T_CAN, t)
            if e & _RX1OVR:
                self.overflows += 1
                self.cap._drop(_T_CAN, t)
            self.dev.clear_overflow()
        self._errs(e)

    def _errs(self, e):
        e &= _ERRS
        if e & ~self.eflg:
            self.bus_errors += 1
        self.eflg = e

    def _service(self, budget):
        """Move frames to Capture, the older buffer first, until both are empty or
        `budget` frames moved; returns frames moved."""
        dev = self.dev
        n = 0
        while n < budget:
            st = dev.rx_status() & 0xC0
            if st == 0:
                break
            if st == 0xC0:               # both full: RXB1 rolled over from RXB0, so RXB0
                self._frame(0)           # holds the older frame
                self._frame(1)
                n += 2
                self._check_flags()
            elif st == 0x40:
                self._frame(0)
                n += 1
            else:
                self._frame(1)
                n += 1
                self._check_flags()
        return n

    def irq(self, _pin=None):
        """INT pin falling edge (soft IRQ)."""
        if self.busy or hold[0]:
            return
        self.busy = True
        try:
            self._service(64)
        except Exception:
            self.cb_errors += 1
        self.busy = False

    def poll(self, budget=512):
        """Main loop: move what the interrupt left (only if the INT pin is low; always
        without one). Returns frames moved."""
        p = self.int_pin
        if p is not None and p.value():
            return 0
        self.busy = True
        try:
            return self._service(budget)
        finally:
            self.busy = False

    def errors(self):
        """[channel, TEC, REC, EFLG, overflows] (main loop; two SPI reads)."""
        tec, rec, e = self.dev.errors()
        self._errs(e)
        return [self.chan, tec, rec, e, self.overflows]

    def stats(self):
        """(overflows, entries into error warning / passive / bus off), as the other HALs'
        channels report them."""
        try:
            self.errors()
        except Exception:
            pass
        return self.overflows, self.bus_errors


def open_channel(ch_cfg, cap, spi, cs, int_pin, ticks, osc_hz=8000000, filters=None):
    """Start an MCP2515 for one config `can[]` entry: listen-only unless `listen_only` is
    false, its bitrate, hardware `filters` (hal_common.hw_filters output, None = all).
    Returns the McpChan; the HAL hooks McpChan.irq to the INT pin's falling edge."""
    if ch_cfg.get("fd", False):
        raise ValueError("CAN FD: the MCP2515 is classic CAN only")
    dev = Mcp2515(spi, cs, osc_hz)
    dev.start(ch_cfg.get("bitrate", 500000), ch_cfg.get("listen_only", True) is not False,
              filters, int_pin is not None)
    return McpChan(ch_cfg["channel"], dev, cap, ticks, int_pin)

"""A register-level MCP2515 for tests: the SPI device the firmware's driver
(firmware/mcp2515.py) talks to, with frames put on its "bus" from outside (a test, or the
HIL's vcan0 through hil/mcp2515_dut.py).

Runs under MicroPython (tests/fw, the HIL DUT) and CPython. The object is the SPI bus
(``write``, ``readinto``, ``write_readinto``, as ``machine.SPI``); ``cs`` is the chip-select
pin (called with 0 / 1, or ``value(v)``), ``int_pin`` the interrupt output (``value()``: 0
while an enabled interrupt flag is set). Implemented as the datasheet (DS20001801) says:

- instructions RESET, READ, WRITE, BIT MODIFY (a plain write on registers that do not
  take it), READ STATUS, RX STATUS, READ RX BUFFER (the buffer's RXnIF cleared when CS
  rises), LOAD TX BUFFER / RTS counted as transmit attempts (listen-only tests assert 0);
- CNF1-3, the filters and masks are writable in configuration mode only; read-only bits
  (CANSTAT, TEC, REC, EFLG error bits, FILHIT, BUKT1) stay; CANSTAT and CANCTRL answer at
  every xE / xF address; a mode request takes effect at once;
- reception (``frame()``): only in normal, listen-only or loopback mode; RXB0 takes frames
  matching RXF0/RXF1 under RXM0, RXB1 those matching RXF2-RXF5 under RXM1 (RXBnCTRL.RXM =
  11: any frame); a filter's EXIDE picks standard or extended frames; for a standard frame
  the mask's EID15:0 bits compare data bytes 0 and 1; a frame for a full RXB0 rolls over to
  RXB1 when BUKT is set; a frame for a full buffer is lost and sets RX1OVR (RX0OVR without
  rollover) and ERRIF; bytes past the DLC keep what the buffer held before;
- error counters set from outside (``set_errors``), EFLG's warning / passive / bus-off bits
  follow them.

``on_select(model)``, if set, is called at every CS falling edge before the transaction:
the bus delivering frames while the driver works (tests interleave frames between any two
SPI transactions; the HIL feeds vcan0 frames at a set pace). Counters: ``received``,
``lost`` (the truth the driver can only flag), ``rejected``, ``transactions``,
``tx_requests``, ``ignored_writes`` (config-only registers written outside config mode)."""

_RESET = 0xC0
_READ = 0x03
_WRITE = 0x02
_BITMOD = 0x05
_READ_STATUS = 0xA0
_RX_STATUS = 0xB0

_CANSTAT = 0x0E
_CANCTRL = 0x0F
_TEC = 0x1C
_REC = 0x1D
_CNF3 = 0x28
_CNF1 = 0x2A
_CANINTE = 0x2B
_CANINTF = 0x2C
_EFLG = 0x2D
_RXB0CTRL = 0x60
_RXB1CTRL = 0x70
_RXF = (0x00, 0x04, 0x08, 0x10, 0x14, 0x18)
_RXM = (0x20, 0x24)
# registers BIT MODIFY works on (others: the mask is forced to 0xFF)
_BITMOD_OK = (0x0C, 0x0D, 0x0F, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x30, 0x40, 0x50, 0x60,
              0x70)

MODE_NORMAL = 0x00
MODE_LOOPBACK = 0x40
MODE_LISTEN = 0x60
MODE_CONFIG = 0x80


def _config_only(a: int) -> bool:
    return a < 0x0C or 0x10 <= a < 0x1C or 0x20 <= a < 0x2B


class _Cs:
    def __init__(self, m: "Mcp2515Model") -> None:
        self.m = m

    def __call__(self, v: int | None = None) -> int:
        return self.value(v)

    def value(self, v: int | None = None) -> int:
        m = self.m
        if v is None:
            return m.selected ^ 1
        if v and m.selected:
            m._end()
        elif not v and not m.selected:
            m._begin()
        return 0


class _Int:
    def __init__(self, m: "Mcp2515Model") -> None:
        self.m = m

    def value(self, v: int | None = None) -> int:
        r = self.m.regs
        return 0 if r[_CANINTF] & r[_CANINTE] else 1

    def __call__(self, v: int | None = None) -> int:
        return self.value()

    def irq(self, *a: object, **kw: object) -> None:   # polled in tests
        pass


class Mcp2515Model:
    def __init__(self) -> None:
        self.regs = bytearray(128)
        self.cs = _Cs(self)
        self.int_pin = _Int(self)
        self.on_select = None            # type: object
        self.selected = 0
        self.received = 0
        self.lost = 0
        self.rejected = 0
        self.transactions = 0
        self.tx_requests = 0
        self.ignored_writes = 0
        self.spi_errors = 0              # bytes clocked with CS high
        self.instructions = []           # type: list[int]
        self.keep_log = False
        self.reset()

    # ---- chip state
    def reset(self) -> None:
        r = self.regs
        for i in range(128):
            r[i] = 0
        r[_CANSTAT] = MODE_CONFIG
        r[_CANCTRL] = 0x87
        self.mode = MODE_CONFIG

    def _begin(self) -> None:
        self.selected = 1
        self.transactions += 1
        cb = self.on_select
        if cb is not None:
            cb(self)                     # type: ignore[operator]
        self.phase = 0
        self.cmd = -1
        self.addr = 0
        self.mask = 0

    def _end(self) -> None:
        self.selected = 0
        c = self.cmd
        if c & 0xF9 == 0x90 and self.phase > 0:      # READ RX BUFFER: clear its flag
            self.regs[_CANINTF] &= ~(2 if c & 0x04 else 1) & 0xFF
        elif c == _RESET:
            self.reset()

    def _write_reg(self, a: int, v: int) -> None:
        a &= 0x7F
        r = self.regs
        low = a & 0x0F
        if low == 0x0E:
            return                       # CANSTAT: read-only
        if low == 0x0F:
            r[_CANCTRL] = v
            mode = v & 0xE0
            if mode in (MODE_NORMAL, MODE_LOOPBACK, MODE_LISTEN, MODE_CONFIG):
                self.mode = mode
                r[_CANSTAT] = (r[_CANSTAT] & 0x1F) | mode
            return
        if _config_only(a) and self.mode != MODE_CONFIG:
            self.ignored_writes += 1
            return
        if a in (_TEC, _REC):
            return
        if a == _EFLG:
            r[a] = (r[a] & 0x3F) | (v & r[a] & 0xC0)   # overflow bits can only be cleared
            return
        if a == _RXB0CTRL:
            b = v & 0x64
            r[a] = b | (0x02 if b & 0x04 else 0) | (r[a] & 0x09)
            return
        if a == _RXB1CTRL:
            r[a] = (v & 0x60) | (r[a] & 0x0F)
            return
        r[a] = v

    def _reg(self, a: int) -> int:
        a &= 0x7F
        low = a & 0x0F
        if low == 0x0E:
            return self.regs[_CANSTAT]
        if low == 0x0F:
            return self.regs[_CANCTRL]
        return self.regs[a]

    def _byte(self, b: int) -> int:
        """One byte clocked in (MOSI) -> the byte clocked out (MISO)."""
        if not self.selected:
            self.spi_errors += 1
            return 0xFF
        ph = self.phase
        self.phase = ph + 1
        if ph == 0:
            self.cmd = b
            if self.keep_log:
                self.instructions.append(b)
            if b & 0xF9 == 0x90:                       # READ RX BUFFER
                self.addr = (0x71 if b & 0x04 else 0x61) + (5 if b & 0x02 else 0)
            elif b & 0xF8 == 0x40 or b & 0xF8 == 0x80:   # LOAD TX BUFFER / RTS
                self.tx_requests += 1
            elif b == _RESET:
                self.reset()
            return 0
        c = self.cmd
        r = self.regs
        if c == _READ or c == _WRITE:   # noqa: SIM109 - no tuple built (heap_lock test)
            if ph == 1:
                self.addr = b & 0x7F
                return 0
            a = self.addr
            self.addr = (a + 1) & 0x7F
            if c == _READ:
                return self._reg(a)
            self._write_reg(a, b)
            return 0
        if c & 0xF9 == 0x90:
            a = self.addr
            self.addr = (a + 1) & 0x7F
            return r[a]
        if c == _BITMOD:
            if ph == 1:
                self.addr = b & 0x7F
            elif ph == 2:
                self.mask = b if self.addr in _BITMOD_OK else 0xFF
            elif ph == 3:
                a = self.addr
                m = self.mask
                cur = self._reg(a)
                self._write_reg(a, (cur & ~m & 0xFF) | (b & m))
            return 0
        if c == _READ_STATUS:
            return r[_CANINTF] & 0x03
        if c == _RX_STATUS:
            f = r[_CANINTF]
            v = (0x40 if f & 1 else 0) | (0x80 if f & 2 else 0)
            if f & 3:
                base = 0x61 if f & 1 else 0x71
                sidl = r[base + 1]
                ext = sidl & 0x08
                rtr = (r[base + 4] & 0x40) if ext else (sidl & 0x10)
                v |= (0x10 if ext else 0) | (0x08 if rtr else 0)
                ctl = r[_RXB0CTRL if f & 1 else _RXB1CTRL]
                v |= ctl & 0x01 if f & 1 else ctl & 0x07
            return v
        return 0

    # ---- SPI bus (machine.SPI's methods)
    # index loops: no iterator object, so a driver call allocates nothing here either
    def write(self, buf: bytes | bytearray | memoryview) -> None:
        for i in range(len(buf)):
            self._byte(buf[i])

    def readinto(self, buf: bytearray | memoryview, write: int = 0) -> None:
        for i in range(len(buf)):
            buf[i] = self._byte(write)

    def write_readinto(self, wbuf: bytes | bytearray | memoryview,
                       rbuf: bytearray | memoryview) -> None:
        n = len(wbuf)
        if self.phase == 0 and n > 1 and self.selected:
            c = wbuf[0]
            if c & 0xF9 == 0x90:                       # READ RX BUFFER: bulk copy
                self._byte(c)
                a = self.addr
                r = self.regs
                rbuf[0] = 0
                for i in range(1, n):
                    rbuf[i] = r[(a + i - 1) & 0x7F]
                self.addr = (a + n - 1) & 0x7F
                self.phase = n
                return
        for i in range(n):
            rbuf[i] = self._byte(wbuf[i])

    # ---- the bus side
    def _match(self, k: int, m: int, cid: int, ext: bool, d0: int, d1: int) -> bool:
        r = self.regs
        f = _RXF[k]
        mk = _RXM[m]
        if bool(r[f + 1] & 0x08) != ext:              # EXIDE: standard or extended only
            return False
        fs = r[f] << 3 | r[f + 1] >> 5                # SID10:0
        ms = r[mk] << 3 | r[mk + 1] >> 5
        fe = (r[f + 1] & 3) << 16 | r[f + 2] << 8 | r[f + 3]    # EID17:0
        me = (r[mk + 1] & 3) << 16 | r[mk + 2] << 8 | r[mk + 3]
        if ext:
            return ((cid >> 18) ^ fs) & ms == 0 and ((cid & 0x3FFFF) ^ fe) & me == 0
        return (cid ^ fs) & ms == 0 and ((d0 << 8 | d1) ^ fe) & me & 0xFFFF == 0

    def _hit(self, m: int, cid: int, ext: bool, d0: int, d1: int) -> int:
        """Filter number that accepts the frame for buffer m, 7 for 'any', -1 none."""
        if (self.regs[_RXB0CTRL if m == 0 else _RXB1CTRL] >> 5) & 3 == 3:
            return 7
        for k in ((0, 1) if m == 0 else (2, 3, 4, 5)):
            if self._match(k, m, cid, ext, d0, d1):
                return k
        return -1

    def frame(self, cid: int, ext: bool = False, rtr: bool = False,
              data: bytes | bytearray | memoryview = b"", dlc: int = -1) -> int:
        """A frame on the bus. Returns the buffer it landed in (0, 1), -1 lost to an
        overflow, -2 rejected by the filters, -3 not receiving (configuration mode)."""
        if self.mode == MODE_CONFIG:
            return -3
        n = len(data)
        if dlc < 0:
            dlc = n
        d0 = data[0] if n > 0 else 0
        d1 = data[1] if n > 1 else 0
        r = self.regs
        f = r[_CANINTF]
        h0 = self._hit(0, cid, ext, d0, d1)
        buf = -2
        hit = 0
        if h0 >= 0:
            hit = h0 & 1
            if not f & 1:
                buf = 0
            elif r[_RXB0CTRL] & 0x04:                 # BUKT: roll over to RXB1
                buf = 1 if not f & 2 else -1
                hit = 6 + (h0 & 1)
            else:
                buf = -1
                r[_EFLG] |= 0x40                      # RX0OVR
        else:
            h1 = self._hit(1, cid, ext, d0, d1)
            if h1 >= 0:
                hit = h1 if h1 < 7 else 0
                buf = 1 if not f & 2 else -1
        if buf == -2:
            self.rejected += 1
            return -2
        if buf == -1:
            if not r[_EFLG] & 0x40:
                r[_EFLG] |= 0x80                      # RX1OVR
            r[_CANINTF] |= 0x20                       # ERRIF
            self.lost += 1
            return -1
        base = 0x61 if buf == 0 else 0x71
        if ext:
            r[base] = cid >> 21 & 0xFF
            r[base + 1] = (cid >> 18 & 7) << 5 | 0x08 | (cid >> 16 & 3)
            r[base + 2] = cid >> 8 & 0xFF
            r[base + 3] = cid & 0xFF
            r[base + 4] = (0x40 if rtr else 0) | (dlc & 0x0F)
        else:
            r[base] = cid >> 3 & 0xFF
            r[base + 1] = (cid & 7) << 5 | (0x10 if rtr else 0)
            r[base + 2] = 0
            r[base + 3] = 0
            r[base + 4] = dlc & 0x0F
        if not rtr:
            for i in range(min(n, 8)):
                r[base + 5 + i] = data[i]
        ctl = _RXB0CTRL if buf == 0 else _RXB1CTRL
        if buf == 0:
            r[ctl] = (r[ctl] & 0xF6) | (0x08 if rtr else 0) | hit
        else:
            r[ctl] = (r[ctl] & 0xF0) | (0x08 if rtr else 0) | hit
        r[_CANINTF] |= 1 if buf == 0 else 2
        self.received += 1
        return buf

    def set_errors(self, tec: int, rec: int) -> None:
        """Error counters as the bus left them; EFLG's state bits follow (ERRIF on a
        change)."""
        r = self.regs
        r[_TEC] = min(tec, 255)
        r[_REC] = min(rec, 255)
        e = 0
        if tec >= 96 or rec >= 96:
            e |= 0x01
        if rec >= 96:
            e |= 0x02
        if tec >= 96:
            e |= 0x04
        if rec >= 128:
            e |= 0x08
        if tec >= 128:
            e |= 0x10
        if tec > 255:
            e |= 0x20
        if e != r[_EFLG] & 0x3F:
            r[_CANINTF] |= 0x20
        r[_EFLG] = (r[_EFLG] & 0xC0) | e

    def bit_timing(self) -> tuple[int, int, int]:
        """(CNF1, CNF2, CNF3) as programmed."""
        r = self.regs
        return r[_CNF1], r[_CNF1 - 1], r[_CNF3]

    def bitrate(self, osc_hz: int) -> tuple[int, int]:
        """(bit rate, sample point per mille) the CNF registers give with osc_hz."""
        c1, c2, c3 = self.bit_timing()
        brp = (c1 & 0x3F) + 1
        prop = (c2 & 7) + 1
        ps1 = (c2 >> 3 & 7) + 1
        ps2 = (c3 & 7) + 1 if c2 & 0x80 else max(ps1, 2)
        n = 1 + prop + ps1 + ps2
        return osc_hz // (2 * brp * n), (1 + prop + ps1) * 1000 // n

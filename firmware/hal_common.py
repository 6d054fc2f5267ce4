# What the board HALs share (hal_stm32, hal_esp32; hal_unix takes len_to_dlc): the
# 2**30 ticks, CAN FD lengths, the controller acceptance filters derived from the config,
# the debounced mark button, the GNSS UART buffer size, SD mounting and directories, free
# space, the RTC weekday, and BoardHal: the HAL methods both boards implement alike.
# Port-specific code (CAN controller, SD card object, LED, sensors) stays in the board HAL.
import os
import time
import machine
import micropython
from micropython import const

_MASK = const(0x3FFFFFFF)          # ticks period 2**30 (the boards' own)
_STD = const(0x7FF)
_XID = const(0x1FFFFFFF)
_EPERM = const(1)
_DEBOUNCE_MS = const(50)
RX_FD = const(0x100)               # rx_entry's nk: a CAN FD frame (= capture.FD)
_FD_LEN = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)

# An exception raised in a CAN rx IRQ (heap locked) needs this to carry a message.
if hasattr(micropython, "alloc_emergency_exception_buf"):   # boards yes, Unix port no
    micropython.alloc_emergency_exception_buf(160)


def _now():
    """time.ticks_us() on the 2**30 period (already the boards' own: the mask is a no-op
    there). The stubs keep ticks opaque; the firmware core does its own 2**30 arithmetic."""
    return time.ticks_us() & _MASK  # type: ignore[operator]


def rx_entry(cap, chan, buf):
    """(fn, wa) for channel chan receiving into buf (a preallocated buffer whose address
    never changes): the HAL's per-frame call into the capture path is then fn(wa, ticks,
    chan, cid, flags, dlc, nk, cap) with the frame's n data bytes at the start of buf and
    nk = n, | RX_FD for a CAN FD frame (capture.py: no method lookup, no buffer lookup per
    frame). An object with only frame(ticks, chan, cid, flags, dlc, data, n, fd) (a test's
    stand-in) gets an adapter to that method."""
    if getattr(cap, "fn", None) is None:
        return _via_frame, buf
    cap.rx_buffer(chan, buf)
    return cap.fn, cap.wa


def _via_frame(buf, ticks, chan, cid, flags, dlc, nk, cap):
    n = nk & 0xFF
    return cap.frame(ticks, chan, cid, flags, dlc, buf[:n], n, nk & RX_FD != 0)


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
    filters (rxfilter.FrameFilter, run in Capture) can accept. With at least one accept
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


_PLAN_MAX = const(40)               # cubes per id width before a plan gives up


def _range_cubes(lo, hi, w):
    """[lo, hi] as disjoint (id, mask) blocks of aligned powers of two (exact)."""
    out = []
    while lo <= hi:
        size = (lo & -lo) or (w + 1)
        while lo + size - 1 > hi:
            size >>= 1
        out.append((lo, w & ~(size - 1)))
        lo += size
    return out


def _minus(c, g):
    """Cube c minus cube g: disjoint cubes (at most one per bit g fixes and c does not)."""
    i, m = c
    j, n = g
    if (i ^ j) & m & n:
        return [c]
    out = []
    free = n & ~m
    b = 1
    while free:
        if free & b:
            out.append(((i & ~b) | ((j & b) ^ b), m | b))
            i = (i & ~b) | (j & b)
            m |= b
            free &= ~b
        b <<= 1
    return out


def hw_plan(filters):
    """The config's `filters` of one channel as exact controller acceptance filters:
    (std, ext), each a list of disjoint (id, mask) whose union is exactly the standard /
    extended ids the filters accept ([] none), or None when that takes more than
    _PLAN_MAX masks. First match decides, as in rxfilter: a filter takes only what the
    filters before it left; reject-only lists accept what is left at the end."""
    acc_any = False
    for f in filters:
        if f.get("action", "accept") == "accept":
            acc_any = True
    out = []                            # type: list[list[tuple[int, int]] | None]
    for ext in (False, True):
        w = _XID if ext else _STD
        rem = [(0, 0)]
        acc = []                        # type: list[tuple[int, int]]
        fits = True
        for f in filters:
            if bool(f.get("ext", False)) != ext:
                continue
            if "id" in f:
                m = f.get("mask", w) & w
                gs = [(f["id"] & m, m)]
            else:
                gs = _range_cubes(f["from"], f["to"], w)
            take = f.get("action", "accept") == "accept"
            for g in gs:
                nxt = []
                for r in rem:
                    if take and not ((r[0] ^ g[0]) & r[1] & g[1]):
                        acc.append(((r[0] & r[1]) | (g[0] & g[1]), r[1] | g[1]))
                    nxt += _minus(r, g)
                rem = nxt
            if len(rem) > 4 * _PLAN_MAX or len(acc) > _PLAN_MAX:
                fits = False
                break
        if not acc_any:
            acc += rem
        out.append(acc if fits and len(acc) <= _PLAN_MAX else None)
    return out[0], out[1]


def plan_match(cubes, cid):
    """True if cid is in the union of (id, mask) cubes (a hw_plan list; None: every id)."""
    if cubes is None:
        return True
    for i, m in cubes:
        if cid & m == i:
            return True
    return False


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


class BoardHal:
    """The HAL contract's methods that Stm32Hal and Esp32Hal implement alike (machine.UART,
    machine.Pin PPS IRQ, machine.WDT, machine.disable_irq). A subclass fills self.chans
    (objects with poll()), sets self.led_obj and provides _sd_card() (the block device
    to mount at sd_mount) and _led_write(led_obj, on)."""

    def __init__(self, gnss_uart, pps_pin, sd_mount, supply_ratio):
        self.gnss_uart = gnss_uart
        self.pps_default = pps_pin
        self.sd_mount = sd_mount
        self.chans = []                 # type: list
        self.uart = None                # type: machine.UART | None
        self.pps_pin = None             # type: machine.Pin | None
        self.pps_t = -1                 # ticks of the last PPS edge (set in the IRQ)
        self.wdt = None                 # type: machine.WDT | None
        self.root = "/"
        self.supply = None              # type: machine.ADC | None
        self.supply_ratio = supply_ratio
        self.led_obj = None             # type: object | None
        self.led_state = None           # type: bool | None
        self.btn = None                 # type: _Button | None

    # ---- time
    def ticks(self):
        return _now()

    # ---- CAN
    def can_poll(self, cap=None):
        n = 0
        for c in self.chans:
            n += c.poll()
        return n

    # ---- GNSS
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
            _mount(self._sd_card(), mp)
        _makedirs(root)
        self.root = root
        return root

    def _sd_card(self):
        raise NotImplementedError       # the board's SD card block device

    def free_kib(self):
        return _free_kib(self.root)

    # ---- LED, button
    def led(self, on):
        lo = self.led_obj
        if lo is None or on == self.led_state:
            return
        self.led_state = on
        self._led_write(lo, on)

    def _led_write(self, lo, on):
        raise NotImplementedError       # the board's LED object: switch it on or off

    def _pin_button(self, b):
        """Mark button on pin b, active low with the internal pull-up, edge IRQ."""
        pin = machine.Pin(b, machine.Pin.IN, machine.Pin.PULL_UP)
        btn = _Button(lambda: pin.value() == 0)
        pin.irq(btn.edge, trigger=machine.Pin.IRQ_FALLING, hard=True)
        self.btn = btn

    def button(self):
        b = self.btn
        return b.poll() if b is not None else False

    # ---- watchdog, interrupts
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


# ---- helpers (main loop only, never in an IRQ)

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

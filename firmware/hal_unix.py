# HAL for the MicroPython Unix port: CAN from raw SocketCAN sockets (vcan0, or a real
# can0 through a USB adapter), GNSS from a serial device, pty or file, storage a directory,
# LED and button as files a test can watch and touch. The capture path after the driver
# (capture.Capture.frame -> ring) is the same code the boards run.
import os
import select
import socket
import struct
from micropython import const
from hal_common import _now, hw_plan, len_to_dlc, plan_match

_AF_CAN = const(29)
_SOCK_RAW = const(3)
_CAN_RAW = const(1)
_SOL_CAN_RAW = const(101)
_CAN_RAW_FD_FRAMES = const(5)
_SOL_SOCKET = const(1)
_SO_RCVBUF = const(8)
_SO_RCVBUFFORCE = const(33)
_VTIME = const(5)            # Linux termios c_cc indices
_VMIN = const(6)
_HW_STD = const(28)          # the modelled controller's masks per width (an FDCAN's)
_HW_EXT = const(8)


class UnixHal:
    """The HAL contract (docs/BOARDS.md), on the Unix port. card: directory playing the
    SD card; control: directory where the LED state is written (file LED) and a test
    presses the button by creating the file BUTTON."""
    name = "unix"

    def __init__(self, card, control=None, ticks_fn=None):
        self.card = card
        self.control = control or card
        self.ticks = ticks_fn or _now       # the boards' 2**30 period
        self.socks = []
        self.chans = []
        self.rx_n = []               # frames read per socket (counted per batch, not per frame)
        self.hwf = []                # per socket: modelled controller filter (std, ext) or None
        self.hw_rejected = []        # per socket: frames the modelled controller kept out
        self.hw = {}                 # channel -> (std exact, ext exact), as a board HAL reports
        self.poll = select.poll()
        self.gnss = None
        self.led_state = None
        self.rtc = None              # last set_rtc() arguments, for tests
        self.wdt_ms = 0

    # ---- CAN
    def can_open(self, ch_cfg, cap):
        """Bind a raw CAN socket on ch_cfg["port"] (default vcan<channel>). A raw socket
        never transmits unless written to, and nothing here writes: listen-only."""
        chan = ch_cfg["channel"]
        iface = ch_cfg.get("port") or "vcan%d" % chan
        with open("/sys/class/net/%s/ifindex" % iface) as f:
            idx = int(f.read())
        s = socket.socket(_AF_CAN, _SOCK_RAW, _CAN_RAW)
        if ch_cfg.get("fd"):
            s.setsockopt(_SOL_CAN_RAW, _CAN_RAW_FD_FRAMES, 1)
        # A deep kernel queue plays the controller FIFO + rx interrupt of a board: the
        # main loop may pause for a block write while frames keep arriving.
        for opt in (_SO_RCVBUFFORCE, _SO_RCVBUF):
            try:
                s.setsockopt(_SOL_SOCKET, opt, 4 << 20)
                break
            except OSError:
                pass
        s.bind(struct.pack("<HHi8s", _AF_CAN, 0, idx, b""))
        s.setblocking(False)
        self.socks.append(s)
        self.chans.append(chan)
        self.rx_n.append(0)
        self.hwf.append(self._hw_model(chan, ch_cfg.get("filters", ()), cap))
        self.hw_rejected.append(0)
        self.poll.register(s, select.POLLIN)

    def _hw_model(self, chan, filters, cap):
        """Model a controller acceptance filter as a board HAL programs it (an FDCAN:
        _HW_STD standard and _HW_EXT extended masks, each width exact when it fits, else
        every id of that width; hal_stm32._set_exact), and tell the capture path which
        widths need no software scan. Returns (std, ext) cube lists (None: all) or None."""
        if not filters:
            return None
        std, ext = hw_plan(filters)
        if std is not None and len(std) > _HW_STD:
            std = None
        if ext is not None and len(ext) > _HW_EXT:
            ext = None
        self.hw[chan] = (std is not None, ext is not None)
        if std is None and ext is None:
            return None
        cap.hw(chan, std is not None, ext is not None)
        return (std, ext)

    def can_poll(self, cap, budget=512):
        """Move up to budget received frames into the capture path; returns frames moved.
        recv() allocates one bytes object a frame (the port's sockets have no recv_into,
        and readinto() would merge frames); from the decode on nothing allocates."""
        n = 0
        for obj, ev in self.poll.ipoll(0):
            i = self.socks.index(obj)
            s = obj
            chan = self.chans[i]
            n0 = n
            hwf = self.hwf[i]
            while n < budget:
                try:
                    fr = s.recv(72)
                except OSError:
                    break
                if not fr:
                    break
                if hwf is not None and not self._hw_pass(hwf, fr):
                    self.hw_rejected[i] += 1    # the controller would never deliver it
                    continue
                self._frame(cap, chan, fr)
                n += 1
            self.rx_n[i] += n - n0
        return n

    @staticmethod
    def _hw_pass(hwf, fr):
        b3 = fr[3]
        cid = fr[0] | (fr[1] << 8) | (fr[2] << 16) | ((b3 & 0x1F) << 24)
        if b3 & 0x20:                   # error frames: no acceptance filter
            return True
        return plan_match(hwf[1] if b3 & 0x80 else hwf[0], cid)

    def rx_counts(self):
        """[[channel, frames read since boot], ...] for `dunelog status` (frames/s per
        channel)."""
        return [[c, n] for c, n in zip(self.chans, self.rx_n)]

    def _frame(self, cap, chan, fr):
        t = self.ticks()
        b3 = fr[3]
        cid = fr[0] | (fr[1] << 8) | (fr[2] << 16) | ((b3 & 0x1F) << 24)
        flags = (1 if b3 & 0x80 else 0) | (2 if b3 & 0x40 else 0) | (4 if b3 & 0x20 else 0)
        ln = fr[4]
        fd = len(fr) == 72
        if fd:
            ff = fr[5]
            flags |= (8 if ff & 1 else 0) | (16 if ff & 2 else 0)
            dlc = len_to_dlc(ln)
        else:
            dlc = fr[7] if (8 < fr[7] < 16 and ln == 8) else ln   # len8_dlc
        if flags & 2:
            ln = 0
        cap.frame(t, chan, cid, flags, dlc, memoryview(fr)[8:8 + ln], ln, fd)

    def can_stats(self):
        return (0, 0)

    # ---- GNSS
    def gnss_open(self, g_cfg):
        """port: a serial device or pty path (set to raw, VMIN=0/VTIME=0 so reads return
        what is there), or a plain file (tests)."""
        port = g_cfg.get("port")
        if not g_cfg.get("enabled", True) or not isinstance(port, str):
            return
        self.gnss = open(port, "rb")
        try:
            import termios
            fd = self.gnss.fileno()
            a = termios.tcgetattr(fd)
            a[0] = 0                      # iflag: no CR/LF translation, no flow control
            a[3] = 0                      # lflag: no echo, no canonical lines
            a[6][_VMIN] = 0
            a[6][_VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, a)
        except (ImportError, OSError, AttributeError):
            pass                          # a plain file

    def gnss_read(self, buf):
        if self.gnss is None:
            return 0
        try:
            return self.gnss.readinto(buf) or 0
        except OSError:
            return 0

    def pps_ticks(self):
        return -1

    # ---- storage
    def storage_root(self, root):
        """Board paths under /sd map into the card directory."""
        if root.startswith("/sd"):
            root = root[3:]
        return self.card + root

    def free_kib(self):
        try:
            st = os.statvfs(self.card)
            return st[0] * st[4] // 1024
        except OSError:
            return 0xFFFFFFFF

    # ---- LED, button, watchdog, interrupts, RTC, sensors
    def pins_open(self, p_cfg):
        """Config `pins`: nothing to wire here (LED and button are files)."""

    def led(self, on):
        if on != self.led_state:
            self.led_state = on
            with open(self.control + "/LED", "w") as f:
                f.write("1" if on else "0")

    def button(self):
        try:
            os.stat(self.control + "/BUTTON")
        except OSError:
            return False
        try:
            os.remove(self.control + "/BUTTON")
        except OSError:
            pass
        return True

    def wdt_start(self, ms):
        self.wdt_ms = ms

    def wdt_feed(self):
        pass

    def irq_off(self):
        return 0

    def irq_on(self, state):
        pass

    def set_rtc(self, y, mo, d, h, mi, s):
        self.rtc = (y, mo, d, h, mi, s)

    def supply_mv(self):
        return 0xFFFF

    def temp_dc(self):
        return 0x7FFF

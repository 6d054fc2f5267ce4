# HIL DUT entry (MicroPython): the firmware (firmware/app.py) with its CAN channels on the
# MCP2515 driver (firmware/mcp2515.py, McpChan: the code the ESP32 HAL runs for a config
# can[].mcp2515 section) talking SPI to the register model (hil/mcp2515_model.py), whose
# bus is fed from vcan0. Everything else is the Unix HAL (card directory, GNSS pty).
#
#   micropython hil/mcp2515_dut.py      (cwd: the board directory; hil/dut.py UnixDut)
#
# DUNELOG_FIRMWARE: the firmware directory (default ../firmware); DUNELOG_MCP_GAP: the bus
# delivers one vcan0 frame every that many SPI transactions while the driver works
# (default 3: the pace of a bus the driver keeps up with; frames also arrive whenever the
# driver idles). The model paces frames by SPI transactions, not by wall time: this
# proves the driver's logic and exactness; throughput is measured by bench/bench_mcp2515.py.
import os
import sys

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, _here)
sys.path.insert(0, os.getenv("DUNELOG_FIRMWARE") or _here + "/../firmware")

import app  # noqa: E402
import mcp2515  # noqa: E402
from hal_common import hw_filters  # noqa: E402
from hal_unix import UnixHal  # noqa: E402
from mcp2515_model import Mcp2515Model  # noqa: E402


class Feed:
    """vcan0 (a raw socket) -> the model's bus, one frame at a time."""

    def __init__(self, sock, model, gap):
        self.sock = sock
        self.model = model
        self.gap = gap
        self.k = 0
        self.fed = 0

    def one(self):
        try:
            fr = self.sock.recv(72)
        except OSError:
            return False
        if not fr:
            return False
        b3 = fr[3]
        cid = fr[0] | (fr[1] << 8) | (fr[2] << 16) | ((b3 & 0x1F) << 24)
        ln = fr[4]
        dlc = fr[7] if (8 < fr[7] < 16 and ln == 8) else ln      # len8_dlc
        self.model.frame(cid, bool(b3 & 0x80), bool(b3 & 0x40), fr[8:8 + ln], dlc)
        self.fed += 1
        return True

    def __call__(self, model):              # at every CS falling edge
        self.k += 1
        if self.k >= self.gap:
            self.k = 0
            self.one()


class McpVcanHal(UnixHal):
    def __init__(self, card, control=None):
        UnixHal.__init__(self, card, control)
        self.gap = int(os.getenv("DUNELOG_MCP_GAP") or "3")
        self.mchans = []
        self.feeds = []

    def can_open(self, ch_cfg, cap):
        if ch_cfg.get("fd"):
            raise ValueError("CAN FD: the MCP2515 is classic CAN only")
        UnixHal.can_open(self, ch_cfg, cap)           # the raw socket on vcan0
        s = self.socks[-1]
        self.poll.unregister(s)                       # read by the feed only
        m = Mcp2515Model()
        mc = ch_cfg.get("mcp2515") or {}
        c = mcp2515.open_channel(ch_cfg, cap, m, m.cs, m.int_pin, self.ticks,
                                 mc.get("osc_mhz", 8) * 1000000,
                                 hw_filters(ch_cfg.get("filters", ())))
        f = Feed(s, m, self.gap)
        m.on_select = f
        self.mchans.append(c)
        self.feeds.append(f)

    def can_poll(self, cap, budget=512):
        n = 0
        for i in range(len(self.mchans)):
            c = self.mchans[i]
            f = self.feeds[i]
            while c.int_pin.value() and f.one():      # the bus while the driver idles
                pass
            n += c.poll(budget)
        return n

    def can_stats(self):
        ov = 0
        er = 0
        for c in self.mchans:
            o, e = c.stats()
            ov += o
            er += e
        return (ov, er)

    def can_errors(self):
        return [c.errors() for c in self.mchans]

    def rx_counts(self):
        return [[c.chan, c.rx] for c in self.mchans]


def main():
    card = os.getenv("DUNELOG_CARD") or "sd"
    hal = McpVcanHal(card, os.getenv("DUNELOG_CONTROL"))
    a = app.App(hal)
    s = os.getenv("DUNELOG_SECONDS")
    try:
        a.run(float(s) if s else None)
    finally:
        a.close()
        m = [f.model for f in hal.feeds]
        print("mcp2515: fed %d lost %d rejected %d overflows %d transactions %d" % (
            sum([f.fed for f in hal.feeds]), sum([x.lost for x in m]),
            sum([x.rejected for x in m]), sum([c.overflows for c in hal.mchans]),
            sum([x.transactions for x in m])))


try:
    main()
except KeyboardInterrupt:
    print("dunelog: stopped")

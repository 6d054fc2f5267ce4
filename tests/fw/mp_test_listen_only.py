# Listen-only on the MCP2515 (firmware/mcp2515.py against hil/mcp2515_model.py), under
# MicroPython: through a whole session (traffic with remote frames, overflows, error
# counters up to error-passive and bus-off, the interrupt handler) the driver never asks
# the chip to transmit: no LOAD TX BUFFER / RTS instruction, no TXREQ bit in a TXBnCTRL
# register, no byte in a transmit buffer, and the chip in listen-only mode from start()
# on. listen_only: false makes it a normal node, still with nothing of its own to send.
# The checker is shown to catch a driver that does request a transmission.
import sys
import gc

FW = [p for p in sys.path if p.rstrip("/").endswith("firmware")][0]
ROOT = FW.rstrip("/")[:-len("firmware")]
sys.path.append(ROOT + "hil")

import mcp2515                       # noqa: E402
from mcp2515_model import Mcp2515Model, MODE_LISTEN, MODE_NORMAL, MODE_CONFIG   # noqa: E402
from mp_rnd import XorShift          # noqa: E402
from ring import Ring                # noqa: E402
from capture import Capture          # noqa: E402
from config import validate, frame_filters   # noqa: E402
from hal_common import hw_filters    # noqa: E402

TMP = "/tmp"                         # set by the runner
_T = [0]
TXBCTRL = (0x30, 0x40, 0x50)         # TXBnCTRL: bit 3 TXREQ; then SIDH..D7 of the buffer


def ticks():
    _T[0] = (_T[0] + 7) & 0x3FFFFFFF
    return _T[0]


Rnd = XorShift


def open_model(chan_cfg):
    gc.collect()
    cfg, e = validate({"can": [chan_cfg]})
    assert e == [], e
    ch = cfg["can"][0]
    r = Ring(16384)
    cap = Capture(r, frame_filters(cfg))
    m = Mcp2515Model()
    m.keep_log = True
    modes = []                       # the chip's mode at every transaction after start()
    c = mcp2515.open_channel(ch, cap, m, m.cs, m.int_pin, ticks, 8000000,
                             hw_filters(ch["filters"]))
    return m, c, r, modes


def session(m, c, r, modes, rounds=400):
    """Traffic (std, ext, remote, every DLC), bursts that overflow both buffers, error
    counters through warning, passive and bus-off, polls and interrupts."""
    rnd = Rnd(7)

    def watch(model):
        modes.append(model.mode)

    m.on_select = watch
    for i in range(rounds):
        for k in range(1 + rnd.getrandbits(2)):
            ext = rnd.getrandbits(1) == 1
            cid = rnd.getrandbits(24) & 0x1FFFFFFF if ext else rnd.getrandbits(11)
            rtr = rnd.getrandbits(3) == 0
            dlc = rnd.getrandbits(4)
            m.frame(cid, ext, rtr, bytes([rnd.getrandbits(8) for _ in range(min(dlc, 8))]),
                    dlc)
        if i % 50 == 10:
            m.set_errors(rnd.getrandbits(8), rnd.getrandbits(8))     # warning / passive
        if i % 100 == 60:
            m.set_errors(255, 128)                                    # bus-off
        if i % 100 == 70:
            m.set_errors(0, 0)
        if i % 3 == 0:
            c.irq(None)
        else:
            c.poll(budget=1 + rnd.getrandbits(3))
        c.errors()
        r.tail = r.head                                               # the logger drains
    c.poll()


def tx_violations(m, modes, want_mode):
    """What a silent node never does, found in the model's state and log."""
    out = []
    if m.tx_requests:
        out.append("%d LOAD TX BUFFER / RTS instruction(s)" % m.tx_requests)
    for b in TXBCTRL:
        if m.regs[b] & 0x08:
            out.append("TXREQ set in register 0x%02X" % b)
        if any(m.regs[b + 1:b + 14]):
            out.append("transmit buffer at 0x%02X loaded" % (b + 1))
    # from the first transaction in the configured mode on, never another mode
    seen = [x for x in modes if x != MODE_CONFIG]
    if not seen or any(x != want_mode for x in seen):
        out.append("modes after start: %s" % sorted(set(seen)))
    return out


def test_default_config_never_requests_a_transmission():
    m, c, r, modes = open_model({})
    assert m.mode == MODE_LISTEN
    session(m, c, r, modes)
    assert m.received > 500 and m.lost > 0                # the session did happen
    assert c.stats()[1] > 0                               # error states were seen
    assert tx_violations(m, modes, MODE_LISTEN) == []
    assert not [i for i in m.instructions if i & 0xF8 in (0x40, 0x80)]


def test_listen_only_false_is_a_normal_node_with_nothing_to_send():
    m, c, r, modes = open_model({"listen_only": False})
    assert m.mode == MODE_NORMAL
    session(m, c, r, modes, rounds=100)
    assert tx_violations(m, modes, MODE_NORMAL) == []


def test_the_checker_catches_a_driver_that_transmits():
    """Negative control: the same session with a driver that, after start(), loads a
    frame and sets TXREQ (as a send() would): every sign is reported."""
    m, c, r, modes = open_model({})
    session(m, c, r, modes, rounds=20)
    dev = c.dev
    dev.write(0x31, b"\x0f\xe0\x00\x00\x02\x01\x0d")      # SIDH.. 0x7DF, DLC 2, data
    dev.modify(0x30, 0x08, 0x08)                          # TXB0CTRL.TXREQ
    v = tx_violations(m, modes, MODE_LISTEN)
    assert "TXREQ set in register 0x30" in v and "transmit buffer at 0x31 loaded" in v, v
    # and a mode change to normal (to transmit) is caught too
    dev.set_mode(MODE_NORMAL)
    dev.read(0x0E)
    assert any(x.startswith("modes after start") for x in tx_violations(m, modes,
                                                                        MODE_LISTEN))

# The HALs' hot call into the capture path, fn(wa, ticks, chan, cid, flags, dlc, nk, cap)
# with the frame's data at the start of a registered receive buffer (Capture.rx_buffer,
# hal_common.rx_entry), against two independent writers of the same records: Ring.push_can
# (ring.rx_frame, byte-wise) and Capture.frame (data passed in). Rings compared byte for
# byte over classic, RTR and FD frames, aligned and unaligned buffers (the MCP2515's starts
# at byte 6), wraps, drops and overflow records; with filters and prescalers (extended ids
# scanned) against FrameFilter.accept. All under micropython.heap_lock(). MicroPython.
import micropython
from capture import FD, Capture
from config import frame_filters, validate
from mp_rnd import Lcg
from ring import Ring

TMP = "/tmp"                                   # set by the runner
MASK = 0x3FFFFFFF
FD_LEN = (12, 16, 20, 24, 32, 48, 64)


Rnd = Lcg


def cases(r, n):
    """(ticks, chan, cid, flags, dlc, n, fd, data bytes), ticks crossing the 2**30 wrap"""
    out = []
    t = MASK - 50000
    for _ in range(n):
        t = t + 700 if t < MASK - 700 else t - (MASK - 700) - 1   # no big int
        chan = r.below(2)
        ext = r.below(3) == 0
        cid = r.below(0x20000000) if ext else r.below(0x800)
        flags = 1 if ext else 0
        k = r.below(10)
        if k == 0:                             # remote frame: DLC, no data
            flags |= 2
            dlc, ln, fd = r.below(9), 0, False
        elif k == 1:                           # CAN FD
            ln = FD_LEN[r.below(len(FD_LEN))]
            dlc, fd = 9 + FD_LEN.index(ln), True
            flags |= 8
        else:
            ln = r.below(9)
            dlc, fd = ln, False
        out.append((t, chan, cid, flags, dlc, ln, fd,
                    bytes([r.below(256) for _ in range(ln)])))
    return out


def feed(ring_size, cs, how, filters=None, drain=29):
    """Push cases cs through `how` ("push_can", "frame" or "fn") into a fresh ring, the
    ring emptied every `drain` frames (so it fills, drops and writes overflow records).
    Returns the ring, the Capture, which frames were taken, and the ring's bytes at every
    drain (so every record written is compared, not only the last ones)."""
    ring = Ring(ring_size)
    cap = Capture(ring, filters)
    rx = (bytearray(64), memoryview(bytearray(72))[6:])   # word-aligned, and at byte 6
    for c in range(2):
        cap.rx_buffer(c, rx[c])
    views = [[memoryview(rx[c])[:n] for n in range(65)] for c in range(2)]
    fn = cap.fn
    wa = cap.wa
    got = bytearray(len(cs))
    seen = bytearray()
    i = 0
    micropython.heap_lock()
    try:
        for t, chan, cid, flags, dlc, n, fd, data in cs:
            rx[chan][0:n] = data               # what a driver's recv does
            v = views[chan][n]
            if how == "push_can":
                ok = ring.push_can(t, chan, flags, cid, dlc, v, n, fd)
            elif how == "frame":
                ok = cap.frame(t, chan, cid, flags, dlc, v, n, fd)
            else:
                ok = fn(wa, t, chan, cid, flags, dlc, n | FD if fd else n, cap)
            got[i] = 1 if ok else 0
            i += 1
            if i % drain == 0:
                micropython.heap_unlock()
                seen.extend(ring.buf)
                ring.tail = ring.head          # the consumer took everything
                micropython.heap_lock()
    finally:
        micropython.heap_unlock()
    seen.extend(ring.buf)
    return ring, cap, got, seen


def test_hot_call_writes_the_records_push_can_writes():
    cs = cases(Rnd(11), 1500)
    ref, _, ok_ref, seen_ref = feed(512, cs, "push_can")
    assert ref.drops_total > 100               # the case covers drops and overflow records
    for how in ("fn", "frame"):
        ring, cap, ok, seen = feed(512, cs, how)
        assert ok == ok_ref, how
        assert seen == seen_ref, how
        assert (ring.head, ring.tail, ring.high_water) == (ref.head, ref.tail,
                                                           ref.high_water), how
        assert ring.drops_total == ref.drops_total and cap.rx == len(cs), how


def test_hot_call_with_filters_and_prescalers_equals_accept():
    cfg, e = validate({"can": [
        {"channel": 0,
         "filters": [{"action": "reject", "from": "0x700", "to": "0x7FF"},
                     {"action": "reject", "id": "0x18DA0000", "mask": "0x1FFF0000",
                      "ext": True},
                     {"action": "accept", "from": "0x0", "to": "0x6FF"},
                     {"action": "accept", "id": "0x0", "mask": "0x0", "ext": True}],
         "prescale": [{"id": 0x123, "min_interval_ms": 2},
                      {"id": 0x18FEF100, "ext": True, "min_interval_ms": 3}]},
        {"channel": 1}]})
    assert e == [], e
    r = Rnd(5)
    cs = []
    for c in cases(r, 3000):
        cid = c[2]
        if r.below(4) == 0:                    # ids the filters and prescalers act on
            cid = (0x123, 0x7DF, 0x18DA00F1, 0x18FEF100)[r.below(4)]
            cid = cid if cid < 0x800 or c[3] & 1 else cid & 0x7FF
        cs.append(c[:2] + (cid,) + c[3:])
    ring, cap, ok, _ = feed(1 << 17, cs, "fn", frame_filters(cfg), drain=1 << 20)
    # reference: FrameFilter.accept decides, Ring.push_can writes what it keeps
    fl = frame_filters(cfg)
    keep = []
    for t, chan, cid, flags, dlc, n, fd, data in cs:
        f = fl[chan] if chan < len(fl) else None
        keep.append(f is None or f.accept(cid, flags & 1, t))
    ref = feed(1 << 17, [c for c, k in zip(cs, keep) if k], "push_can", drain=1 << 20)[0]
    assert [b == 1 for b in ok] == keep
    assert 0 < keep.count(False) < len(cs) // 2
    assert cap.rejected == keep.count(False) and ring.drops_total == 0
    assert ring.head == ref.head and ring.buf == ref.buf


def test_channel_without_rx_buffer_drops_instead_of_reading_nowhere():
    ring = Ring(1024)
    cap = Capture(ring)
    cap.rx_buffer(0, bytearray(8))
    fn, wa = cap.fn, cap.wa
    assert fn(wa, 10, 0, 0x100, 0, 8, 8, cap)
    h = ring.head
    assert not fn(wa, 11, 2, 0x100, 0, 8, 8, cap)        # nothing registered for 2
    assert not fn(wa, 12, 7, 0x100, 0, 8, 8, cap)        # no such channel
    assert ring.head == h and ring.drops_total == 2
    ring.tail = ring.head
    assert fn(wa, 13, 2, 0x100, 2, 4, 0, cap)            # RTR: no data to read
    try:
        cap.rx_buffer(4, bytearray(8))
        raise AssertionError("channel 4 accepted")
    except ValueError:
        pass

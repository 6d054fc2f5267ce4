# Ring buffer: order, wrap, drop-newest accounting, overflow records, no allocation.
import struct
import micropython
from ring import Ring

DATA = [memoryview(bytearray(range(n))) for n in range(9)]


def drain(r):
    """Consumer: list of (type, len, ticks, raw bytes) in ring order."""
    out = []
    while r.tail != r.head:
        t = r.tail
        if r.buf[t] == 0:
            r.tail = 0
            continue
        ln = r.buf[t + 1]
        out.append((r.buf[t], ln, struct.unpack_from("<I", r.buf, t + 4)[0], bytes(r.buf[t:t + ln])))
        r.tail = t + ln if t + ln < r.size else 0
    return out


def test_push_and_drain_in_order_with_wrap():
    r = Ring(256)
    seen = []
    for i in range(200):
        assert r.push_can(i, 1, 0, 0x100 + i, 8, DATA[8], 8, False)
        if i % 5 == 4:
            seen += drain(r)
    seen += drain(r)
    assert [s[2] for s in seen] == list(range(200))
    rec = seen[7][3]
    assert struct.unpack_from("<BBBBIIBB", rec) == (1, 24, 1, 0, 7, 0x107, 8, 8)
    assert rec[16:24] == bytes(range(8))


def test_short_payload_is_zero_padded():
    r = Ring(256)
    r.buf[:] = b"\xAA" * 256
    r.push_can(1, 0, 0, 0x7FF, 3, DATA[3], 3, False)
    (typ, ln, _, raw), = drain(r)
    assert ln == 20 and raw[16:20] == b"\x00\x01\x02\x00"


def test_full_ring_drops_newest_and_counts_by_kind():
    r = Ring(24 * 10)            # 9 frames of 24 bytes fit (one byte always stays free)
    ok = [r.push_can(i, 0, 0, i, 8, DATA[8], 8, i % 2 == 1) for i in range(15)]
    assert ok == [True] * 9 + [False] * 6
    assert r.drops_total == 6 and r.pending == 6
    assert r.drops[0] == 3 and r.drops[1] == 3      # classic 10,12,14; FD 9,11,13
    first = drain(r)
    assert [f[2] for f in first] == list(range(9))
    # room again: the next push first writes the overflow record
    assert r.push_can(100, 0, 0, 0x55, 8, DATA[8], 8, False)
    recs = drain(r)
    assert [x[0] for x in recs] == [0x22, 0x01]
    raw = recs[0][3]
    typ, ln, n, _, t, first_t, last_t = struct.unpack_from("<BBBBIII", raw)
    assert (ln, n, t, first_t, last_t) == (32, 2, 100, 9, 14)
    assert struct.unpack_from("<BBHI", raw, 16) == (0x01, 0, 0, 3)
    assert struct.unpack_from("<BBHI", raw, 24) == (0x02, 0, 0, 3)
    assert r.pending == 0 and r.drops_total == 6


def test_overflow_flushed_by_consumer_when_idle():
    r = Ring(64)
    for i in range(5):
        r.push_can(i, 0, 0, i, 8, DATA[8], 8, False)
    drain(r)
    assert r.pending == 3
    assert r.flush_overflow(50)
    (rec,) = drain(r)
    assert rec[0] == 0x22 and rec[2] == 50


def test_producer_path_does_not_allocate():
    r = Ring(24 * 6)
    m = DATA[8]
    micropython.heap_lock()
    try:
        for i in range(20):                     # fills, drops, counts
            r.push_can(i, 0, 1, 0x18FEF100, 8, m, 8, False)
        r.tail = r.head                         # consumer frees everything
        r.push_can(99, 0, 0, 1, 8, m, 8, True)  # emits the overflow record, then the frame
        r.push_can(100, 0, 0, 1, 3, DATA[3], 3, False)
    finally:
        micropython.heap_unlock()
    assert r.drops_total == 15


def test_high_water():
    r = Ring(1000)
    for i in range(10):
        r.push_can(i, 0, 0, i, 8, DATA[8], 8, False)
    drain(r)
    assert r.reset_high_water() == 240
    assert r.high_water == 0


def test_due_threshold_clock_and_wrap_without_allocation():
    """ring.due(): True when a block's worth of records waits (wrapped backlog included) or
    20 ms have passed since it last said True, across the 2**30 ticks wrap; no allocation."""
    from ring import due
    r = Ring(32768)
    r.pace(4096, 0x3FFFFF00)                 # the 20 ms clock starts just before the wrap
    st = r.st
    out = [None] * 7
    micropython.heap_lock()
    try:
        out[0] = due(st, 0x3FFFFF00 + 100)   # nothing waits, 100 us
        st[0] = 4096                         # a block waits
        out[1] = due(st, 0x3FFFFF00 + 200)   # (restarts the clock)
        st[1] = 4096                         # drained
        out[2] = due(st, 0x3FFFFF00 + 300)
        out[3] = due(st, (0x3FFFFF00 + 200 + 19999) & 0x3FFFFFFF)   # < 20 ms, across the wrap
        out[4] = due(st, (0x3FFFFF00 + 200 + 20000) & 0x3FFFFFFF)   # 20 ms
        st[0] = 100
        st[1] = 30000                        # wrapped backlog 2,868 bytes < 4096
        out[5] = due(st, 20044)
        st[1] = 100 + 32768 - 4096           # wrapped backlog exactly 4096
        out[6] = due(st, 20045)
    finally:
        micropython.heap_unlock()
    assert out == [False, True, False, False, True, False, True], out

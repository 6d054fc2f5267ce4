# Fills one preallocated block buffer with records from the ring (FORMAT.md section 3),
# then stamps header, slot table and CRC. Records are copied in contiguous runs: one
# slice copy per run, a few small-int operations per record.
from micropython import const
import struct
import binascii

_HDR = const(32)
_T_OVERFLOW = const(0x22)    # = fmt.T_OVERFLOW
_MASK = const(0x3FFFFFFF)    # = clock.MASK
_HALF = const(0x20000000)    # = clock.HALF
_SPAN = const(0x10000000)    # a block never spans more than 2**28 us


class BlockEncoder:
    def __init__(self, block_shift, logger_id, boot):
        self.bs = 1 << block_shift
        self.shift = block_shift
        self.buf = bytearray(self.bs)
        self.mv = memoryview(self.buf)
        self.zero = bytes(self.bs)
        self.logger_id = logger_id
        self.boot = boot
        self.seq = 0
        self.count = 0
        self.pos = _HDR
        self.base_t = 0          # raw ticks of the block base
        self.base_us = 0         # 64-bit time of the block base
        self.last_dt = 0

    def empty(self):
        return self.count == 0

    def open(self, ticks, us):
        self.buf[:] = self.zero
        self.count = 0
        self.pos = _HDR
        self.base_t = ticks
        self.base_us = us
        self.last_dt = 0

    def fill(self, ring, clock):
        """Move records from the ring into this block until the ring is empty (returns
        False) or the block is full (returns True: close and write it, then call again)."""
        rb = ring.buf
        size = ring.size
        bs4 = self.bs - 4
        blk = self.buf
        while True:
            t = ring.tail
            h = ring.head
            if t == h:
                return False
            if rb[t] == 0:                           # wrap marker
                ring.tail = 0
                continue
            lim = h if h > t else size
            if self.count == 0:
                tk = rb[t + 4] | (rb[t + 5] << 8) | (rb[t + 6] << 16) | (rb[t + 7] << 24)
                self.open(tk, clock.extend(tk))
            base = self.base_t
            last = self.last_dt
            pos = self.pos
            cnt = self.count
            p = t
            full = False
            while p < lim:
                ln = rb[p + 1]
                if rb[p] == 0:
                    break
                q = pos + (p - t)                    # where this record lands
                if q + ln + 2 * cnt + 2 > bs4:
                    full = True
                    break
                tk = rb[p + 4] | (rb[p + 5] << 8) | (rb[p + 6] << 16) | (rb[p + 7] << 24)
                d = (tk - base) & _MASK
                if d >= _HALF:
                    d = 0                            # stamped before the base: clamp
                if d >= _SPAN:
                    full = True
                    break
                if d < last:
                    d = last                         # keep record times non-decreasing
                last = d
                struct.pack_into("<I", rb, p + 4, d)
                if rb[p] == _T_OVERFLOW:             # drop ticks -> "us before this record"
                    f = rb[p + 8] | (rb[p + 9] << 8) | (rb[p + 10] << 16) | (rb[p + 11] << 24)
                    g = rb[p + 12] | (rb[p + 13] << 8) | (rb[p + 14] << 16) | (rb[p + 15] << 24)
                    struct.pack_into("<II", rb, p + 8, (tk - f) & _MASK, (tk - g) & _MASK)
                struct.pack_into("<H", blk, bs4 - 2 * cnt - 2, q)
                cnt += 1
                p += ln
            n = p - t
            if n:
                self.mv[pos:pos + n] = ring.mv[t:p]
                self.pos = pos + n
                self.count = cnt
                self.last_dt = last
                ring.tail = p if p < size else 0
            if full:
                return True

    def close(self, flags):
        """Stamp header and CRC; returns the block as a memoryview (valid until open())."""
        b = self.buf
        b[0:4] = b"DLGB"
        struct.pack_into("<BBHHHIIIQ", b, 4, 1, self.shift, self.count, self.pos - _HDR,
                         flags, self.logger_id, self.boot, self.seq, self.base_us)
        struct.pack_into("<I", b, self.bs - 4, binascii.crc32(self.mv[0:self.bs - 4]))
        self.seq += 1
        self.count = 0
        return self.mv

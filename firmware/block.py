# Fills one preallocated block buffer with records from the ring (FORMAT.md section 3),
# then stamps header, slot table and CRC. The per-record work (time offset from the block
# base, overflow-record times, slot table entry, copy) runs in one viper function over the
# ring's and the block's state arrays; opening and closing a block stay in Python.
import micropython
from micropython import const
from array import array
import struct
import binascii

_HDR = const(32)
_T_OVERFLOW = const(0x22)    # = fmt.T_OVERFLOW
_MASK = const(0x3FFFFFFF)    # = clock.MASK
_HALF = const(0x20000000)    # = clock.HALF
_SPAN = const(0x10000000)    # a block never spans more than 2**28 us

# Ring.st slots (= ring._H, ring._T, ring._SIZE)
_RH = const(0)
_RT = const(1)
_RSIZE = const(5)

# BlockEncoder.st slots (array('i'); every value stays below 2**30)
_CNT = const(0)              # records in the block
_POS = const(1)              # next free byte
_BASE = const(2)             # raw ticks of the block base
_LAST = const(3)             # latest record's time offset
_OPEN = const(4)             # 1 once open() has set the base
_BS = const(5)               # block size


@micropython.viper
def aligned(buf) -> bool:
    """True if buf's data starts at a 4-byte boundary (the GC heap's blocks do): _fill and
    capture._frame move whole words."""
    return (uint(ptr8(buf)) & uint(3)) == uint(0)


@micropython.viper
def _fill(rst, rbuf, est, blk) -> int:
    # Moves records from the ring into the block. Returns 0: ring empty; 1: block full;
    # 2: the block needs open() with the ticks of the record at the ring's tail.
    # Word-wise: ring and block buffers are word-aligned (aligned(), checked at set-up)
    # and records are whole words at word offsets.
    rs = ptr32(rst)
    rb = ptr32(rbuf)
    es = ptr32(est)
    bk = ptr32(blk)
    b16 = ptr16(blk)
    size = rs[_RSIZE]
    bs4 = es[_BS] - 4
    while True:
        t = rs[_RT]
        h = rs[_RH]
        if t == h:
            return 0
        if (rb[t >> 2] & 0xFF) == 0:             # wrap marker
            rs[_RT] = 0
            continue
        cnt = es[_CNT]
        if cnt == 0 and es[_OPEN] == 0:
            return 2
        lim = size
        if h > t:
            lim = h
        lim >>= 2                                # in words
        base = es[_BASE]
        last = es[_LAST]
        pos = es[_POS]
        w = t >> 2                               # record's first word in the ring
        sl = (bs4 >> 1) - cnt - 1                # its slot table entry (u16 index)
        dw = (pos >> 2) - w                      # ring word -> block word
        bp = ptr32(uint(bk) + uint(dw << 2))     # bp[k] = the block's word for ring word k
        full = False
        while w < lim:
            hd = rb[w]
            typ = hd & 0xFF
            if typ == 0:
                break
            ln = (hd >> 8) & 0xFF
            q = (w + dw) << 2                    # where this record lands
            if q + ln > (sl << 1):               # would reach the slot table
                full = True
                break
            tk = rb[w + 1] & _MASK
            d = (tk - base) & _MASK
            if d >= _HALF:
                d = 0                            # stamped before the base: clamp
            if d >= _SPAN:
                full = True
                break
            if d < last:
                d = last                         # keep record times non-decreasing
            last = d
            bp[w] = hd
            bp[w + 1] = d
            e = w + (ln >> 2)
            k = w + 2
            if typ == _T_OVERFLOW:               # drop ticks -> "us before this record"
                bp[k] = (tk - rb[k]) & _MASK               # first drop
                bp[k + 1] = (tk - rb[k + 1]) & _MASK       # last drop
                k += 2
            while k + 1 < e:                     # two words a turn (a CAN record: 4)
                bp[k] = rb[k]
                bp[k + 1] = rb[k + 1]
                k += 2
            if k < e:
                bp[k] = rb[k]
            b16[sl] = q
            sl -= 1
            w = e
        p = w << 2
        n = p - t
        if n:
            cnt = (bs4 >> 1) - 1 - sl
            es[_POS] = pos + n
            es[_CNT] = cnt
            es[_LAST] = last
            if p < size:
                rs[_RT] = p
            else:
                rs[_RT] = 0
        if full:
            return 1


class BlockEncoder:
    def __init__(self, block_shift, logger_id, boot):
        self.bs = 1 << block_shift
        self.shift = block_shift
        self.buf = bytearray(self.bs)
        if not aligned(self.buf):
            raise MemoryError("block buffer not word-aligned")
        self.mv = memoryview(self.buf)
        self.body = self.mv[0:self.bs - 4]      # what the CRC covers (no slice per block)
        # what open() starts each block from: zeros, the magic and the format version
        # and block shift already in place (close() packs the rest)
        self.zero = bytearray(self.bs)
        self.zero[0:4] = b"DLGB"
        self.zero[4] = 1
        self.zero[5] = block_shift
        self.buf[:] = self.zero
        self.logger_id = logger_id
        self.boot = boot
        self.seq = 0
        self.base_us = 0         # 64-bit time of the block base
        self.st = array("i", (0, _HDR, 0, 0, 0, self.bs))  # count, pos, base_t, last_dt, open, bs

    @property
    def count(self):
        return self.st[_CNT]

    @property
    def pos(self):
        return self.st[_POS]

    @property
    def base_t(self):
        return self.st[_BASE]

    def empty(self):
        return self.st[_CNT] == 0

    def open(self, ticks, us):
        self.buf[:] = self.zero
        st = self.st
        st[_CNT] = 0
        st[_POS] = _HDR
        st[_BASE] = ticks
        st[_LAST] = 0
        st[_OPEN] = 1
        self.base_us = us

    def fill(self, ring, clock):
        """Move records from the ring into this block until the ring is empty (returns
        False) or the block is full (returns True: close and write it, then call again)."""
        rst = ring.st
        rb = ring.buf
        st = self.st
        blk = self.buf
        while True:
            r = _fill(rst, rb, st, blk)
            if r != 2:
                return r == 1
            t = rst[_RT]
            tk = rb[t + 4] | (rb[t + 5] << 8) | (rb[t + 6] << 16) | (rb[t + 7] << 24)
            self.open(tk, clock.extend(tk))

    def close(self, flags):
        """Stamp header and CRC; returns the block as a memoryview (valid until open())."""
        b = self.buf
        st = self.st
        # magic, version and block shift: from open()'s template
        struct.pack_into("<HHHIIIQ", b, 6, st[_CNT], st[_POS] - _HDR, flags,
                         self.logger_id, self.boot, self.seq, self.base_us)
        struct.pack_into("<I", b, self.bs - 4, binascii.crc32(self.body))
        self.seq += 1
        st[_CNT] = 0
        st[_OPEN] = 0
        return self.mv

# Preallocated RAM ring of encoded records between producers (CAN rx callback, main loop)
# and the block encoder. The producer side never allocates: records are written in their
# on-card layout with struct.pack_into into one bytearray; the dt field temporarily holds
# the raw 30-bit tick, which the consumer replaces with the offset from the block base.
#
# Single producer at a time: the CAN rx callback is one producer; a main-loop producer
# must hold interrupts off around its reserve()/commit() (Logger does this). The
# consumer only moves `tail`, the producer only `head`.
#
# When full the ring drops the NEWEST record and counts it by type; the first push that
# finds room again first writes an overflow record (FORMAT.md 3.9) with the exact counts,
# so the stream order tells which records came before and after the loss.
from micropython import const
import struct

_WRAP = const(0)             # type byte 0 at a record position: continue at offset 0
_T_CAN = const(0x01)         # = fmt.T_CAN
_T_CANFD = const(0x02)       # = fmt.T_CANFD
_T_OVERFLOW = const(0x22)    # = fmt.T_OVERFLOW
_NKINDS = const(8)

# record type -> drop-counter slot; slot 7 counts any other type
_KIND = bytearray(256)
for _t in range(256):
    _KIND[_t] = 7
for _i, _t in enumerate((0x01, 0x02, 0x10, 0x11, 0x20, 0x21, 0x30)):
    _KIND[_t] = _i
KIND_TYPES = bytes((0x01, 0x02, 0x10, 0x11, 0x20, 0x21, 0x30, 0xFF))


class Ring:
    def __init__(self, size):
        size &= ~3
        self.size = size
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.head = 0            # producer: next free byte
        self.tail = 0            # consumer: next record
        self._nh = 0             # head after the pending reserve()
        self.drops = [0] * _NKINDS   # pending drops by kind (not yet in an overflow record)
        self.pending = 0             # sum of self.drops
        self.drops_total = 0         # all drops since boot
        self.first_drop = 0          # ticks of the first pending drop
        self.last_drop = 0           # ticks of the latest pending drop
        self.high_water = 0          # most bytes in use since reset_high_water()

    def used(self):
        d = self.head - self.tail
        return d if d >= 0 else d + self.size

    def reset_high_water(self):
        hw = self.high_water
        self.high_water = self.used()
        return hw

    def _alloc(self, n):
        # Returns the offset for an n-byte record (n % 4 == 0) or -1; sets self._nh.
        # One byte always stays free, so head == tail means empty.
        h = self.head
        t = self.tail
        if h >= t:
            e = h + n
            if e < self.size or (e == self.size and t != 0):
                self._nh = e if e < self.size else 0
                return h
            if n < t:                # wrap to the start
                self.buf[h] = _WRAP
                self._nh = n
                return 0
            return -1
        if h + n < t:
            self._nh = h + n
            return h
        return -1

    def _drop(self, typ, ticks):
        k = _KIND[typ]
        self.drops[k] += 1
        if self.pending == 0:
            self.first_drop = ticks
        self.pending += 1
        self.drops_total += 1
        self.last_drop = ticks

    def _emit_overflow(self, ticks):
        # Room for the overflow record: n entries of (type, 0, 0, 0, u32 count).
        d = self.drops
        n = 0
        for k in range(_NKINDS):
            if d[k]:
                n += 1
        ln = 16 + 8 * n
        o = self._alloc(ln)
        if o < 0:
            return False
        b = self.buf
        struct.pack_into("<BBBBIII", b, o, _T_OVERFLOW, ln, n, 0, ticks,
                         self.first_drop, self.last_drop)
        p = o + 16
        for k in range(_NKINDS):
            c = d[k]
            if c:
                struct.pack_into("<BBHI", b, p, KIND_TYPES[k], 0, 0, c)
                d[k] = 0
                p += 8
        self.pending = 0
        self._commit()
        return True

    def _commit(self):
        self.head = self._nh
        u = self.head - self.tail
        if u < 0:
            u += self.size
        if u > self.high_water:
            self.high_water = u

    def reserve(self, typ, n, ticks):
        """Offset where the caller writes an n-byte record of type typ, then calls
        commit(); or -1 when full (the record is counted as dropped)."""
        if self.pending and not self._emit_overflow(ticks):
            self._drop(typ, ticks)
            return -1
        o = self._alloc(n)
        if o < 0:
            self._drop(typ, ticks)
        return o

    def commit(self):
        self._commit()

    def flush_overflow(self, ticks):
        """Consumer side, with the producer held off: emit pending drop counts even when
        no new record arrives to carry them."""
        if self.pending:
            return self._emit_overflow(ticks)
        return True

    def push_can(self, ticks, chan, flags, cid, dlc, data, n, fd):
        """Hot path, called from the CAN rx callback: no allocation. data holds exactly
        n bytes (the HAL keeps one preallocated memoryview per length)."""
        typ = _T_CANFD if fd else _T_CAN
        ln = 16 + ((n + 3) & ~3)
        o = self.reserve(typ, ln, ticks)
        if o < 0:
            return False
        b = self.buf
        struct.pack_into("<BBBBIIBBH", b, o, typ, ln, chan, flags, ticks, cid, dlc, n, 0)
        p = o + 16
        b[p:p + n] = data
        p += n
        e = o + ln
        while p < e:
            b[p] = 0
            p += 1
        self._commit()
        return True

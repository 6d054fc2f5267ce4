# Preallocated RAM ring of encoded records between producers (CAN rx callback, main loop)
# and the block encoder. The producer side never allocates: records are written in their
# on-card layout into one bytearray; the dt field temporarily holds the raw 30-bit tick,
# which the consumer replaces with the offset from the block base.
#
# Ring.push_can writes a CAN record with one viper function, rx_frame() (byte-wise, no
# filters): the reference the boards' capture path (capture.py, one viper call per frame
# with filters and prescalers, word-wise) is tested against (tests/fw/mp_test_capture.py;
# bench/RESULTS.md, "Firmware path cost": a second Python-level call per frame cost as
# much as the whole record write).
#
# Single producer at a time: the CAN rx callback is one producer; a main-loop producer
# must hold interrupts off around its reserve()/commit() (Logger does this). The
# consumer only moves `tail`, the producer only `head`.
#
# When full the ring drops the NEWEST record and counts it by type; the first push that
# finds room again first writes an overflow record (FORMAT.md 3.9) with the exact counts,
# so the stream order tells which records came before and after the loss.
import micropython
from micropython import const
from array import array
import struct

_WRAP = const(0)             # type byte 0 at a record position: continue at offset 0
_T_CAN = const(0x01)         # = fmt.T_CAN
_T_CANFD = const(0x02)       # = fmt.T_CANFD
_T_OVERFLOW = const(0x22)    # = fmt.T_OVERFLOW
_NKINDS = const(8)

# slots of Ring.st, the state the viper producer path reads and writes without attribute
# lookups (array('i'): 32-bit on every port; every value stays below 2**30)
_H = const(0)                # head: producer's next free byte
_T = const(1)                # tail: consumer's next record
_NH = const(2)               # head after the pending reserve()
_PEND = const(3)             # 1 while drops are pending (Ring.pending > 0)
_HW = const(4)               # high-water mark, bytes
_SIZE = const(5)             # ring size, bytes
_RX = const(6)               # frames offered to rx_frame (30-bit, wraps)
_REJ = const(7)              # of those, kept out by the filters (30-bit, wraps)
_SVB = const(8)              # due(): backlog in bytes worth a Logger.service() call
_SVT = const(9)              # due(): ticks of the last True (30-bit)
_SVC_US = const(20000)       # due(): True at least this often (us)
_MASK = const(0x3FFFFFFF)
_F_EXT = const(0x01)         # = fmt.F_EXT

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
        # slots _H .. _SVT above
        self.st = array("i", (0, 0, 0, 0, 0, size, 0, 0, min(4096, size >> 2), 0))
        self.filters = None          # rx_frame: a Ring filters nothing (Capture may)
        self.drops = [0] * _NKINDS   # pending drops by kind (not yet in an overflow record)
        self.pending = 0             # sum of self.drops (st[_PEND] says whether > 0)
        self.drops_total = 0         # all drops since boot
        self.first_drop = 0          # ticks of the first pending drop
        self.last_drop = 0           # ticks of the latest pending drop

    # head, tail and high_water live in self.st (read and written by rx_frame and by
    # block.BlockEncoder.fill); these properties are the Python view.
    @property
    def head(self):
        """Producer: next free byte."""
        return self.st[_H]

    @head.setter
    def head(self, v):
        self.st[_H] = v

    @property
    def tail(self):
        """Consumer: next record."""
        return self.st[_T]

    @tail.setter
    def tail(self, v):
        self.st[_T] = v

    @property
    def high_water(self):
        """Most bytes in use since reset_high_water()."""
        return self.st[_HW]

    def used(self):
        st = self.st
        d = st[_H] - st[_T]
        return d if d >= 0 else d + self.size

    def pace(self, nbytes, ticks=0):
        """due() becomes True once nbytes are waiting (at most a quarter of the ring);
        ticks: where its 20 ms clock starts."""
        self.st[_SVB] = min(nbytes, self.size >> 2)
        self.st[_SVT] = ticks

    def reset_high_water(self):
        st = self.st
        hw = st[_HW]
        st[_HW] = self.used()
        return hw

    def _alloc(self, n):
        # Returns the offset for an n-byte record (n % 4 == 0) or -1; sets st[_NH].
        # One byte always stays free, so head == tail means empty.
        st = self.st
        h = st[_H]
        t = st[_T]
        size = self.size
        if h >= t:
            e = h + n
            if e < size or (e == size and t != 0):
                st[_NH] = e if e < size else 0
                return h
            if n < t:                # wrap to the start
                self.buf[h] = _WRAP
                st[_NH] = n
                return 0
            return -1
        if h + n < t:
            st[_NH] = h + n
            return h
        return -1

    def _drop(self, typ, ticks):
        k = _KIND[typ]
        self.drops[k] += 1
        if self.pending == 0:
            self.first_drop = ticks
        self.pending += 1
        self.st[_PEND] = 1
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
        self.st[_PEND] = 0
        self._commit()
        return True

    def _commit(self):
        st = self.st
        h = st[_NH]
        st[_H] = h
        u = h - st[_T]
        if u < 0:
            u += self.size
        if u > st[_HW]:
            st[_HW] = u

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

    def _push_slow(self, ticks, chan, flags, cid, dlc, data, n, fd):
        # rx_frame when drops are pending: the overflow record goes first (or this frame
        # is dropped too). Also allocation-free. data: at least n bytes.
        typ = _T_CANFD if fd else _T_CAN
        ln = 16 + ((n + 3) & ~3)
        o = self.reserve(typ, ln, ticks)
        if o < 0:
            return False
        b = self.buf
        struct.pack_into("<BBBBIIBBH", b, o, typ, ln, chan, flags, ticks, cid, dlc, n, 0)
        p = o + 16
        i = 0
        while i < n:                 # data may be longer than n (a Capture's rx buffer)
            b[p + i] = data[i]
            i += 1
        p += n
        e = o + ln
        while p < e:
            b[p] = 0
            p += 1
        self._commit()
        return True

    def push_can(self, ticks, chan, flags, cid, dlc, data, n, fd):
        """Writes one CAN record: no allocation. data holds exactly n bytes (n <= 64; the
        HAL keeps one preallocated memoryview per length). The boards' rx path goes through
        capture.py instead (filters, prescalers, one call)."""
        return rx_frame(self, ticks, chan, cid, flags, dlc, data, n, fd)


@micropython.viper
def rx_frame(self, ticks: int, chan: int, cid: int, flags: int, dlc: int, data, n: int,
             fd) -> bool:
    """Ring.push_can's record writer: count, filter, write one record. No allocation.
    self is a Ring; it provides st and buf, filters (None, or one object per channel with
    accept(cid, ext, ticks)) and the slow paths _push_slow() (drops pending) and _drop()
    (ring full).
    Viper: the record is written byte by byte (no alignment assumption); ints here are
    machine words, so no value needs the heap."""
    st = ptr32(self.st)
    st[_RX] = (st[_RX] + 1) & _MASK
    f = self.filters
    if f and not f[chan].accept(cid, flags & _F_EXT, ticks):
        st[_REJ] = (st[_REJ] + 1) & _MASK
        return False
    if st[_PEND]:                # drops pending: the overflow record goes first
        # no bool(): a global name would make the function swap globals and set up an
        # exception handler on every call (~200 x64 instructions a frame)
        if self._push_slow(ticks, chan, flags, cid, dlc, data, n, fd):
            return True
        return False
    typ = _T_CAN
    if fd:
        typ = _T_CANFD
    ln = 16 + (((n + 3) >> 2) << 2)
    size = st[_SIZE]
    h = st[_H]
    t = st[_T]
    b = ptr8(self.buf)
    o = -1
    nh = 0
    if h >= t:
        e = h + ln
        if e < size:
            o = h
            nh = e
        elif e == size and t != 0:
            o = h
            nh = 0
        elif ln < t:                 # wrap to the start
            b[h] = _WRAP
            o = 0
            nh = ln
    elif h + ln < t:
        o = h
        nh = h + ln
    if o < 0:
        self._drop(typ, ticks)
        return False
    b[o] = typ
    b[o + 1] = ln
    b[o + 2] = chan
    b[o + 3] = flags
    b[o + 4] = ticks
    b[o + 5] = ticks >> 8
    b[o + 6] = ticks >> 16
    b[o + 7] = ticks >> 24
    b[o + 8] = cid
    b[o + 9] = cid >> 8
    b[o + 10] = cid >> 16
    b[o + 11] = cid >> 24
    b[o + 12] = dlc
    b[o + 13] = n
    b[o + 14] = 0
    b[o + 15] = 0
    d = ptr8(data)
    p = o + 16
    i = 0
    while i < n:
        b[p + i] = d[i]
        i += 1
    e = o + ln
    p += n
    while p < e:
        b[p] = 0
        p += 1
    st[_H] = nh                      # commit: the record is complete before head moves
    u = nh - t
    if u < 0:
        u += size
    if u > st[_HW]:
        st[_HW] = u
    return True


@micropython.viper
def due(st, ticks: int) -> bool:
    """The main loop's test whether Logger.service() has work worth its cost (st: a
    Ring's st): True when at least st[_SVB] bytes (one block by default) wait in the ring
    or _SVC_US have passed since the last True. A service call costs as much Python as
    ~30 received frames (bench/RESULTS.md); per main-loop pass at a full bus that was most
    of the budget. Flushes and segment rotation happen at most _SVC_US late."""
    s = ptr32(st)
    u = s[_H] - s[_T]
    if u < 0:
        u += s[_SIZE]
    if u < s[_SVB] and ((ticks - s[_SVT]) & _MASK) < _SVC_US:
        return False
    s[_SVT] = ticks & _MASK
    return True

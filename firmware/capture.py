# The CAN receive path every board shares: a HAL driver decodes its native frame into
# (channel, id, flags, dlc, data, n) and calls frame(); acceptance filter and prescaler
# (the channel's rxfilter table), then the ring. Runs in the rx callback on boards: no
# allocation (tested under micropython.heap_lock()).
#
# frame is _frame, one viper function that counts, filters, prescales and writes the
# record: the HAL's call is the only Python-level call per frame (bench/RESULTS.md). A
# Capture is itself an array('i') of what _frame needs (so no attribute lookup per frame):
# the addresses of the ring's state and buffer and of each channel's filter table (a
# 64-bit port keeps the high words beside them), held alive by the references below.
# Ring.push_can (ring.rx_frame) writes the same records without filters.
import sys
import micropython
from micropython import const
from array import array
from block import aligned

_RX = const(6)               # = ring._RX, ring._REJ, ring._PEND, ring._SIZE, ring._H, ring._T
_REJ = const(7)
_PEND = const(3)
_SIZE = const(5)
_H = const(0)
_T = const(1)
_MASK = const(0x3FFFFFFF)
_EXTBIT = const(0x20000000)
_T_CAN = const(0x01)
_T_CANFD = const(0x02)
# rxfilter table slots (= rxfilter.NF ...)
_NF = const(0)
_DEF = const(1)
_NB = const(2)
_HW = const(4)
_FREJ = const(5)
_THIN = const(6)
_FHDR = const(8)
# Capture words
_WIDE = const(0)             # 1 on a 64-bit port: addresses have a high word
_NCH = const(1)              # channels with a filter slot
_ST = const(2)               # ring.st address (lo, hi)
_BUF = const(4)              # ring.buf address (lo, hi)
_FT = const(6)               # channel c's filter table address at _FT + 2c (0: none)
_MAXCH = const(4)
_SD = const(14)              # channel c's FrameFilter.std address at _SD + 2c (0: none)
_WORDS = const(22)
_STD_OK = const(0x80)        # = rxfilter.STD_OK, STD_PROBE
_STD_PROBE = const(0x7F)


@micropython.viper
def _put(w, k: int, obj):
    # word k (and k + 1, the high word on a 64-bit port) = address of obj's buffer
    p = ptr32(w)
    a = uint(ptr8(obj))
    p[k] = a
    p[k + 1] = a >> 16 >> 16        # 0 on a 32-bit port (no shift by the word size)


@micropython.viper
def _frame(self, ticks: int, chan: int, cid: int, flags: int, dlc: int, data, n: int,
           fd) -> bool:
    w = ptr32(self)
    wide = w[_WIDE]
    a = uint(w[_ST])
    if wide:
        a = ((a << 32) >> 32) | (uint(w[_ST + 1]) << 32)
    st = ptr32(a)
    st[_RX] = (st[_RX] + 1) & _MASK
    if uint(chan) < uint(w[_NCH]):
        c = _FT + 2 * chan
        a = uint(w[c])
        if wide:
            a = ((a << 32) >> 32) | (uint(w[c + 1]) << 32)
        if a:
            # the channel's filters and prescaler: rxfilter.FrameFilter.accept, inline;
            # a standard id reads both decisions from the FrameFilter.std byte table
            ft = ptr32(a)
            x = flags & 1
            nf = ft[_NF]
            nb = ft[_NB]
            j = 0                           # the id's prescaler bucket (word index); 0 none
            c = _SD + 2 * chan
            sa = uint(w[c])
            if wide:
                sa = ((sa << 32) >> 32) | (uint(w[c + 1]) << 32)
            if sa and x == 0 and uint(cid) < uint(0x800):
                v = int(ptr8(sa)[cid])
                if not (v & _STD_OK) and not (ft[_HW] & 1):
                    ft[_FREJ] = (ft[_FREJ] + 1) & _MASK
                    st[_REJ] = (st[_REJ] + 1) & _MASK
                    return False
                v &= _STD_PROBE
                if v == _STD_PROBE:
                    j = -1
                elif v:
                    j = _FHDR + 3 * nf + 3 * (v - 1)
            else:
                if nf and not ((ft[_HW] >> x) & 1):
                    ok = ft[_DEF]
                    x2 = x << 1
                    j = _FHDR
                    e = _FHDR + 3 * nf
                    while j < e:
                        k = ft[j]
                        if (k & 2) == x2:
                            if k & 1:
                                if ft[j + 1] <= cid and cid <= ft[j + 2]:
                                    ok = k & 4
                                    break
                            elif (cid & ft[j + 2]) == ft[j + 1]:
                                ok = k & 4
                                break
                        j += 3
                    if not ok:
                        ft[_FREJ] = (ft[_FREJ] + 1) & _MASK
                        st[_REJ] = (st[_REJ] + 1) & _MASK
                        return False
                j = 0
                if nb:
                    j = -1
            if j < 0:                       # probe the prescaler table
                key = cid
                if x:
                    key = cid | _EXTBIT
                hb = (key ^ (key >> 9) ^ (key >> 18) ^ (key >> 27)) & (nb - 1)
                base = _FHDR + 3 * nf
                while True:
                    j = base + 3 * hb
                    k = ft[j]
                    if k == key:
                        break
                    if (k >> 31) & 1:       # empty bucket: no prescaler for this id
                        j = 0
                        break
                    hb = (hb + 1) & (nb - 1)
            if j:
                tk = ticks & _MASK
                last = ft[j + 2]
                if ((last >> 31) & 1) == 0 and ((tk - last) & _MASK) < ft[j + 1]:
                    ft[_THIN] = (ft[_THIN] + 1) & _MASK
                    st[_REJ] = (st[_REJ] + 1) & _MASK
                    return False
                ft[j + 2] = tk
    if st[_PEND]:                # drops pending: the overflow record goes first
        return bool(self._push_slow(ticks, chan, flags, cid, dlc, data, n, fd))
    typ = _T_CAN
    if fd:
        typ = _T_CANFD
    nw = (n + 3) >> 2
    ln = 16 + (nw << 2)
    size = st[_SIZE]
    h = st[_H]
    t = st[_T]
    a = uint(w[_BUF])
    if wide:
        a = ((a << 32) >> 32) | (uint(w[_BUF + 1]) << 32)
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
            b8 = ptr8(a)
            b8[h] = 0                # ring._WRAP
            o = 0
            nh = ln
    elif h + ln < t:
        o = h
        nh = h + ln
    if o < 0:
        self._drop(typ, ticks)
        return False
    r = ptr32(a + uint(o))           # records are whole words at word offsets
    r[0] = typ | (ln << 8) | (chan << 16) | (flags << 24)
    r[1] = ticks
    r[2] = cid
    r[3] = dlc | (n << 8)
    if n:
        d = ptr8(data)
        i = 0
        if (uint(d) & uint(3)) == uint(0):
            q = ptr32(uint(d))
            while i < (n >> 2):
                r[4 + i] = q[i]
                i += 1
        else:
            while i < (n >> 2):
                j = i << 2
                r[4 + i] = d[j] | (d[j + 1] << 8) | (d[j + 2] << 16) | (d[j + 3] << 24)
                i += 1
        if i < nw:                   # last partial word, zero padded
            j = i << 2
            v = 0
            s = 0
            while j < n:
                v |= d[j] << s
                s += 8
                j += 1
            r[4 + i] = v
    st[_H] = nh                      # commit: the record is complete before head moves
    u = nh - t
    if u < 0:
        u += size
    if u > st[4]:                    # ring._HW
        st[4] = u
    return True


class Capture(array):
    """frame(ticks, chan, cid, flags, dlc, data, n, fd) -> bool: True if the frame is in
    the ring; False if the filters or prescalers kept it out or the ring was full (then
    counted as a drop). filters: None, or one rxfilter.FrameFilter (or None) per channel
    number (config.frame_filters)."""

    def __init__(self, ring, filters=None):
        super().__init__("i", [0] * _WORDS)
        if not aligned(ring.buf):
            raise MemoryError("ring buffer not word-aligned")
        self.ring = ring
        self.filters = filters
        self.st = ring.st            # the objects whose addresses the words hold
        self.buf = ring.buf
        self[_WIDE] = 1 if sys.maxsize > 0x7FFFFFFF else 0
        _put(self, _ST, ring.st)
        _put(self, _BUF, ring.buf)
        nch = 0
        if filters:
            nch = len(filters)
            if nch > _MAXCH:
                raise ValueError("at most %d CAN channels" % _MAXCH)
            for c in range(nch):
                f = filters[c]
                if f is not None:
                    _put(self, _FT + 2 * c, f.t)
                    if f.std is not None:
                        _put(self, _SD + 2 * c, f.std)
        self[_NCH] = nch

    frame = _frame

    def hw(self, chan, std, ext):
        """The HAL programmed channel chan's controller filter exactly as the config for
        standard (std) and/or extended (ext) ids: software filtering skips those frames
        (prescalers still apply). Returns True if the channel has a filter to spare."""
        fl = self.filters
        if fl and 0 <= chan < len(fl) and fl[chan] is not None and fl[chan].t[_NF]:
            fl[chan].hw(std, ext)
            return True
        return False

    @property
    def rx(self):
        """Frames seen by the driver (30-bit, wraps); not those the controller's hardware
        filter kept out."""
        return self.st[_RX]

    @property
    def rejected(self):
        """Frames the software filters or prescalers kept out (30-bit, wraps)."""
        return self.st[_REJ]

    def _push_slow(self, ticks, chan, flags, cid, dlc, data, n, fd):
        return self.ring._push_slow(ticks, chan, flags, cid, dlc, data, n, fd)

    def _drop(self, typ, ticks):
        self.ring._drop(typ, ticks)

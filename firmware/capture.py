# The CAN receive path every board shares: a HAL driver decodes its native frame into
# (channel, id, flags, dlc, data, n) and calls the capture function; acceptance filter and
# prescaler (the channel's rxfilter table), then the ring. Runs in the rx callback on
# boards: no allocation (tested under micropython.heap_lock()).
#
# The hot call is fn(wa, ticks, chan, cid, flags, dlc, nk, cap) with fn = cap.fn (_frame,
# one viper function that counts, filters, prescales and writes the record) and wa =
# cap.wa, taken once at can_open, where the HAL also registers its receive buffer
# (rx_buffer: the frame's data is read from its start, no buffer object per call); nk is
# the data length n, | FD for a CAN FD frame. The HAL's call is the only Python-level call
# per frame, with as few arguments as the record needs (bench/RESULTS.md). wa is the address / 4 of cap.w, an array('i') of what _frame
# needs (the addresses of the ring's state and buffer and of each channel's filter
# tables; a 64-bit port keeps the high words beside them), all held alive by the
# Capture's references. An int, not the Capture or its array: viper's ptr32() of a
# Python-class instance walks the class for the buffer protocol on every call (~300 x64
# instructions a frame), of an array it still costs a buffer-protocol call; cap itself
# is passed only for the slow paths (drops pending, ring full). Capture.frame(...) is the
# same call for callers off the hot path. Ring.push_can (ring.rx_frame) writes the same
# records without filters.
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
_PB = const(7)               # = rxfilter.PB: bucket v's word index is ft[_PB] + 3v
_FHDR = const(8)
# Capture words
_WIDE = const(0)             # 1 on a 64-bit port: addresses have a high word
_NCH = const(1)              # channels with a filter slot
_ST = const(2)               # ring.st address (lo, hi)
_BUF = const(4)              # ring.buf address (lo, hi)
_FT = const(6)               # channel c's filter table address at _FT + 2c (0: none)
_MAXCH = const(4)
_SD = const(14)              # channel c's FrameFilter.std address at _SD + 2c (0: none)
_DA = const(22)              # channel c's rx buffer address at _DA + 2c (rx_buffer; 0: none)
_DX = const(30)              # frame()'s data address
_WORDS = const(32)
FD = const(0x100)            # fn's nk: the data length n (0..64) | FD for a CAN FD frame
_DATA = const(0x200)         # nk: the data is frame()'s (at _DX), not the channel's
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
def _waddr(obj) -> int:
    # obj's buffer address / 4: a small int on every port (a 32-bit address >> 2 is below
    # 2**30), so _frame takes it as a plain int argument (no buffer-protocol call)
    return int(uint(ptr8(obj)) >> 2)


@micropython.viper
def _frame(wa: int, ticks: int, chan: int, cid: int, flags: int, dlc: int, nk: int,
           cap) -> bool:
    w = ptr32(uint(wa) << 2)
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
                    j = ft[_PB] + 3 * v
            else:
                nf = ft[_NF]
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
                if ft[_NB]:
                    j = -1
            if j < 0:                       # probe the prescaler table
                nb = ft[_NB]
                key = cid
                if x:
                    key = cid | _EXTBIT
                hb = (key ^ (key >> 9) ^ (key >> 18) ^ (key >> 27)) & (nb - 1)
                base = ft[_PB] + 3
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
        # no bool(): a global name would make the function swap globals and set up an
        # exception handler on every call (~200 x64 instructions a frame)
        if cap._push_slow(ticks, chan, flags, cid, dlc, nk):
            return True
        return False
    n = nk & 0xFF
    typ = _T_CAN
    if nk & FD:
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
        cap._drop(typ, ticks)
        return False
    r = ptr32(a + uint(o))           # records are whole words at word offsets
    if n:
        c = _DX                      # the data: Capture.frame's buffer, or the channel's
        if not (nk & _DATA):
            if uint(chan) >= uint(_MAXCH):
                cap._drop(typ, ticks)
                return False
            c = _DA + 2 * chan
        a = uint(w[c])
        if wide:
            a = ((a << 32) >> 32) | (uint(w[c + 1]) << 32)
        if not a:                    # no rx buffer registered for this channel
            cap._drop(typ, ticks)
            return False
        if n == 8 and (a & uint(3)) == uint(0):     # the common case: two whole words
            q = ptr32(a)
            r[4] = q[0]
            r[5] = q[1]
        else:
            d = ptr8(a)
            i = 0
            if (a & uint(3)) == uint(0):
                q = ptr32(a)
                while i < (n >> 2):
                    r[4 + i] = q[i]
                    i += 1
            else:
                while i < (n >> 2):
                    j = i << 2
                    r[4 + i] = d[j] | (d[j + 1] << 8) | (d[j + 2] << 16) | (d[j + 3] << 24)
                    i += 1
            if i < nw:               # last partial word, zero padded
                j = i << 2
                v = 0
                s = 0
                while j < n:
                    v |= d[j] << s
                    s += 8
                    j += 1
                r[4 + i] = v
    r[0] = typ | (ln << 8) | (chan << 16) | (flags << 24)
    r[1] = ticks
    r[2] = cid
    r[3] = dlc | (n << 8)
    st[_H] = nh                      # commit: the record is complete before head moves
    u = nh - t
    if u < 0:
        u += size
    if u > st[4]:                    # ring._HW
        st[4] = u
    return True


class Capture:
    """The capture path of one ring. Hot: fn(wa, ticks, chan, cid, flags, dlc, nk, cap)
    with fn, wa = cap.fn, cap.wa taken once and the channel's receive buffer registered
    with rx_buffer (a HAL's can_open: hal_common.rx_entry); nk = n, the data length, | FD
    for a CAN FD frame, the n data bytes at the start of that buffer. frame(ticks, chan,
    cid, flags, dlc, data, n, fd) is the same call with the data passed in (off the hot
    path). Returns True if the frame is in the ring; False if the filters or prescalers
    kept it out or the ring was full (then counted as a drop). filters: None, or one
    rxfilter.FrameFilter (or None) per channel number (config.frame_filters)."""

    def __init__(self, ring, filters=None):
        if not aligned(ring.buf):
            raise MemoryError("ring buffer not word-aligned")
        w = array("i", [0] * _WORDS)
        self.w = w                   # kept alive here: _frame finds it by address only
        self.wa = _waddr(w)          # (MicroPython's heap never moves an object)
        self.fn = _frame             # an instance attribute: the plain function, not bound
        self.ring = ring
        self.filters = filters
        self.st = ring.st            # the objects whose addresses w holds
        self.buf = ring.buf
        self.bufs = [None] * _MAXCH  # rx_buffer()'s, by channel
        self.dx = None               # frame()'s data
        w[_WIDE] = 1 if sys.maxsize > 0x7FFFFFFF else 0
        _put(w, _ST, ring.st)
        _put(w, _BUF, ring.buf)
        nch = 0
        if filters:
            nch = len(filters)
            if nch > _MAXCH:
                raise ValueError("at most %d CAN channels" % _MAXCH)
            for c in range(nch):
                f = filters[c]
                if f is not None:
                    _put(w, _FT + 2 * c, f.t)
                    if f.std is not None:
                        _put(w, _SD + 2 * c, f.std)
        w[_NCH] = nch

    def rx_buffer(self, chan, buf):
        """Channel chan's frames (fn's) take their data from the start of buf, a buffer
        that keeps its address (a HAL's preallocated receive memoryview; recv may resize
        the view, not move it)."""
        if not 0 <= chan < _MAXCH:
            raise ValueError("at most %d CAN channels" % _MAXCH)
        self.bufs[chan] = buf
        _put(self.w, _DA + 2 * chan, buf)

    def frame(self, ticks, chan, cid, flags, dlc, data, n, fd):
        """fn(wa, ..., cap) with data (n bytes) passed in: for callers off the hot path
        (the Unix HAL, tests). Allocation-free too."""
        self.dx = data
        _put(self.w, _DX, data)
        return _frame(self.wa, ticks, chan, cid, flags, dlc, n | (FD | _DATA if fd else _DATA),
                      self)

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

    def _push_slow(self, ticks, chan, flags, cid, dlc, nk):
        n = nk & 0xFF
        data = self.dx if nk & _DATA else self.bufs[chan] if 0 <= chan < _MAXCH else None
        if data is None and n:
            self._drop(_T_CANFD if nk & FD else _T_CAN, ticks)
            return False
        return self.ring._push_slow(ticks, chan, flags, cid, dlc, data, n, bool(nk & FD))

    def _drop(self, typ, ticks):
        self.ring._drop(typ, ticks)

# CAN acceptance filters and prescalers of one channel (docs/CONFIG.md, "filters" and
# "prescale"), compiled from its validated config entry into preallocated arrays.
# FrameFilter.accept() is the capture path's filter: ring.rx_frame calls it for every
# received frame, in the rx callback on boards, so it is viper and never allocates (tested
# under micropython.heap_lock()). config.frame_filters() builds one per channel.
import micropython
from micropython import const
from array import array

_MASK = const(0x3FFFFFFF)     # 30-bit ticks_us period (= clock.MASK)
_EXTBIT = const(0x20000000)   # prescaler key: id | _EXTBIT for extended ids (< 2**30)


class FrameFilter:
    """One channel's acceptance filters and prescalers, compiled into preallocated arrays.

    accept(cid, ext, ticks) -> bool, allocation-free (CAN rx path, under heap_lock):
    filters are tried in order and the first match decides; with no filter everything is
    accepted; with reject filters only, an unmatched frame is accepted; with any accept
    filter, an unmatched frame is rejected. A frame that passes is then thinned by its
    id's prescaler (if any): at most one frame per min_interval_ms is kept.
    A standard and an extended frame with the same number are different ids."""

    def __init__(self, chan):
        fl = chan["filters"]
        n = len(fl)
        self.nf = n
        self.fk = bytearray(n)          # bit 0 range, bit 1 ext, bit 2 accept
        self.fa = array("i", [0] * n)   # range: from;  mask: id & mask
        self.fb = array("i", [0] * n)   # range: to;    mask: mask
        acc = False
        for i in range(n):
            f = fl[i]
            k = 2 if f["ext"] else 0
            if f["action"] == "accept":
                k |= 4
                acc = True
            if "from" in f:
                k |= 1
                self.fa[i] = f["from"]
                self.fb[i] = f["to"]
            else:
                self.fa[i] = f["id"] & f["mask"]
                self.fb[i] = f["mask"]
            self.fk[i] = k
        self.default = not acc
        ps = sorted([(p["id"] | (_EXTBIT if p["ext"] else 0), p["min_interval_ms"] * 1000)
                     for p in chan["prescale"]])
        m = len(ps)
        self.np = m
        self.pk = array("i", [p[0] for p in ps])     # sorted keys: id | ext << 29
        self.pi = array("i", [p[1] for p in ps])     # interval, us
        self.pl = array("i", [-1] * m)               # last kept frame's ticks; -1 none
        self.n_reject = 0               # frames refused by the filters (30-bit, wraps)
        self.n_thin = 0                 # frames dropped by a prescaler (30-bit, wraps)

    @micropython.viper
    def accept(self, cid: int, ext, t: int) -> bool:
        x = 0
        if ext:
            x = 2
        n = int(self.nf)
        if n:
            ok = int(self.default)
            k = ptr8(self.fk)
            a = ptr32(self.fa)
            b = ptr32(self.fb)
            i = 0
            while i < n:
                f = k[i]
                if (f & 2) == x:
                    if f & 1:
                        if a[i] <= cid and cid <= b[i]:
                            ok = f & 4
                            break
                    elif (cid & b[i]) == a[i]:
                        ok = f & 4
                        break
                i += 1
            if not ok:
                self.n_reject = (int(self.n_reject) + 1) & _MASK
                return False
        m = int(self.np)
        if m:
            key = cid
            if ext:
                key = cid | _EXTBIT
            pk = ptr32(self.pk)
            lo = 0
            hi = m
            while lo < hi:
                mid = (lo + hi) >> 1
                if pk[mid] < key:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < m and pk[lo] == key:
                t &= _MASK
                pl = ptr32(self.pl)
                last = pl[lo]
                if ((last >> 31) & 1) == 0 and ((t - last) & _MASK) < ptr32(self.pi)[lo]:  # -1: none
                    self.n_thin = (int(self.n_thin) + 1) & _MASK
                    return False
                pl[lo] = t
        return True

    def refresh(self, t):
        """Forget prescaler times older than their interval. Call from the main loop at
        least every 2**29 us (with the rx callback held off, or accept that a frame racing
        this call may be kept early): without it an id silent for more than one ticks
        period (17.9 min) can lose one frame it should have kept."""
        t &= _MASK
        pl = self.pl
        pi = self.pi
        for i in range(self.np):
            last = pl[i]
            if last >= 0 and ((t - last) & _MASK) >= pi[i]:
                pl[i] = -1

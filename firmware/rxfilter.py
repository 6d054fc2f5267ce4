# CAN acceptance filters and prescalers of one channel (docs/CONFIG.md, "filters" and
# "prescale"), compiled from its validated config entry into one preallocated array('i'),
# FrameFilter.t. The capture path (capture.py) runs the same table inline in its one viper
# call per frame; FrameFilter.accept() is the stand-alone form of that code (tests, tools).
# Neither allocates (tested under micropython.heap_lock()). config.frame_filters() builds
# one FrameFilter per channel.
#
# Table layout (every value < 2**30, so the same on 32- and 64-bit ports):
#   [0] NF   filters                      [4] HW   bit 0: the controller's acceptance
#   [1] DEF  1: accept what no filter matches       filter is exact for standard ids, bit 1
#   [2] NB   prescaler buckets (power of 2 or 0)     for extended ids: skip the scan
#   [3] NP   prescaled ids                [5] REJ  frames refused by the filters (wraps)
#   [6] THIN frames dropped by a prescaler (wraps)   [7] PB   HDR + 3 NF - 3: bucket i
#                                                         (from 1) is at PB + 3 i
#   then NF filters of 3 words: kind (bit 0 range, bit 1 ext, bit 2 accept), a, b
#     (range: from, to; mask: id & mask, mask)
#   then NB buckets of 3 words: key (id | ext << 29, -1 empty), interval us, last kept
#     ticks (-1 none); bucket = hash(key) & (NB - 1), linear probing
# FrameFilter.std (None when the channel has neither filters nor prescalers): one byte per
# standard id, the scan and the probe done in advance: bit 7 the filters accept it, bits
# 0-6 its prescaler bucket + 1 (0 none; 127: probe the table). The capture path looks
# standard ids up there (one load instead of a scan and a probe: issue 14 part 3);
# accept() keeps the scan, the reference the tests compare the capture path with.
import micropython
from micropython import const
from array import array

_MASK = const(0x3FFFFFFF)     # 30-bit ticks_us period (= clock.MASK)
_EXTBIT = const(0x20000000)   # prescaler key: id | _EXTBIT for extended ids (< 2**30)
STD_OK = const(0x80)          # FrameFilter.std: the filters accept this standard id
STD_PROBE = const(0x7F)       # FrameFilter.std: bucket too high for 7 bits, probe
NF = const(0)
DEF = const(1)
NB = const(2)
NP = const(3)
HW = const(4)
REJ = const(5)
THIN = const(6)
PB = const(7)
HDR = const(8)


def bucket(key, nb):
    """Home bucket of a prescaler key (the viper code computes the same; no overflow)."""
    return (key ^ (key >> 9) ^ (key >> 18) ^ (key >> 27)) & (nb - 1)


class FrameFilter:
    """One channel's acceptance filters and prescalers, compiled into one array('i').

    accept(cid, ext, ticks) -> bool, allocation-free (CAN rx path, under heap_lock):
    filters are tried in order and the first match decides; with no filter everything is
    accepted; with reject filters only, an unmatched frame is accepted; with any accept
    filter, an unmatched frame is rejected. A frame that passes is then thinned by its
    id's prescaler (if any): at most one frame per min_interval_ms is kept.
    A standard and an extended frame with the same number are different ids.
    hw(std, ext): the controller's filter already does exactly this for that id width
    (the HAL says so after programming it): the filter scan is skipped, prescalers not."""

    def __init__(self, chan):
        fl = chan["filters"]
        ps = chan["prescale"]
        nf = len(fl)
        m = len(ps)
        nb = 0
        if m:
            nb = 2
            while nb < 2 * m:
                nb <<= 1
        self.filters = fl
        t = array("i", [0] * (HDR + 3 * nf + 3 * nb))
        self.t = t
        acc = False
        for i in range(nf):
            f = fl[i]
            k = 2 if f["ext"] else 0
            if f["action"] == "accept":
                k |= 4
                acc = True
            j = HDR + 3 * i
            if "from" in f:
                k |= 1
                t[j + 1] = f["from"]
                t[j + 2] = f["to"]
            else:
                t[j + 1] = f["id"] & f["mask"]
                t[j + 2] = f["mask"]
            t[j] = k
        t[NF] = nf
        t[DEF] = 0 if acc else 1
        t[NB] = nb
        t[NP] = m
        t[PB] = HDR + 3 * nf - 3
        base = HDR + 3 * nf
        for i in range(nb):
            t[base + 3 * i] = -1
            t[base + 3 * i + 2] = -1
        for p in ps:
            key = p["id"] | (_EXTBIT if p["ext"] else 0)
            h = bucket(key, nb)
            while t[base + 3 * h] != -1:
                h = (h + 1) & (nb - 1)
            t[base + 3 * h] = key
            t[base + 3 * h + 1] = p["min_interval_ms"] * 1000
        self.std = self._std_table(fl, acc, ps) if nf or m else None

    def _std_table(self, fl, acc, ps):
        """FrameFilter.std: the filters painted last to first (so the first match wins),
        each over exactly the ids it matches, then the prescaler buckets."""
        b = bytearray((0 if acc else STD_OK) for _ in range(0x800))
        for i in range(len(fl) - 1, -1, -1):
            f = fl[i]
            if f["ext"]:
                continue
            v = 0 if f["action"] == "reject" else STD_OK
            if "from" in f:
                lo = f["from"]
                hi = min(f["to"], 0x7FF)
                if lo <= hi:
                    b[lo:hi + 1] = bytes((v,)) * (hi - lo + 1)
            else:
                if f["id"] & f["mask"] & ~0x7FF:
                    continue            # matches no standard id
                m = f["mask"] & 0x7FF
                cid = f["id"] & m
                free = 0x7FF & ~m
                sub = free
                while True:             # every id with (id & m) == cid: subsets of free
                    b[cid | sub] = v
                    if sub == 0:
                        break
                    sub = (sub - 1) & free
        for p in ps:
            if not p["ext"] and p["id"] <= 0x7FF:
                j = self._slot(p["id"], False)
                k = (j - HDR - 3 * self.t[NF]) // 3 + 1
                b[p["id"]] |= k if k < STD_PROBE else STD_PROBE
        return b

    @property
    def n_reject(self):
        """Frames refused by the filters (30-bit, wraps); not those the controller's
        hardware filter kept out (never seen)."""
        return self.t[REJ]

    @property
    def n_thin(self):
        """Frames dropped by a prescaler (30-bit, wraps)."""
        return self.t[THIN]

    def hw(self, std, ext):
        """The controller filters standard (std) / extended (ext) ids exactly as the
        config does: skip the software scan for them. False, False: scan everything."""
        self.t[HW] = (1 if std else 0) | (2 if ext else 0)

    def _slot(self, cid, ext):
        t = self.t
        nb = t[NB]
        if not nb:
            return -1
        key = cid | (_EXTBIT if ext else 0)
        base = HDR + 3 * t[NF]
        h = bucket(key, nb)
        while t[base + 3 * h] != -1:
            if t[base + 3 * h] == key:
                return base + 3 * h
            h = (h + 1) & (nb - 1)
        return -1

    def last(self, cid, ext=False):
        """Ticks of the last kept frame of a prescaled id; -1 none (or no prescaler)."""
        j = self._slot(cid, ext)
        return self.t[j + 2] if j >= 0 else -1

    def set_last(self, cid, ext, ticks):
        j = self._slot(cid, ext)
        if j >= 0:
            self.t[j + 2] = ticks

    @micropython.viper
    def accept(self, cid: int, ext, t: int) -> bool:
        # capture._frame's filter part for extended ids; for standard ids it reads
        # FrameFilter.std instead, and the tests check both agree
        ft = ptr32(self.t)
        x = 0
        if ext:
            x = 1
        nf = ft[NF]
        if nf and not ((ft[HW] >> x) & 1):
            ok = ft[DEF]
            x2 = x << 1
            j = HDR
            e = HDR + 3 * nf
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
                ft[REJ] = (ft[REJ] + 1) & _MASK
                return False
        nb = ft[NB]
        if nb:
            key = cid
            if x:
                key = cid | _EXTBIT
            h = (key ^ (key >> 9) ^ (key >> 18) ^ (key >> 27)) & (nb - 1)
            base = HDR + 3 * nf
            while True:
                j = base + 3 * h
                k = ft[j]
                if k == key:
                    t &= _MASK
                    last = ft[j + 2]
                    if ((last >> 31) & 1) == 0 and ((t - last) & _MASK) < ft[j + 1]:
                        ft[THIN] = (ft[THIN] + 1) & _MASK
                        return False
                    ft[j + 2] = t
                    break
                if (k >> 31) & 1:               # -1: empty bucket, no prescaler
                    break
                h = (h + 1) & (nb - 1)
        return True

    def refresh(self, t):
        """Forget prescaler times older than their interval. Call from the main loop at
        least every 2**29 us (with the rx callback held off, or accept that a frame racing
        this call may be kept early): without it an id silent for more than one ticks
        period (17.9 min) can lose one frame it should have kept."""
        t &= _MASK
        ft = self.t
        j = HDR + 3 * ft[NF]
        e = j + 3 * ft[NB]
        while j < e:
            last = ft[j + 2]
            if last >= 0 and ((t - last) & _MASK) >= ft[j + 1]:
                ft[j + 2] = -1
            j += 3

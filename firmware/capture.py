# The CAN receive path every board shares: a HAL driver decodes its native frame into
# (channel, id, flags, dlc, data, n) and calls frame(); acceptance filter and prescaler
# (config.py) then the ring. Runs in the rx callback on boards: no allocation (tested under
# micropython.heap_lock()).
from micropython import const

_F_EXT = const(0x01)         # = fmt.F_EXT


class Capture:
    def __init__(self, ring, filters=None):
        self.ring = ring
        self.filters = filters       # one object per channel with accept(cid, ext, ticks), or None
        self.rx = 0                  # frames seen by the driver
        self.rejected = 0            # frames the filters or prescalers kept out

    def frame(self, ticks, chan, cid, flags, dlc, data, n, fd):
        self.rx += 1
        f = self.filters
        if f is not None and not f[chan].accept(cid, flags & _F_EXT, ticks):
            self.rejected += 1
            return False
        return self.ring.push_can(ticks, chan, flags, cid, dlc, data, n, fd)

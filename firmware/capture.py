# The CAN receive path every board shares: a HAL driver decodes its native frame into
# (channel, id, flags, dlc, data, n) and calls frame(); acceptance filter and prescaler
# (rxfilter.py) then the ring. Runs in the rx callback on boards: no allocation (tested under
# micropython.heap_lock()).
#
# frame is ring.rx_frame, one viper function that counts, filters and writes the record:
# the HAL's call is the only Python-level call per frame (bench/RESULTS.md, "Firmware path
# cost"). A Capture shares its ring's state (st, buf) and forwards the ring's slow paths.
from ring import rx_frame

_RX = 6                      # = ring._RX, ring._REJ: slots of the ring's st
_REJ = 7


class Capture:
    def __init__(self, ring, filters=None):
        self.ring = ring
        self.filters = filters       # one object per channel with accept(cid, ext, ticks), or None
        self.st = ring.st            # what rx_frame works on
        self.buf = ring.buf

    # frame(ticks, chan, cid, flags, dlc, data, n, fd) -> bool: True if the frame is in
    # the ring; False if the filters kept it out or the ring was full (then counted as a drop)
    frame = rx_frame

    @property
    def rx(self):
        """Frames seen by the driver (30-bit, wraps)."""
        return self.st[_RX]

    @property
    def rejected(self):
        """Frames the filters or prescalers kept out (30-bit, wraps)."""
        return self.st[_REJ]

    def _push_slow(self, ticks, chan, flags, cid, dlc, data, n, fd):
        return self.ring._push_slow(ticks, chan, flags, cid, dlc, data, n, fd)

    def _drop(self, typ, ticks):
        self.ring._drop(typ, ticks)

# Extends the board's wrapping microsecond tick counter into 64-bit time since boot.
#
# Every board's time.ticks_us() wraps at 2**30 (17.9 min); the HAL masks the Unix
# port's longer period down to the same 2**30, so the firmware sees one period everywhere
# and tests cross wraps for real. Ticks below 2**30 are small ints on every port: the
# producer path (ISR) stores raw ticks only; the 64-bit extension happens in the
# consumer, once per block, where a big-int allocation is affordable.
from micropython import const

PERIOD = const(0x40000000)  # a big int on a board (31-bit small ints): not on any hot path
MASK = const(0x3FFFFFFF)
HALF = const(0x20000000)


def diff(a, b):
    """Signed ticks a - b, valid while |a - b| < 2**29 us (8.9 min)."""
    d = (a - b) & MASK
    if d >= HALF:
        d = d - MASK - 1        # d - PERIOD: PERIOD is a heap big int on a board
    return d


class Clock:
    """Tracks wraps. extend() must see a tick at least every 2**29 us (the logger's
    service loop calls it every iteration)."""

    def __init__(self, ticks_fn):
        self.ticks = ticks_fn
        self.t = ticks_fn()     # last tick seen
        self.us = 0             # its extended value: boot time 0 = logger start

    def extend(self, t):
        d = (t - self.t) & MASK
        if d >= HALF:
            d = d - MASK - 1    # slightly older than the last tick seen (- PERIOD)
            return self.us + d
        self.t = t
        self.us += d
        return self.us

    def now(self):
        return self.extend(self.ticks())

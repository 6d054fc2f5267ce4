# Firmware unit tests, run under MicroPython (see conftest.py).
from clock import Clock, diff, PERIOD, MASK


class Ticks:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t & MASK


def test_diff_across_wrap():
    assert diff(5, MASK - 4) == 10
    assert diff(MASK - 4, 5) == -10
    assert diff(100, 100) == 0


def test_extend_counts_wraps_for_40_periods():
    src = Ticks(PERIOD - 1000)
    c = Clock(src)
    step = 1 << 27           # several steps per period, each below 2**29
    us = 0
    for _ in range(40 * 8):
        src.t += step
        us += step
        assert c.now() == us, (c.now(), us)
    assert c.us == 40 * PERIOD


def test_extend_older_tick_is_negative_not_a_wrap():
    src = Ticks(MASK - 10)
    c = Clock(src)
    src.t += 50               # crosses the wrap
    assert c.now() == 50
    assert c.extend((src.t - 30) & MASK) == 20      # a record stamped before "now"
    assert c.us == 50

# App helpers that need no hardware: PPS association and the civil date from days.
from app import pps_marks, _civil
from clock import MASK


def test_pps_marks_the_second_reported_after_it():
    assert pps_marks(1000, 1000 + 120000, 5000, 0)          # edge, then NMEA 120 ms later
    assert not pps_marks(1000, 1000 + 1200000, 5000, 0)     # an older edge
    assert not pps_marks(1000, 1000 + 120000, 5100, 0)      # not a whole second
    assert not pps_marks(-1, 5000, 5000, 0)                 # no PPS configured
    assert not pps_marks(5000, 1000, 5000, 0)               # edge after the message
    assert pps_marks(MASK - 100, 50000, 0, 0)               # across a ticks wrap


def test_civil_from_days():
    assert _civil(0) == (1970, 1, 1)
    assert _civil(20458) == (2026, 1, 5)
    assert _civil(11016) == (2000, 2, 29)
    assert _civil(19782) == (2024, 2, 29)

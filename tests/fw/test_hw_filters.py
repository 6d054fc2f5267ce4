"""What hal_stm32 programs into the CAN controller for a config's filters, and what it
reports exact (so the capture path skips the software scan for that id width), on the
stand-in pyb modules of test_hal_stubs.py (CPython)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_hal_stub_helpers", Path(__file__).with_name("test_hal_stubs.py"))
assert _spec is not None and _spec.loader is not None
stubs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stubs)

RECCE = [{"action": "reject", "from": 0x700, "to": 0x7FF},
         {"action": "reject", "id": 0x18DA0000, "mask": 0x1FFF0000, "ext": True}]


class Bus:
    def __init__(self, refuse_ext: bool = False):
        self.calls: list[tuple] = []
        self.refuse_ext = refuse_ext

    def setfilter(self, bank, mode, fifo, params, extframe=False):
        if extframe and self.refuse_ext:
            raise TypeError("unexpected keyword argument 'extframe'")
        self.calls.append((bank, mode, fifo, tuple(params), extframe))


def _filters(raw):
    cfg, errs = stubs._config().validate({"can": [{"filters": raw}]})
    assert not errs, errs
    return cfg["can"][0]["filters"]


def _exact(fdcan: bool, raw, bus=None):
    hal = stubs._load("hal_stm32", fdcan)
    bus = bus or Bus()
    return hal._set_exact(bus, _filters(raw)), bus.calls, hal


def test_fdcan_recce_config_standard_exact_extended_open() -> None:
    (std, ext), calls, hal = _exact(True, RECCE)
    assert (std, ext) == (True, False)          # 3 standard masks; 13 extended > 8
    mask = hal.pyb.CAN.MASK
    rx_std = [c[3] for c in calls if not c[4]]
    rx_ext = [c[3] for c in calls if c[4]]
    assert sorted(rx_std) == [(0, 0x100), (0x100, 0x300), (0x300, 0x700)]
    assert rx_ext == [(0, 1), (1, 1)]           # every extended id, over both FIFOs
    assert all(c[1] == mask for c in calls)


def test_fdcan_allow_list_is_exact_for_both_widths() -> None:
    (std, ext), calls, _ = _exact(True, [{"from": 0x7E8, "to": 0x7EF},
                                         {"id": 0x18FEF100, "mask": 0x00FFFF00, "ext": True}])
    assert (std, ext) == (True, True)
    assert [(c[3], c[4]) for c in calls] == [((0x7E8, 0x7F8), False),
                                             ((0x00FEF100, 0x00FFFF00), True)]


def test_bxcan_standard_allow_list_exact_in_16_bit_banks() -> None:
    (std, ext), calls, hal = _exact(False, [{"from": 0x7E8, "to": 0x7EF}, {"id": 0x100}])
    assert (std, ext) == (True, False)          # extended frames may leak: software checks
    assert calls == [(0, hal.pyb.CAN.MASK16, 0, (0x7E8, 0x7F8, 0x100, 0x7FF), False)]


def test_bxcan_cannot_express_a_deny_list_falls_back_to_superset() -> None:
    (std, ext), calls, _ = _exact(False, RECCE)
    assert (std, ext) == (False, False)
    assert [c[3] for c in calls] == [(0, 1, 1, 1)]   # everything (id bit 0 -> FIFO)


def test_too_many_masks_fall_back_to_software() -> None:
    raw = [{"action": "reject", "id": i * 2} for i in range(30)]
    for fdcan in (False, True):
        (std, ext), calls, _ = _exact(fdcan, raw)
        assert not std
        assert calls


def test_refused_extended_filters_mean_nothing_exact() -> None:
    (std, ext), calls, _ = _exact(True, [{"id": 0x100}, {"id": 0x18DA00F1, "ext": True}],
                                  Bus(refuse_ext=True))
    assert (std, ext) == (False, False)


@pytest.mark.parametrize("fdcan", [False, True], ids=["bxcan", "fdcan"])
def test_can_open_tells_the_capture_path(fdcan: bool) -> None:
    hal = stubs._load("hal_stm32", fdcan)
    told = []

    class Cap:
        def frame(self, *a):
            return True

        def hw(self, chan, std, ext):
            told.append((chan, std, ext))
            return True

    class Rec(hal.pyb.CAN):
        def __init__(self, bus, mode):
            pass

        def init(self, mode, **kw):
            pass

        def setfilter(self, *a, **kw):
            pass

        def rxcallback(self, fifo, cb):
            pass
    hal.pyb.CAN = Rec
    cfg, errs = stubs._config().validate({"can": [{"filters": [{"id": 0x7E8}]}]})
    assert not errs
    h = hal.Stm32Hal()
    h.can_open(cfg["can"][0], Cap())
    assert told == [(0, True, fdcan)] and h.hw[0] == (True, fdcan)

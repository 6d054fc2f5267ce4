# CAN acceptance filters and prescalers (firmware/rxfilter.py), built from validated
# config entries (config.validate, config.frame_filters); accept() allocation-free.
import micropython
from config import frame_filters, validate
from rxfilter import FrameFilter

TMP = "/tmp"                                   # set by the runner
MASK = 0x3FFFFFFF


def chan(**kw):
    return {"can": [kw]}


def ff(filters=(), prescale=()):
    cfg, e = validate(chan(filters=list(filters), prescale=list(prescale)))
    assert e == [], e
    return FrameFilter(cfg["can"][0])


def test_no_filter_accepts_everything():
    f = ff()
    assert all(f.accept(i, x, 0) for i in (0, 0x7FF, 0x123) for x in (False, True))
    assert f.accept(0x1FFFFFFF, True, 0)


def test_only_reject_filters_default_to_accept():
    f = ff([{"action": "reject", "from": 0x100, "to": 0x1FF}])
    assert not f.accept(0x100, False, 0) and not f.accept(0x1FF, False, 0)
    assert f.accept(0x0FF, False, 0) and f.accept(0x200, False, 0)
    assert f.accept(0x150, True, 0)                  # an extended 0x150 is another id
    assert f.n_reject == 2


def test_any_accept_filter_defaults_to_reject():
    f = ff([{"action": "reject", "id": 0x7E8}, {"id": "0x7DF"}])
    assert f.accept(0x7DF, False, 0)
    assert not f.accept(0x7E8, False, 0) and not f.accept(0x7E0, False, 0)
    assert not f.accept(0x7DF, True, 0)              # ext flag must match


def test_first_match_wins():
    f = ff([{"action": "reject", "id": 0x123}, {"from": 0x100, "to": 0x1FF},
            {"action": "reject", "from": 0x100, "to": 0x1FF}])
    assert not f.accept(0x123, False, 0)
    assert f.accept(0x124, False, 0) and f.accept(0x100, False, 0)
    assert not f.accept(0x200, False, 0)
    g = ff([{"from": 0x100, "to": 0x1FF}, {"action": "reject", "id": 0x123}])
    assert g.accept(0x123, False, 0)


def test_masks_and_extended_ranges():
    # J1939: accept PGN 0xFEF1 (cruise control/vehicle speed) from any source, any priority
    f = ff([{"id": 0x00FEF100, "mask": 0x00FFFF00, "ext": True},
            {"id": 0x700, "mask": 0x700},                      # all std ids 0x700..0x7FF
            {"from": 0x1FFFFF00, "to": 0x1FFFFFFF, "ext": True}])
    assert f.accept(0x18FEF1AB, True, 0) and f.accept(0x0CFEF100, True, 0)
    assert not f.accept(0x18FEF200, True, 0)
    assert not f.accept(0x00FEF100 & 0x7FF, False, 0)
    assert f.accept(0x700, False, 0) and f.accept(0x7FF, False, 0)
    assert not f.accept(0x6FF, False, 0) and not f.accept(0x700, True, 0)
    assert f.accept(0x1FFFFFFF, True, 0) and f.accept(0x1FFFFF00, True, 0)
    assert not f.accept(0x1FFFFEFF, True, 0)


def test_prescaler_keeps_one_frame_per_interval_per_id():
    f = ff(prescale=[{"id": 0x100, "min_interval_ms": 100},
                     {"id": 0x100, "ext": True, "min_interval_ms": 50}])
    kept = {0x100: [], 0x200: [], -0x100: []}
    for k in range(100):                             # 1 s of frames every 10 ms
        t = k * 10000
        for cid, ext, key in ((0x100, False, 0x100), (0x200, False, 0x200),
                              (0x100, True, -0x100)):
            if f.accept(cid, ext, t):
                kept[key].append(t)
    assert kept[0x100] == [i * 100000 for i in range(10)]
    assert kept[-0x100] == [i * 50000 for i in range(20)]
    assert len(kept[0x200]) == 100                   # no prescaler for 0x200
    assert f.n_thin == 90 + 80


def test_prescaler_with_jitter_keeps_the_first_frame_after_the_interval():
    f = ff(prescale=[{"id": 5, "min_interval_ms": 100}])
    out = [t for t in (0, 60000, 99999, 100000, 150000, 199999, 200001, 200002)
           if f.accept(5, False, t)]
    assert out == [0, 100000, 200001]


def test_prescaler_only_sees_frames_the_filters_accept():
    f = ff([{"action": "reject", "id": 0x100}], [{"id": 0x100, "min_interval_ms": 10}])
    assert not f.accept(0x100, False, 0)
    assert f.last(0x100) == -1 and f.n_thin == 0 and f.n_reject == 1


def test_prescaler_across_the_ticks_wrap():
    f = ff(prescale=[{"id": 0x7DF, "min_interval_ms": 20}])
    start = (1 << 30) - 95000                        # wraps 95 ms in
    kept = []
    for k in range(40):                              # 200 ms, a frame every 5 ms
        t = (start + k * 5000) & MASK
        if f.accept(0x7DF, False, t):
            kept.append(k)
    assert kept == list(range(0, 40, 4)), kept       # every 20 ms, wrap or not


def test_refresh_forgets_stale_times():
    f = ff(prescale=[{"id": 1, "min_interval_ms": 100}])
    assert f.accept(1, False, 1000)
    # silent for exactly one ticks period: the raw tick looks 0 us later
    assert not f.accept(1, False, 1000)              # without refresh: one frame lost
    f.set_last(1, False, 1000)
    f.refresh(1000 + (1 << 29))                      # main loop, half a period later
    assert f.last(1) == -1
    assert f.accept(1, False, 1000)                  # kept
    f.refresh(1000 + 50000)                          # still within the interval: kept
    assert f.last(1) == 1000


def test_frame_filters_are_indexed_by_channel_number():
    cfg, e = validate({"can": [{"channel": 2, "filters": [{"id": 1}]}, {"channel": 0}]})
    assert e == []
    fl = frame_filters(cfg)
    assert len(fl) == 3
    assert not fl[2].accept(2, False, 0) and fl[2].accept(1, False, 0)
    assert fl[0].accept(2, False, 0) and fl[1].accept(2, False, 0)
    assert frame_filters(validate({"can": []})[0]) == []


def test_accept_does_not_allocate():
    f = ff([{"action": "reject", "id": 0x7E8}, {"from": 0x100, "to": 0x7FF},
            {"id": 0x18FEF100, "mask": 0x00FFFF00, "ext": True},
            {"from": 0x1FFFF000, "to": 0x1FFFFFFF, "ext": True}],
           [{"id": 0x100 + i, "min_interval_ms": 1 + i} for i in range(40)] +
           [{"id": 0x1FFFFFFF, "ext": True, "min_interval_ms": 10},
            {"id": 0x18FEF1AB, "ext": True, "min_interval_ms": 100}])
    ids = [0x7E8, 0x100, 0x123, 0x127, 0x0FF, 0x7FF, 0x18FEF1AB, 0x1FFFFFFF, 0x1FFFF000,
           0x18FEF200, 0x10, 0x7DF]
    exts = [False, False, False, False, False, False, True, True, True, True, True, False]
    n = len(ids)
    t = MASK - 3000000                               # crosses the wrap
    kept = 0
    micropython.heap_lock()
    try:
        for k in range(3000):
            i = k % n
            if f.accept(ids[i], exts[i], t):
                kept += 1
            t = (t + 997) & MASK
        f.refresh(t)
    finally:
        micropython.heap_unlock()
    assert 0 < kept < 3000 and f.n_reject > 0 and f.n_thin > 0

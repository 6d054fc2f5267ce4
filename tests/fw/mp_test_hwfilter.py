# Controller acceptance filters from the config (hal_common.hw_plan), the capture path
# skipping the software scan for what the controller filters exactly (Capture.hw), and the
# Unix HAL's model of the controller filter. MicroPython.
import micropython
from capture import Capture
from config import frame_filters, validate
from hal_common import hw_plan, plan_match
from hal_unix import UnixHal
from mp_rnd import Lcg
from ring import Ring
from rxfilter import FrameFilter

TMP = "/tmp"                                   # set by the runner
MASK = 0x3FFFFFFF
RECCE = [{"action": "reject", "from": "0x700", "to": "0x7FF"},
         {"action": "reject", "id": "0x18DA0000", "mask": "0x1FFF0000", "ext": True}]


Rnd = Lcg


def chan(filters=(), prescale=()):
    cfg, e = validate({"can": [{"filters": list(filters), "prescale": list(prescale)}]})
    assert e == [], e
    return cfg["can"][0]


def random_filters(r):
    out = []
    for _ in range(1 + r.below(5)):
        ext = r.below(3) == 0
        w = 0x1FFFFFFF if ext else 0x7FF
        f = {"ext": ext, "action": "reject" if r.below(3) == 0 else "accept"}
        if r.below(2):
            f["id"] = r.below(w + 1) if not ext else (r.below(0x8000) << 14) | r.below(0x4000)
            f["mask"] = (w, w & ~0xF, w & ~0xFF, 0x700 if not ext else 0x1FFF0000)[r.below(4)]
        else:
            a = r.below(w + 1) if not ext else (r.below(0x8000) << 14)
            f["from"] = a
            f["to"] = min(w, a + r.below(600))
        out.append(f)
    return out


def probe_ids(r, filters):
    ids = [(False, i) for i in range(0x800)]
    for _ in range(300):
        ids.append((True, (r.below(0x8000) << 14) | r.below(0x4000)))
    for f in filters:
        for k in ("id", "from", "to"):
            if k in f:
                for d in (-1, 0, 1):
                    v = f[k] + d
                    if 0 <= v <= (0x1FFFFFFF if f["ext"] else 0x7FF):
                        ids.append((f["ext"], v))
    return ids


def test_plan_is_exact_for_random_filter_lists():
    r = Rnd(14)
    exact = 0
    for _ in range(60):
        ch = chan(random_filters(r))
        soft = FrameFilter(ch)
        std, ext = hw_plan(ch["filters"])
        for e, cid in probe_ids(r, ch["filters"]):
            cubes = ext if e else std
            if cubes is None:
                continue
            assert plan_match(cubes, cid) == soft.accept(cid, e, 0), (ch["filters"], e, cid)
            exact += 1
    assert exact > 30 * 2000, exact            # most lists fit in _PLAN_MAX masks


def test_recce_config_plan():
    ch = chan(RECCE)
    std, ext = hw_plan(ch["filters"])
    assert len(std) == 3 and len(ext) == 13    # 0x000-0x6FF; every extended id but 0x18DAxxxx
    assert plan_match(std, 0x6FF) and not plan_match(std, 0x700)
    assert not plan_match(ext, 0x18DAF1AB) and plan_match(ext, 0x18DBF1AB)
    std, ext = hw_plan(chan([{"from": 0x7E8, "to": 0x7EF}])["filters"])
    assert std == [(0x7E8, 0x7F8)] and ext == []
    assert hw_plan([]) == ([(0, 0)], [(0, 0)])


def test_plan_gives_up_when_too_many_masks():
    fl = [{"action": "reject", "id": i * 2} for i in range(30)]   # every other of 60 ids
    std, ext = hw_plan(chan(fl)["filters"])
    assert std is None and ext == [(0, 0)]


def frames(r, n):
    out = []
    for _ in range(n):
        e = r.below(3) == 0
        cid = ((0x18DA0000 if r.below(2) else 0x0CF00000) | r.below(0x10000)) if e else \
            (0x700 | r.below(0x100) if r.below(3) == 0 else r.below(0x100))
        out.append((cid, 1 if e else 0))
    return out


def run_capture(filters_cfg, prescale, fr, hw=None):
    cfg, e = validate({"can": [{"filters": filters_cfg, "prescale": prescale}]})
    assert e == [], e
    fl = frame_filters(cfg)
    ring = Ring(1 << 16)
    cap = Capture(ring, fl)
    if hw:
        assert cap.hw(0, hw[0], hw[1])
    data = memoryview(bytearray(b"\x01\x02\x03\x04\x05"))
    out = bytearray(len(fr))
    t = MASK - 200000
    i = 0
    micropython.heap_lock()
    try:
        for cid, e in fr:
            out[i] = cap.frame(t, 0, cid, e, 5, data, 5, False)
            i += 1
            t = t + 1000 if t < MASK - 1000 else t - (MASK - 1000) - 1   # no big int
    finally:
        micropython.heap_unlock()
    return [b == 1 for b in out], cap, fl[0]


def test_capture_path_equals_frame_filter_accept():
    r = Rnd(7)
    for k in range(20):
        fc = random_filters(r) if k else RECCE
        ps = [{"id": r.below(0x100), "min_interval_ms": 1 + r.below(9)} for _ in range(6)]
        ps += [{"id": 0x18DA0000 | r.below(0x10000), "ext": True, "min_interval_ms": 3}]
        seen = {}
        for p in ps:
            seen[(p["id"], p.get("ext", False))] = p
        ps = list(seen.values())
        fr = frames(r, 400)
        got, cap, f = run_capture(fc, ps, fr)
        soft = FrameFilter(chan(fc, ps))
        t = MASK - 200000
        want = []
        for cid, e in fr:
            want.append(soft.accept(cid, e, t))
            t = t + 1000 if t < MASK - 1000 else t - (MASK - 1000) - 1
        assert got == want, (fc, ps)
        assert cap.rejected == f.n_reject + f.n_thin == soft.n_reject + soft.n_thin
        assert cap.rx == len(fr)


def test_capture_skips_the_scan_for_what_hardware_filters():
    r = Rnd(3)
    fr = frames(r, 500)
    got, cap, f = run_capture(RECCE, [], fr)
    assert False in got and f.n_reject > 0
    # hardware exact for standard ids: standard frames are not scanned (a frame of 0x7xx
    # reaching software would now be logged: the controller never delivers one)
    got2, cap2, f2 = run_capture(RECCE, [], fr, hw=(True, False))
    for (cid, e), a, b in zip(fr, got, got2):
        assert b == (True if not e else a)
    assert f2.n_reject == sum(1 for (cid, e), a in zip(fr, got) if e and not a)
    # and the frames a controller would deliver give the same log
    hw_std = hw_plan(chan(RECCE)["filters"])[0]
    sub = [x for x in fr if x[1] or plan_match(hw_std, x[0])]
    a = run_capture(RECCE, [], sub)[0]
    b = run_capture(RECCE, [], sub, hw=(True, False))[0]
    assert a == b


def test_prescalers_still_apply_when_hardware_filters():
    ps = [{"id": 0x123, "min_interval_ms": 10}]
    got, cap, f = run_capture([{"id": 0x123}], ps, [(0x123, 0)] * 100, hw=(True, True))
    assert got.count(True) == 10 and f.n_thin == 90 and f.n_reject == 0


def test_hw_without_filters_is_refused():
    cfg, e = validate({"can": [{}]})
    cap = Capture(Ring(4096), frame_filters(cfg))
    assert not cap.hw(0, True, True)
    assert not Capture(Ring(4096), None).hw(0, True, True)


class Cap:
    def __init__(self):
        self.told = []

    def hw(self, chan, std, ext):
        self.told.append((chan, std, ext))
        return True


def fr_bytes(cid, ext):
    b = bytearray(16)
    b[0] = cid & 0xFF
    b[1] = (cid >> 8) & 0xFF
    b[2] = (cid >> 16) & 0xFF
    b[3] = ((cid >> 24) & 0x1F) | (0x80 if ext else 0)
    return bytes(b)


def test_unix_hal_models_the_controller_filter():
    hal = UnixHal(TMP)
    cap = Cap()
    m = hal._hw_model(0, chan(RECCE)["filters"], cap)
    assert cap.told == [(0, True, False)] and hal.hw[0] == (True, False)
    assert UnixHal._hw_pass(m, fr_bytes(0x6FF, False))
    assert not UnixHal._hw_pass(m, fr_bytes(0x700, False))
    assert UnixHal._hw_pass(m, fr_bytes(0x18DAF1AB, True))      # ext: > 8 masks, all pass
    cap = Cap()
    m = hal._hw_model(1, chan([{"from": 0x7E8, "to": 0x7EF}])["filters"], cap)
    assert cap.told == [(1, True, True)]
    assert UnixHal._hw_pass(m, fr_bytes(0x7E9, False))
    assert not UnixHal._hw_pass(m, fr_bytes(0x7E0, False))
    assert not UnixHal._hw_pass(m, fr_bytes(0x7E9, True))
    cap = Cap()
    assert hal._hw_model(2, [], cap) is None and cap.told == []
    fl = chan([{"action": "reject", "id": i * 2} for i in range(30)] +
              [{"action": "reject", "from": 0, "to": 0x1FFFFFFF, "ext": True},
               {"action": "reject", "id": 0x1000, "mask": 0x1001, "ext": True}])["filters"]
    cap = Cap()
    m = hal._hw_model(3, fl, cap)                # std: too many masks; ext: exact (none)
    assert cap.told == [(3, False, True)] and m[0] is None and m[1] == []


def test_std_table_equals_accept_on_overlapping_configs():
    """The per-channel standard-id table (first matching filter wins, prescaler slot) gives
    the capture path the same answer as FrameFilter.accept() for every id of 0..0x7F, on
    150 random configs whose filters overlap (a table built last-match-wins fails here)."""
    rnd = Rnd(1)
    bad = 0
    d = memoryview(bytearray(8))
    for _ in range(150):
        fl = []
        for _ in range(1 + rnd.below(8)):
            f = {"action": "reject" if rnd.below(2) else "accept"}
            if rnd.below(2):
                f["id"] = rnd.below(64)
                f["mask"] = (0x7FF, 0x7F0, 0x7C0, 0x3F, 0x30)[rnd.below(5)]
            else:
                a = rnd.below(64)
                f["from"] = a
                f["to"] = a + rnd.below(32)
            fl.append(f)
        ids = set(rnd.below(64) for _ in range(rnd.below(16)))
        ps = [{"id": i, "min_interval_ms": 1 + rnd.below(8)} for i in ids]
        cfg, e = validate({"can": [{"filters": fl, "prescale": ps}]})
        assert not e, e
        cap = Capture(Ring(1 << 16), frame_filters(cfg))
        ref = FrameFilter(cfg["can"][0])
        fr = type(cap).frame
        for rep in range(3):
            t = 1000 + rep * 3000
            for cid in range(0x80):
                if fr(cap, t, 0, cid, 0, 8, d, 8, False) != ref.accept(cid, 0, t):
                    bad += 1
            cap.ring.st[0] = cap.ring.st[1] = 0
    assert bad == 0, "%d ids answered differently" % bad

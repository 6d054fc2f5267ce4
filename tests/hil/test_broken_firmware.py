"""HIL: the checks catch a broken firmware, and say which frame and what differed. Two
deliberately broken copies of the firmware (one drops every 1000th frame, one corrupts a
byte of one frame) run the nominal scenario, shortened; both must fail, naming the frame."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hil.dut import FIRMWARE
from hil.run import run_one

pytestmark = pytest.mark.hil
OUT = Path(__file__).resolve().parents[2] / "out" / "hil" / "pytest-broken"
HOOK = "    def _frame(self, cap, chan, fr):\n        t = self.ticks()\n"
BREAKS = {
    # every 1000th frame the HAL receives never reaches the capture path
    "drops_every_1000th": (
        "        self._brk = getattr(self, '_brk', 0) + 1\n"
        "        if self._brk % 1000 == 0:\n"
        "            return\n",
        ["sent frame #999 (", "is missing from the log", "no overflow record counts it"]),
    # the 777th frame's third data byte is flipped on its way in
    "corrupts_one_byte": (
        "        self._brk = getattr(self, '_brk', 0) + 1\n"
        "        if self._brk == 777:\n"
        "            fr = bytes(fr[:10]) + bytes([fr[10] ^ 0x5A]) + bytes(fr[11:])\n",
        ["sent frame #776 (", "byte 2 differs"]),
}


def broken(tmp_path: Path, name: str) -> Path:
    fw = tmp_path / name
    shutil.copytree(FIRMWARE, fw, ignore=shutil.ignore_patterns("__pycache__"))
    hal = fw / "hal_unix.py"
    src = hal.read_text()
    assert HOOK in src, "hal_unix._frame changed: update this test's hook"
    hal.write_text(src.replace(HOOK, HOOK + BREAKS[name][0]))
    return fw


@pytest.mark.parametrize("name", list(BREAKS))
def test_broken_firmware_fails_naming_the_frame(tmp_path: Path, name: str) -> None:
    res = run_one("nominal", OUT / name, firmware=broken(tmp_path, name), scale=15 / 300)
    print(res.text())
    assert not res.passed, f"{name}: the HIL checks passed a broken firmware"
    first = next(e for e in res.errors if e.startswith("can:"))
    for words in BREAKS[name][1]:
        assert words in first, f"{name}: first error does not say {words!r}: {first}"

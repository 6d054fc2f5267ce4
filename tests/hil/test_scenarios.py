"""HIL: every scenario of hil/scenarios/ on vcan0 with the firmware under MicroPython as
the DUT (what `dunelog hil run` does). Each leaves its report in out/hil/pytest/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hil.run import run_one
from hil.scenarios import all_scenarios

pytestmark = pytest.mark.hil
OUT = Path(__file__).resolve().parents[2] / "out" / "hil" / "pytest"
SCALE = float(os.environ.get("HIL_SCALE", "1"))


@pytest.mark.parametrize("name", list(all_scenarios()))
def test_scenario(name: str) -> None:
    sc = all_scenarios()[name]
    if sc.needs_root and os.geteuid() != 0:
        pytest.skip(f"{name} mounts a small tmpfs card: needs root (CI runs as root)")
    res = run_one(name, OUT, scale=SCALE)
    print(res.text())
    assert res.passed, res.text()

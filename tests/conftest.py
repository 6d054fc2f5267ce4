"""The MicroPython lane of this run (docs/TESTING.md, "Test lanes"): the header says which
interpreter the firmware tests run under; in the board lane (DUNELOG_MP_LANE=board, set by
scripts/board-lane.sh, passed into HIL guests) a ``micropython`` on PATH that is not the
i386 build stops the session with one line, here and inside a guest: the board lane never
runs the x64 interpreter in its name."""
from __future__ import annotations

import pytest

from hil import lane


def pytest_report_header(config) -> str:
    m = lane.model()
    return f"micropython lane: {lane.lane()} ({m.line() if m else 'no micropython on PATH'})"


def pytest_sessionstart(session) -> None:
    why = lane.mismatch()
    if why:
        pytest.exit(why, returncode=3)

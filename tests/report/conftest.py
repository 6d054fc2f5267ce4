"""Fixtures for the report tests rendered in a real browser (headless Chromium)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from headless import ARTIFACTS  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    if ARTIFACTS:
        terminalreporter.section("report test artefacts")
        for what, path in ARTIFACTS:
            terminalreporter.write_line(f"{what}: {path}")

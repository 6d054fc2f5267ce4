"""Fixtures for the report tests rendered in a real browser (headless Chromium)."""

from __future__ import annotations

from headless import ARTIFACTS  # tests/report is on pytest's pythonpath (pyproject.toml)


def pytest_terminal_summary(terminalreporter):
    if ARTIFACTS:
        terminalreporter.section("report test artefacts")
        for what, path in ARTIFACTS:
            terminalreporter.write_line(f"{what}: {path}")

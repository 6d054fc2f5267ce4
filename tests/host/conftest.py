"""Fixtures for the host tests: synthetic segment files written to tmp_path."""

from __future__ import annotations

import dlgen  # tests/host is on pytest's pythonpath (pyproject.toml)
import pytest


@pytest.fixture
def segment_file(tmp_path):
    """Factory: ``segment_file(name="B00001_S0000.dlg", **make_segment_kwargs)`` writes a
    synthetic segment under tmp_path and returns ``(path, Seg)``."""

    def make(name: str = "B00001_S0000.dlg", **kw):
        seg = dlgen.make_segment(**kw)
        return dlgen.write(tmp_path / name, seg.data), seg

    return make

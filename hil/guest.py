"""What every guest runner shares (hil/uml.py, hil/kvm.py): the CAN interfaces its init
brings up, and the shell environment its one command runs with."""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

#: brought up in every runner, MTU 72 (CAN FD): vcan0 for the bus, vcan1 for a second channel
IFACES = ("vcan0", "vcan1")


def path() -> str:
    """PATH inside a guest: this Python's bin directory first (the guest runs the host's
    interpreter and its packages), then the usual system directories. Where the host's
    ``micropython`` is in none of them (the board lane's i386 build, first on the host's
    PATH: docs/TESTING.md), its directory goes first, so the DUT is the same binary."""
    dirs = [str(Path(sys.executable).parent), "/root/.pyenv/shims", "/usr/local/sbin",
            "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    mp = shutil.which("micropython")
    if mp and str(Path(mp).parent) not in dirs:
        dirs.insert(0, str(Path(mp).parent))
    return os.pathsep.join(dirs)


def exports(env: dict[str, str]) -> str:
    """``K=V ...`` for an ``export`` line of the guest's shell script, values quoted."""
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())

"""Where the HIL gets a real vcan0: the runner that picks one.

In order of preference:

``native``  this kernel's own vcan (``ip link add ... type vcan``; root and the vcan module)
``kvm``     Debian's kernel under qemu with KVM, 2 vCPUs, this file system shared over 9p
            (hil/kvm.py); only where a probe boot shows KVM really runs guests
``uml``     Debian's user-mode Linux kernel, one CPU, this file system over hostfs
            (hil/uml.py; on hosts whose XSAVE area is larger than UML passes, with the
            FPU-state preload of hil/xstate/)

``tcg`` (qemu without KVM: full emulation, ~10x slower) is never picked by itself; ask for
it with ``--vm tcg``. Override the choice with ``--vm KIND`` or ``DUNELOG_HIL_VM=KIND``.

    python -m hil.vcan [--vm KIND] -- pytest tests/hil     # runs the command with vcan0 + vcan1 up

A runner that cannot run says why in one line (what is missing, what installs it); when
none can, :func:`pick` raises :class:`~hil.fault.EnvFault` with every reason, and the
command line tools exit with :data:`~hil.fault.EXIT_CANNOT_RUN`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hil.fault import EXIT_CANNOT_RUN, EnvFault
from hil.guest import IFACES

KINDS = ("native", "kvm", "uml")           # automatic choice, in this order
ALL_KINDS = KINDS + ("tcg",)
ENV_VAR = "DUNELOG_HIL_VM"
#: set inside a guest (and by the native runner) to the runner's kind; hil/bounds.py reads it
GUEST_VAR = "DUNELOG_GUEST"
#: settings the rig reads from the environment, passed into a guest (DUNELOG_MP*: the
#: MicroPython lane, hil/lane.py)
PASS_PREFIXES = ("HIL_", "REPLAY_", "DUNELOG_XSTATE", "DUNELOG_MP")


def native_unavailable() -> str | None:
    """Why this kernel's own vcan0 cannot be used, or None (vcan0/vcan1 are then up)."""
    if Path("/sys/class/net/vcan0").exists():
        return None
    try:
        socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW).close()
    except (AttributeError, OSError):
        return "this kernel has no SocketCAN (AF_CAN not supported)"
    if os.geteuid() != 0:
        return "creating vcan0 needs root (or: sudo ip link add dev vcan0 type vcan)"
    if shutil.which("ip") is None:
        return "ip not found: apt-get install iproute2"
    if shutil.which("modprobe"):
        subprocess.run(["modprobe", "vcan"], capture_output=True)
    for i in IFACES:
        p = subprocess.run(["ip", "link", "add", "dev", i, "type", "vcan"],
                           capture_output=True, text=True)
        if p.returncode != 0 and not Path(f"/sys/class/net/{i}").exists():
            err = (p.stderr.strip().splitlines() or ["failed"])[-1]
            hint = "" if shutil.which("modprobe") else " (modprobe not found: apt-get install kmod)"
            return f"this kernel has no vcan module: ip link add {i} type vcan: {err}{hint}"
        subprocess.run(["ip", "link", "set", i, "mtu", "72"], capture_output=True)
        subprocess.run(["ip", "link", "set", "up", i], capture_output=True)
    return None


def have_vcan() -> bool:
    """True if vcan0 is up in this kernel, creating vcan0/vcan1 when it can."""
    return native_unavailable() is None


def unavailable(kind: str) -> str | None:
    """Why runner ``kind`` cannot run here (one line), or None if it can."""
    if kind == "native":
        return native_unavailable()
    if kind in ("kvm", "tcg"):
        from hil import kvm
        return kvm.unavailable(accel=kind)
    if kind == "uml":
        from hil import uml
        return uml.unavailable()
    raise ValueError(f"unknown runner {kind!r}; one of {', '.join(ALL_KINDS)}")


@dataclass
class Choice:
    """The runner picked, and why each one before it (or the one asked for) was not used."""

    kind: str
    why: str                                        # "asked for (--vm)" / "first that can run"
    not_used: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        others = "; ".join(f"{k}: {v}" for k, v in self.not_used.items())
        return f"HIL runner: {self.kind} ({self.why})" + (f"; not used: {others}" if others else "")

    def as_dict(self) -> dict:
        return {"kind": self.kind, "why": self.why, "not_used": dict(self.not_used)}


def requested(vm: str | None = None) -> str | None:
    """The runner asked for by argument or ``DUNELOG_HIL_VM`` (``auto``/empty: none)."""
    vm = vm or os.environ.get(ENV_VAR) or None
    if vm in (None, "auto"):
        return None
    if vm not in ALL_KINDS:
        raise EnvFault(f"unknown HIL runner {vm!r} (--vm / {ENV_VAR}); one of "
                       f"auto, {', '.join(ALL_KINDS)}")
    return vm


def pick(vm: str | None = None) -> Choice:
    """Choose the runner: the one asked for, or the first of :data:`KINDS` that can run.
    Raises EnvFault (one line: every runner's reason) when none can."""
    want = requested(vm)
    if want:
        why = unavailable(want)
        if why:
            raise EnvFault(f"HIL runner {want} cannot run here: {why}")
        src = "--vm" if vm else ENV_VAR
        return Choice(want, f"asked for by {src}")
    not_used: dict[str, str] = {}
    for kind in KINDS:
        why = unavailable(kind)
        if why is None:
            return Choice(kind, "the first of native, kvm, uml that can run here", not_used)
        not_used[kind] = why
    raise EnvFault("the HIL cannot run here, no vcan0: "
                   + "; ".join(f"{k}: {v}" for k, v in not_used.items()))


def guest_env(kind: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a command gets in runner ``kind``: the rig's settings from ours."""
    env = {k: v for k, v in os.environ.items() if k.startswith(PASS_PREFIXES)}
    return {**env, GUEST_VAR: kind, **(extra or {})}


def run_in(kind: str, cmd: list[str], cwd: str | Path = ".", *, timeout: float = 1800,
           env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``cmd`` in ``cwd`` where runner ``kind`` gives a vcan0; return its exit status
    and output. A guest that cannot start or ends without a result raises EnvFault."""
    env = guest_env(kind, env)
    if kind == "native":
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **env})
        return p.returncode, p.stdout + p.stderr
    if kind in ("kvm", "tcg"):
        from hil import kvm
        return kvm.run(cmd, cwd, timeout=timeout, env=env, accel=kind)
    from hil import uml
    return uml.run(cmd, cwd, timeout=timeout, env=env)


def run_with_vcan(cmd: list[str], cwd: str | Path = ".", timeout: float = 1800,
                  vm: str | None = None) -> tuple[int, str]:
    """Run cmd where vcan0 exists, on the runner :func:`pick` chooses."""
    return run_in(pick(vm).kind, cmd, cwd, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.vcan", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vm", choices=("auto",) + ALL_KINDS, default=None,
                    help=f"runner (default: {ENV_VAR} or auto)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.print_usage(sys.stderr)
        return 2
    try:
        choice = pick(a.vm)
        sys.stderr.write(choice.line() + "\n")
        rc, out = run_in(choice.kind, cmd, os.getcwd())
    except EnvFault as e:
        sys.stderr.write(f"hil: could not run: {e}\n")
        return EXIT_CANNOT_RUN
    sys.stdout.write(out)
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""A user-mode Linux guest with a real SocketCAN vcan0/vcan1 (Debian's ``user-mode-linux``):
the guest sees the host's files through hostfs and runs one command there
(docs/HIL.md). On hosts whose XSAVE area is larger than UML's fp buffer the guest
would panic at its first process; :mod:`hil.xstate`'s LD_PRELOAD is then used.

    unavailable() -> None | one line (what is missing, how to install it)
    run(cmd, cwd, *, timeout, env, mem) -> (exit code, output); EnvFault if no result
    last_run() -> GuestRun of this thread's last run (boot seconds etc.)
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hil import guest, xstate
from hil.fault import EnvFault

ROOT = Path(__file__).resolve().parents[1]
MODULES = Path("/usr/lib/uml/modules")
_INSTALL = "apt-get install user-mode-linux kmod iproute2"

_INIT = """#!/bin/sh
export PATH={path}
export HOME=/root LANG=C.UTF-8 {env}
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
mount -t devpts -o ptmxmode=0666 devpts /dev/pts 2>/dev/null   # ptys for the GNSS simulator
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
M={modules}/$(ls {modules} | head -1)/kernel
for k in net/can/can.ko net/can/can-raw.ko drivers/net/can/dev/can-dev.ko \
         drivers/net/can/vcan.ko; do
  insmod $M/$k || echo "insmod $k failed"
done
for i in {ifaces}; do
  ip link add dev $i type vcan && ip link set $i mtu 72 && ip link set up $i
done
# UML has no 32-bit syscall entry: i386 ELFs (the board lane's micropython) run through
# qemu-i386 user-mode emulation, registered with binfmt_misc (docs/TESTING.md)
Q=$(command -v qemu-i386 || command -v qemu-i386-static || true)
if [ -n "$Q" ] && insmod $M/fs/binfmt_misc.ko 2>/dev/null; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
  printf '%s' ':i386:M::{i386_magic}:{i386_mask}:'"$Q"':F' > /proc/sys/fs/binfmt_misc/register
fi
cd {cwd}
date +%s.%N > {t_start}
{cmd} > {out} 2>&1
st=$?
# killed by a signal (137 = SIGKILL): the kernel's last words say by whom (OOM killer?)
[ $st -ge 128 ] && {{ echo "--- guest dmesg (exit status $st) ---"; dmesg | tail -60; }} >> {out}
echo $st > {rc}
date +%s.%N > {t_end}
sync
poweroff -f
"""

#: binfmt_misc match for i386 ELF executables (EXEC or DYN), as qemu's qemu-binfmt-conf.sh
_I386_MAGIC = r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00"
_I386_MASK = r"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"


@dataclass
class GuestRun:
    """One guest run. boot_seconds: from starting linux.uml until the command started
    (kernel boot, init, module loads, vcan set-up); run_seconds: the command itself."""
    rc: int
    boot_seconds: float
    run_seconds: float
    total_seconds: float
    preload: bool


_local = threading.local()
#: boot seconds of the most recent run in any thread (see last_run() for this thread's)
last_boot_seconds: float | None = None


def last_run() -> GuestRun | None:
    """The calling thread's most recent completed run()."""
    return getattr(_local, "run", None)


def unavailable() -> str | None:
    """None if a UML guest can run here, else one line: what is missing, what to install."""
    if shutil.which("linux.uml") is None:
        return f"linux.uml not found: {_INSTALL}"
    if not MODULES.is_dir() or not any(MODULES.iterdir()):
        return f"{MODULES} missing: apt-get install user-mode-linux"
    if shutil.which("insmod") is None:
        return "insmod not found (for the guest's CAN modules): apt-get install kmod"
    if shutil.which("ip") is None:
        return "ip not found (for the guest's vcan0): apt-get install iproute2"
    if os.geteuid() != 0:
        return "the user-mode Linux guest runs the host's / as its root file system: run as root"
    try:
        xstate.uml_env()
    except EnvFault as e:
        return (f"this host's XSAVE area ({xstate.xsave_size()} bytes) needs the UML xstate "
                f"preload, which cannot be built: {e}")
    return None


def _write_log(console: str) -> Path:
    name = (f"guest-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-"
            f"{threading.get_ident() % 10000}.log")
    for d in (ROOT / "out" / "hil", Path(tempfile.gettempdir())):
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / name).write_text(console)
            return d / name
        except OSError:
            continue
    return Path("/dev/null")


def _summary(console: str) -> str:
    """One line for a guest that ended without a result."""
    lines = [ln.strip() for ln in console.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if "Kernel panic" in ln:
            # the line before the panic usually names the cause (UML's own message)
            cause = next((c for c in reversed(lines[max(0, i - 5):i])
                          if re.search(r"fail|error|errno|unable|cannot", c, re.I)), None)
            return "user-mode Linux guest panicked: " + (f"{cause} ({ln})" if cause else ln)
    tail = next((ln for ln in reversed(lines) if not ln.startswith(("reboot:", "Powering"))), "")
    return f"user-mode Linux guest ended without a result{': ' + tail if tail else ''}"


#: the host's vm.max_map_count the guest needs (the kernel's default is 65,530)
MAX_MAP_COUNT = 1 << 20


def _raise_map_count() -> None:
    """UML maps guest memory into each guest process's host process page by page: a guest
    process of a few hundred MB with a fragmented heap (the nominal scenario's checker)
    passes the host's default vm.max_map_count, its stub's mmap fails with ENOMEM, and UML
    kills it ("UML ran out of memory on the host side ... vm.max_map_count", pytest rc 137
    in CI, ~5 min into the scenario guest). Raise the limit (root); where that is refused
    the guest's dmesg still names the cause."""
    p = Path("/proc/sys/vm/max_map_count")
    try:
        if int(p.read_text()) < MAX_MAP_COUNT:
            p.write_text(f"{MAX_MAP_COUNT}\n")
    except (OSError, ValueError):
        pass


def run(cmd: list[str], cwd: str | Path, *, timeout: float = 1800,
        env: dict[str, str] | None = None, mem: str = "4G") -> tuple[int, str]:
    """Boot the guest, load the CAN modules, bring vcan0 and vcan1 up (mtu 72, CAN FD),
    run cmd in cwd with env (plus DUNELOG_GUEST=uml); return its exit code and output.
    The guest's own exit status is not the command's: that comes back through a file on
    hostfs. If the guest ends without a result (panic, no start, timeout), raise EnvFault
    with one line naming the log file that holds the guest's console."""
    global last_boot_seconds
    why = unavailable()
    if why:
        raise EnvFault(why)
    host_env = {**os.environ, **xstate.uml_env()}
    guest_env = {"DUNELOG_GUEST": "uml", **(env or {})}
    try:   # the guest's tests find the host-built helpers (vecstate) there
        guest_env.setdefault("DUNELOG_NATIVE_DIR", str(xstate.native_dir()))
    except EnvFault:
        pass
    _raise_map_count()
    work = Path(tempfile.mkdtemp(prefix="dunelog-uml-"))
    try:
        out, rc, t_start, t_end = (work / n for n in ("out.txt", "rc", "t_start", "t_end"))
        init = work / "init.sh"
        init.write_text(_INIT.format(
            path=guest.path(), env=guest.exports(guest_env),
            modules=MODULES, ifaces=" ".join(guest.IFACES),
            i386_magic=_I386_MAGIC, i386_mask=_I386_MASK,
            cwd=shlex.quote(str(Path(cwd).resolve())),
            cmd=shlex.join(cmd), out=out, rc=rc, t_start=t_start, t_end=t_end))
        init.chmod(0o755)
        t0 = time.time()
        proc = subprocess.Popen(
            ["linux.uml", f"mem={mem}", "rootfstype=hostfs", "rootflags=/", "rw",
             f"init={init}", "con0=fd:0,fd:1", "con=null"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", env=host_env, start_new_session=True)
        try:
            console, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)     # linux.uml and its host processes
            console, _ = proc.communicate()
            log = _write_log(console)
            raise EnvFault(f"user-mode Linux guest gave no result within {timeout:.0f} s "
                           f"(console: {log})") from None
        total = time.time() - t0
        if not rc.exists():
            log = _write_log(console + ("\n--- command output ---\n"
                                        + out.read_text(errors="replace")
                                        if out.exists() else ""))
            raise EnvFault(f"{_summary(console)} (exit status {proc.returncode}; console: {log})")

        def stamp(p: Path) -> float | None:
            try:
                return float(p.read_text().strip())
            except (OSError, ValueError):
                return None
        ts, te = stamp(t_start), stamp(t_end)
        boot = ts - t0 if ts is not None else float("nan")
        ran = te - ts if ts is not None and te is not None else float("nan")
        _local.run = GuestRun(rc=int(rc.read_text().strip() or 125), boot_seconds=boot,
                              run_seconds=ran, total_seconds=total,
                              preload="LD_PRELOAD" in xstate.uml_env())
        last_boot_seconds = boot
        return _local.run.rc, out.read_text(errors="replace")
    finally:
        shutil.rmtree(work, ignore_errors=True)

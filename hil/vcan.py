"""A real vcan0 for the HIL: the host's own (``ip link add ... type vcan``) where its
kernel has vcan, otherwise a user-mode Linux guest (Debian's ``user-mode-linux``) that
sees the host's files through hostfs and runs the command there (see ../shared/VCAN.md).

    python -m hil.vcan -- pytest tests/hil -m hil     # runs the command with vcan0 + vcan1 up

Needs root, and for the guest: ``apt-get install user-mode-linux kmod iproute2``.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IFACES = ("vcan0", "vcan1")


def have_vcan() -> bool:
    """True if vcan0 is up here, creating vcan0/vcan1 when the kernel can."""
    if Path("/sys/class/net/vcan0").exists():
        return True
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    subprocess.run(["modprobe", "vcan"], capture_output=True)
    for i in IFACES:
        if subprocess.run(["ip", "link", "add", "dev", i, "type", "vcan"],
                          capture_output=True).returncode != 0:
            return False
        subprocess.run(["ip", "link", "set", i, "mtu", "72"], check=True)
        subprocess.run(["ip", "link", "set", "up", i], check=True)
    return True


def uml_available() -> str | None:
    """Why the user-mode Linux fallback cannot run here, or None if it can."""
    if shutil.which("linux.uml") is None:
        return "linux.uml not found: apt-get install user-mode-linux kmod iproute2"
    if not Path("/usr/lib/uml/modules").is_dir():
        return "/usr/lib/uml/modules missing: apt-get install user-mode-linux"
    if shutil.which("insmod") is None:
        return "insmod not found: apt-get install kmod"
    return None


_INIT = """#!/bin/sh
export PATH={path}
export HOME=/root LANG=C.UTF-8 {env}
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
mount -t devpts -o ptmxmode=0666 devpts /dev/pts 2>/dev/null   # ptys for the GNSS simulator
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
M=/usr/lib/uml/modules/$(ls /usr/lib/uml/modules | head -1)/kernel
for k in net/can/can.ko net/can/can-raw.ko drivers/net/can/dev/can-dev.ko drivers/net/can/vcan.ko; do
  insmod $M/$k || echo "insmod $k failed"
done
for i in {ifaces}; do
  ip link add dev $i type vcan && ip link set $i mtu 72 && ip link set up $i
done
cd {cwd}
{cmd} > {out} 2>&1
echo $? > {rc}
sync
poweroff -f
"""


def run_in_uml(cmd: list[str], cwd: str | Path, timeout: float = 1800,
               env: dict[str, str] | None = None, mem: str = "2G") -> tuple[int, str]:
    """Boot the user-mode kernel, bring vcan0/vcan1 up, run cmd in cwd; return its exit
    code and output. The guest's own exit status is not the command's: it comes back
    through a file on hostfs."""
    why = uml_available()
    if why:
        raise RuntimeError(why)
    work = Path(tempfile.mkdtemp(prefix="dunelog-uml-"))
    try:
        out, rc = work / "out.txt", work / "rc"
        path = os.pathsep.join([str(Path(sys.executable).parent), "/root/.pyenv/shims",
                                "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                "/sbin", "/bin"])
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        init = work / "init.sh"
        init.write_text(_INIT.format(path=path, env=envs, ifaces=" ".join(IFACES),
                                     cwd=shlex.quote(str(cwd)), cmd=shlex.join(cmd),
                                     out=out, rc=rc))
        init.chmod(0o755)
        boot = subprocess.run(
            ["linux.uml", f"mem={mem}", "rootfstype=hostfs", "rootflags=/", "rw",
             f"init={init}", "con0=fd:0,fd:1", "con=null"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if not rc.exists():
            return 125, ("user-mode Linux guest ended without a result\n"
                         + boot.stdout[-3000:] + boot.stderr[-2000:]
                         + (out.read_text() if out.exists() else ""))
        return int(rc.read_text().strip() or 125), out.read_text()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_with_vcan(cmd: list[str], cwd: str | Path = ".", timeout: float = 1800) -> tuple[int, str]:
    """Run cmd where vcan0 exists: here if the kernel has vcan, else in the UML guest."""
    if have_vcan():
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr
    env = {k: v for k, v in os.environ.items() if k.startswith(("HIL_", "REPLAY_"))}
    return run_in_uml(cmd, cwd, timeout, env={"DUNELOG_IN_UML": "1", **env})


def main() -> int:
    args = sys.argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print(__doc__)
        return 2
    rc, out = run_with_vcan(args, os.getcwd())
    sys.stdout.write(out)
    return rc


if __name__ == "__main__":
    sys.exit(main())

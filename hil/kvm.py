"""A real vcan0 in a qemu guest: Debian's own amd64 kernel (which has CAN as modules)
booted by ``qemu-system-x86_64`` with a busybox-static initramfs that mounts the host's
``/`` over virtio-9p, chroots into it, brings vcan0/vcan1 up (mtu 72) and runs the
command there, so the host's Python and its pip-installed packages run inside
(docs/HIL.md). Same contract as the user-mode Linux guest of hil/vcan.py.

    python -m hil.kvm --probe                      # why no guest can run here, or "ok"
    python -m hil.kvm [--accel tcg] -- pytest tests/hil -m hil

``accel="kvm"`` is the fast path where the host can run KVM guests; ``accel="tcg"`` is
pure emulation (slow, a functional fallback, not for timing checks). Needs root,
``apt-get install --no-install-recommends qemu-system-x86 busybox-static`` and the
kernel from ``scripts/fetch-guest-kernel.sh`` (run on demand; it uses ``apt-get
download``).

Faults of the environment (no qemu, no KVM, a guest that does not start or ends without
a result) raise :class:`hil.fault.EnvFault` with one line; the guest's full console log
is kept in a file that line names.
"""
from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil import guest
from hil.fault import EXIT_CANNOT_RUN, EnvFault

REPO = Path(__file__).resolve().parent.parent
FETCH_SCRIPT = REPO / "scripts" / "fetch-guest-kernel.sh"

#: the qemu binary (a name looked up on PATH, or a path)
QEMU = "qemu-system-x86_64"
QEMU_INSTALL = "apt-get install --no-install-recommends qemu-system-x86"
#: the KVM device node; DUNELOG_KVM_DEVICE (read at each call) or a test points it elsewhere
KVM_DEVICE = "/dev/kvm"
#: seconds a KVM probe boot may take before KVM is declared unusable here
PROBE_TIMEOUT = 20.0
#: seconds a guest may take to power off after the command's result is written
POWEROFF_GRACE = 15.0

#: seconds from starting qemu until the command started in the guest, of the last
#: boot of this process that got that far (run() or a probe); None before
last_boot_seconds: float | None = None
#: accel of that boot
last_accel: str | None = None

def cache_dir() -> Path:
    """``${DUNELOG_CACHE:-${XDG_CACHE_HOME:-~/.cache}/dunelog}`` (as the fetch script)."""
    if os.environ.get("DUNELOG_CACHE"):
        return Path(os.environ["DUNELOG_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "dunelog"


def _qemu_path(qemu: str | None) -> str | None:
    q = qemu or QEMU
    if os.sep in q:
        return q if os.access(q, os.X_OK) else None
    return shutil.which(q)


def _one_line(s: str, limit: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def guest_kernel(fetch: bool = True) -> Path:
    """The cache dir holding ``vmlinuz`` and ``initramfs.gz``: fetched/built by
    scripts/fetch-guest-kernel.sh when missing (when ``fetch``); EnvFault if it cannot."""
    script_err = ""
    root = cache_dir() / "guest-kernel"
    pin = os.environ.get("DUNELOG_GUEST_KERNEL")
    done = sorted((d for d in root.glob(pin or "*") if (d / "complete").exists()),
                  key=lambda d: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", d.name)])
    newest_src = max(FETCH_SCRIPT.stat().st_mtime if FETCH_SCRIPT.exists() else 0,
                     (REPO / "hil" / "guest_init" / "init").stat().st_mtime)
    if done and (d := done[-1] / "initramfs.gz").exists() and d.stat().st_mtime >= newest_src:
        return done[-1]      # built and up to date: skip the script (apt-cache costs ~0.5 s)
    if fetch:
        if not FETCH_SCRIPT.exists():
            raise EnvFault(f"{FETCH_SCRIPT} missing: checkout incomplete")
        try:
            p = subprocess.run(["/bin/sh", str(FETCH_SCRIPT)], capture_output=True, text=True)
        except OSError as e:
            raise EnvFault(f"cannot run {FETCH_SCRIPT}: {e.strerror}") from None
        if p.returncode == 0 and p.stdout.strip():
            d = Path(p.stdout.strip().splitlines()[-1])
            if (d / "complete").exists():
                return d
        script_err = (p.stderr.strip().splitlines() or ["no output"])[-1]
    if done and not fetch:
        return done[-1]
    raise EnvFault(_one_line(script_err or
                             f"guest kernel not fetched: run {FETCH_SCRIPT.relative_to(REPO)}"))


_SCRIPT = """# run by the guest's /init, chrooted into the host's /, as root
export PATH={path}
export HOME=/root LANG=C.UTF-8 DUNELOG_GUEST={accel} {env}
: > {started}
cd {cwd} || {{ echo "cd {cwd} failed in the guest" > {out}; echo 125 > {rc}.tmp;
              mv {rc}.tmp {rc}; exit; }}
{cmd} > {out} 2>&1 < /dev/null
echo $? > {rc}.tmp
sync
mv {rc}.tmp {rc}
sync
"""


def _9p_cache() -> str:
    """9p cache mode of the guest's view of /: "mmap" (default: every access goes to the
    host, so host and guest agree) or, from DUNELOG_9P_CACHE, "loose" (guest caches
    pages and metadata; Python imports ~1.5x faster under TCG, but the guest does not
    see the host's changes made while it runs)."""
    mode = os.environ.get("DUNELOG_9P_CACHE", "mmap")
    if mode not in ("none", "mmap", "loose", "fscache"):
        raise EnvFault(f"DUNELOG_9P_CACHE={mode!r}: use mmap, loose, none or fscache")
    return mode


def _qemu_argv(qemu: str, kdir: Path, script: Path, console: Path, *, accel: str,
               mem: str, cpus: int) -> list[str]:
    if accel == "kvm":
        acc = ["-accel", "kvm", "-cpu", "host"]
    elif accel == "tcg":
        acc = ["-accel", "tcg,thread=multi", "-cpu", "max"]
    else:
        raise ValueError(f"accel must be 'kvm' or 'tcg', not {accel!r}")
    return [qemu, *acc, "-smp", str(cpus), "-m", mem,
            "-nodefaults", "-no-user-config", "-no-reboot",
            "-display", "none", "-monitor", "none", "-serial", f"file:{console}",
            "-kernel", str(kdir / "vmlinuz"), "-initrd", str(kdir / "initramfs.gz"),
            "-append", f"console=ttyS0 panic=-1 quiet mitigations=off dlscript={script}"
                       f" dl9pcache={_9p_cache()}",
            "-fsdev", "local,id=hostroot,path=/,security_model=passthrough,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"]


def _keep_log(work: Path, accel: str, qemu_err: str) -> Path:
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    dst = logs / f"{accel}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    console = work / "console.log"
    text = console.read_text(errors="replace") if console.exists() else ""
    out = work / "out.txt"
    if out.exists():
        text += "\n--- the command's output so far ---\n" + out.read_text(errors="replace")
    if qemu_err.strip():
        text += "\n--- qemu stderr ---\n" + qemu_err
    dst.write_text(text)
    return dst


def _boot(cmd: list[str], cwd: str | Path, *, timeout: float, env: dict[str, str] | None,
          mem: str, accel: str, cpus: int, qemu: str, kdir: Path,
          what: str) -> tuple[int, str, float]:
    """Boot once; (rc, output, boot seconds) or EnvFault naming the kept console log."""
    global last_boot_seconds, last_accel
    for k in env or {}:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise ValueError(f"bad environment variable name {k!r}")
    work = Path(tempfile.mkdtemp(prefix=f"dunelog-{accel}-"))
    try:
        out, rc, started = work / "out.txt", work / "rc", work / "started"
        script, console = work / "run.sh", work / "console.log"
        envs = guest.exports(env or {})
        script.write_text(_SCRIPT.format(
            path=shlex.quote(guest.path()), accel=accel, env=envs, started=started,
            cwd=shlex.quote(str(Path(cwd).resolve())), cmd=shlex.join(cmd), out=out, rc=rc))
        argv = _qemu_argv(qemu, kdir, script, console, accel=accel, mem=mem, cpus=cpus)
        with open(work / "qemu.err", "w+") as err:
            t0 = time.monotonic()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
            boot_s: float | None = None
            done_at: float | None = None
            why = ""
            try:
                while True:
                    now = time.monotonic()
                    if boot_s is None and started.exists():
                        boot_s = now - t0
                        last_boot_seconds, last_accel = boot_s, accel
                    if done_at is None and rc.exists():
                        done_at = now
                    if proc.poll() is not None:
                        break
                    if done_at is not None and now - done_at > POWEROFF_GRACE:
                        break          # result is in; the guest just would not power off
                    if now - t0 > timeout:
                        why = (f"did not start within {timeout:g} s" if boot_s is None
                               else f"ran past the {timeout:g} s timeout without a result")
                        break
                    time.sleep(0.02 if boot_s is None else 0.1)
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            err.seek(0)
            qemu_err = err.read()
        if rc.exists():
            code = int(rc.read_text().strip() or 125)
            text = out.read_text(errors="replace") if out.exists() else ""
            return code, text, boot_s if boot_s is not None else time.monotonic() - t0
        log = _keep_log(work, accel, qemu_err)
        if not why:
            contlog = console.read_text(errors="replace") if console.exists() else ""
            m = re.search(r"Kernel panic - not syncing:[^\n]*", contlog)
            errl = [ln for ln in qemu_err.splitlines()
                    if ln.strip() and "terminating on signal" not in ln]
            if m:
                why = f"ended without a result: {m.group(0).strip()}"
            elif proc.returncode != 0 and errl:
                why = f"qemu exited with status {proc.returncode}: {errl[0].strip()}"
            elif boot_s is None:
                why = "ended before the command started"
            else:
                why = "ended without a result"
        fault = EnvFault(_one_line(f"{what} {why}", 400) + f"; console log: {log}")
        fault.why, fault.log = why, log           # type: ignore[attr-defined]
        raise fault
    finally:
        shutil.rmtree(work, ignore_errors=True)      # a failed boot's log was copied out


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _probe_file(qemu: str, kdir: Path, dev: str) -> Path:
    key = hashlib.sha1(f"{qemu}\0{kdir}\0{dev}".encode()).hexdigest()[:12]
    return cache_dir() / "probe" / f"kvm-{_boot_id()}-{key}"


def _probe_kvm(qemu: str, kdir: Path, dev: str) -> str | None:
    """Boot the real kernel + initramfs under KVM running `true`; cached per host boot."""
    f = _probe_file(qemu, kdir, dev)
    if f.exists():
        v = f.read_text().strip()
        return None if v == "ok" else v
    try:
        _boot(["true"], "/", timeout=PROBE_TIMEOUT, env=None, mem="512M", accel="kvm",
              cpus=2, qemu=qemu, kdir=kdir, what="KVM probe guest")
        result = None
    except EnvFault as e:
        why, log = getattr(e, "why", str(e)), getattr(e, "log", "?")
        if why.startswith("did not start within"):
            result = (f"KVM guest did not start within {PROBE_TIMEOUT:g} s ({dev} opens, "
                      "but this host cannot run guests under it: nested virtualisation?); "
                      f"--vm tcg runs qemu without KVM, slowly; console log: {log}")
        else:
            result = _one_line(f"KVM guest did not start: {why} ({dev} opens, but this host "
                               "cannot run guests under it: nested virtualisation?); "
                               f"--vm tcg runs qemu without KVM, slowly; console log: {log}", 600)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text((result or "ok") + "\n")
    return result


def _kvm_device(explicit: str | None) -> str:
    return explicit or os.environ.get("DUNELOG_KVM_DEVICE") or KVM_DEVICE


def unavailable(accel: str = "kvm", *, qemu: str | None = None,
                kvm_device: str | None = None, fetch: bool = True,
                probe: bool = True) -> str | None:
    """None if a guest with this accel ("kvm" or "tcg") can run here, else ONE line:
    what is missing and how to install it. For "kvm" a tiny guest is booted once per
    host boot (result cached under the cache dir) since /dev/kvm opening does not mean
    a guest runs. ``qemu``/``kvm_device`` override QEMU and KVM_DEVICE (or
    $DUNELOG_KVM_DEVICE); ``fetch=False``
    does not fetch the kernel; ``probe=False`` skips the KVM boot probe."""
    if accel not in ("kvm", "tcg"):
        return f"unknown accel {accel!r}: use 'kvm' or 'tcg'"
    q = _qemu_path(qemu)
    if q is None:
        return f"{qemu or QEMU} not found: {QEMU_INSTALL}"
    if os.geteuid() != 0:
        return "the qemu guest needs root (9p passthrough of / and chroot into it): run as root"
    if accel == "kvm":
        dev = _kvm_device(kvm_device)
        if not os.path.exists(dev):
            return (f"{dev} missing: no KVM on this host (kvm module not loaded, or a VM "
                    "without nested virtualisation); --vm tcg runs qemu without KVM, slowly")
        try:
            os.close(os.open(dev, os.O_RDWR | os.O_CLOEXEC))
        except OSError as e:
            return f"{dev} does not open ({e.strerror}): run as root / add to group kvm"
    try:
        kdir = guest_kernel(fetch=fetch)
    except EnvFault as e:
        return str(e)
    if accel == "kvm" and probe:
        return _probe_kvm(q, kdir, _kvm_device(kvm_device))
    return None


def best_accel() -> str | None:
    """"kvm" if a KVM guest runs here, else "tcg" if an emulated one can, else None."""
    for a in ("kvm", "tcg"):
        if unavailable(a) is None:
            return a
    return None


def run(cmd: list[str], cwd: str | Path, *, timeout: float = 1800,
        env: dict[str, str] | None = None, mem: str = "2G", accel: str = "kvm",
        cpus: int = 2, qemu: str | None = None) -> tuple[int, str]:
    """Boot the guest, bring vcan0/vcan1 up, run cmd in cwd as root with env (plus
    DUNELOG_GUEST=<accel>); return its exit code and output (stdout+stderr). The guest's
    own exit status is not the command's: it comes back through files on the shared
    file system. EnvFault (one line, naming the kept console log) if no guest can run or
    it ends without a result. The boot time is left in ``last_boot_seconds``."""
    why = unavailable(accel, qemu=qemu)
    if why:
        raise EnvFault(why)
    q = _qemu_path(qemu)
    assert q is not None
    kdir = guest_kernel(fetch=False)
    code, text, _ = _boot(list(cmd), cwd, timeout=timeout, env=env, mem=mem, accel=accel,
                          cpus=cpus, qemu=q, kdir=kdir, what=f"qemu guest ({accel})")
    return code, text


def main() -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m hil.kvm", description=__doc__.split("\n\n")[0])
    ap.add_argument("--accel", choices=("kvm", "tcg", "auto"), default="auto")
    ap.add_argument("--probe", action="store_true", help="say whether a guest can run, and exit")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    try:
        accel = a.accel
        if accel == "auto":
            accel = best_accel() or "kvm"
        if a.probe:
            why = unavailable(accel)
            print(f"{accel}: {why or 'ok'}")
            return EXIT_CANNOT_RUN if why else 0
        if not cmd:
            ap.print_usage()
            return 2
        rc, out = run(cmd, os.getcwd(), timeout=a.timeout, accel=accel)
    except EnvFault as e:
        print(f"dunelog: cannot run the HIL here: {e}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    sys.stdout.write(out)
    sys.stdout.flush()
    print(f"[{accel} guest booted in {last_boot_seconds:.1f} s]", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""The user-mode Linux guest's vector state on hosts with a large XSAVE area (hil/xstate,
hil/uml): the short NT_X86_XSTATE SETREGSET the host kernel refuses, the preload that
fixes it per guest task, and the guest failure that must end in one line.

Debian's linux.uml 6.1 passes a 2,696-byte buffer, long enough where the host's XSAVE
area is up to that (AVX-512 without AMX), so there the guest tests use
DUNELOG_XSTATE_CLAMP=832 to make the preload treat UML's buffer as the 832 bytes of
UML's ``struct _xstate``: the short-buffer UML of VCAN.md, reproduced on any AVX host."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hil import uml, xstate
from hil.fault import EnvFault

ROOT = Path(__file__).resolve().parents[2]


SHORT = xstate.UML_XSTATE_BYTES


def _native() -> Path:
    try:
        return xstate.native_dir()
    except EnvFault as e:
        pytest.skip(str(e))


def _check(preload: bool, mode: str = "pertask") -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin"}
    if preload:
        env |= {"LD_PRELOAD": str(_native() / "xstate_preload.so"), "DUNELOG_XSTATE_MODE": mode}
    return subprocess.run([str(_native() / "setregset_check"), "512"], env=env,
                          capture_output=True, text=True, timeout=30)


def test_xsave_size_matches_native_probe():
    p = subprocess.run([str(_native() / "setregset_check"), "--size"], capture_output=True,
                       text=True, check=True)
    assert xstate.xsave_size() == int(p.stdout)


@pytest.mark.skipif(xstate.xsave_size() <= 512, reason="no XSAVE area larger than 512 bytes")
def test_short_setregset_refused_by_kernel_alone():
    p = _check(preload=False)
    assert p.returncode == 2 and "EFAULT" in p.stdout, p.stdout + p.stderr


@pytest.mark.skipif(xstate.xsave_size() <= 512, reason="no XSAVE area larger than 512 bytes")
@pytest.mark.parametrize("mode", ["pertask", "shared"])
def test_short_setregset_through_preload_keeps_state(mode):
    p = _check(preload=True, mode=mode)
    assert p.returncode == 0 and "state intact" in p.stdout, p.stdout + p.stderr


def _guest_vecstate(monkeypatch, mode: str | None, clamp: bool, seconds: float = 2):
    for k in ("DUNELOG_XSTATE_MODE", "DUNELOG_XSTATE_CLAMP", "DUNELOG_XSTATE_STATS"):
        monkeypatch.delenv(k, raising=False)
    if mode:
        monkeypatch.setenv("DUNELOG_XSTATE_MODE", mode)
    if clamp:
        monkeypatch.setenv("DUNELOG_XSTATE_CLAMP", str(SHORT))
    why = uml.unavailable()
    if why:
        pytest.skip(why)
    exe = _native() / "vecstate"
    return uml.run([str(exe), str(seconds), "2"], ROOT, timeout=120, mem="512M")


def _need_avx512(rc: int, out: str) -> None:
    if rc == 77:
        pytest.skip(f"needs AVX-512 (the state UML's short buffer leaves out): {out.strip()}")


@pytest.mark.vm
@pytest.mark.parametrize("clamp", [False, True], ids=["installed-uml", "uml-832-bytes"])
def test_guest_threads_keep_vector_state_pertask(monkeypatch, clamp):
    rc, out = _guest_vecstate(monkeypatch, "pertask" if clamp else None, clamp)
    _need_avx512(rc, out)
    assert rc == 0 and "vecstate: ok" in out, out
    print(out.strip(), uml.last_run())


@pytest.mark.vm
def test_guest_threads_mix_vector_state_with_shared_fix(monkeypatch):
    """The naive fix (rest of the state from the host process at each switch) must be
    caught: this is what makes the per-task test above mean something."""
    rc, out = _guest_vecstate(monkeypatch, "shared", clamp=True)
    _need_avx512(rc, out)
    assert rc == 1 and "MIXED: thread" in out and "register " in out, out


@pytest.mark.vm
@pytest.mark.skipif(xstate.xsave_size() <= SHORT,
                    reason=f"XSAVE area <= {SHORT} bytes: UML's buffer is long enough here")
def test_guest_panic_without_fix_is_one_line(monkeypatch):
    monkeypatch.setenv("DUNELOG_XSTATE_MODE", "off")         # preload forwards, no fix
    monkeypatch.setenv("DUNELOG_XSTATE_CLAMP", str(SHORT))   # ... of an 832-byte UML
    if uml.unavailable():
        pytest.skip(uml.unavailable())
    with pytest.raises(EnvFault) as e:
        uml.run(["true"], ROOT, timeout=60, mem="256M")
    msg = str(e.value)
    assert "\n" not in msg and "panicked" in msg, msg
    assert "ptrace set fp regs failed, errno = 14" in msg, msg
    log = Path(msg.rsplit("console: ", 1)[1].rstrip(")"))
    assert "Kernel panic" in log.read_text()

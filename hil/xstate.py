"""The user-mode Linux guest's vector state on hosts with a large XSAVE area.

UML saves and restores each guest task's FPU state with ``PTRACE_GETREGSET/SETREGSET
NT_X86_XSTATE`` into a fixed buffer; where that buffer is shorter than the host's XSAVE
area (``CPUID(0xD,0).EBX``) the host kernel refuses the SET with EFAULT and the guest
panics at its first process ("ptrace set fp regs failed, errno = 14"). The LD_PRELOAD
library built from hil/xstate/xstate_preload.c fixes that while keeping the extra state
(AVX-512, AMX) per guest task (docs/HIL.md, "Where vcan0 comes from").

Host environment read by :func:`uml_env` (for experiments and tests):
``DUNELOG_XSTATE_MODE`` pertask (default) | shared (the naive, leaking fix) | off;
``DUNELOG_XSTATE_CLAMP=N`` makes the preload treat UML's buffer as N bytes, which
reproduces the short-buffer UML on a host where the installed one is big enough;
``DUNELOG_XSTATE_STATS=file`` appends the preload's counters to file when UML exits.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

from hil.fault import EnvFault

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "scripts" / "build-native.sh"

#: UML's ``struct _xstate`` by its 6.1 source: FXSAVE area, XSAVE header, AVX upper halves.
#: Debian bookworm's linux.uml 6.1.176 (6.1um4+b13) was measured to pass 2,696 bytes
#: instead (Intel's AVX-512 + PKRU layout), so it is only broken where the host's XSAVE
#: area is larger than that (AMX: 11,008). The preload is loaded whenever the host's area
#: exceeds the source's 832 bytes: it forwards untouched any request that is long enough,
#: so loading it where it is not needed costs nothing.
UML_XSTATE_BYTES = 832

_ENV_KEYS = ("DUNELOG_XSTATE_MODE", "DUNELOG_XSTATE_CLAMP", "DUNELOG_XSTATE_STATS",
             "DUNELOG_XSTATE_SLOTS")


def native_dir() -> Path:
    """The directory holding xstate_preload.so, vecstate and setregset_check, built by
    scripts/build-native.sh if needed. Inside the guest, the host-built directory named by
    DUNELOG_NATIVE_DIR. Raises EnvFault (one line) if it cannot be built."""
    given = os.environ.get("DUNELOG_NATIVE_DIR")
    if given and (Path(given) / ".complete").exists():
        return Path(given)
    return _build()


@lru_cache(maxsize=None)
def _build() -> Path:
    try:
        p = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvFault(f"cannot build the native HIL helpers: {e}") from None
    if p.returncode != 0:
        why = (p.stderr.strip().splitlines() or ["scripts/build-native.sh failed"])[-1]
        raise EnvFault(why)
    return Path(p.stdout.strip().splitlines()[-1])


def _cpuid_ebx(leaf: int, sub: int) -> int | None:
    """CPUID(leaf, sub).EBX via a few bytes of machine code (x86-64 only; None where that
    cannot run)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    # uint32_t f(uint32_t leaf, uint32_t sub) { cpuid; return want_eax ? eax : ebx; }
    max_leaf = bytes.fromhex("89f8" "89f1" "53" "0fa2" "5b" "c3")            # -> eax
    ebx = bytes.fromhex("89f8" "89f1" "53" "0fa2" "89d8" "5b" "c3")          # -> ebx
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError, AttributeError):
        return None
    page.write(max_leaf + b"\x90" * (32 - len(max_leaf)) + ebx)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    fn = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32)
    if fn(addr)(0, 0) < leaf:
        return 0
    return int(fn(addr + 32)(leaf, sub))


@lru_cache(maxsize=None)
def xsave_size() -> int:
    """The host's XSAVE area in bytes, CPUID(0xD,0).EBX (what the kernel's
    NT_X86_XSTATE regset is); 0 where there is no XSAVE."""
    n = _cpuid_ebx(0xD, 0)
    if n is not None:
        return n
    p = subprocess.run([str(native_dir() / "setregset_check"), "--size"],
                       capture_output=True, text=True)
    return int(p.stdout.strip() or 0)


def needs_preload() -> bool:
    """True where UML's fp buffer may be shorter than the host's XSAVE area, or the host
    environment asks for the preload (DUNELOG_XSTATE_MODE / DUNELOG_XSTATE_CLAMP)."""
    if any(os.environ.get(k) for k in ("DUNELOG_XSTATE_MODE", "DUNELOG_XSTATE_CLAMP")):
        return True
    return xsave_size() > UML_XSTATE_BYTES


def uml_env() -> dict[str, str]:
    """Extra host environment for linux.uml: LD_PRELOAD of the xstate preload when
    needed (building it if necessary; EnvFault if it cannot be built), with the
    DUNELOG_XSTATE_* settings passed through; {} where it is not needed."""
    if not needs_preload():
        return {}
    env = {k: os.environ[k] for k in _ENV_KEYS if os.environ.get(k)}
    env.setdefault("DUNELOG_XSTATE_MODE", "pertask")
    pre = str(native_dir() / "xstate_preload.so")
    env["LD_PRELOAD"] = " ".join(p for p in (pre, os.environ.get("LD_PRELOAD", "")) if p)
    return env

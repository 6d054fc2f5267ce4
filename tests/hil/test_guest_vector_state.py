"""HIL guest sanity: two threads of one process keep their own AVX-512 register state
(zmm0-31, k0-7) across the guest's context switches. In the user-mode Linux guest that
state is saved and restored by the UML kernel through ptrace, and on hosts whose XSAVE
area is larger than UML's buffer by hil/xstate's preload; a leak between threads would
corrupt any guest code that uses those registers (glibc's EVEX string functions do)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hil import xstate
from hil.fault import EnvFault

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.hil

SECONDS, THREADS = 3, 2

# Build the helpers on the host while this module is collected there, before any guest
# boots; inside the guest native_dir() then only finds them (DUNELOG_NATIVE_DIR or cache).
_BUILD_ERROR: str | None = None
if not os.environ.get("DUNELOG_GUEST"):
    try:
        xstate.native_dir()
    except EnvFault as e:
        _BUILD_ERROR = str(e)


def test_threads_keep_their_vector_state() -> None:
    if _BUILD_ERROR:
        pytest.fail(_BUILD_ERROR)
    exe = xstate.native_dir() / "vecstate"
    p = subprocess.run([str(exe), str(SECONDS), str(THREADS)], capture_output=True, text=True,
                       timeout=SECONDS * 10 + 60)
    out = (p.stdout + p.stderr).strip()
    if p.returncode == 77:
        pytest.skip(f"this CPU has no AVX-512 state to check: {out}")
    where = os.environ.get("DUNELOG_GUEST", "host kernel")
    assert p.returncode == 0, f"vector state mixed between threads ({where}): {out}"
    print(f"{where}: {out}")

"""Timing bounds of the HIL checks, per runner kind (hil/vcan.py): what a runner can hold
is measured there and stated in docs/HIL.md. The functional checks (every frame, every
byte, every drop counted) are the same everywhere; only the clocks differ.

The runner's kind comes from ``DUNELOG_GUEST`` (set by hil/vcan.py in every runner);
unset means this kernel's own vcan (``native``)."""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    #: send-to-stamp latency bound on the p99, ms (hil/check.py; a hard 1 s max holds everywhere)
    latency_p99_ms: float
    #: `dunelog replay`'s p99 timing error at 1x, s (tests/hil/test_replay_vcan.py)
    replay_p99_s: float
    why: str


BOUNDS = {
    # the goals on a real kernel with its own CPUs: not measured on the CI machine kind
    # (its kernel has no vcan and its KVM runs no guest)
    "native": Bounds(50.0, 200e-6, "this kernel's vcan: the goal for a real kernel"),
    "kvm": Bounds(50.0, 200e-6, "KVM guest, 2 vCPUs: the goal for a real kernel"),
    # one emulated CPU shared by sender, simulator and DUT; the guest's ~10 ms scheduler
    # slices show up as latency (p99 27-166 ms measured, by host load)
    "uml": Bounds(300.0, 1e-3, "user-mode Linux: one CPU, 10 ms scheduler slices"),
    # every instruction emulated: CPython runs ~10x slower than native
    "tcg": Bounds(600.0, 5e-3, "qemu without KVM: every instruction emulated"),
}


def runner() -> str:
    """The kind of vcan this process runs on: native, kvm, uml or tcg."""
    kind = os.environ.get("DUNELOG_GUEST") or "native"
    return kind if kind in BOUNDS else "native"


def bounds() -> Bounds:
    """The bounds for the runner this process is on."""
    return BOUNDS[runner()]

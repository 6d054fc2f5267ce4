"""How many cores this process may use: its CPU affinity, at most its cgroup's CPU quota.

Layer 0, no imports of the package: the writing thread of a decode (:mod:`.decode.sink`)
and the worker processes of an archive decode (:mod:`.fleet.engine`) both ask it.
"""

from __future__ import annotations

import math
import os

__all__ = ["usable_cores", "cpu_quota"]


def usable_cores(cgroup: str = "/sys/fs/cgroup") -> int:
    """The cores this process may use: those of its affinity (``taskset``, ``docker
    --cpuset-cpus``), at most its cgroup's CPU quota rounded up (``docker --cpus``,
    a Kubernetes CPU limit), which the affinity does not show."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1
    quota = cpu_quota(cgroup)
    return max(1, min(n, math.ceil(quota))) if quota else n


def cpu_quota(cgroup: str = "/sys/fs/cgroup") -> float | None:
    """CPUs the quota of the cgroup mounted at ``cgroup`` allows (v2 ``cpu.max``, v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``); None without a quota."""
    def read(name: str) -> str | None:
        try:
            with open(os.path.join(cgroup, name)) as f:
                return f.read().split("\n")[0].strip()
        except OSError:
            return None

    v2 = read("cpu.max")                    # "max 100000" or "200000 100000"
    if v2 is not None:
        quota, _, period = v2.partition(" ")
    else:
        quota, period = read("cpu/cpu.cfs_quota_us") or "", \
            read("cpu/cpu.cfs_period_us") or ""
    try:
        q, p = int(quota), int(period)
    except ValueError:                      # "max", absent
        return None
    return q / p if q > 0 and p > 0 else None

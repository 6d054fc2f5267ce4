"""glibc heap settings for a process that decodes: it allocates and frees chunk-sized
NumPy arrays (a few MB) over and over.

glibc serves an allocation over its mmap threshold (128 KiB, raised dynamically up to
32 MiB) with a fresh ``mmap`` and trims the heap top above its trim threshold, so each
chunk's arrays are new pages to fault in and zero: on bench_fleet's rally ~190,000 page
faults a run, ~0.2 s of a 2.7 s one-core decode (and ~60 % more time in a Dask worker,
whose nanny sets a trim threshold of 64 KiB).  Keeping the freed memory for the next chunk
(thresholds of 256 MiB / 512 MiB) leaves ~30,000 faults; the peak RSS does not change,
since the memory kept is what the previous chunk used.

Only the command line and the workers of the cluster ``--workers`` starts use it: a
Python process that imports :mod:`dunelog` keeps its own allocator settings.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["ENVIRON", "keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 512 << 20
#: the same settings as environment variables, for a process not started yet
ENVIRON = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
           "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}


def keep_freed_memory() -> bool:
    """Apply the settings to this process (glibc only); True if applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")     # glibc's name (find_library runs ldconfig)
        mallopt = libc.mallopt
    except (OSError, AttributeError):           # musl and others: no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) \
        and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))

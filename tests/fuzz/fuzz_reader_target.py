"""The host reader's fuzz target, shared by the atheris campaign (``fuzz_reader.py``) and the
fixed-seed slice of pytest (``test_fuzz_slices.py``).

An input is one flags byte and the bytes of a segment file (bits 2-3 of the flags pick the
read path in the campaign, which has no time for all four per input). Random bytes almost never pass
a block's CRC-32, so the reader's deeper checks (slot tables, record lengths, sequence
numbers) would only see what the seeds already hold; the flags byte asks for the CRCs to
be recomputed after mutation (bit 0: every block whose header is plausible; bit 1: the
segment header), so that mutated lengths and counts reach the code that must not trust
them.

"Crash" is any exception out of the reader (it has no error type of its own for bad data:
it reports problems, each naming the file and a byte offset inside it), or a problem that
names another file or an offset outside the file.
"""

from __future__ import annotations

import os
import random
import struct
import tracemalloc
import zlib
from types import ModuleType
from typing import Callable

#: the memory bound of reading one input (docs/RELIABILITY.md): peak bytes allocated
#: <= MEM_FIXED + MEM_PER_BYTE * file size
MEM_FIXED = 256 << 10
MEM_PER_BYTE = 32

FLAG_BLOCK_CRC = 1
FLAG_HEADER_CRC = 2

_BLOCK_MAGIC = b"DLGB"
_SEG_MAGIC = b"DLGS"


def fix_crcs(data: bytes, flags: int) -> bytes:
    """``data`` with the CRC-32 of its segment header and/or plausible blocks recomputed."""
    if not flags & 3:
        return data
    b = bytearray(data)
    n = len(b)
    if flags & FLAG_HEADER_CRC and n >= 6 and b[:4] == _SEG_MAGIC and 9 <= b[5] <= 16:
        bs = 1 << b[5]
        if n >= bs:
            struct.pack_into("<I", b, bs - 4, zlib.crc32(b[:bs - 4]))
    if flags & FLAG_BLOCK_CRC:
        pos = 0
        while True:
            j = b.find(_BLOCK_MAGIC, pos)
            if j < 0 or j + 6 > n:
                break
            end = j + (1 << b[j + 5]) if 9 <= b[j + 5] <= 16 else n + 1
            if b[j + 4] == 1 and end <= n:
                struct.pack_into("<I", b, end - 4, zlib.crc32(b[j:end - 4]))
                pos = end
            else:
                pos = j + 1
    return bytes(b)


def seed_inputs() -> list[bytes]:
    """Real segments as seeds (flags byte first): synthetic drives of the test generator
    with 512- and 1024-byte blocks, a torn one, and the start of a recorded test vector."""
    import dlgen  # tests/host: on sys.path (pytest, or the caller)
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for seed, n, bs in ((1, 20, 512), (2, 60, 512), (3, 40, 1024), (4, 8, 512)):
        seg = dlgen.make_segment(n, seed=seed, block_size=bs, first_seq=0 if seed != 3 else 5)
        out.append(bytes([FLAG_BLOCK_CRC]) + seg.data)
    torn = dlgen.make_segment(30, seed=5, block_size=512).data
    out.append(bytes([0]) + torn[:len(torn) - 200])
    vec = os.path.join(here, "..", "vectors", "drive", "B00001_S0004.dlg")
    if os.path.exists(vec):
        with open(vec, "rb") as f:
            head = f.read(8192)
        out.append(bytes([FLAG_BLOCK_CRC | FLAG_HEADER_CRC]) + head)
    return out


#: the read path of an input (flags bits 2-3; ``None``: all of them)
PATHS = ("info", "chunks", "records", "records-small-chunks")


def read_all(card: ModuleType, path: str, which: int | None = None) -> int:
    """The ways the host tools read a dump, over ``path`` (``which``: one of
    :data:`PATHS`, else every one); returns the problems' count. ``card`` is the
    :mod:`dunelog.card` package (or a variant of it under test)."""
    size = os.path.getsize(path)
    n = 0
    for k in range(len(PATHS)) if which is None else (which,):
        d = card.dump.Dump(path, chunk_size=600 if k == 3 else 1 << 20)
        if k == 0:
            card.info.format_info(card.info.dump_info(d))
        elif k == 1:
            for _ in d.chunks():
                pass
        else:                               # 600 bytes: resync across chunk boundaries
            for _ in d.records():
                pass
        for p in d.problems:
            if p.file != path or not (p.offset is None or 0 <= p.offset <= size):
                raise AssertionError(f"problem outside the file: {p}")
            if p.kind not in card.problems.KINDS:
                raise AssertionError(f"problem of undocumented kind: {p}")
            str(p)
        n += len(d.problems)
    return n


class Target:
    """Writes each input to one scratch file (in ``/dev/shm`` when there is one) and reads
    it with :func:`read_all`; ``peak()`` measures the traced allocation of one input."""

    def __init__(self, card: ModuleType, scratch_dir: str | None = None,
                 every_path: bool = True) -> None:
        self.card = card
        self.every_path = every_path
        d = scratch_dir or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
        import tempfile
        self._dir = tempfile.mkdtemp(prefix="dunelog-fuzz-", dir=d)
        self.path = os.path.join(self._dir, "B00001_S0000.dlg")

    def __call__(self, inp: bytes) -> int:
        data = fix_crcs(inp[1:], inp[0]) if inp else b""
        with open(self.path, "wb") as f:
            f.write(data)
        which = None if self.every_path or not inp else (inp[0] >> 2) & 3
        return read_all(self.card, self.path, which)

    def peak(self, inp: bytes) -> tuple[int, int]:
        """``(file size, peak bytes allocated)`` of reading one input (tracemalloc, which
        NumPy reports its buffers to)."""
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            self(inp)
            return max(len(inp) - 1, 0), tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()

    def close(self) -> None:
        import shutil
        shutil.rmtree(self._dir, ignore_errors=True)


# ---------------------------------------------------------------- fixed-seed mutator

def mutate(rng: random.Random, inp: bytes, pool: list[bytes]) -> bytes:
    """One structure-aware mutation of ``inp`` (flags byte kept or changed): byte flips,
    u8/u16/u32 field overwrites with edge values (the block header's count, used, shift
    and the records' len bytes), cuts, inserts, duplicated or spliced ranges."""
    flags, b = (inp[0] if inp else 1), bytearray(inp[1:])
    for _ in range(rng.choice((1, 1, 2, 3, 5, 8))):
        if not b:
            b = bytearray(rng.choice(pool)[1:])
        n = len(b)
        op = rng.randrange(9)
        i = rng.randrange(n)
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice((0, 1, 3, 4, 7, 8, 0x7F, 0x80, 0xFE, 0xFF, rng.randrange(256)))
        elif op in (2, 3):
            # a field of a block header (offset 4..31 of a block) or a record's first word
            j = b.find(_BLOCK_MAGIC, rng.randrange(n))
            k = (j if j >= 0 else i) + rng.choice((4, 5, 6, 7, 8, 9, 24, 28, 32, 33, 34, 35,
                                                    rng.randrange(64)))
            width = rng.choice((1, 2, 4))
            if k + width <= n:
                v = rng.choice((0, 1, 2, 0xFF, 0xFFFF, 0xFFFFFFFF, 1 << 15, 1 << 31,
                                rng.getrandbits(32)))
                b[k:k + width] = (v & ((1 << 8 * width) - 1)).to_bytes(width, "little")
        elif op == 4:
            del b[i:i + rng.choice((1, 4, 32, 512, rng.randrange(1, 2048)))]
        elif op == 5:
            b[i:i] = bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 4, 32))))
        elif op == 6:
            ln = rng.choice((32, 512, 1024, rng.randrange(1, 1024)))
            j = rng.randrange(n)
            b[i:i] = b[j:j + ln]
        elif op == 7:
            other = rng.choice(pool)[1:]
            j = rng.randrange(len(other))
            b[i:] = other[j:j + rng.randrange(1, 4096)]
        else:
            del b[i:]
    if rng.random() < 0.2:
        flags = rng.randrange(16)
    return bytes([flags]) + bytes(b[:65536])


def run_slice(target: Callable[[bytes], int], seeds: list[bytes], n: int,
              seed: int) -> int:
    """Feed ``n`` inputs (the seeds, then mutations of the seeds and of earlier mutants)
    to ``target``; raises what the target raises, with the input attached. Returns the
    number of inputs run."""
    rng = random.Random(seed)
    pool = list(seeds)
    for k in range(n):
        inp = pool[k] if k < len(seeds) else mutate(rng, rng.choice(pool), seeds)
        try:
            target(inp)
        except BaseException as e:
            e.add_note(f"fuzz input #{k} (seed {seed}): {inp[:64].hex()}... "
                       f"({len(inp)} bytes)")
            e.fuzz_input = inp  # type: ignore[attr-defined]
            raise
        if len(pool) < 400 and rng.random() < 0.3:
            pool.append(inp)
    return n

"""Benchmark of the host reader: vectorised path vs the construct reference parser.

    python bench/bench_reader.py [--records 1500000] [--block-size 4096] [--regen]

Generates once (with the construct builders of ``dunelog.card.format``; cached under the
system temp dir) a segment of ~1.5 million records - a recce-vehicle-like mix: classic
CAN frames (mostly 8 bytes), some CAN FD, GNSS at 10 Hz, time sync and status at 1 Hz -
then times

  (a) the vectorised path over the whole file: ``Dump.can_chunks()`` (read, resync,
      CRC-32 of every block, slot table check, CAN records into NumPy arrays, the other
      records decoded per record, problem and statistics bookkeeping), best of N runs;
  (b) the construct reference parse (``format.Block(bs).parse``) of a subset of the
      blocks, scaled per record,

and prints records/s for both and their ratio.  Goal: >= 5 M records/s and >= 50x.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))

import dunelog  # noqa: E402
from dunelog.card import format as F  # noqa: E402

CAN_IDS = [(0x0C0, 8, 100), (0x0C1, 8, 100), (0x1A0, 8, 50), (0x1B0, 8, 100), (0x1F0, 6, 50),
           (0x2F0, 4, 10), (0x300, 8, 20), (0x18FEF100, 8, 10), (0x18F00400, 8, 100),
           (0x7E8, 8, 5)]


def _timed_records(n: int, seed: int, t0: int):
    """About ``n`` (time_us, record) pairs of a recce-like bus, starting at ``t0``."""
    rng = random.Random(seed)
    t = t0
    out = []
    while len(out) < n:
        t += rng.randint(50, 450)                 # ~4000 frames/s total
        r = rng.random()
        if r < 0.95:
            cid, dlen, _ = CAN_IDS[rng.randrange(len(CAN_IDS))]
            flags = F.CAN_EXT if cid > 0x7FF else 0
            out.append((t, F.rec_can(0, cid, rng.randbytes(dlen), channel=rng.randint(0, 1),
                                     flags=flags)))
        elif r < 0.99:
            out.append((t, F.rec_can(0, 0x300 + rng.randrange(4), rng.randbytes(
                rng.choice([12, 16, 32, 64])), fd=True, flags=F.CAN_BRS, channel=1)))
        else:
            k = rng.randrange(10)
            if k == 0:
                out.append((t, F.rec_timesync(0, utc_days=20400, utc_ms=t // 1000)))
            elif k == 1:
                out.append((t, F.rec_status(0, uptime_s=t // 1_000_000)))
            else:
                out.append((t, F.rec_gnss(0, lat=480000000 + t // 1000, lon=20000000,
                                          utc_ms=t // 1000, utc_days=20400)))
    return out


def _build_part(args):
    n, seed, t0, first_seq, bs = args
    timed = _timed_records(n, seed, t0)
    blocks = list(F.pack_blocks(timed, first_seq=first_seq, block_size=bs, boot=1,
                                logger_id=1))
    return blocks, timed[-1][0]


def generate(path: Path, n_records: int, bs: int) -> None:
    """Write the benchmark segment (parallel construct builds, parts of 100k records)."""
    part = 100_000
    nparts = max(1, n_records // part)
    # parts are built independently (times spaced 1 s per 4000 records), seqs fixed up
    # afterwards by rebuilding only each block header's seq field + CRC
    jobs = [(part, 1000 + i, i * part * 300, 0, bs) for i in range(nparts)]
    with mp.Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        results = pool.map(_build_part, jobs)
    seq = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(F.build_segment_header(logger_id=1, boot=1, segment=0, first_seq=0,
                                       firmware="bench", vehicle="bench", block_size=bs))
        for blocks, _ in results:
            for b in blocks:
                b = bytearray(b)
                b[20:24] = seq.to_bytes(4, "little")
                f.write(F.fix_crc(b))
                seq += 1
    os.replace(tmp, path)


def bench_vectorised(path: Path, repeat: int) -> tuple[float, int, int, list]:
    """Best wall time of a full ``can_chunks`` pass; returns (s, records, can frames,
    problems)."""
    best = float("inf")
    nrec = ncan = 0
    problems: list = []
    for _ in range(repeat):
        d = dunelog.open(path)
        t = time.perf_counter()
        ncan = 0
        for c in d.can_chunks():
            ncan += c.classic.size + c.fd.size
        dt = time.perf_counter() - t
        best = min(best, dt)
        nrec = int(d.stats.type_counts.sum())
        problems = d.problems
    return best, nrec, ncan, problems


def bench_construct(path: Path, bs: int, nblocks: int) -> tuple[float, int]:
    """Construct reference parse of ``nblocks`` blocks: (seconds, records)."""
    blk = F.Block(bs)
    with open(path, "rb") as f:
        f.seek(bs)
        data = f.read(nblocks * bs)
    t = time.perf_counter()
    nrec = 0
    for off in range(0, len(data) - bs + 1, bs):
        nrec += len(blk.parse(data[off:off + bs]).body.value.records)
    return time.perf_counter() - t, nrec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_500_000)
    ap.add_argument("--block-size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--construct-blocks", type=int, default=200)
    ap.add_argument("--regen", action="store_true", help="rebuild the cached segment")
    args = ap.parse_args(argv)

    cache = Path(tempfile.gettempdir()) / "dunelog-bench"
    cache.mkdir(exist_ok=True)
    path = cache / f"B00001_S0000-{args.records}-{args.block_size}.dlg"
    if args.regen or not path.exists():
        t = time.perf_counter()
        print(f"generating {path} with the construct builders ...", flush=True)
        generate(path, args.records, args.block_size)
        print(f"  done in {time.perf_counter() - t:.1f} s", flush=True)
    size = path.stat().st_size
    print(f"segment: {path} ({size / 2**20:.1f} MiB, block size {args.block_size})")

    tv, nrec, ncan, problems = bench_vectorised(path, args.repeat)
    assert not problems, problems[:5]
    tc, nrec_c = bench_construct(path, args.block_size, args.construct_blocks)
    rate_v = nrec / tv
    rate_c = nrec_c / tc
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"(a) vectorised: {nrec:,} records ({ncan:,} CAN) in {tv:.3f} s "
          f"= {rate_v / 1e6:.2f} M records/s ({size / tv / 2**20:.0f} MiB/s), best of "
          f"{args.repeat}")
    print(f"(b) construct:  {nrec_c:,} records of {args.construct_blocks} blocks in "
          f"{tc:.3f} s = {rate_c / 1e3:.1f} k records/s")
    print(f"ratio: {rate_v / rate_c:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DBC decode benchmark: dunelog.decode vs a cantools ``decode_message`` loop, and peak
memory of ``dunelog decode`` on a dump and on a dump ten times larger.

Generates (once, cached under ``$TMPDIR/dunelog-bench/``) a recce-bus segment whose ids are
those of ``dbc/recce.dbc`` (+ OBD-II responses for ``dbc/obd2.dbc``), built with the
construct builders of ``dunelog.card.format``; the 10x dump repeats its blocks with new sequence
numbers, shifted times and fresh CRCs.

    taskset -c 0 python bench/bench_decode.py [--records 300000] [--regen]
"""

from __future__ import annotations

import argparse
import compileall
import json
import multiprocessing as mp
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host"))

import numpy as np  # noqa: E402

import dunelog  # noqa: E402
from dunelog.card import format as F  # noqa: E402

DBCS = [str(ROOT / "dbc" / "recce.dbc"), str(ROOT / "dbc" / "obd2.dbc")]
OBD_PIDS = [0x04, 0x05, 0x0C, 0x0D, 0x0F, 0x10, 0x11, 0x2F, 0x42, 0x46, 0x5C]
# (id, length, weight)
IDS = [(0x0C0, 8, 20), (0x1A0, 8, 10), (0x1B0, 6, 20), (0x2F0, 4, 1), (0x18FEF100, 8, 2),
       (0x310, 8, 5), (0x320, 8, 5), (0x7E8, 8, 2)]
_W = np.cumsum([w for _, _, w in IDS]) / sum(w for _, _, w in IDS)


def _payload(rng: random.Random, cid: int, n: int) -> bytes:
    b = bytearray(rng.randbytes(n))
    if cid == 0x310:
        b[0] = rng.randrange(3)
    elif cid == 0x320:
        b[0] = rng.randrange(2) | (rng.randrange(4) << 2)
    elif cid == 0x7E8:
        b[0:3] = bytes([4, 0x41, rng.choice(OBD_PIDS)])
    return bytes(b)


def _part(args):
    n, seed, t0, bs = args
    rng = random.Random(seed)
    t, timed = t0, []
    while len(timed) < n:
        t += rng.randint(20, 180)
        r = rng.random()
        if r < 0.95:
            cid, ln, _ = IDS[int(np.searchsorted(_W, rng.random()))]
            timed.append((t, F.rec_can(0, cid, _payload(rng, cid, ln), channel=0,
                                       flags=F.CAN_EXT if cid > 0x7FF else 0)))
        elif r < 0.995:
            timed.append((t, F.rec_can(0, 0x300, rng.randbytes(64), fd=True,
                                       flags=F.CAN_BRS, channel=1)))
        else:
            timed.append((t, F.rec_timesync(0, utc_days=20400, utc_ms=t // 1000)))
    return list(F.pack_blocks(timed, block_size=bs, boot=1, logger_id=1)), t


def generate(path: Path, n: int, bs: int = 4096) -> None:
    part = 50_000
    jobs = [(part, 7000 + i, i * part * 100, bs) for i in range(max(1, n // part))]
    with mp.Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        res = pool.map(_part, jobs)
    write_repeated(path, [b for blocks, _ in res for b in blocks], 1, bs, res[-1][1] + 1000)


def write_repeated(path: Path, blocks: list[bytes], times: int, bs: int, period_us: int):
    tmp = path.with_suffix(".tmp")
    seq = 0
    with open(tmp, "wb") as f:
        f.write(F.build_segment_header(logger_id=1, boot=1, segment=0, first_seq=0,
                                       firmware="bench", vehicle="bench", block_size=bs))
        for k in range(times):
            for b in blocks:
                b = bytearray(b)
                b[20:24] = seq.to_bytes(4, "little")
                base = int.from_bytes(b[24:32], "little") + k * period_us
                b[24:32] = base.to_bytes(8, "little")
                f.write(F.fix_crc(b))
                seq += 1
    os.replace(tmp, path)


def make_big(small: Path, big: Path, times: int, bs: int = 4096) -> None:
    data = small.read_bytes()[bs:]
    blocks = [data[i:i + bs] for i in range(0, len(data), bs)]
    last = max(int.from_bytes(b[24:32], "little") for b in blocks)
    write_repeated(big, blocks, times, bs, last + 1_000_000)


def bench_ours(classic, fd, repeat: int):
    from dunelog.decode import Decoder
    best = best_tab = float("inf")
    for _ in range(repeat):
        dec = Decoder(DBCS)
        t = time.perf_counter()
        outs = dec.decode(classic) + dec.decode(fd)
        best = min(best, time.perf_counter() - t)
        t = time.perf_counter()
        for o in outs:
            o.to_arrow()
        best_tab = min(best_tab, time.perf_counter() - t)
    nsig = sum(len(o.columns.values) for o in outs)
    return best, best_tab, dec.report, nsig


def bench_cantools(classic, fd, n: int):
    import cantools
    db = cantools.database.Database()
    for p in DBCS:
        db.add_dbc_file(p)
    rng = np.random.default_rng(1)
    frames = []
    for arr in (classic, fd):
        k = int(round(n * arr.size / (classic.size + fd.size)))
        sel = arr[np.sort(rng.choice(arr.size, k, replace=False))]
        frames += [(int(f["id"]), bytes(f["data"][:f["data_len"]])) for f in sel]
    t = time.perf_counter()
    for cid, data in frames:
        db.decode_message(cid, data, decode_choices=False)
    return time.perf_counter() - t, len(frames)


def child_decode(path: str, out: str) -> None:
    """Run in a subprocess: ``dunelog decode`` of path -> out, print wall, rss."""
    import resource

    from dunelog.cli import main
    t = time.perf_counter()
    rc = main(["decode", path, "--dbc", DBCS[0], "--dbc", DBCS[1], "-o", out,
               "--no-progress"])
    wall = time.perf_counter() - t
    print(json.dumps({"rc": rc, "wall": wall,
                      "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def run_child(path: Path, out: Path) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", str(path), str(out)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--times", type=int, default=10, help="size factor of the big dump")
    ap.add_argument("--cantools-frames", type=int, default=30_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--regen", action="store_true")
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    if a.child:
        child_decode(*a.child)
        return
    # timed as installed: pip writes the package's bytecode, which PYTHONDONTWRITEBYTECODE
    # (set on some machines, this one too) would leave to each process (~0.04 s)
    compileall.compile_dir(str(ROOT / "host" / "dunelog"), quiet=1)
    d = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "dunelog-bench"
    d.mkdir(parents=True, exist_ok=True)
    small = d / f"decode_{a.records}" / "B00001_S0000.dlg"
    big = d / f"decode_{a.records}x{a.times}" / "B00001_S0000.dlg"
    if a.regen or not small.exists():
        small.parent.mkdir(exist_ok=True)
        print(f"generating {small} ...", file=sys.stderr)
        generate(small, a.records)
    if a.regen or not big.exists():
        big.parent.mkdir(exist_ok=True)
        print(f"generating {big} ...", file=sys.stderr)
        make_big(small, big, a.times)

    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, affinity {sorted(os.sched_getaffinity(0))}")
    from dunelog.card.bulk import CAN_DTYPE, CANFD_DTYPE
    classic, fd = dunelog.open(small).can_arrays()
    # as Dump.can_chunks yields them (np.concatenate packs the padded dtypes)
    classic, fd = classic.astype(CAN_DTYPE), fd.astype(CANFD_DTYPE)
    n = classic.size + fd.size
    t_ours, t_tab, rep, nsig = bench_ours(classic, fd, a.repeat)
    t_ct, n_ct = bench_cantools(classic, fd, a.cantools_frames)
    ours = n / t_ours
    ct = n_ct / t_ct
    print(f"frames: {n} ({classic.size} classic, {fd.size} FD), decoded {rep.decoded}, "
          f"{nsig} signal columns, report: {rep.as_dict()['unknown_ids']}")
    print(f"dunelog.decode: {t_ours * 1e3:.1f} ms -> {ours / 1e6:.2f} M frames/s "
          f"(+ wide pyarrow tables {t_tab * 1e3:.1f} ms -> {n / (t_ours + t_tab) / 1e6:.2f} M "
          f"frames/s)")
    print(f"cantools decode_message loop: {n_ct} frames {t_ct:.2f} s -> {ct / 1e3:.1f} k "
          f"frames/s")
    print(f"ratio: {ours / ct:.0f}x (with tables {n / (t_ours + t_tab) / ct:.0f}x)")
    with tempfile.TemporaryDirectory() as td:
        for label, path in (("1x", small), (f"{a.times}x", big)):
            r = run_child(path.parent, Path(td) / f"{label}.parquet")
            size = path.stat().st_size / 2**20
            print(f"dunelog decode {label} ({size:.1f} MiB) -> parquet: wall {r['wall']:.2f} s, "
                  f"peak RSS {r['maxrss_kib'] / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

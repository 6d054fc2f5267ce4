"""Archive decode into a dataset: one core, one process, 2 processes, 1 and 2 Dask workers
vs asammdf, and a DuckDB query on the result (issue 16).

The archive is a synthetic rally (``hil/rally.py``): each vehicle's lap is logged by the
real firmware under MicroPython, then tiled into ``--laps`` segment files per day, one boot
per vehicle and day.  Measured in one run, each as the user runs it (a fresh process, file
in to file out, imports included), ``--repeat`` times in turn, the median shown:

* ``dunelog decode ARCHIVE --dbc dbc/recce.dbc --dataset OUT`` on one core (the per-core
  figure: one process, its tasks one after the other), ``--jobs 1`` free to use both
  cores (a thread writes one file's parts while the next decodes), ``--jobs 2`` (two
  processes forked from the first: the default on a 2-core machine), ``--workers 1`` and
  ``--workers 2`` (a Dask LocalCluster: its start is counted), and ``--scheduler`` on a
  cluster of 2 workers already running (``dask scheduler`` + ``dask worker``, started as
  docs/FLEET.md tells; its start not counted);
* asammdf on the same CAN frames as MF4 (one file per vehicle, written by ``dunelog
  convert``, not timed): ``MDF(path)`` + ``extract_bus_logging`` in a fresh process
  (bench/asammdf_baseline.py); in memory, nothing written;
* ``dunelog query OUT "max coolant per vehicle per day"`` end to end, and the query alone
  in an open :func:`dunelog.dataset`;
* memory: the workers' peak RSS on this archive and on one twice as long (``--days``
  doubled), which should not grow.

Each run writes a new directory, as a user's first decode does: deleting the last run's
just before makes ext4 search past the inodes it freed (measured ~0.1-0.4 s more system
time a run, growing run after run).

    python bench/bench_fleet.py [--vehicles 6] [--days 3] [--lap-s 600] [--laps 2]
                                [--repeat 3]
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DBC = str(ROOT / "dbc" / "recce.dbc")
QUERY = ("SELECT vehicle, date, max(CoolantTemp) AS max_coolant FROM EngineData "
         "GROUP BY ALL ORDER BY ALL")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "host"), str(ROOT),
                                         env.get("PYTHONPATH", "")])
    return env


def cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _one_core() -> None:
    """In the child: run on one core only (the per-core figure)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


_runs = 0


def warm(files: list[Path]) -> None:
    """Read the archive once, untimed: every run then reads it from the page cache (the
    first run would otherwise wait for the disk, and the order of the runs decide)."""
    for p in files:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def run_decode(archive: Path, work: Path, extra: list[str], one_core: bool = False) -> dict:
    """``dunelog decode --dataset`` into a new directory under ``work`` in a fresh
    process: wall seconds, what it said, and the directory."""
    global _runs
    _runs += 1
    out = work / f"ds{_runs}"
    cmd = [sys.executable, "-m", "dunelog", "decode", str(archive), "--dbc", DBC,
           "--dataset", str(out), "--no-progress", *extra]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(),
                       preexec_fn=_one_core if one_core else None)
    wall = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    line = r.stderr.strip().splitlines()[0]
    frames = int(re.search(r"; (\d+) frame", line).group(1))
    rss = re.search(r"worker peak RSS ([\d, ]+) MB", line)
    return {"wall": wall, "frames": frames, "line": line, "out": out,
            "worker_rss": [float(x) for x in rss.group(1).split(",")] if rss else None}


def median_runs(archive: Path, work: Path, configs: list[tuple[str, list[str]]],
                repeat: int) -> dict[str, dict]:
    """Each config ``repeat`` times, in turn; the run of median wall time of each (with
    every wall time under ``walls``)."""
    runs: dict[str, list[dict]] = {label: [] for label, _ in configs}
    for _ in range(repeat):
        for label, extra in configs:
            runs[label].append(run_decode(archive, work, extra, one_core=label == "one core"))
    out = {}
    for label, rs in runs.items():
        rs.sort(key=lambda r: r["wall"])
        out[label] = {**rs[len(rs) // 2], "walls": [r["wall"] for r in rs]}
    return out


class RunningCluster:
    """``dask scheduler`` + ``dask worker --nworkers N --nthreads 1`` started the way
    docs/FLEET.md tells for a cluster of one's own (the workers' environment included), as
    a data machine keeps one running: its start is not timed."""

    def __init__(self, work: Path, n: int) -> None:
        import json
        env = {**_env(), "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
               "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
               "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s"}
        wenv = {**env, "MALLOC_MMAP_THRESHOLD_": "268435456",
                "MALLOC_TRIM_THRESHOLD_": "536870912"}
        sf = work / "scheduler.json"
        py = [sys.executable, "-m"]
        self.procs = [subprocess.Popen(
            [*py, "distributed.cli.dask_scheduler", "--scheduler-file", str(sf),
             "--no-dashboard", "--host", "127.0.0.1", "--port", "0"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        for _ in range(200):
            if sf.exists() and sf.stat().st_size:
                break
            time.sleep(0.05)
        self.address = json.loads(sf.read_text())["address"]
        self.procs.append(subprocess.Popen(
            [*py, "distributed.cli.dask_worker", "--scheduler-file", str(sf),
             "--nworkers", str(n), "--nthreads", "1", "--no-dashboard",
             "--preload", "dunelog.fleet.task"], env=wenv,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client
        with Client(self.address, timeout="20s") as c:
            c.wait_for_workers(n, timeout=60)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
            p.wait(timeout=30)


def run_query(out: Path) -> tuple[float, float, list]:
    """End to end ``dunelog query`` wall time, the query alone, and its rows."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "dunelog", "query", str(out), QUERY,
                        "--format", "csv"], capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    import dunelog
    ds = dunelog.dataset(out)
    ds.sql(QUERY).fetchall()                      # warm (views bound, metadata read)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        rows = ds.sql(QUERY).fetchall()
        best = min(best, time.perf_counter() - t)
    ds.close()
    return wall, best, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=6)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--lap-s", type=int, default=600)
    ap.add_argument("--laps", type=int, default=2, help="segment files per vehicle-day")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each decode, in turn (the median is shown)")
    ap.add_argument("--no-memory", action="store_true",
                    help="skip the twice-as-long archive (memory flat in archive size)")
    a = ap.parse_args()
    # timed as installed: pip writes the package's bytecode, which PYTHONDONTWRITEBYTECODE
    # (set on some machines, this one too) would leave to each process (~0.04 s)
    compileall.compile_dir(str(ROOT / "host" / "dunelog"), quiet=1)
    from asammdf_baseline import baseline

    from hil.rally import build_rally
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        t = time.perf_counter()
        info = build_rally(None, vehicles=a.vehicles, days=a.days, lap_s=a.lap_s,
                           laps_per_day=a.laps)
        print(f"rally: {a.vehicles} vehicles x {a.days} days x {a.laps} segment files, "
              f"{info.total_frames} CAN frames, "
              f"{sum(p.stat().st_size for p in info.files) / 2**20:.0f} MiB "
              f"({'cached' if info.cached else 'built'} in {time.perf_counter() - t:.1f} s)")
        print(f"cpu: {cpu()}, {os.cpu_count()} cores; python {platform.python_version()}")
        warm(info.files)
        configs = [("one core", []), ("single process", ["--jobs", "1"]),
                   ("2 processes", ["--jobs", "2"]),
                   ("dask 1 worker", ["--workers", "1"]),
                   ("dask 2 workers", ["--workers", "2"])]
        res = median_runs(info.root, work, configs, a.repeat)
        cluster = RunningCluster(work, 2)
        try:
            res.update(median_runs(info.root, work, [
                ("2 workers, cluster already running", ["--scheduler", cluster.address])],
                a.repeat))
        finally:
            cluster.close()
        for label, r in res.items():
            walls = ", ".join(f"{w:.2f}" for w in r["walls"])
            print(f"{label:15s}: {r['wall']:6.2f} s end to end = "
                  f"{r['frames'] / r['wall'] / 1e6:5.2f} M frames/s  (runs {walls})  "
                  f"[{r['line']}]")
        mdf = baseline(info.root, DBC, work=work / "mf4")
        print(f"asammdf        : {mdf['total_s']:6.2f} s (open {mdf['open_s']:.2f} + "
              f"extract_bus_logging {mdf['extract_s']:.2f}; process with imports "
              f"{mdf['process_s']:.2f} s; export to MF4 not counted {mdf['export_s']:.1f} s) "
              f"= {mdf['frames'] / mdf['total_s'] / 1e6:.2f} M frames/s in memory, "
              f"peak RSS {mdf['peak_rss_mb']:.0f} MB")
        core, one, two = res["one core"], res["single process"], res["2 processes"]
        dask2, running = res["dask 2 workers"], res["2 workers, cluster already running"]
        print(f"ratios: 2 processes / one core {core['wall'] / two['wall']:.2f}x, / single "
              f"process {one['wall'] / two['wall']:.2f}x, / asammdf (open+extract) "
              f"{mdf['total_s'] / two['wall']:.2f}x (vs asammdf's whole process "
              f"{mdf['process_s'] / two['wall']:.2f}x); single process / asammdf "
              f"{mdf['total_s'] / one['wall']:.2f}x; Dask 2 workers / one core "
              f"{core['wall'] / dask2['wall']:.2f}x, already running / one core "
              f"{core['wall'] / running['wall']:.2f}x")
        qwall, qbest, rows = run_query(two["out"])
        print(f"query max coolant per vehicle per day ({len(rows)} rows): "
              f"{qbest * 1e3:.1f} ms in an open dataset, {qwall:.2f} s `dunelog query` "
              "end to end")
        if not a.no_memory:
            big = build_rally(None, vehicles=a.vehicles, days=a.days * 2, lap_s=a.lap_s,
                              laps_per_day=a.laps)
            warm(big.files)
            big_res = median_runs(big.root, work, [
                ("one core", []), ("2 processes", ["--jobs", "2"]),
                ("dask 2 workers", ["--workers", "2"])], a.repeat)
            c2, r2, d2 = (big_res[k] for k in ("one core", "2 processes", "dask 2 workers"))
            print(f"memory: worker peak RSS, 2 processes {two['worker_rss']} MB on "
                  f"{two['frames']} frames, {r2['worker_rss']} MB on {r2['frames']} frames "
                  f"({a.days * 2} days); Dask workers {dask2['worker_rss']} MB, "
                  f"{d2['worker_rss']} MB")
            # the archive twice as long: the rate past the fixed costs (imports, forks,
            # a cluster's start), which a real rally's archive (billions of frames) sees,
            # is the difference of the two sizes
            print(f"{a.days * 2} days: one core {c2['wall']:6.2f} s = "
                  f"{c2['frames'] / c2['wall'] / 1e6:5.2f} M frames/s; 2 processes "
                  f"{r2['wall']:6.2f} s = {r2['frames'] / r2['wall'] / 1e6:5.2f} M frames/s "
                  f"({c2['wall'] / r2['wall']:.2f}x); Dask 2 workers {d2['wall']:6.2f} s")
            df = r2["frames"] - two["frames"]
            m1 = df / (c2["wall"] - core["wall"])
            m2 = df / (r2["wall"] - two["wall"])
            print(f"past the fixed costs ({df} more frames): one core "
                  f"{m1 / 1e6:.2f} M frames/s, 2 processes {m2 / 1e6:.2f} M frames/s "
                  f"({m2 / m1:.2f}x); asammdf on the {a.days}-day archive "
                  f"{mdf['frames'] / mdf['total_s'] / 1e6:.2f} M frames/s in memory "
                  f"(2 processes {m2 / (mdf['frames'] / mdf['total_s']):.2f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

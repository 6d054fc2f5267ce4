"""asammdf baseline: the same CAN frames as MF4, opened and decoded by asammdf.

Given an archive (``ARCHIVE/<vehicle>/<date>/*.dlg``, or any dump path) and a DBC, the
project's own export writes one MF4 per vehicle (``dunelog convert INPUT -o
'DIR/{vehicle}.mf4'``: asammdf's bus-logging layout); then a fresh Python process times
what an engineer's script does with them in asammdf: ``MDF(path)`` and
``extract_bus_logging({"CAN": [(dbc, 0)]})`` for every file, one after the other.  The
export itself is not timed.

    python bench/asammdf_baseline.py ARCHIVE --dbc dbc/recce.dbc [--work DIR] [--json]

From Python: ``baseline(archive, dbc) -> {"frames", "open_s", "extract_s", "total_s",
"peak_rss_mb", "files"}`` (``files``: per MF4, the same figures but RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["export_mf4", "time_asammdf", "baseline"]


def _env() -> dict[str, str]:
    """The environment of the child processes: this checkout's package first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "host"), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                           else []))
    return env


def _convert_has(option: str) -> bool:
    """Whether this checkout's ``dunelog convert`` knows ``option``."""
    r = subprocess.run([sys.executable, "-m", "dunelog", "convert", "--help"],
                       capture_output=True, text=True, env=_env())
    return option in r.stdout


def export_mf4(source: Path | str, out_dir: Path | str, *, gnss: bool = False) -> dict[Path, int]:
    """Write the CAN frames of ``source`` as ``out_dir/<vehicle>.mf4`` with ``dunelog
    convert``; returns each file's frame count (from the command's summary).  ``gnss``:
    also the GNSS fixes as CAN frames (``--gnss-can``, where convert has it), else only
    the logged CAN frames."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "dunelog", "convert", str(source), "-o",
           str(out_dir / "{vehicle}.mf4"), "--no-progress"]
    if _convert_has("--no-gnss-can"):
        cmd.append("--gnss-can" if gnss else "--no-gnss-can")
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if r.returncode:
        raise RuntimeError(f"dunelog convert failed ({r.returncode}): {r.stderr.strip()}")
    got = {Path(m.group(2)): int(m.group(1))
           for m in re.finditer(r"^wrote (\d+) frames to (.+?\.mf4)(?: |$)", r.stderr, re.M)}
    if not got:
        raise RuntimeError(f"dunelog convert wrote no MF4: {r.stderr.strip()}")
    return got


def _child(dbcs: list[str], paths: list[str]) -> None:
    """In the fresh process: open and extract every file; print one JSON line."""
    from asammdf import MDF
    databases = {"CAN": [(d, 0) for d in dbcs]}
    files = []
    for p in paths:
        t0 = time.perf_counter()
        mdf = MDF(p)
        t1 = time.perf_counter()
        out = mdf.extract_bus_logging(databases)
        t2 = time.perf_counter()
        n = sum(len(g.channels) for g in out.groups)
        out.close()
        mdf.close()
        files.append({"path": p, "open_s": t1 - t0, "extract_s": t2 - t1, "channels": n})
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"files": files, "peak_rss_mb": rss_kib / 1024}))


def time_asammdf(mf4: list[Path], dbc: Path | str | list[Path | str]) -> dict:
    """Time ``MDF(path)`` and ``extract_bus_logging`` (every DBC on any channel) over
    ``mf4`` in a fresh process: ``{open_s, extract_s, total_s, process_s, peak_rss_mb,
    files}``."""
    dbcs = [str(d) for d in (dbc if isinstance(dbc, list) else [dbc])]
    t = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "--child", os.pathsep.join(dbcs)]
                       + [str(p) for p in mf4], capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - t
    if r.returncode:
        raise RuntimeError(f"asammdf child failed: {r.stderr.strip()[-2000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    files = res["files"]
    open_s = sum(f["open_s"] for f in files)
    extract_s = sum(f["extract_s"] for f in files)
    return {"open_s": open_s, "extract_s": extract_s, "total_s": open_s + extract_s,
            "process_s": wall, "peak_rss_mb": res["peak_rss_mb"], "files": files}


def baseline(source: Path | str, dbc: Path | str | list[Path | str], *,
             work: Path | str | None = None, gnss: bool = False) -> dict:
    """Export ``source`` to one MF4 per vehicle (under ``work``, else a temporary directory
    removed afterwards) and time asammdf on them: ``{frames, open_s, extract_s, total_s,
    peak_rss_mb, export_s, files}`` (``total_s`` = open + extract; ``process_s`` also counts
    the child's start and imports).  ``gnss``: export the GNSS fixes as CAN frames too
    (then add ``dbc/dunelog_gnss.dbc`` to ``dbc`` to decode them)."""
    tmp = tempfile.mkdtemp(prefix="asammdf-baseline-") if work is None else None
    d = Path(work) if work is not None else Path(str(tmp))
    try:
        t = time.perf_counter()
        counts = export_mf4(source, d, gnss=gnss)
        export_s = time.perf_counter() - t
        res = time_asammdf(sorted(counts), dbc)
        for f in res["files"]:
            f["frames"] = counts[Path(f["path"])]
            f["mb"] = Path(f["path"]).stat().st_size / 1e6
        return {"frames": sum(counts.values()), **res, "export_s": export_s}
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python bench/asammdf_baseline.py ARCHIVE --dbc DBC``."""
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2].split(os.pathsep), sys.argv[3:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="archive, dump tree, directory or segment file")
    ap.add_argument("--dbc", action="append", help="DBC file (repeatable; default "
                    "dbc/recce.dbc)")
    ap.add_argument("--gnss", action="store_true", help="export the GNSS fixes as CAN frames "
                    "too (add --dbc dbc/dunelog_gnss.dbc to decode them)")
    ap.add_argument("--work", help="keep the MF4 files here (default: a temporary directory)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    res = baseline(a.input, a.dbc or [str(ROOT / "dbc" / "recce.dbc")], work=a.work,
                   gnss=a.gnss)
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    import asammdf
    print(f"asammdf {asammdf.__version__}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cpu(s)")
    for f in res["files"]:
        print(f"  {Path(f['path']).name}: {f['frames']} frames, {f['mb']:.1f} MB, open "
              f"{f['open_s']:.2f} s, extract {f['extract_s']:.2f} s, {f['channels']} channels")
    print(f"{res['frames']} frames in {len(res['files'])} MF4 file(s) (export {res['export_s']:.1f}"
          f" s, not counted): open {res['open_s']:.2f} s + extract {res['extract_s']:.2f} s = "
          f"{res['total_s']:.2f} s ({res['frames'] / max(res['total_s'], 1e-9):,.0f} frames/s), "
          f"child process {res['process_s']:.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

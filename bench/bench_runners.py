"""The HIL runners side by side on this machine, in one run: for each runner that can run
here (native vcan, KVM guest, user-mode Linux guest, and qemu without KVM when asked),
boot time, frames/s through vcan0, `dunelog replay` timing error (tests/hil/test_replay_vcan.py,
a shortened dump) and the nominal scenario's send-to-stamp latency (shortened). Prints a
Markdown table (docs/HIL.md, bench/RESULTS.md) and writes out/bench-runners.json.

    python bench/bench_runners.py [--runners uml,tcg] [--replay-seconds 60] [--nominal-scale 0.2]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hil import vcan  # noqa: E402
from hil.fault import EnvFault  # noqa: E402

_REPLAY = re.compile(r"reported timing error p50 ([\d.]+) ms p99 ([\d.]+) ms max ([\d.]+) ms")


def _boot_seconds(kind: str) -> float | None:
    if kind == "uml":
        from hil import uml
        r = uml.last_run()
        return r.boot_seconds if r else None
    if kind in ("kvm", "tcg"):
        from hil import kvm
        return kvm.last_boot_seconds
    return 0.0


def measure(kind: str, replay_s: float, scale: float) -> dict:
    """One guest boot per measurement, so that each starts on a quiet guest."""
    py = sys.executable
    row: dict = {"runner": kind}
    rc, out = vcan.run_in(kind, [py, "bench/vcan_rate.py", "20000"], ROOT, timeout=1800)
    row["boot_s"] = _boot_seconds(kind)
    row["pairs_per_s"] = (json.loads(out.strip().splitlines()[-1])["pairs_per_s"]
                          if rc == 0 else None)
    rc, out = vcan.run_in(kind, [py, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                                 "tests/hil/test_replay_vcan.py"], ROOT, timeout=3600,
                          env={"REPLAY_SECONDS": str(replay_s)})
    m = _REPLAY.search(out)
    row["replay_ms"] = [float(x) for x in m.groups()] if m else None
    row["replay_passed"] = rc == 0
    with tempfile.TemporaryDirectory(dir=ROOT / "out") as d:
        rc, out = vcan.run_in(kind, [py, "-m", "hil.run", "--here", "--out", d, "--scale",
                                     str(scale), "nominal"], ROOT, timeout=3600,
                              env={"PYTHONPATH": str(ROOT)})
        rep = Path(d) / "nominal" / "report.json"
        if rep.exists():
            r = json.loads(rep.read_text())
            row["nominal_latency_ms"] = r["numbers"].get("can", {}).get("latency_ms")
            row["nominal_passed"] = r.get("passed")
    return row


def table(rows: list[dict]) -> str:
    def f(v, fmt="{:.1f}"):
        return "-" if v is None else fmt.format(v)
    out = ["| runner | boot s | vcan frames/s (send+recv pairs) | replay error p50 / p99 / max ms "
           "| nominal latency p99 ms |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['runner']} | could not run: {r['error']} | | | |")
            continue
        rp = r.get("replay_ms")
        lat = r.get("nominal_latency_ms") or {}
        out.append(f"| {r['runner']} | {f(r.get('boot_s'))} | "
                   f"{f(r.get('pairs_per_s'), '{:,.0f}')} | "
                   + (" / ".join(f"{x:.3f}" for x in rp) if rp else "-")
                   + f" | {f(lat.get('p99'))} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runners", default="native,kvm,uml,tcg")
    ap.add_argument("--replay-seconds", type=float, default=60)
    ap.add_argument("--nominal-scale", type=float, default=0.2)
    a = ap.parse_args()
    (ROOT / "out").mkdir(exist_ok=True)
    rows = []
    for kind in a.runners.split(","):
        why = vcan.unavailable(kind)
        if why:
            rows.append({"runner": kind, "error": why})
            print(f"{kind}: could not run: {why}", flush=True)
            continue
        t0 = time.monotonic()
        try:
            rows.append(measure(kind, a.replay_seconds, a.nominal_scale))
        except EnvFault as e:
            rows.append({"runner": kind, "error": str(e)})
        print(f"{kind}: {rows[-1]} ({time.monotonic() - t0:.0f} s)", flush=True)
    (ROOT / "out" / "bench-runners.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

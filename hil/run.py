"""Run HIL scenarios where vcan0 is (this kernel's, or the user-mode Linux guest's) and
leave one report per scenario: out/hil/<run>/<scenario>/report.{json,txt} and a summary.

    python -m hil.run [NAME ...] [--out DIR] [--firmware DIR] [--scale F]   (needs vcan0)
    dunelog hil run [NAME ...]                                              (finds a vcan0)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from hil import vcan
from hil.dut import FIRMWARE, ROOT, BoardDut, DutError
from hil.rig import Result, Rig, write_report
from hil.scenarios import all_scenarios


def select(names: list[str]) -> list[str]:
    known = all_scenarios()
    if not names:
        return list(known)
    bad = [n for n in names if n not in known]
    if bad:
        raise SystemExit(f"unknown scenario(s) {', '.join(bad)}; known: {', '.join(known)}")
    return names


def run_one(name: str, outdir: Path, *, firmware: Path = FIRMWARE, scale: float = 1.0,
            iface: str = "vcan0", board: BoardDut | None = None) -> Result:
    """Run scenario ``name`` in a fresh work directory; write its report into outdir."""
    sc = all_scenarios()[name]
    res = Result(name, sc.summary)
    work = Path(tempfile.mkdtemp(prefix=f"dunelog-hil-{name}-"))
    t0 = time.monotonic()
    try:
        if board is not None and sc.unix_only:
            raise DutError(f"{name} needs the Unix-port DUT (it kills the process or mounts "
                           f"its card); not run on a real board")
        if board is not None:
            board.card = work / "card"
        sc.run(Rig(work, firmware=firmware, iface=iface, scale=scale, board=board), res)
    except Exception as e:                        # a rig or DUT failure is a failed run
        res.fail(f"{type(e).__name__}: {e}")
        res.numbers["traceback"] = traceback.format_exc()[-3000:]
    finally:
        res.seconds = time.monotonic() - t0
        shutil.rmtree(work, ignore_errors=True)
    write_report(res, outdir / name)
    return res


def run_here(names: list[str], out: Path, *, firmware: Path = FIRMWARE,
             scale: float = 1.0) -> int:
    """Run the scenarios in this kernel (vcan0 must exist); 0 if all passed."""
    if not Path("/sys/class/net/vcan0").exists():
        raise SystemExit("no vcan0 here: use `dunelog hil run` (brings one up, or boots "
                         "user-mode Linux)")
    results = []
    for n in names:
        r = run_one(n, out, firmware=firmware, scale=scale)
        sys.stdout.write(r.text())
        sys.stdout.flush()
        results.append(r)
    summary = {"passed": all(r.passed for r in results),
               "scenarios": {r.name: {"passed": r.passed, "seconds": round(r.seconds, 1),
                                      "errors": len(r.errors)} for r in results}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    ok = sum(r.passed for r in results)
    sys.stdout.write(f"{ok} of {len(results)} scenario(s) passed; reports in {out}\n")
    return 0 if summary["passed"] else 1


def run_board(names: list[str], out: Path, board: BoardDut, iface: str, scale: float) -> int:
    """Run the scenarios against a real logger; the rig sends on ``iface`` (its USB-CAN
    adapter, python-can socketcan). Scenarios that need the Unix-port DUT are skipped."""
    results = []
    for n in names:
        if all_scenarios()[n].unix_only:
            sys.stdout.write(f"{n}: skipped (needs the Unix-port DUT)\n")
            continue
        r = run_one(n, out, scale=scale, iface=iface, board=board)
        sys.stdout.write(r.text())
        results.append(r)
    return 0 if all(r.passed for r in results) else 1


def run_anywhere(names: list[str], out: Path, *, firmware: Path = FIRMWARE,
                 scale: float = 1.0, timeout: float = 3600) -> int:
    """Run on this kernel's vcan0 if it has (or can make) one, else inside a user-mode
    Linux guest that sees this file system; the reports land in ``out`` either way."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "hil.run", "--here", "--out", str(out.resolve()),
           "--firmware", str(Path(firmware).resolve()), "--scale", str(scale), *names]
    if vcan.have_vcan():
        return run_here(names, out, firmware=firmware, scale=scale)
    why = vcan.uml_available()
    if why:
        raise SystemExit(f"no vcan0: this kernel has no vcan module and {why}")
    sys.stdout.write(f"no vcan in this kernel: running in user-mode Linux ({len(names)} "
                     f"scenario(s))\n")
    sys.stdout.flush()
    rc, text = vcan.run_in_uml(cmd, ROOT, timeout=timeout,
                               env={"DUNELOG_IN_UML": "1", "PYTHONPATH": str(ROOT)})
    sys.stdout.write(text)
    return rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", metavar="SCENARIO")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--firmware", type=Path, default=FIRMWARE)
    ap.add_argument("--scale", type=float, default=float(os.environ.get("HIL_SCALE", "1")))
    ap.add_argument("--here", action="store_true", help="run in this kernel (vcan0 must exist)")
    ap.add_argument("--board", metavar="SERIAL", help="a real logger's USB REPL port (see "
                    "docs/HIL.md; wipes its log directory)")
    ap.add_argument("--board-config", type=Path, help="that board's own config.json")
    ap.add_argument("--iface", default="vcan0", help="with --board: the socketcan interface "
                    "of the USB-CAN adapter on the board's bus (e.g. can0)")
    ap.add_argument("--gnss-serial", help="with --board: serial adapter on its GNSS input")
    a = ap.parse_args(argv)
    names = select(a.names)
    out = a.out or ROOT / "out" / "hil" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    if a.board:
        if not a.board_config:
            raise SystemExit("--board needs --board-config (the board's own config.json)")
        board = BoardDut(a.board, out / "card", a.board_config, a.gnss_serial)
        return run_board(names, out, board, a.iface, a.scale)
    if a.here:
        return run_here(names, out, firmware=a.firmware, scale=a.scale)
    return run_anywhere(names, out, firmware=a.firmware, scale=a.scale)


if __name__ == "__main__":
    sys.exit(main())

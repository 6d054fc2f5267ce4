"""Run HIL scenarios where vcan0 is (this kernel's, or a guest's: hil/vcan.py picks) and
leave one report per scenario: out/hil/<run>/<scenario>/report.{json,txt} and a summary
that names the runner.

    python -m hil.run [NAME ...] [--out DIR] [--firmware DIR] [--scale F] [--vm KIND]
    dunelog hil run [NAME ...] [--vm native|kvm|uml|tcg]

Exit status: 0 all passed, 1 a scenario failed, 77 (hil.fault.EXIT_CANNOT_RUN) the HIL
could not run here (one line says what is missing and what installs it).
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
from hil.bounds import runner
from hil.dut import FIRMWARE, ROOT, BoardDut, DutError
from hil.fault import EXIT_CANNOT_RUN, EnvFault
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
    except Exception as e:  # noqa: BLE001 - a rig or DUT failure is a failed run
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
        raise EnvFault("no vcan0 in this kernel: use `dunelog hil run` (brings one up, or "
                       "boots a guest that has one)")
    results = []
    for n in names:
        r = run_one(n, out, firmware=firmware, scale=scale)
        sys.stdout.write(r.text())
        sys.stdout.flush()
        results.append(r)
    summary = {"passed": all(r.passed for r in results), "runner": runner(),
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
                 scale: float = 1.0, timeout: float = 3600, vm: str | None = None) -> int:
    """Run on the runner hil/vcan.py picks (this kernel's vcan0, a KVM guest or a
    user-mode Linux guest, all seeing this file system); the reports land in ``out``,
    with ``runner.json`` naming the runner and why the others were not used. Raises
    EnvFault when no runner can run here."""
    out.mkdir(parents=True, exist_ok=True)
    choice = vcan.pick(vm)
    (out / "runner.json").write_text(json.dumps(choice.as_dict(), indent=2) + "\n")
    sys.stdout.write(f"{choice.line()}; {len(names)} scenario(s)\n")
    sys.stdout.flush()
    if choice.kind == "native":
        return run_here(names, out, firmware=firmware, scale=scale)
    cmd = [sys.executable, "-m", "hil.run", "--here", "--out", str(out.resolve()),
           "--firmware", str(Path(firmware).resolve()), "--scale", str(scale), *names]
    rc, text = vcan.run_in(choice.kind, cmd, ROOT, timeout=timeout,
                           env={"PYTHONPATH": str(ROOT)})
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
    ap.add_argument("--vm", choices=("auto",) + vcan.ALL_KINDS, default=None,
                    help=f"where vcan0 comes from (default: ${vcan.ENV_VAR} or auto: the "
                         f"first of native, kvm, uml that can run here)")
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
    try:
        if a.here:
            return run_here(names, out, firmware=a.firmware, scale=a.scale)
        return run_anywhere(names, out, firmware=a.firmware, scale=a.scale, vm=a.vm)
    except EnvFault as e:
        sys.stderr.write(f"hil: could not run: {e}\n")
        return EXIT_CANNOT_RUN


if __name__ == "__main__":
    sys.exit(main())

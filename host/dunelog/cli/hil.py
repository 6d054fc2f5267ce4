"""``dunelog hil run|list``: the HIL scenarios (hil/scenarios/) on a real vcan0.

The rig lives in the source tree next to the package (hil/), so this command needs a
checkout. It runs the scenarios where a vcan0 is, picking in this order: this kernel's own
vcan, a KVM guest (qemu, 2 vCPUs), a user-mode Linux guest (hil/vcan.py); ``--vm`` or
DUNELOG_HIL_VM overrides. It leaves a report per scenario and names the runner.

Exit status: 0 every scenario passed; 1 a scenario failed; 77 the HIL could not run here
(one line says what is missing and the command that installs it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ._common import add_deprecated

__all__ = ["register", "cmd_hil"]

ROOT = Path(__file__).resolve().parents[3]


class NoRig(Exception):
    """Not run from a source checkout: there is no hil/ package to drive."""


def _rig() -> tuple[ModuleType, ModuleType]:
    if not (ROOT / "hil" / "run.py").exists():
        raise NoRig(f"dunelog hil needs a source checkout: no hil/ rig next to {ROOT / 'host'}")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import hil.run
    import hil.scenarios
    return hil.run, hil.scenarios


def cmd_hil(args: argparse.Namespace) -> int:
    """Run or list the scenarios; exit 0 only if every selected scenario passed."""
    try:
        run, scenarios = _rig()
    except NoRig as e:
        sys.stderr.write(f"dunelog: error: {e}\n")
        return 2
    known = scenarios.all_scenarios()
    if args.action == "list":
        for sc in known.values():
            root = " [root]" if sc.needs_root else ""
            sys.stdout.write(f"{sc.name:22s} ~{sc.minutes:.1f} min{root}  {sc.summary}\n")
        return 0
    bad = [n for n in args.scenarios if n not in known]
    if bad:
        sys.stderr.write(f"dunelog: error: unknown scenario(s) {', '.join(bad)}; "
                         f"`dunelog hil list` shows them\n")
        return 2
    if args.port and not args.board_config:
        sys.stderr.write("dunelog: error: --port needs --board-config (the board's own "
                         "config.json)\n")
        return 2
    argv = list(args.scenarios) + ["--scale", str(args.scale)]
    if args.out:
        argv += ["--out", args.out]
    if args.firmware:
        argv += ["--firmware", args.firmware]
    if args.vm:
        argv += ["--vm", args.vm]
    if args.port:                     # the rig calls a real board's port --board
        argv += ["--board", args.port]
    for opt, val in (("--board-config", args.board_config), ("--iface", args.iface),
                     ("--gnss-serial", args.gnss_serial)):
        if val:
            argv += [opt, val]
    try:
        return run.main(argv)
    except SystemExit as e:           # no vcan and no way to get one: say why
        if isinstance(e.code, str):
            sys.stderr.write(f"dunelog: error: {e.code}\n")
            return 2
        raise


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``hil`` subcommand to the subparsers action ``sub``."""
    p = sub.add_parser("hil", help="run the hardware-in-the-loop scenarios on vcan0 "
                                   "(here, in a KVM or a user-mode Linux guest)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="""examples:
  dunelog hil list
  dunelog hil run nominal overflow --scale 0.1
  dunelog hil run nominal fd --port /dev/ttyACM0 --board-config board-config.json \\
      --iface can0 --gnss-serial /dev/ttyUSB0""")
    p.add_argument("action", choices=("run", "list"),
                   help="run: run the scenarios; list: name them with their duration")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help="scenarios to run (default: all)")
    p.add_argument("--out", metavar="DIR", help="report directory (default out/hil/<date-time>)")
    p.add_argument("--firmware", metavar="DIR",
                   help="firmware directory to test (default firmware/)")
    p.add_argument("--scale", type=float, default=1.0, metavar="FACTOR",
                   help="scale scenario durations (0.1 for a quick look; CI runs 1)")
    p.add_argument("--vm", choices=("auto", "native", "kvm", "uml", "tcg"),
                   help="where vcan0 comes from: this kernel (native), a KVM guest, a "
                        "user-mode Linux guest, qemu without KVM (tcg; slow); default: "
                        "$DUNELOG_HIL_VM or auto, the first of native, kvm, uml that runs")
    p.add_argument("--port", metavar="DEVICE",
                   help="test a real logger: its USB REPL serial device (docs/HIL.md)")
    add_deprecated(p, "--board", "--port", dest="port")
    p.add_argument("--board-config", metavar="FILE",
                   help="with --port: that board's own config.json")
    p.add_argument("--iface", metavar="IFACE",
                   help="with --port: the socketcan interface wired to the board (e.g. can0)")
    p.add_argument("--gnss-serial", metavar="DEVICE",
                   help="with --port: the serial adapter on the board's GNSS input")
    p.set_defaults(func=cmd_hil)
    return p

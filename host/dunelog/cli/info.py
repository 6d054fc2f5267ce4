"""``dunelog info DUMP [--json]``: segments, boots, records, CAN ids, overflow, problems."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..card.info import dump_info, format_info
from ._common import EXIT_OK, UnusableInput, open_for_cli

__all__ = ["register", "cmd_info"]


def cmd_info(args: argparse.Namespace) -> int:
    """Summarise ``args.dump`` on stdout (text or JSON)."""
    dump = open_for_cli(args.dump, logger_id=args.logger,
                        progress=not args.json and not args.no_progress and sys.stderr.isatty())
    info = dump_info(dump)
    if info["records"] == 0 and not any(s["header_ok"] for s in info["segments"]) \
            and not any(s["blocks"] for s in info["segments"]):
        raise UnusableInput(f"no readable dunelog data in {args.dump} "
                            f"({len(info['segments'])} file(s), no valid header or block)")
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_info(info))
    return EXIT_OK


def register(sub: Any) -> None:
    """Add the ``info`` subcommand to the ``dunelog`` subparsers ``sub``."""
    pi = sub.add_parser("info", help="summarise a dump: segments, boots, records, CAN ids, "
                                     "overflow, integrity problems")
    pi.add_argument("dump", metavar="DUMP", help="segment file, directory or SD-dump tree")
    pi.add_argument("--json", action="store_true", help="machine-readable JSON output")
    pi.add_argument("--logger", type=int, default=None, help="only this logger id")
    pi.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    pi.set_defaults(func=cmd_info)

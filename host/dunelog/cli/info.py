"""``dunelog info INPUT [--json]``: segments, boots, records, CAN ids, overflow, problems."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..card.info import dump_info, format_info
from ._common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    UnusableInput,
    add_command,
    add_input,
    add_progress,
    add_selection,
    open_for_cli,
    progress_bar,
    select_for_cli,
)

__all__ = ["register", "cmd_info"]


def cmd_info(args: argparse.Namespace) -> int:
    """Summarise ``args.input`` on stdout (text or JSON)."""
    with progress_bar(args, "reading") as bar:
        dump = select_for_cli(open_for_cli(args.input, logger_id=args.logger, progress=bar),
                              args, args.input)
        info = dump_info(dump)
    if info["records"] == 0 and not any(s["header_ok"] for s in info["segments"]) \
            and not any(s["blocks"] for s in info["segments"]):
        raise UnusableInput(f"no readable dunelog data in {args.input} "
                            f"({len(info['segments'])} file(s), no valid header or block)")
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_info(info))
    # read, but not whole: scripts and CI see it in the status (the report says what)
    return EXIT_PROBLEMS if info["problems"] else EXIT_OK


def register(sub: Any) -> None:
    """Add the ``info`` subcommand to the ``dunelog`` subparsers ``sub``."""
    pi = add_command(sub, "info", help="summarise a dump: segments, boots, records, CAN ids, "
                                       "overflow, integrity problems", examples="""\
  dunelog info /media/sd/dunelog
  dunelog info B00012_S0003.dlg --logger 204
  dunelog info /media/sd/dunelog --json > info.json
""")
    add_input(pi)
    pi.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    add_selection(pi)
    add_progress(pi)
    pi.set_defaults(func=cmd_info)

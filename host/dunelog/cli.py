"""The ``dunelog`` command line (argparse subcommands)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from . import __version__
from .dump import Dump
from .info import dump_info, format_info
from . import (cli_board, cli_convert, cli_decode, cli_hil, cli_ingest, cli_replay,
               cli_report, cli_track)

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_UNUSABLE"]

EXIT_OK = 0
EXIT_UNUSABLE = 2


class UnusableInput(Exception):
    """The input cannot be read as a dump at all."""


def _progress_printer():
    last = [-1]

    def show(done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        if pct != last[0]:
            last[0] = pct
            sys.stderr.write(f"\rreading {pct:3d}%")
            if done >= total:
                sys.stderr.write("\r" + " " * 16 + "\r")
            sys.stderr.flush()

    return show


def open_for_cli(path: str, *, logger_id: int | None = None, progress: bool = False) -> Dump:
    """Open ``path`` as a dump or raise :class:`UnusableInput` with a clear message."""
    if not os.path.exists(path):
        raise UnusableInput(f"no such file or directory: {path}")
    try:
        dump = Dump(path, logger_id=logger_id,
                    progress=_progress_printer() if progress else None)
    except OSError as e:
        raise UnusableInput(f"cannot read {path}: {e}") from None
    if not dump.segments:
        raise UnusableInput(f"no dunelog segment files (*.dlg) found in {path}")
    return dump


def cmd_info(args: argparse.Namespace) -> int:
    """``dunelog info DUMP [--json]``."""
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands register themselves here)."""
    p = argparse.ArgumentParser(prog="dunelog",
                                description="dunelog CAN + GNSS logger host tools")
    p.add_argument("--version", action="version", version=f"dunelog {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    pi = sub.add_parser("info", help="summarise a dump: segments, boots, records, CAN ids, "
                                     "overflow, integrity problems")
    pi.add_argument("dump", metavar="DUMP", help="segment file, directory or SD-dump tree")
    pi.add_argument("--json", action="store_true", help="machine-readable JSON output")
    pi.add_argument("--logger", type=int, default=None, help="only this logger id")
    pi.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    pi.set_defaults(func=cmd_info)
    cli_decode.register(sub)
    cli_convert.register(sub)
    cli_track.register(sub)
    cli_replay.register(sub)
    cli_report.register(sub)
    cli_hil.register(sub)
    cli_board.register(sub)
    cli_ingest.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dunelog`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UnusableInput as e:
        sys.stderr.write(f"dunelog: error: {e}\n")
        return EXIT_UNUSABLE
    except BrokenPipeError:
        # output piped into e.g. `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        sys.stderr.write("dunelog: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

# PYTHON_ARGCOMPLETE_OK
"""The ``dunelog`` command line: one module per command, each with a ``register(sub)``
that adds its subparser; :mod:`._common` holds what they share."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .._version import __version__
from . import (
    board,
    completion,
    convert,
    decode,
    hil,
    info,
    ingest,
    query,
    replay,
    report,
    track,
)
from ._common import EXIT_OK, EXIT_UNUSABLE, UnusableInput

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_UNUSABLE", "UnusableInput"]

#: the command modules, in the order ``dunelog --help`` lists them
COMMANDS = (info, decode, query, convert, track, replay, report, hil, board, ingest,
            completion)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (each command module registers its subcommands)."""
    p = argparse.ArgumentParser(
        prog="dunelog", description="dunelog CAN + GNSS logger host tools",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  dunelog info /media/sd/dunelog
  dunelog decode /media/sd/dunelog --dbc dbc/recce.dbc -o day2.parquet
  dunelog report /media/sd/dunelog --dbc dbc/recce.dbc -o day2.html

`dunelog COMMAND --help` shows a command's options and examples.""")
    p.add_argument("--version", action="version", version=f"dunelog {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for cmd in COMMANDS:
        cmd.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dunelog`` console script; returns the exit code."""
    parser = build_parser()
    if argv is None:
        completion.autocomplete(parser)     # a shell's completion request: answers, exits
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
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

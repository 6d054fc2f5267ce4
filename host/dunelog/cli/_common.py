"""What every ``dunelog`` command shares: exit codes, the one-line error, the progress
printer, opening a dump for a command."""

from __future__ import annotations

import os
import sys
from typing import Callable

from ..card.dump import Dump

__all__ = ["EXIT_OK", "EXIT_UNUSABLE", "UnusableInput", "progress_printer", "open_for_cli",
           "error", "say", "show_progress"]

EXIT_OK = 0
#: the input (or an option) cannot be used at all
EXIT_UNUSABLE = 2


class UnusableInput(Exception):
    """The input cannot be used at all; :func:`dunelog.cli.main` prints the message as one
    ``dunelog: error:`` line and exits with :data:`EXIT_UNUSABLE`."""


def error(msg: str, code: int = EXIT_UNUSABLE) -> int:
    """Print ``dunelog: error: msg`` on stderr and return ``code`` (for commands that
    return an exit code other than :data:`EXIT_UNUSABLE`)."""
    sys.stderr.write(f"dunelog: error: {msg}\n")
    return code


def say(msg: str) -> None:
    """One line of progress on stderr."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def show_progress(no_progress: bool) -> bool:
    """Whether to show progress: not ``--no-progress`` and stderr is a terminal."""
    return not no_progress and sys.stderr.isatty()


def progress_printer() -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback printing ``reading NN%`` on stderr."""
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
                    progress=progress_printer() if progress else None)
    except OSError as e:
        raise UnusableInput(f"cannot read {path}: {e}") from None
    if not dump.segments:
        raise UnusableInput(f"no dunelog segment files (*.dlg) found in {path}")
    return dump

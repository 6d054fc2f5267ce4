"""``dunelog convert INPUT -o OUT``: raw CAN frames to BLF, ASC, TRC, candump log, MF4,
Parquet or CSV (format from OUT's suffix; no DBC needed)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from ..io import SourceError, is_dunelog_input, supported_suffixes, write_frames, writer_for
from ._common import EXIT_OK, UnusableInput, add_command, add_input, add_progress, progress_bar

__all__ = ["register", "cmd_convert"]


def cmd_convert(args: argparse.Namespace) -> int:
    """Write the frames of ``args.input`` to ``args.output``."""
    src, out = args.input, args.output
    if not os.path.exists(src):
        raise UnusableInput(f"no such file or directory: {src}")
    try:
        writer_for(out)
    except ValueError as e:
        raise UnusableInput(str(e)) from None
    if os.path.abspath(src) == os.path.abspath(out):
        raise UnusableInput(f"{out}: output would overwrite the input")
    try:
        with progress_bar(args, "converting") if is_dunelog_input(src) \
                else contextlib.nullcontext() as bar:
            res = write_frames(out, src, progress=bar)
    except SourceError as e:
        raise UnusableInput(str(e)) from None
    except OSError as e:
        raise UnusableInput(f"cannot write {out}: {e}") from None
    except Exception as e:  # noqa: BLE001 - a library rejecting the input or output
        raise UnusableInput(f"converting {src} to {out} failed: "
                            f"{type(e).__name__}: {e}") from None
    n, skipped = res.frames, res.skipped
    if not args.quiet:
        msg = f"wrote {n} frames to {out}"
        if skipped:
            msg += f" ({skipped} frames the format cannot hold were skipped)"
        sys.stderr.write(msg + "\n")
    if n == 0 and not args.quiet:
        sys.stderr.write(f"dunelog: warning: no CAN frames in {src}\n")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add the ``convert`` subcommand to the ``dunelog`` subparsers ``sub``."""
    sufs = " ".join(supported_suffixes())
    p = add_command(
        sub, "convert", help="raw CAN frames to BLF/ASC/TRC/candump log/MF4/Parquet/CSV",
        description="Convert the CAN frames of a dunelog dump (segment file, directory or "
                    "SD-dump tree) or of any log python-can reads to another format, "
                    f"chosen by OUT's suffix ({sufs}).", examples="""\
  dunelog convert /media/sd/dunelog -o day2.blf
  dunelog convert B00012_S0003.dlg -o stage3.mf4
  dunelog convert day2.asc -o day2.parquet -q
""")
    add_input(p, logs=True)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help=f"output file, format by suffix ({sufs})")
    add_progress(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    p.set_defaults(func=cmd_convert)

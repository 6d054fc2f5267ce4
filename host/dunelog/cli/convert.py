"""``dunelog convert INPUT -o OUT``: raw CAN frames to BLF, ASC, TRC, candump log, MF4,
Parquet or CSV (format from OUT's suffix; no DBC needed).

Every output is one stream of frames without a logger column, so a dump of several
loggers is refused unless ``--logger``/``--vehicle`` choose one or OUT is a name pattern
with ``{logger}``/``{vehicle}``/``{date}`` (one output per logger / vehicle / UTC day)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from ..io import OUTPUT_SUFFIXES, SourceError, is_dunelog_input, writer_for
from ._common import (
    EXIT_OK,
    UnusableInput,
    add_command,
    add_input,
    add_progress,
    add_selection,
    has_placeholders,
    open_for_cli,
    output_file,
    outputs_per_group,
    progress_bar,
    refuse_merge,
    require_for,
    select_for_cli,
)
from ._gnss import add_gnss_options, gnss_for

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
    pattern = has_placeholders(out)
    selected = args.logger is not None or args.vehicle is not None
    if not is_dunelog_input(src):
        if pattern or selected:
            raise UnusableInput(f"{src}: --logger, --vehicle and {{logger}}/{{vehicle}}/"
                                "{date} need a dunelog dump (a foreign log has no logger id)")
        return _convert(args, src, src, out, progress=False)
    dump = select_for_cli(open_for_cli(src, logger_id=args.logger), args, src)
    if pattern:
        for group, path in outputs_per_group(dump, out):
            if os.path.dirname(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
            _convert(args, src, group.dump, path)
        return EXIT_OK
    if not selected:
        refuse_merge(dump, src, "out/{vehicle}" + os.path.splitext(out)[1])
        return _convert(args, src, src, out)     # one logger: exactly as before
    return _convert(args, src, dump, out)


def _convert(args: argparse.Namespace, src: str, source: Any, out: str,
             progress: bool = True) -> int:
    """Write the frames of ``source`` (a path or a :class:`~dunelog.Dump`) to ``out``."""
    from ..io import write_frames  # python-can (and asammdf): only when converting
    gnss = gnss_for(args, out)
    require_for("convert", out)
    try:
        with output_file(out) as tmp, (progress_bar(args, "converting") if progress
                                       else contextlib.nullcontext()) as bar:
            res = write_frames(tmp, source, progress=bar, gnss=gnss)
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
        if res.gnss_frames and gnss is not None:
            msg += f" (with {res.gnss_frames} GNSS frames, {gnss.describe()})"
        if skipped:
            msg += f" ({skipped} frames the format cannot hold were skipped)"
        sys.stderr.write(msg + "\n")
    if n == 0 and not args.quiet:
        sys.stderr.write(f"dunelog: warning: no CAN frames in {src}\n")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add the ``convert`` subcommand to the ``dunelog`` subparsers ``sub``."""
    sufs = " ".join(OUTPUT_SUFFIXES)
    p = add_command(
        sub, "convert", help="raw CAN frames to BLF/ASC/TRC/candump log/MF4/Parquet/CSV",
        description="Convert the CAN frames of a dunelog dump (segment file, directory or "
                    "SD-dump tree) or of any log python-can reads to another format, "
                    f"chosen by OUT's suffix ({sufs}). BLF and MF4 outputs of a dump also "
                    "get its GNSS fixes as CAN frames (ids 0x6D0-0x6D3 on channel 8, "
                    "dbc/dunelog_gnss.dbc) unless --no-gnss-can.", examples="""\
  dunelog convert /media/sd/dunelog -o day2.blf
  dunelog convert day2.asc -o day2.parquet -q
  dunelog convert /data/raid2026 -o 'out/{vehicle}_{date}.blf'
""")
    add_input(p, logs=True)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help=f"output file, format by suffix ({sufs}); {{logger}}, {{vehicle}}, "
                        "{date} in the name: one file per logger / vehicle / UTC day")
    add_gnss_options(p, "also write the GNSS fixes of a dunelog dump as CAN frames")
    add_selection(p)
    add_progress(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    p.set_defaults(func=cmd_convert)

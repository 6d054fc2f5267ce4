"""``dunelog decode INPUT --dbc FILE [--dbc FILE2 --channel N] -o OUT``: DBC-decode a dump.

Output by OUT's suffix: ``.parquet`` (default layout wide: OUT is a directory with one
Parquet file per message; ``--layout long``: one Parquet file) and ``.csv`` (default layout
long: one CSV file; ``--layout wide``: OUT is a directory with one CSV per message).
INPUT may also be any log python-can reads (through :mod:`dunelog.io`).  The decoding
itself is :func:`dunelog.decode.decode_dump`; see docs/DECODE.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..card.dump import Dump
from ..decode import Decoder, decode_dump, load_database, parse_time, with_timebase
from ..io import iter_frame_chunks, write_frames
from ._common import EXIT_OK, UnusableInput, open_for_cli, progress_printer

__all__ = ["register", "cmd_decode"]

FRAME_SUFFIXES = (".mf4", ".blf", ".asc", ".trc", ".log")


class _DbcAction(argparse.Action):
    def __call__(self, parser, ns, values, option_string=None):
        lst = getattr(ns, "dbcs", None) or []
        lst.append([values, None])
        ns.dbcs = lst


class _ChannelAction(argparse.Action):
    def __call__(self, parser, ns, values, option_string=None):
        lst = getattr(ns, "dbcs", None)
        if not lst:
            parser.error("--channel must follow the --dbc it applies to")
        if lst[-1][1] is not None:
            parser.error(f"--channel given twice for --dbc {lst[-1][0]}")
        lst[-1][1] = values


def register(sub: Any) -> None:
    """Add the ``decode`` subcommand to the subparsers object ``sub``."""
    p = sub.add_parser("decode", help="decode CAN signals with DBC/ARXML/KCD/SYM databases "
                                      "to Parquet or CSV")
    p.add_argument("input", metavar="INPUT", help="segment file, directory or SD-dump tree, "
                                                  "or a log python-can reads (.blf .asc .trc "
                                                  ".log .mf4)")
    p.add_argument("--dbc", action=_DbcAction, metavar="FILE", required=True,
                   help="database (DBC, ARXML, KCD, SYM); repeatable")
    p.add_argument("--channel", action=_ChannelAction, type=int, metavar="N",
                   help="apply the preceding --dbc to channel N only")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output; format by suffix: .parquet (wide, a directory of one file "
                        "per message) or .csv (long)")
    p.add_argument("--ids", nargs="+", metavar="ID",
                   help="only these messages (frame ids like 0x1A0 or names; comma lists ok)")
    p.add_argument("--signals", nargs="+", metavar="NAME",
                   help="only these signals (comma lists ok)")
    p.add_argument("--start", metavar="S", help="window start: seconds since boot, or an "
                                                "ISO 8601 UTC time (needs time sync)")
    p.add_argument("--end", metavar="S", help="window end (exclusive), as --start")
    p.add_argument("--layout", choices=("wide", "long"), default=None,
                   help="wide: one column per signal; long: one row per value "
                        "(default: wide for .parquet, long for .csv)")
    p.add_argument("--logger", type=int, default=None, help="only this logger id")
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_decode, dbcs=None)


def _split(xs: list[str] | None) -> list[str] | None:
    return [y for x in xs or [] for y in x.split(",") if y] or None


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode ``args.input`` with the databases into ``args.output``."""
    out = args.output
    suffix = os.path.splitext(out)[1].lower()
    progress = not args.no_progress and sys.stderr.isatty()
    if suffix in FRAME_SUFFIXES:
        n = write_frames(out, open_for_cli(args.input, logger_id=args.logger,
                                           progress=progress)).frames
        sys.stderr.write(f"wrote {n} raw CAN frame(s) to {out} "
                         f"(no signal decoding for {suffix}; the DBC is not used)\n")
        return EXIT_OK
    if suffix not in (".parquet", ".pq", ".csv"):
        raise UnusableInput(f"{out}: unknown output format {suffix or '(no suffix)'} "
                            "(use .parquet or .csv)")
    dbs = []
    for path, ch in args.dbcs:
        if not os.path.exists(path):
            raise UnusableInput(f"no such database file: {path}")
        try:
            dbs.append((load_database(path), ch))
        except Exception as e:  # noqa: BLE001 - cantools raises anything on a bad file
            raise UnusableInput(f"cannot load database {path}: {e}") from None
    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as e:
        raise UnusableInput(str(e)) from None
    decoder = Decoder(dbs, ids=_split(args.ids), signals=_split(args.signals))
    if not decoder.messages:
        raise UnusableInput("no message of the database(s) matches --ids/--signals")
    foreign = os.path.isfile(args.input) and not args.input.lower().endswith(".dlg")
    dump: Dump | None = None
    if foreign:
        try:
            res = decode_dump(None, decoder, out, layout=args.layout, start=start, end=end,
                              chunks=with_timebase(iter_frame_chunks(args.input)))
        except Exception as e:  # noqa: BLE001 - the reader's own errors name the file
            raise UnusableInput(f"cannot read {args.input}: {e}") from None
    else:
        dump = open_for_cli(args.input, logger_id=args.logger, progress=progress)
        res = decode_dump(dump, decoder, out, layout=args.layout, start=start, end=end,
                          progress=progress_printer() if progress else None)
    rep = res["report"]
    sys.stderr.write(f"decoded {rep.decoded} of {rep.frames} frame(s) into {res['rows']} "
                     f"row(s), {len(res['files'])} file(s) ({res['layout']}, "
                     f"timestamps {res['timestamp']}) -> {out}\n")
    for line in rep.lines():
        sys.stderr.write(f"  {line}\n")
    for p in (dump.problems if dump is not None else []):
        sys.stderr.write(f"  problem: {p}\n")
    return EXIT_OK

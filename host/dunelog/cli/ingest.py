"""``dunelog ingest CARD_DIR --archive DIR`` (a mounted SD card) and ``dunelog pull --port
PORT --archive DIR`` (the card of a board on USB): segments into the archive, verified."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..tech.board import BoardError
from ..tech.ingest import IngestError, IngestReport, format_report, ingest
from ..tech.pull import pull
from ._common import error

__all__ = ["register", "cmd_ingest", "cmd_pull"]


def _names(path: str | None) -> dict[int, str]:
    if not path:
        return {}
    try:
        with open(path) as f:
            d = json.load(f)
        return {int(k): str(v) for k, v in d.items()}
    except (OSError, ValueError, AttributeError) as e:
        raise IngestError(f"--names {path}: want a JSON object {{\"204\": \"T1-204\"}} ({e})") \
            from None


def _stderr(msg: str) -> None:
    sys.stderr.write(msg + "\n")


def _silent(msg: str) -> None:
    pass


def _finish(rep: IngestReport, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": rep.ok, "seconds": rep.seconds, "bytes_copied": rep.bytes_copied,
                          "vehicles": {k: vars(v) for k, v in rep.vehicles.items()},
                          "files": [dict(vars(f), torn=f.torn) for f in rep.files]}, indent=2))
    else:
        sys.stdout.write(format_report(rep))
    return 0 if rep.ok else 1


def cmd_ingest(args: argparse.Namespace) -> int:
    """Archive a mounted card."""
    try:
        rep = ingest(args.card, args.archive, names=_names(args.names),
                     clear_after_verify=args.clear_after_verify,
                     say=_stderr if args.verbose else _silent)
    except IngestError as e:
        return error(str(e))
    return _finish(rep, args.json)


def cmd_pull(args: argparse.Namespace) -> int:
    """Archive the card of a board on USB."""
    try:
        rep, n = pull(args.port, args.archive, names=_names(args.names),
                      clear_after_verify=args.clear_after_verify,
                      say=_stderr)
    except (BoardError, IngestError, OSError) as e:
        return error(str(e))
    if rep is None:
        print(f"{n} segment file(s) on {args.port}, all already archived")
        return 0
    return _finish(rep, args.json)


def register(sub: Any) -> None:
    """Add ``ingest`` and ``pull`` to the subparsers action ``sub``."""
    for name, what in (("ingest", "a mounted SD card's segments"),
                       ("pull", "a board's card over USB")):
        p = sub.add_parser(name, help=f"copy {what} into the archive "
                                      f"(vehicle/date/segment), verified, idempotent")
        if name == "ingest":
            p.add_argument("card", metavar="CARD_DIR", help="the mounted card (or any dir)")
            p.add_argument("-v", "--verbose", action="store_true", help="name each copy")
        else:
            p.add_argument("--port", required=True)
        p.add_argument("--archive", required=True, metavar="DIR")
        p.add_argument("--names", metavar="JSON", help='logger id -> vehicle name file, '
                                                       'e.g. {"204": "T1-204"}')
        p.add_argument("--clear-after-verify", action="store_true",
                       help="delete each card file once its archived copy is verified")
        p.add_argument("--json", action="store_true", help="machine-readable report")
        p.set_defaults(func=cmd_ingest if name == "ingest" else cmd_pull)

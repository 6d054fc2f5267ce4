"""``dunelog ingest INPUT --archive DIR`` (a mounted SD card) and ``dunelog pull [--port
DEVICE] --archive DIR`` (the card of a board on USB): segments into the archive, verified.

Progress: :func:`dunelog.tech.ingest.ingest` and :func:`dunelog.tech.pull.pull` report each
file they copy (``copy SRC -> DEST``) or read over USB (``read PATH``) through their ``say``
callback; the bar advances per file from those lines (bytes of the card's segment files
for ``ingest``, files read for ``pull``, whose total the board only knows)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

from ..card.dump import Segment, order_segments
from ..tech.board import BoardError
from ..tech.ingest import IngestError, IngestReport, card_files, format_report, ingest
from ..tech.pull import pull
from ._common import (
    EXIT_PROBLEMS,
    ByteProgress,
    add_command,
    add_input,
    add_port,
    add_progress,
    error,
    resolve_port,
    want_progress,
)

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


class _FileProgress:
    """A ``say`` callback that moves a bar on each ``copy SRC -> DEST`` (ingest: the bar
    is at the bytes of the card's files before SRC, in the order ingest takes them) or
    ``read PATH`` line (pull: one file more), and passes the line on to ``say``."""

    def __init__(self, bar: ByteProgress, say: Callable[[str], None],
                 sizes: list[tuple[str, int]] | None = None) -> None:
        self.bar, self.say = bar, say
        self.before: dict[str, int] = {}
        done = 0
        for path, size in sizes or []:
            self.before[os.path.abspath(path)] = done
            done += size

    def __call__(self, msg: str) -> None:
        if msg.startswith("copy ") and " -> " in msg and self.before:
            src = os.path.abspath(msg[5:].split(" -> ", 1)[0])
            self.bar.advance_to(self.before.get(src, 0))
        elif msg.startswith("read ") and not self.before:
            self.bar.advance_to(self.bar.position + 1)
        if self.say is not _silent:
            self.bar.write(msg)

    def finish(self) -> None:
        if self.bar.bar.total is not None:
            self.bar.advance_to(self.bar.bar.total)
        self.bar.close()


def _card_files(card: str) -> list[tuple[str, int]]:
    """(path, size) of the card's segment files, in the order ingest copies them (only
    regular files: a FIFO or device on the card is never opened)."""
    try:
        return [(s.path, s.size) for s in
                order_segments([Segment.probe(p) for p in card_files(card)[0]])]
    except OSError:
        return []


def _finish(rep: IngestReport, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": rep.ok, "seconds": rep.seconds, "bytes_copied": rep.bytes_copied,
                          "archive_full": rep.full,
                          "skipped": [{"path": p, "why": w} for p, w in rep.skipped],
                          "vehicles": {k: vars(v) for k, v in rep.vehicles.items()},
                          "files": [dict(vars(f), torn=f.torn) for f in rep.files]}, indent=2))
    else:
        sys.stdout.write(format_report(rep))
    if rep.full:
        error(rep.full)                        # the one line that matters, on stderr too
    if not rep.ok:
        return 1                               # a file could not be archived
    # archived, but a card file is damaged (archived as it is) or an entry of the card was
    # not a file (skipped): say so in the status
    return EXIT_PROBLEMS if rep.skipped or any(f.problems for f in rep.files) else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Archive a mounted card."""
    say: Callable[[str], None] = _stderr if args.verbose else _silent
    prog = None
    if want_progress(args) and os.path.isdir(args.input):
        files = _card_files(args.input)
        prog = _FileProgress(ByteProgress("archiving", total=sum(n for _, n in files),
                                          delay=0.0 if args.progress else 0.3),
                             say, files)
        say = prog
    try:
        rep = ingest(args.input, args.archive, names=_names(args.names),
                     clear_after_verify=args.clear_after_verify, say=say)
    except IngestError as e:
        return error(str(e))
    finally:
        if prog is not None:
            prog.finish()
    return _finish(rep, args.json)


def cmd_pull(args: argparse.Namespace) -> int:
    """Archive the card of a board on USB."""
    resolve_port(args)
    say: Callable[[str], None] = _stderr
    prog = None
    if want_progress(args):
        prog = _FileProgress(ByteProgress("reading over USB", unit="file",
                                          delay=0.0 if args.progress else 0.3), _stderr)
        say = prog
    try:
        rep, n = pull(args.port, args.archive, names=_names(args.names),
                      clear_after_verify=args.clear_after_verify, say=say)
    except (BoardError, IngestError, OSError) as e:
        return error(str(e))
    finally:
        if prog is not None:
            prog.finish()
    if rep is None:
        print(f"{n} segment file(s) on {args.port}, all already archived")
        return 0
    return _finish(rep, args.json)


def register(sub: Any) -> None:
    """Add ``ingest`` and ``pull`` to the subparsers action ``sub``."""
    p = add_command(sub, "ingest", help="copy a mounted SD card's segments into the archive "
                                        "(vehicle/date/segment), verified, idempotent",
                    examples="""\
  dunelog ingest /media/sd --archive /data/rally
  dunelog ingest /media/sd --archive /data/rally --names vehicles.json -v
  dunelog ingest /media/sd --archive /data/rally --clear-after-verify --json > ingest.json
""")
    add_input(p, help="the mounted SD card, or any directory holding segment files (.dlg)")
    p.add_argument("-v", "--verbose", action="store_true", help="name each copy on stderr")
    _common_options(p)
    p.set_defaults(func=cmd_ingest)

    p = add_command(sub, "pull", help="copy a board's card over USB into the archive "
                                      "(vehicle/date/segment), verified, idempotent",
                    examples="""\
  dunelog pull --archive /data/rally
  dunelog pull --port /dev/ttyACM0 --archive /data/rally --names vehicles.json
  dunelog pull --archive /data/rally --clear-after-verify --json
""")
    add_port(p)
    _common_options(p)
    p.set_defaults(func=cmd_pull)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", required=True, metavar="DIR",
                   help="the archive directory (made if missing)")
    p.add_argument("--names", metavar="JSON", help='logger id -> vehicle name file, '
                                                   'e.g. {"204": "T1-204"}')
    p.add_argument("--clear-after-verify", action="store_true",
                   help="delete each card file once its archived copy is verified")
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    add_progress(p)

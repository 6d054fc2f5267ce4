"""``dunelog ingest CARD_DIR --archive DIR`` (a mounted SD card) and ``dunelog pull --port
PORT --archive DIR`` (the card of a board on USB): segments into the archive, verified."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

__all__ = ["register", "cmd_ingest", "cmd_pull", "pull"]

#: board-side: the card directory the firmware writes to, from its config
_ROOT = """
import config, app, json
cfg = config.check_file('config.json')[0] or config.check_file('config.last.json')[0] \\
    or config.defaults()
print(json.dumps(app.board_hal().storage_root(cfg['storage']['root'])))
"""


def _err(msg: str, code: int = 2) -> int:
    sys.stderr.write(f"dunelog: error: {msg}\n")
    return code


def _names(path: str | None) -> dict[int, str]:
    if not path:
        return {}
    from .ingest import IngestError
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


def _finish(rep, as_json: bool) -> int:
    from .ingest import format_report
    if as_json:
        print(json.dumps({"ok": rep.ok, "seconds": rep.seconds, "bytes_copied": rep.bytes_copied,
                          "vehicles": {k: vars(v) for k, v in rep.vehicles.items()},
                          "files": [dict(vars(f), torn=f.torn) for f in rep.files]}, indent=2))
    else:
        sys.stdout.write(format_report(rep))
    return 0 if rep.ok else 1


def cmd_ingest(args: argparse.Namespace) -> int:
    """Archive a mounted card."""
    from .ingest import IngestError, ingest
    try:
        rep = ingest(args.card, args.archive, names=_names(args.names),
                     clear_after_verify=args.clear_after_verify,
                     say=_stderr if args.verbose else _silent)
    except IngestError as e:
        return _err(str(e))
    return _finish(rep, args.json)


def pull(port: str, archive: str, *, names: dict[int, str] | None = None,
         clear_after_verify: bool = False, say=lambda m: None):
    """Copy the card of the board on ``port`` into ``archive`` over USB (logging pauses
    meanwhile, then the board restarts). Files whose sha256 the archive already holds are
    not read. Returns the ingest report."""
    from .board import Board
    from .ingest import _load_index, ingest
    incoming = os.path.join(archive, ".incoming")
    index = _load_index(archive)
    with Board(port) as b:
        root = b.json(_ROOT)
        names_ = [n for n in b.listdir(root) if n.lower().endswith(".dlg")]
        hashes = b.hashes([f"{root}/{n}" for n in names_])
        os.makedirs(incoming, exist_ok=True)
        got = {}
        for n in names_:
            h = hashes[f"{root}/{n}"]
            if h in index and os.path.isfile(os.path.join(archive, index[h])):
                got[n] = h
                continue
            say(f"read {root}/{n}")
            data = b.read(f"{root}/{n}")
            import hashlib
            if hashlib.sha256(data).hexdigest() != h:
                from .ingest import IngestError
                raise IngestError(f"{n}: USB read does not match the board's sha256; "
                                  f"run pull again")
            with open(os.path.join(incoming, n + ".part"), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(os.path.join(incoming, n + ".part"), os.path.join(incoming, n))
            got[n] = h
        rep = None
        if any(n.endswith(".dlg") for n in os.listdir(incoming)):
            rep = ingest(incoming, archive, names=names, clear_after_verify=True, say=say)
        if clear_after_verify:
            index = _load_index(archive)
            gone = [f"{root}/{n}" for n, h in got.items()
                    if h in index and os.path.isfile(os.path.join(archive, index[h]))]
            if gone:
                b.exec("import os\nfor p in %r:\n    os.remove(p)" % (gone,))
        b.restart()
    shutil.rmtree(incoming, ignore_errors=True)
    return rep, len(got)


def cmd_pull(args: argparse.Namespace) -> int:
    """Archive the card of a board on USB."""
    from .board import BoardError
    from .ingest import IngestError
    try:
        rep, n = pull(args.port, args.archive, names=_names(args.names),
                      clear_after_verify=args.clear_after_verify,
                      say=_stderr)
    except (BoardError, IngestError, OSError) as e:
        return _err(str(e))
    if rep is None:
        print(f"{n} segment file(s) on {args.port}, all already archived")
        return 0
    return _finish(rep, args.json)


def register(sub) -> None:
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

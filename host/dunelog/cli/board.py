"""Technician commands that talk to a board over USB: ``dunelog deploy``, ``dunelog status``
and ``dunelog config new|check|diff|push|pull`` (docs/TECHNICIAN.md)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..tech.board import Board, BoardError
from ..tech.config import ConfigError, check_config, check_text, effective_diff, new_config
from ..tech.deploy import deploy, rollback, stage_and_swap, wait_logging
from ..tech.status import format_status, sample, with_rates
from ._common import (
    add_command,
    add_deprecated,
    add_port,
    error,
    resolve_port,
    say,
)

__all__ = ["register", "cmd_deploy", "cmd_status", "cmd_config"]

EXIT_CONFIG = 3          # config invalid
EXIT_DIFFERS = 1         # config diff: the board runs something else


def _checked(path: str, engine: str = "auto"):
    """(bytes, CheckResult) of a config file that passed, or an exit code."""
    try:
        r = check_config(path, engine=engine)
    except ConfigError as e:
        return error(str(e))
    if not r.ok:
        for m in r.messages(path):
            sys.stderr.write(m + "\n")
        return error(f"{path}: rejected ({r.reason}); nothing was changed", EXIT_CONFIG)
    return Path(path).read_bytes(), r


def cmd_deploy(args: argparse.Namespace) -> int:
    """Build, stage, verify, swap, restart, confirm."""
    if not args.rollback and not args.board:
        return error("deploy needs --board esp32|stm32|unix")
    resolve_port(args, quiet=args.quiet)
    if args.rollback:
        try:
            st = rollback(args.port, timeout=args.timeout, say=say,
                          src=Path(args.firmware) if args.firmware else None)
        except BoardError as e:
            return error(str(e))
        print(f"rolled back {args.port}: firmware {st.get('firmware')}, config crc "
              f"{st.get('config_hash')}, logging (boot {st.get('boot')})")
        return 0
    cfg = chash = None
    if args.config:
        c = _checked(args.config)
        if isinstance(c, int):
            return c
        cfg, chash = c[0], c[1].hash
    try:
        res = deploy(args.port, args.board, config=cfg, config_hash=chash,
                     src=Path(args.firmware) if args.firmware else None, stamp=args.stamp,
                     mpy=True if args.mpy else (False if args.source else None),
                     force=args.force, confirm_timeout=args.timeout,
                     auto_rollback=not args.no_rollback,
                     say=say if not args.quiet else (lambda m: None))
    except BoardError as e:
        return error(str(e))
    st = res.status or {}
    print(f"deployed {res.version} to {args.port}: {len(res.copied)} file(s) copied, "
          f"{len(res.removed)} removed, {res.verified} verified by sha256, "
          f"logging (boot {st.get('boot')}, {st.get('segment')}, config crc "
          f"{st.get('config_hash')}) in {res.seconds:.1f} s")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Live view, or one JSON reading."""
    resolve_port(args)
    try:
        prev = sample(args.port, args.timeout)
        if prev is None:
            return error(f"no status from {args.port} within {args.timeout:g} s: the logger "
                        f"is not running (at its REPL, or not dunelog firmware)")
        if args.once:
            time.sleep(args.interval)
            cur1 = sample(args.port, args.timeout) or prev
            out = with_rates(prev, cur1)
            if args.json:
                print(json.dumps(out, indent=2, sort_keys=True))
            else:
                sys.stdout.write(format_status(out, args.port))
            return 0
        while True:
            time.sleep(args.interval)
            cur = sample(args.port, args.timeout)
            if cur is None:
                sys.stdout.write("\x1b[2J\x1b[H" + f"{args.port}: no answer (rebooting?)\n")
                prev = None
                continue
            sys.stdout.write("\x1b[2J\x1b[H" + format_status(with_rates(prev, cur), args.port)
                             + "\n(Ctrl-C to quit; the logger keeps logging)\n")
            sys.stdout.flush()
            prev = cur
    except BoardError as e:
        return error(str(e))


def cmd_config(args: argparse.Namespace) -> int:
    """config new|check|diff|push|pull."""
    if args.action in ("diff", "push", "pull") or \
            (args.action == "check" and (args.port or args.engine == "board")):
        resolve_port(args)
    try:
        if args.action == "new":
            text = new_config(args.template, logger_id=args.logger_id, vehicle=args.vehicle)
            r = check_text(text)
            if not r.ok:
                return error(f"template gives an invalid config: {'; '.join(r.errors)}")
            if args.output == "-":
                sys.stdout.write(text)
                return 0
            if os.path.exists(args.output) and not args.force:
                return error(f"{args.output} exists; --force to overwrite")
            Path(args.output).write_text(text)
            print(f"{args.output}: logger {args.logger_id} {args.vehicle!r}, crc {r.hash}")
            return 0
        if args.action == "check":
            code = 0
            for path in args.files:
                r = check_config(path, engine="board" if args.port else args.engine,
                                 port=args.port)
                if r.ok:
                    print(f"{path}: ok (crc {r.hash}, checked by {r.engine})")
                else:
                    for m in r.messages(path):
                        sys.stderr.write(m + "\n")
                    sys.stderr.write(f"{path}: rejected ({r.reason}, checked by "
                                     f"{r.engine})\n")
                    code = EXIT_CONFIG
            return code
        if args.action == "pull":
            with Board(args.port) as b:
                if b.hashes(["config.json"])["config.json"] is None:
                    b.restart()
                    return error(f"the board on {args.port} has no config.json "
                                f"(it runs the defaults)")
                data = b.read("config.json")
                b.restart()
            if args.output in (None, "-"):
                sys.stdout.write(data.decode(errors="replace"))
            else:
                Path(args.output).write_bytes(data)
                print(f"{args.output}: {len(data)} bytes from {args.port}")
            return 0
        if args.action == "diff":
            local = check_config(args.file)
            with Board(args.port) as b:
                have = b.hashes(["config.json"])["config.json"]
                data = b.read("config.json") if have else b"{}"
                b.restart()
            remote = check_text(data)
            if not local.ok:
                return error(f"{args.file}: rejected: {'; '.join(local.errors) or local.reason}",
                            EXIT_CONFIG)
            if not remote.ok:
                print(f"board config.json is invalid ({'; '.join(remote.errors) or remote.reason}"
                      f"): the board runs its last good config")
                return EXIT_DIFFERS
            d = effective_diff(remote, local, f"{args.port}:config.json", args.file)
            if not d:
                print(f"same config (crc {local.hash})")
                return 0
            sys.stdout.write(d)
            return EXIT_DIFFERS
        if args.action == "push":
            c = _checked(args.file)
            if isinstance(c, int):
                return c
            data, r = c
            with Board(args.port) as b:
                stage_and_swap(b, {"config.json": data}, [], "", say)
                if b.hashes(["config.json"])["config.json"] != hashlib.sha256(data).hexdigest():
                    return error("config.json failed the hash check after the swap")
                b.restart()
            st = wait_logging(args.port, args.timeout)
            if st is None:
                return error(f"config written and verified, but {args.port} did not report "
                            f"logging within {args.timeout:g} s")
            if st.get("config_hash") != r.hash:
                return error(f"board runs config crc {st.get('config_hash')}, expected "
                            f"{r.hash}: see `dunelog status --port {args.port}`")
            print(f"pushed {args.file} to {args.port} (crc {r.hash}); logging, boot "
                  f"{st.get('boot')}")
            return 0
    except (BoardError, ConfigError) as e:
        return error(str(e))
    except OSError as e:
        return error(str(e))
    return error(f"unknown config action {args.action}")


def register(sub: Any) -> None:
    """Add ``deploy``, ``status`` and ``config`` to the subparsers action ``sub``."""
    p = add_command(sub, "deploy", help="build and install firmware (+ config) on a board "
                                        "over USB, verify by hash, confirm it logs",
                    examples="""\
  dunelog deploy --board stm32 --config configs/204.json
  dunelog deploy --board esp32 --port /dev/ttyUSB0 --firmware ../dunelog-2.1/firmware
  dunelog deploy --rollback
""")
    add_port(p)
    p.add_argument("--board", choices=["esp32", "stm32", "unix"],
                   help="board type; must match the board's sys.platform (required, except "
                        "with --rollback)")
    p.add_argument("--config", metavar="FILE", help="config to install with it (checked first)")
    p.add_argument("--firmware", metavar="DIR", help="firmware source (default: this "
                                                       "checkout's firmware/)")
    p.add_argument("--stamp", metavar="VERSION", help="version stamp (default: from git)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--mpy", action="store_true",
                   help="unix: compile to .mpy too (the board's arch: x64, x86 for an i386 build)")
    g.add_argument("--source", action="store_true", help="ship .py source, not .mpy")
    p.add_argument("--force", action="store_true", help="copy every file, changed or not")
    p.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                   help="seconds to wait for logging to start (default 20)")
    p.add_argument("--no-rollback", action="store_true",
                   help="keep the new firmware even if it does not start logging")
    p.add_argument("--rollback", action="store_true",
                   help="put back what the last deploy or config push replaced, and restart")
    p.add_argument("-q", "--quiet", action="store_true", help="only the final line")
    p.set_defaults(func=cmd_deploy)

    p = add_command(sub, "status", help="live status of a logger on USB (--once --json for "
                                        "scripts)", examples="""\
  dunelog status
  dunelog status --port /dev/ttyACM0 --interval 2
  dunelog status --once --json
""")
    add_port(p)
    p.add_argument("--once", action="store_true", help="one reading, then exit")
    p.add_argument("--json", action="store_true", help="with --once: JSON on stdout")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between readings (default 1)")
    p.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                   help="seconds to wait for an answer (default 3)")
    p.set_defaults(func=cmd_status)

    p = add_command(sub, "config", help="board configs: new, check, diff, push, pull",
                    examples="""\
  dunelog config new --logger-id 204 --vehicle T1-204 -o configs/204.json
  dunelog config check configs/*.json
  dunelog config push configs/204.json
""")
    cs = p.add_subparsers(dest="action", metavar="ACTION")
    cs.required = True
    q = add_command(cs, "new", help="a config for one vehicle from a template", examples="""\
  dunelog config new --logger-id 204 --vehicle T1-204 -o configs/204.json
  dunelog config new --logger-id 7 --vehicle bench --template bench.json -o -
""")
    q.add_argument("--logger-id", type=int, required=True, metavar="ID",
                   help="the logger id this config gives the board")
    q.add_argument("--vehicle", required=True, metavar="NAME",
                   help="vehicle name written into each segment header")
    q.add_argument("--template", default="recce", metavar="NAME",
                   help="template name or .json file (default recce)")
    q.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="file to write (- for stdout)")
    q.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    q = add_command(cs, "check", help="validate with the firmware's own validator",
                    examples="""\
  dunelog config check configs/204.json configs/205.json
  dunelog config check configs/204.json --engine cpython
  dunelog config check configs/204.json --port /dev/ttyACM0
""")
    q.add_argument("files", nargs="+", metavar="FILE", help="config files to check")
    q.add_argument("--engine", choices=["auto", "micropython", "cpython", "board"],
                   default="auto",
                   help="where the validator runs: auto (MicroPython if installed, else "
                        "CPython), micropython, cpython, or board (the board on --port)")
    add_port(q, help="run the validator on the board on this serial device (it restarts "
                     "after); with --engine board and no --port: the only board found")
    add_deprecated(q, "--board", "--port", dest="port")
    q = add_command(cs, "diff", help="compare a config with the one a board runs",
                    examples="""\
  dunelog config diff configs/204.json
  dunelog config diff configs/204.json --port /dev/ttyACM0
""")
    q.add_argument("file", metavar="FILE", help="the config file to compare")
    add_port(q)
    q = add_command(cs, "push", help="install a config on a board (checked, staged, "
                                     "verified), restart, confirm", examples="""\
  dunelog config push configs/204.json
  dunelog config push configs/204.json --port /dev/ttyACM0 --timeout 40
""")
    q.add_argument("file", metavar="FILE", help="the config file to install")
    add_port(q)
    q.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                   help="seconds to wait for logging to start (default 20)")
    q = add_command(cs, "pull", help="read the config a board has", examples="""\
  dunelog config pull
  dunelog config pull --port /dev/ttyACM0 -o configs/204-board.json
""")
    add_port(q)
    q.add_argument("-o", "--output", metavar="FILE", help="file to write (default stdout)")
    p.set_defaults(func=cmd_config)

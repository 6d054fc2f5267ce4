"""``dunelog replay INPUT --interface I --channel C``: put a log back on a CAN bus with its
original timing (see :mod:`dunelog.io.replay` and docs/REPLAY.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ..io import SourceError, is_dunelog_input
from ..io.replay import LiveBusRefused, bus_guard, parse_channel_map, parse_ids, parse_remap, replay
from ._common import EXIT_OK, UnusableInput, add_command, add_input, open_for_cli

if TYPE_CHECKING:       # python-can (which loads asammdf) only when replaying
    import can

__all__ = ["register", "cmd_replay", "input_has_fd"]


def input_has_fd(path: str) -> bool:
    """True if the input holds at least one CAN FD frame (stops at the first one)."""
    from ..io import iter_frame_chunks, iter_messages
    if is_dunelog_input(path):
        return any(len(c.fd) for c in iter_frame_chunks(path))
    return any(m.is_fd for m in iter_messages(path))


def _bus_config(args: argparse.Namespace, channel: str | None, fd: bool) -> dict:
    """The python-can config of one bus: command-line values over the --config file (and
    python-can's usual config sources)."""
    import can
    given: dict[str, Any] = {}
    if args.interface:
        given["interface"] = args.interface
    if channel is not None:
        given["channel"] = channel
    if args.bitrate is not None:
        given["bitrate"] = args.bitrate
    if args.data_bitrate is not None:
        given["data_bitrate"] = args.data_bitrate
    if fd:
        given["fd"] = True
    try:
        cfg = dict(can.util.load_config(path=args.config, config=given,
                                        context=args.config_context))
    except Exception as e:  # noqa: BLE001 - unknown interface, unreadable file
        raise UnusableInput(f"python-can configuration: {type(e).__name__}: {e}") from None
    if fd:
        cfg["fd"] = True
    return cfg


def cmd_replay(args: argparse.Namespace) -> int:
    """Send the frames of ``args.input`` on the bus(es) with their timing."""
    import can

    from ..io import iter_messages
    src = args.input
    if not os.path.exists(src):
        raise UnusableInput(f"no such file or directory: {src}")
    if not args.speed > 0:
        raise UnusableInput(f"--speed must be > 0, not {args.speed}")
    if args.loop < 0:
        raise UnusableInput("--loop must be >= 0 (0 = forever)")
    opt = "--ids"
    try:
        ids = parse_ids(",".join(args.ids)) if args.ids else None
        opt = "--exclude-ids"
        exclude = parse_ids(",".join(args.exclude_ids)) if args.exclude_ids else None
        opt = "--remap"
        remap = parse_remap(args.remap or [])
        opt = "--map-channel"
        chmap = parse_channel_map(args.map_channel or [])
    except ValueError as e:
        raise UnusableInput(f"{opt}: {e}") from None

    # which buses, and the guard - before reading the input or opening anything
    targets = list(dict.fromkeys(chmap.values())) if chmap else [args.channel]
    cfgs = {t: _bus_config(args, t, False) for t in targets}
    guards = []
    for t, cfg in cfgs.items():
        if not cfg.get("interface"):
            raise UnusableInput("no python-can interface: give --interface (e.g. socketcan, "
                                "virtual) or a --config file that names one")
        if cfg.get("channel") is None:
            raise UnusableInput("no bus channel: give --channel (e.g. vcan0) or "
                                "--map-channel SRC:BUSCHANNEL")
        try:
            why = bus_guard(cfg["interface"], cfg["channel"], args.live_bus)
        except LiveBusRefused as e:
            raise UnusableInput(str(e)) from None
        guards.append(f"bus {cfg['interface']}:{cfg['channel']}: {why}")

    if is_dunelog_input(src):
        open_for_cli(src)                # an empty or unreadable dump: one line, no bus
    try:
        fd = args.fd if args.fd is not None else input_has_fd(src)
    except SourceError as e:
        raise UnusableInput(str(e)) from None
    if not args.quiet:
        for line in guards:
            sys.stderr.write(line + "\n")
    buses: dict[str, can.BusABC] = {}
    try:
        for t in targets:
            cfg = _bus_config(args, t, fd)
            try:
                buses[t] = can.Bus(ignore_config=True, **cfg)
            except Exception as e:  # noqa: BLE001 - interface libraries raise anything
                raise UnusableInput(f"cannot open bus {cfg.get('interface')}:"
                                    f"{cfg.get('channel')}: {type(e).__name__}: {e}") from None
        target = {s: buses[b] for s, b in chmap.items()} if chmap else buses[targets[0]]
        if not args.quiet:
            sys.stderr.write(f"replaying {src} at {args.speed:g}x"
                             f"{' (CAN FD)' if fd else ''}; Ctrl-C stops\n")
        try:
            rep = replay(lambda: iter_messages(src), target, args.speed, loop=args.loop,
                         start=args.start, end=args.end, ids=ids, exclude_ids=exclude,
                         remap=remap, max_gap=args.max_gap, loop_gap=args.loop_gap)
        except SourceError as e:
            raise UnusableInput(str(e)) from None
    finally:
        for b in buses.values():
            b.shutdown()
    if not args.quiet:
        sys.stderr.write(rep.format())
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(rep.as_dict(), f, indent=2)
            f.write("\n")
    if rep.sent == 0 and not args.quiet:
        sys.stderr.write(f"dunelog: warning: no frame of {src} was sent\n")
    if rep.failed:
        sys.stderr.write(f"dunelog: error: {rep.failed} frames could not be sent\n")
        return 1
    return 130 if rep.interrupted else EXIT_OK


def register(sub: Any) -> None:
    """Add the ``replay`` subcommand to the ``dunelog`` subparsers ``sub``."""
    p = add_command(
        sub, "replay", help="put a log back on a CAN bus with its original timing",
        description="Send the CAN frames of a dunelog dump or of any log python-can reads "
                    "onto a python-can bus, with the original inter-frame timing (absolute "
                    "schedule on a monotonic clock). Only virtual buses (socketcan vcan*, "
                    "virtual, udp_multicast) unless --live-bus: replaying onto a vehicle "
                    "can move actuators.", examples="""\
  dunelog replay /media/sd/dunelog -i socketcan -c vcan0
  dunelog replay day2.blf -i socketcan -c vcan0 --speed 2 --ids 0x100-0x1FF --loop 0
  dunelog replay day2.blf -i socketcan --map-channel 0:vcan0 --map-channel 1:vcan1
""")
    add_input(p, logs=True)
    p.add_argument("-i", "--interface", help="python-can interface (socketcan, virtual, ...)")
    p.add_argument("-c", "--channel", help="bus channel (e.g. vcan0)")
    p.add_argument("--bitrate", type=int, help="bitrate (bit/s), for interfaces that set it")
    p.add_argument("--data-bitrate", type=int, help="CAN FD data phase bitrate (bit/s)")
    p.add_argument("--config", metavar="FILE", help="python-can config file "
                   "(its [default] section, or --config-context)")
    p.add_argument("--config-context", metavar="SECTION", help="section of --config")
    p.add_argument("--fd", dest="fd", action="store_true", default=None,
                   help="open the bus as CAN FD (default: if the input has FD frames)")
    p.add_argument("--no-fd", dest="fd", action="store_false", help="open as classic CAN")
    p.add_argument("--speed", type=float, default=1.0, metavar="FACTOR",
                   help="time factor (2 = twice as fast; default 1)")
    p.add_argument("--loop", type=int, default=1, metavar="N", help="passes (0 = forever)")
    p.add_argument("--loop-gap", type=float, default=0.0, metavar="S",
                   help="pause between passes, log seconds (default 0)")
    p.add_argument("--start", type=float, metavar="S",
                   help="start S seconds after the first frame of the input")
    p.add_argument("--end", type=float, metavar="S",
                   help="stop S seconds after the first frame of the input")
    p.add_argument("--max-gap", type=float, metavar="S",
                   help="shorten pauses in the log longer than S seconds to S")
    p.add_argument("--ids", nargs="+", action="extend", metavar="IDS",
                   help="only frames with these CAN ids: ids and inclusive ranges, e.g. "
                        "0x100,0x200-0x2FF (comma lists ok; repeatable)")
    p.add_argument("--exclude-ids", nargs="+", action="extend", metavar="IDS",
                   help="not frames with these CAN ids (as --ids)")
    p.add_argument("--remap", action="append", metavar="OLD:NEW",
                   help="send id OLD as NEW (repeatable)")
    p.add_argument("--map-channel", action="append", metavar="SRC:BUSCHANNEL",
                   help="send frames of log channel SRC on bus channel BUSCHANNEL "
                        "(repeatable; unmapped channels are skipped)")
    p.add_argument("--live-bus", action="store_true",
                   help="allow a non-virtual bus (a real vehicle: it can move actuators)")
    p.add_argument("--report", metavar="FILE", help="also write the report as JSON to FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="no report on stderr")
    p.set_defaults(func=cmd_replay)

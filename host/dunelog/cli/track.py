"""``dunelog track INPUT -o route.gpx|.geojson|.kml``: the route of a dump; of an archive
of several loggers, one route per vehicle (and UTC day) with ``-o 'out/{vehicle}_{date}.gpx'``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..card.dump import Dump
from ..track import build_track, track_format, write_track
from ._common import (
    EXIT_OK,
    UnusableInput,
    add_command,
    add_input,
    add_progress,
    add_selection,
    check_output,
    has_placeholders,
    output_file,
    progress_bar,
    require_for,
    run_per_output,
)

__all__ = ["register", "cmd_track"]


def cmd_track(args: argparse.Namespace) -> int:
    """Build the track of ``args.input`` and write it to ``args.output``."""
    try:
        track_format(args.output)
    except ValueError as e:
        raise UnusableInput(str(e)) from None
    if args.gap <= 0:
        raise UnusableInput(f"--gap must be > 0 (got {args.gap})")
    require_for("track", args.output)
    if not has_placeholders(args.output):
        check_output(args.output)
    return run_per_output(args, _track,
                          "out/{vehicle}_{date}" + os.path.splitext(args.output)[1])


def _track(args: argparse.Namespace, dump: Dump, output: str) -> int:
    """The track of ``dump`` (one logger) into ``output``."""
    with progress_bar(args, "reading") as bar:
        dump.progress = bar
        try:
            track = build_track(dump, gap_s=args.gap)
        except ValueError as e:
            raise UnusableInput(f"{args.input}: {e}") from None
    if track.n_points == 0:
        sys.stderr.write(f"dunelog: warning: no valid GNSS fix in {args.input}; "
                         f"writing an empty track\n")
    try:
        with output_file(output) as tmp:
            write_track(tmp, track)
    except OSError as e:
        raise UnusableInput(f"cannot write {output}: {e}") from None
    for ev in track.unplaced:
        sys.stderr.write(f"dunelog: warning: mark {ev.text!r} (boot {ev.boot}, "
                         f"{ev.time_us / 1e6:.3f} s) not placed: no fix in its boot\n")
    problems = dump.problems
    if problems and not args.quiet:
        for p in problems[:10]:
            sys.stderr.write(f"dunelog: warning: {p}\n")
        if len(problems) > 10:
            sys.stderr.write(f"dunelog: warning: ... and {len(problems) - 10} more integrity "
                             f"problem(s); see `dunelog info`\n")
    if not args.quiet:
        s = track.summary()
        excl = s["excluded_fixes"]
        sys.stderr.write(
            f"{output}: {s['points']} points in {s['segments']} segment(s), "
            f"{s['distance_km']:.3f} km, {s['waypoints']} waypoint(s), {s['gaps']} gap(s)"
            + (f", {excl} no-fix record(s) excluded" if excl else "") + "\n")
    return EXIT_OK


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``track`` subcommand to the subparsers action ``sub``."""
    p = add_command(sub, "track", help="GNSS track and marks of a dump as GPX, GeoJSON or KML",
                    examples="""\
  dunelog track /media/sd/dunelog -o route.gpx
  dunelog track /data/raid2026 -o 'routes/{vehicle}_{date}.gpx' --gap 5
  dunelog track B00012_S0003.dlg -o stage3.kml --logger 204 -q
""")
    add_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file; format from the suffix: .gpx, .geojson (.json), .kml; "
                        "{logger}, {vehicle}, {date} in the name: one file per logger / "
                        "vehicle / UTC day")
    p.add_argument("--gap", type=float, default=2.0, metavar="SECONDS",
                   help="start a new segment after more than this without a valid fix "
                        "(default 2)")
    add_selection(p)
    add_progress(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no summary or warnings")
    p.set_defaults(func=cmd_track)
    return p

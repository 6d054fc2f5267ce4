"""``dunelog report INPUT [--dbc FILE] -o report.html`` and
``dunelog plot INPUT --dbc FILE --signal NAME ... -o plot.png|.svg``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from ..card.dump import Dump
from ..report import gather, render_html
from ..report.gather import DEFAULT_BITRATE, DEFAULT_DATA_BITRATE, DEFAULT_SIGNALS
from ..report.plot import PLOT_FORMATS, write_plot
from ._common import (
    EXIT_OK,
    UnusableInput,
    add_command,
    add_input,
    add_progress,
    add_selection,
    check_output,
    has_placeholders,
    load_databases,
    output_file,
    progress_bar,
    require_for,
    run_per_output,
)

__all__ = ["register", "cmd_report", "cmd_plot", "parse_bitrate"]


def parse_bitrate(text: str) -> int | dict[int, int]:
    """``500000`` (all channels) or ``0=500000,1=1000000`` (per channel); ``k``/``M``
    suffixes allowed (``500k``, ``1M``)."""
    def num(s: str) -> int:
        s = s.strip()
        mult = {"k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}.get(s[-1:], 1)
        v = int(float(s[:-1] if mult != 1 else s) * mult)
        if v <= 0:
            raise ValueError(s)
        return v
    try:
        if "=" not in text:
            return num(text)
        out = {}
        for part in text.split(","):
            ch, _, r = part.partition("=")
            out[int(ch)] = num(r)
        return out
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(
            f"bad bit rate {text!r}: give e.g. 500000, 500k or 0=500k,1=1M") from None


def _one_bitrate(text: str) -> int:
    v = parse_bitrate(text)
    if isinstance(v, dict):
        raise argparse.ArgumentTypeError("--data-bitrate takes one rate for all channels")
    return v


def _signals(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _check_dbc(paths: list[str]) -> None:
    """One line naming a database that is missing or does not parse (compiled once here;
    the report's decoder reads the compiled form)."""
    load_databases([(p, None) for p in paths])


def _command(args: argparse.Namespace) -> list[str]:
    """The command line that made the report: this process's own arguments when they are
    the report command (the console script, ``python -m dunelog``), else rebuilt from the
    parsed options (the API ``main([...])``)."""
    argv = sys.argv[1:]
    if "report" in argv and args.output in argv and args.input in argv:
        return ["dunelog"] + argv[argv.index("report"):]
    cmd = ["dunelog", "report", args.input]
    for d in args.dbc or []:
        cmd += ["--dbc", d]
    for n in args.signal or []:
        cmd += ["--signal", n]
    for opt, val, default in (("--bitrate", args.bitrate, DEFAULT_BITRATE),
                              ("--data-bitrate", args.data_bitrate, DEFAULT_DATA_BITRATE),
                              ("--gap", args.gap, 2.0), ("--logger", args.logger, None),
                              ("--vehicle", args.vehicle, None)):
        if val != default:
            v = ",".join(f"{k}={r}" for k, r in val.items()) if isinstance(val, dict) else val
            cmd += [opt, str(v)]
    return cmd + ["-o", args.output]


def cmd_report(args: argparse.Namespace) -> int:
    """Gather the report data of ``args.input`` and write the HTML page."""
    if not args.output.lower().endswith((".html", ".htm")):
        raise UnusableInput(f"report output must end in .html: {args.output}")
    if args.gap <= 0:
        raise UnusableInput(f"--gap must be > 0 (got {args.gap})")
    _check_dbc(args.dbc or [])
    if not has_placeholders(args.output):
        check_output(args.output)            # before reading the dump, not after
    return run_per_output(args, _report, "out/{vehicle}_{date}.html")


def _report(args: argparse.Namespace, dump: Dump, output: str) -> int:
    """The report of ``dump`` (one logger) into ``output``."""
    dbc = args.dbc or []
    t0 = time.monotonic()
    with progress_bar(args, "reading") as bar:
        dump.progress = bar
        try:
            data = gather(dump, dbc=dbc, signals=_signals(args.signal), gap_s=args.gap,
                          bitrate=args.bitrate, data_bitrate=args.data_bitrate)
        except ValueError as e:
            raise UnusableInput(f"{args.input}: {e}") from None
    command = _command(args)
    text = render_html(data, command=command)
    try:
        with output_file(output) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise UnusableInput(f"cannot write {output}: {e}") from None
    if not args.quiet:
        _say_unplotted(data, missing="note")
        s = data.track.summary()
        sys.stderr.write(
            f"{output}: {len(text) / 1e6:.2f} MB, {data.info['records']:,} records, "
            f"{data.info['overflow']['total']} dropped, {len(dump.problems)} problem(s), "
            f"{s['points']} fixes / {s['distance_km']:.3f} km, {len(data.signals)} signal "
            f"plot(s), {time.monotonic() - t0:.1f} s\n")
    return EXIT_OK


def _say_unplotted(data: Any, *, missing: str) -> None:
    """One stderr line per asked-for signal that was not plotted, and why."""
    for n in data.unknown_signals:
        sys.stderr.write(f"dunelog: warning: signal {n} not plotted: not in the database(s)\n")
    for n in data.missing_signals:
        sys.stderr.write(f"dunelog: {missing}: signal {n} not plotted: no frames in this dump\n")


def cmd_plot(args: argparse.Namespace) -> int:
    """Plot the chosen signals of ``args.input`` to a PNG / SVG / PDF file."""
    if os.path.splitext(args.output)[1].lower() not in PLOT_FORMATS:
        raise UnusableInput(f"plot output must end in {', '.join(PLOT_FORMATS)}: {args.output}")
    require_for("plot", args.output)
    _check_dbc(args.dbc)
    if not has_placeholders(args.output):
        check_output(args.output)
    return run_per_output(args, _plot, "out/{vehicle}_{date}" + os.path.splitext(args.output)[1])


def _plot(args: argparse.Namespace, dump: Dump, output: str) -> int:
    """The plot of ``dump`` (one logger) into ``output``."""
    names = _signals(args.signal) or []
    with progress_bar(args, "reading") as bar:
        dump.progress = bar
        try:
            with output_file(output) as tmp:
                data = write_plot(tmp, dump, dbc=args.dbc, signals=names,
                                  points=args.points)
        except ValueError as e:
            raise UnusableInput(f"{args.input}: {e}") from None
        except OSError as e:
            raise UnusableInput(f"cannot write {output}: {e}") from None
    if not args.quiet:
        _say_unplotted(data, missing="warning")
        sys.stderr.write(f"{output}: " + ", ".join(
            f"{s.name} [{s.unit or '-'}] {s.by_time.samples:,} samples" for s in data.signals)
            + "\n")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add the ``report`` and ``plot`` subcommands to the subparsers action ``sub``."""
    p = add_command(sub, "report", help="the day's report: one self-contained HTML page "
                                        "(integrity, bus, route, signals)", examples="""\
  dunelog report /media/sd/dunelog -o day2.html
  dunelog report /media/sd/dunelog --dbc dbc/recce.dbc --signal EngineSpeed,CoolantTemp \\
      -o day2.html
  dunelog report B00012_S0003.dlg --bitrate 0=500k,1=1M --logger 204 -o stage3.html
""")
    add_input(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="HTML file to write (.html); {logger}, {vehicle}, {date} in the "
                        "name: one page per logger / vehicle / UTC day")
    p.add_argument("--dbc", action="append", metavar="FILE",
                   help="database for the signal plots (repeatable)")
    p.add_argument("--signal", nargs="+", action="extend", metavar="NAME",
                   help="signals to plot (comma lists ok; repeatable; default: "
                        + ", ".join(DEFAULT_SIGNALS) + ")")
    p.add_argument("--bitrate", type=parse_bitrate, default=DEFAULT_BITRATE,
                   metavar="BPS", help="nominal bit rate for bus load: 500k, or per channel "
                                       "0=500k,1=1M (default 500k)")
    p.add_argument("--data-bitrate", type=_one_bitrate, default=DEFAULT_DATA_BITRATE,
                   metavar="BPS", help="CAN FD data-phase bit rate for bus load (default 2M)")
    p.add_argument("--gap", type=float, default=2.0, metavar="SECONDS",
                   help="fix outage that splits the track (default 2)")
    add_selection(p)
    add_progress(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=cmd_report)

    q = add_command(sub, "plot", help="plot DBC signals of a dump against UTC time "
                                      "(PNG, SVG or PDF, matplotlib)", examples="""\
  dunelog plot /media/sd/dunelog --dbc dbc/recce.dbc --signal EngineSpeed -o rpm.png
  dunelog plot B00012_S0003.dlg --dbc dbc/recce.dbc --signal EngineSpeed,CoolantTemp \\
      -o engine.svg --points 4000
""")
    add_input(q)
    q.add_argument("--dbc", action="append", required=True, metavar="FILE",
                   help="database (repeatable)")
    q.add_argument("--signal", nargs="+", action="extend", required=True, metavar="NAME",
                   help="signals to plot (comma lists ok; repeatable)")
    q.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="image file: .png, .svg or .pdf; {logger}, {vehicle}, {date} in the "
                        "name: one image per logger / vehicle / UTC day")
    q.add_argument("--points", type=int, default=2000, metavar="N",
                   help="min/max buckets across the time axis (default 2000)")
    add_selection(q)
    add_progress(q)
    q.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    q.set_defaults(func=cmd_plot)

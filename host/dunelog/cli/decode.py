"""``dunelog decode INPUT --dbc FILE [--dbc FILE2 --channel N] -o OUT``: DBC-decode a dump.

``--ids`` are CAN frame ids and id ranges (``0x100,0x200-0x2FF``), as in ``replay``;
``--messages`` are message names; ``--signal`` are signal names, as in ``report``/``plot``.

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
from ..cores import usable_cores
from ..decode import Decoder, decode_dump, parse_time, with_timebase
from ..decode.decoder import selection
from ..decode.sink import WriteError
from ..io.gnss_can import gnss_database
from ..io.replay import parse_ids
from ._common import (
    EXIT_OK,
    UnusableInput,
    add_command,
    add_deprecated,
    add_input,
    add_progress,
    add_selection,
    deprecated,
    load_databases,
    loggers_found,
    open_for_cli,
    output_dir,
    output_file,
    progress_bar,
    readable,
    refuse_merge,
    require_for,
    select_for_cli,
    tasks_bar,
)
from ._gnss import add_gnss_options, gnss_for

__all__ = ["register", "cmd_decode"]

FRAME_SUFFIXES = (".blf", ".asc", ".trc", ".log")


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
    p = add_command(sub, "decode", help="decode CAN signals with DBC/ARXML/KCD/SYM databases "
                                        "to Parquet, CSV or MF4", examples="""\
  dunelog decode /media/sd/dunelog --dbc dbc/recce.dbc -o day2.parquet
  dunelog decode B00012_S0003.dlg --dbc dbc/recce.dbc -o wheels.csv \\
      --messages WheelSpeeds --signal WheelSpeedFL,WheelSpeedFR --start 60 --end 120
  dunelog decode day2.blf --dbc dbc/recce.dbc --dbc dbc/obd2.dbc --channel 1 \\
      --ids 0x100-0x1FF -o day2.csv
""")
    add_input(p, logs=True)
    p.add_argument("--dbc", action=_DbcAction, metavar="FILE", required=True,
                   help="database (DBC, ARXML, KCD, SYM); repeatable")
    p.add_argument("--channel", action=_ChannelAction, type=int, metavar="N",
                   help="apply the preceding --dbc to channel N only")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output; format by suffix: .parquet (wide, a directory of one file "
                        "per message), .csv (long) or .mf4 (one channel group per message, "
                        "one channel per signal)")
    p.add_argument("--ids", nargs="+", action="extend", metavar="IDS",
                   help="only messages with these CAN frame ids: ids and inclusive ranges, "
                        "e.g. 0x100,0x200-0x2FF (comma lists ok; repeatable)")
    p.add_argument("--messages", nargs="+", action="extend", metavar="NAME",
                   help="only these messages, by name (comma lists ok; repeatable)")
    p.add_argument("--signal", nargs="+", action="extend", metavar="NAME",
                   help="only these signals (comma lists ok; repeatable)")
    add_deprecated(p, "--signals", "--signal", dest="signal", action="extend", nargs="+")
    p.add_argument("--start", metavar="S", help="window start: seconds since boot, or an "
                                                "ISO 8601 UTC time (needs time sync)")
    p.add_argument("--end", metavar="S", help="window end (exclusive), as --start")
    p.add_argument("--layout", choices=("wide", "long"), default=None,
                   help="wide: one column per signal; long: one row per value "
                        "(default: wide for .parquet, long for .csv)")
    g = p.add_argument_group("dataset (a whole archive; see docs/FLEET.md)")
    g.add_argument("--dataset", metavar="DIR",
                   help="instead of -o: decode into a Hive-partitioned Parquet dataset, "
                        "DIR/<message|gnss|events|status|integrity>/vehicle=V/date=D/, "
                        "one task per segment file; a re-run adds only what is new")
    g.add_argument("--jobs", "-j", type=_positive, metavar="N",
                   help="run the tasks on N processes of this machine (default: one per "
                        "core it may use, at most one per segment file; 1: in this "
                        "process)")
    g.add_argument("--workers", type=_positive, metavar="N",
                   help="run the tasks on a local Dask cluster of N worker processes "
                        "instead")
    g.add_argument("--scheduler", metavar="ADDR",
                   help="run the tasks on the Dask cluster at ADDR (tcp://host:8786); its "
                        "workers must see DIR (and INPUT, unless it is a URL such as "
                        "s3://bucket/archive) at the same paths")
    add_gnss_options(p, "also decode the GNSS fixes of a dump with dbc/dunelog_gnss.dbc "
                        "(and GNSS frames already in a log), as one channel group per "
                        "message; for .blf: write them as CAN frames")
    add_selection(p)
    add_progress(p)
    p.set_defaults(func=cmd_decode, dbcs=None)


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text}: 1 or more")
    return n


def _split(xs: list[str] | None) -> list[str] | None:
    return [y.strip() for x in xs or [] for y in x.split(",") if y.strip()] or None


def _is_id(text: str) -> bool:
    try:
        parse_ids(text)
    except ValueError:
        return False
    return True


def _selection(args: argparse.Namespace, dbs: list) -> list[int | str] | None:
    """The ``ids`` of :class:`~dunelog.decode.Decoder`: the database frame ids in the
    ``--ids`` ranges, plus the ``--messages`` names (None: every message).  A name given
    to ``--ids`` (the old meaning) still selects that message, with a warning."""
    ids, names = [], list(_split(args.messages) or [])
    for item in _split(args.ids) or []:
        if _is_id(item):
            ids.extend(parse_ids(item))
        else:
            deprecated(f"a message name in --ids ({item})", f"--messages {item}")
            names.append(item)
    return selection(dbs, ids, names)


def _load_databases(args: argparse.Namespace) -> list:
    return load_databases([(p, ch) for p, ch in args.dbcs])


def _cmd_dataset(args: argparse.Namespace) -> int:
    """``decode ARCHIVE --dataset DIR``: see :func:`dunelog.fleet.build_dataset`."""
    from ..fleet import (
        DaskEngine,
        DatasetError,
        DecodeSpec,
        EngineError,
        ProcessEngine,
        build_dataset,
        make_engine,
    )
    if args.start is not None or args.end is not None:
        raise UnusableInput("--start/--end do not apply to --dataset (a dataset holds the "
                            "whole archive: filter in the query)")
    if os.path.isfile(args.input) and not args.input.lower().endswith(".dlg"):
        raise UnusableInput(f"{args.input}: --dataset decodes dunelog segment files "
                            "(a card dump or an archive), not other logs")
    files = None
    if "://" not in args.input:                  # a URL (s3://...) is listed by the build
        # a clear error if no segments
        files = len(open_for_cli(args.input, logger_id=args.logger).segments)
    dbs = _load_databases(args)
    sel = _selection(args, dbs)
    if not Decoder(dbs, ids=sel, signals=_split(args.signal)).messages:
        raise UnusableInput("no message of the database(s) matches --ids/--messages/--signal")
    spec = DecodeSpec.make([(p, ch) for p, ch in args.dbcs], ids=sel,
                           signals=_split(args.signal))
    if args.jobs is not None and (args.workers is not None or args.scheduler is not None):
        raise UnusableInput("--jobs runs the tasks on this machine's processes, "
                            "--workers/--scheduler on Dask: give one")
    jobs = args.jobs
    if jobs is None and args.workers is None and args.scheduler is None:
        jobs = usable_cores()
        jobs = min(jobs, files) if files else jobs      # no more workers than files
    try:
        engine = make_engine(args.workers, args.scheduler, jobs)
    except EngineError as e:
        raise UnusableInput(str(e)) from None
    rss = ""
    with engine, tasks_bar(args) as bar:
        try:
            rep = build_dataset(args.input, args.dataset, spec, engine=engine,
                                logger_id=args.logger, vehicle=args.vehicle, progress=bar)
        except (DatasetError, EngineError) as e:
            raise UnusableInput(str(e)) from None
        except OSError as e:        # disk full, a part's place taken: what is done is kept
            raise UnusableInput(f"dataset {args.dataset} not completed: {e} (the files "
                                "decoded so far are kept: run again once this is fixed)") \
                from None
        if isinstance(engine, DaskEngine) and engine.local and rep.decoded:
            peaks = sorted(engine.worker_peak_rss_mb().values())
            rss = f"; worker peak RSS {', '.join(f'{m:.0f}' for m in peaks)} MB"
    if isinstance(engine, ProcessEngine) and rep.decoded > 1:    # ended: its peak is known
        rss = f"; worker peak RSS {engine.peak_rss_mb():.0f} MB"
    rate = rep.frames / rep.seconds if rep.seconds else 0.0
    sys.stderr.write(
        f"dataset {args.dataset}: {rep.decoded} segment file(s) decoded, {rep.skipped} "
        f"unchanged; {rep.frames} frame(s), {rep.frames_decoded} decoded, "
        f"{rep.parts_written} part(s) written, {rep.parts_removed} replaced "
        f"({rep.seconds:.1f} s, {rate / 1e6:.2f} M frames/s, {rep.engine}{rss})\n")
    for k, n in sorted(rep.unknown.items()):
        sys.stderr.write(f"  {n} frame(s) with id {k}: not in any DBC\n")
    if rep.problems:
        sys.stderr.write(f"  {rep.problems} integrity problem(s): see the integrity table\n")
    return EXIT_OK


def _unwritten(out: str, e: OSError) -> str:
    """The one line for an output that could not be written (nothing of it is left)."""
    return f"cannot write {out}: {os.strerror(e.errno) if e.errno else e} (nothing written)"


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode ``args.input`` with the databases into ``args.output``."""
    from ..heap import keep_freed_memory
    keep_freed_memory()               # chunk after chunk of arrays: keep the pages (heap.py)
    if args.dataset is not None:
        if args.output is not None:
            raise UnusableInput("give -o OUT (files) or --dataset DIR (a dataset), not both")
        return _cmd_dataset(args)
    if args.workers is not None or args.scheduler is not None or args.jobs is not None:
        raise UnusableInput("--jobs/--workers/--scheduler run a --dataset decode: add "
                            "--dataset DIR")
    if args.output is None:
        raise UnusableInput("no output: give -o OUT (.parquet, .csv, .mf4, or a frame log) "
                            "or --dataset DIR")
    out = args.output
    suffix = os.path.splitext(out)[1].lower()
    if suffix in FRAME_SUFFIXES:
        from ..io import write_frames  # python-can (and asammdf): only when needed
        with progress_bar(args, "converting") as bar:
            raw = select_for_cli(open_for_cli(args.input, logger_id=args.logger,
                                              progress=bar), args, args.input)
            if args.logger is None and args.vehicle is None:
                refuse_merge(raw, args.input, "out/{vehicle}" + suffix,
                             command=f"dunelog convert {args.input} ")
            require_for("decode", out)
            with output_file(out) as tmp:
                n = write_frames(tmp, raw, gnss=gnss_for(args, out)).frames
        sys.stderr.write(f"wrote {n} raw CAN frame(s) to {out} "
                         f"(no signal decoding for {suffix}; the DBC is not used)\n")
        return EXIT_OK
    if suffix not in (".parquet", ".pq", ".csv", ".mf4"):
        raise UnusableInput(f"{out}: unknown output format {suffix or '(no suffix)'} "
                            "(use .parquet, .csv or .mf4)")
    if suffix == ".mf4" and args.layout == "long":
        raise UnusableInput(f"{out}: --layout long is not available for .mf4 "
                            "(one channel per signal)")
    require_for("decode", out)
    dbs = _load_databases(args)
    gnss = gnss_for(args, out)
    if gnss is not None:       # first: on its channel it wins over DBCs of every channel
        dbs.insert(0, (gnss_database(gnss), gnss.channel))
    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as e:
        raise UnusableInput(str(e)) from None
    decoder = Decoder(dbs, ids=_selection(args, dbs), signals=_split(args.signal))
    if not decoder.messages:
        raise UnusableInput("no message of the database(s) matches --ids/--messages/--signal")
    foreign = os.path.isfile(args.input) and not args.input.lower().endswith(".dlg")
    dump: Dump | None = None
    layout = args.layout or ("long" if suffix == ".csv" else "wide")
    # written whole or not at all: a failed run leaves an existing OUT as it was
    target = output_dir if layout == "wide" and suffix != ".mf4" else output_file
    if foreign:
        from ..io import iter_frame_chunks  # python-can: only for a foreign log
        if not os.path.exists(args.input):
            raise UnusableInput(f"no such file or directory: {args.input}")
        try:
            with target(out) as tmp:
                res = decode_dump(None, decoder, tmp, layout=layout, start=start, end=end,
                                  chunks=with_timebase(iter_frame_chunks(args.input)))
        except UnusableInput:
            raise
        except WriteError as e:
            raise UnusableInput(_unwritten(out, e)) from None
        except Exception as e:  # noqa: BLE001 - the reader's own errors name the file
            raise UnusableInput(f"cannot read {args.input}: {e}") from None
    else:
        # decode_dump reads the dump twice (time base, then frames): one bar over both
        with progress_bar(args, "decoding", passes=2) as bar:
            dump = select_for_cli(open_for_cli(args.input, logger_id=args.logger,
                                               progress=bar), args, args.input)
            if suffix == ".mf4" and len(dump.loggers) > 1:
                # one channel per signal: no logger column to keep the vehicles apart
                raise UnusableInput(
                    f"{args.input} holds {len(dump.loggers)} loggers: {loggers_found(dump)}; "
                    f"an MF4 of decoded signals holds one vehicle: choose one with --logger "
                    f"ID or --vehicle NAME (Parquet/CSV keep logger_id and vehicle columns)")
            try:
                with target(out) as tmp:
                    res = decode_dump(dump, decoder, tmp, layout=layout, start=start,
                                      end=end, progress=bar, gnss=gnss)
                    if not readable(dump):
                        raise UnusableInput(f"no readable dunelog data in {args.input} "
                                            f"({len(dump.segments)} file(s), no valid "
                                            "header or block)")
            except WriteError as e:
                raise UnusableInput(_unwritten(out, e)) from None
    rep = res["report"]
    sys.stderr.write(f"decoded {rep.decoded} of {rep.frames} frame(s) into {res['rows']} "
                     f"row(s), {len(res['files'])} file(s) ({res['layout']}, "
                     f"timestamps {res['timestamp']}) -> {out}\n")
    for line in rep.lines():
        sys.stderr.write(f"  {line}\n")
    for p in (dump.problems if dump is not None else []):
        sys.stderr.write(f"  problem: {p}\n")
    return EXIT_OK

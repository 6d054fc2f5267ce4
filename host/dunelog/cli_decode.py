"""``dunelog decode INPUT --dbc FILE [--dbc FILE2 --channel N] -o OUT``: DBC-decode a dump.

Output by OUT's suffix: ``.parquet`` (default layout wide: OUT is a directory with one
Parquet file per message; ``--layout long``: one Parquet file) and ``.csv`` (default layout
long: one CSV file; ``--layout wide``: OUT is a directory with one CSV per message).
INPUT may also be any log python-can reads (through :mod:`dunelog.sources`).
Streams chunk by chunk (memory stays flat); see docs/DECODE.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone

import numpy as np

__all__ = ["register", "cmd_decode", "decode_dump", "NotYet"]

FRAME_SUFFIXES = (".mf4", ".blf", ".asc", ".trc", ".log")


class NotYet(Exception):
    """Output format not available (yet)."""


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


def register(sub) -> None:
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


def _split(xs):
    return [y for x in xs or [] for y in x.split(",") if y] or None


def _time_arg(s: str | None):
    """-> ('boot', us) or ('utc', us) or None."""
    if s is None:
        return None
    try:
        return ("boot", int(round(float(s) * 1e6)))
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not seconds nor an ISO 8601 time: {s!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return ("utc", int(round(t.timestamp() * 1e6)))


def _window(frames: np.ndarray, start, end, tb):
    if start is None and end is None:
        return frames
    keep = np.ones(frames.shape[0], bool)
    t = frames["time_us"].astype(np.int64)
    utc = None
    for kind, v, lower in ((start and start[0], start and start[1], True),
                           (end and end[0], end and end[1], False)):
        if kind is None:
            continue
        if kind == "boot":
            x = t
        else:
            if utc is None:
                utc = np.full(t.shape[0], np.iinfo(np.int64).min if lower else -1, np.int64)
                if tb is not None:
                    for b in np.unique(frames["boot"]).tolist():
                        bm = frames["boot"] == b
                        u = tb.utc_us_array(int(b), t[bm])
                        if u is not None:
                            utc[bm] = u
                # frames without UTC never fall in a UTC window
                keep &= utc != (np.iinfo(np.int64).min if lower else -1)
            x = utc
        keep &= (x >= v) if lower else (x < v)
    return frames[keep]


class _Sink:
    """Incremental writers for one output (Parquet/CSV, wide/long)."""

    def __init__(self, out: str, fmt: str, layout: str) -> None:
        self.out, self.fmt, self.layout = out, fmt, layout
        self.writers: dict[str, object] = {}
        self.schemas: dict[str, object] = {}
        self.rows = 0
        self.files: list[str] = []
        if layout == "wide":
            os.makedirs(out, exist_ok=True)
        else:
            d = os.path.dirname(os.path.abspath(out))
            os.makedirs(d, exist_ok=True)

    def _writer(self, key: str, path: str, table):
        w = self.writers.get(key)
        if w is None:
            if self.fmt == "parquet":
                import pyarrow.parquet as pq
                w = pq.ParquetWriter(path, table.schema, compression="zstd")
            else:
                import pyarrow.csv as pcsv
                w = pcsv.CSVWriter(path, table.schema)
            self.writers[key] = w
            self.schemas[key] = table.schema
            self.files.append(path)
        return w

    def _prep(self, table):
        if self.fmt == "csv":   # CSV cannot hold dictionaries: plain strings
            import pyarrow as pa
            cols = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c
                    for c in table.columns]
            table = pa.table(cols, names=table.column_names)
        return table

    def write_wide(self, name: str, table) -> None:
        table = self._prep(table)
        path = os.path.join(self.out, f"{_safe(name)}.{self.fmt}")
        w = self._writer(name, path, table)
        w.write_table(table.cast(self.schemas[name]))
        self.rows += table.num_rows

    def write_long(self, table) -> None:
        table = self._prep(table)
        w = self._writer("", self.out, table)
        w.write_table(table.cast(self.schemas[""]))
        self.rows += table.num_rows

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class _EpochTimeBase:
    """Time base of a foreign log whose timestamps are already UTC epoch seconds."""

    def boots(self) -> list[int]:
        return [0]

    def utc_us_array(self, boot: int, time_us: np.ndarray) -> np.ndarray:
        return np.asarray(time_us).astype(np.int64)


_EPOCH_2001_US = 978_307_200 * 1_000_000


def _foreign_chunks(path: str):
    """(chunk, timebase) of a log python-can reads, through :mod:`dunelog.sources`."""
    try:
        from . import sources  # type: ignore[attr-defined]
    except ImportError:
        raise NotYet(f"{path}: reading non-dunelog logs needs dunelog.sources") from None
    for chunk in sources.iter_frame_chunks(path):
        t = [a["time_us"] for a in (chunk.classic, chunk.fd) if len(a)]
        epoch = bool(t) and all(int(x.min()) > _EPOCH_2001_US for x in t)
        yield chunk, (_EpochTimeBase() if epoch else None)


def decode_dump(dump, decoder, out: str, *, layout: str | None = None, start=None, end=None,
                progress: bool = False, chunks=None) -> dict:
    """Decode ``dump`` (or ``chunks``: an iterable of ``(chunk, timebase)``) with
    ``decoder`` into ``out`` (format by suffix); returns a summary (rows written, files,
    timestamp kind, decoder report)."""
    import pyarrow as pa
    suffix = os.path.splitext(out)[1].lower()
    fmt = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(suffix)
    if fmt is None:
        raise NotYet(f"decoded output as {suffix or 'no suffix'} is not available yet "
                     "(use .parquet or .csv)")
    layout = layout or ("wide" if fmt == "parquet" else "long")
    if chunks is None:
        stats = dump.scan(can_ids=False)
        synced = any(tb.boots() for tb in stats.timebases.values())
        if progress:
            from .cli import _progress_printer
            dump.progress = _progress_printer()
        chunks = ((c, stats.timebases.get(c.logger_id)) for c in dump.can_chunks())
        ts_kind = "utc" if synced else "boot"
    else:
        chunks = iter(chunks)
        first = next(chunks, None)
        ts_kind = "utc" if first is not None and first[1] is not None else "boot"
        if first is not None:
            chunks = _chain([first], chunks)
    sink = _Sink(out, fmt, layout)
    try:
        for chunk, tb in chunks:
            longs = []
            for arr in (chunk.classic, chunk.fd):
                if not arr.size:
                    continue
                arr = _window(arr, start, end, tb)
                for dm in decoder.decode(arr, tb):
                    if layout == "wide":
                        sink.write_wide(dm.message.name, dm.to_arrow())
                    else:
                        t = dm.to_long(ts_kind, with_time_us=True)
                        if t:
                            longs.extend(t)
            if longs:
                tab = pa.concat_tables(longs)
                tab = tab.take(np.argsort(tab.column("_t").to_numpy(), kind="stable"))
                sink.write_long(tab.drop_columns(["_t"]))
    finally:
        sink.close()
    return {"rows": sink.rows, "files": sink.files, "layout": layout,
            "timestamp": ts_kind, "report": decoder.report}


def _chain(a, b):
    yield from a
    yield from b


def cmd_decode(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, UnusableInput, open_for_cli
    from .decode import Decoder, load_database
    out = args.output
    suffix = os.path.splitext(out)[1].lower()
    progress = not args.no_progress and sys.stderr.isatty()
    if suffix in FRAME_SUFFIXES:
        dump = open_for_cli(args.input, logger_id=args.logger, progress=progress)
        try:
            from . import export  # type: ignore[attr-defined]
        except ImportError:
            export = None
        fn = getattr(export, "write_frames", None) if export is not None else None
        if fn is None:
            raise UnusableInput(f"{out}: decoding to {suffix} is not available yet "
                                "(use .parquet or .csv)")
        n = fn(out, dump)
        sys.stderr.write(f"wrote {n if n is not None else 'the'} raw CAN frame(s) to {out} "
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
        except Exception as e:
            raise UnusableInput(f"cannot load database {path}: {e}") from None
    try:
        start, end = _time_arg(args.start), _time_arg(args.end)
    except ValueError as e:
        raise UnusableInput(str(e)) from None
    decoder = Decoder(dbs, ids=_split(args.ids), signals=_split(args.signals))
    if not decoder.messages:
        raise UnusableInput("no message of the database(s) matches --ids/--signals")
    foreign = os.path.isfile(args.input) and not args.input.lower().endswith(".dlg")
    if foreign:
        dump = None
        try:
            res = decode_dump(None, decoder, out, layout=args.layout, start=start, end=end,
                              chunks=_foreign_chunks(args.input))
        except NotYet as e:
            raise UnusableInput(str(e)) from None
        except Exception as e:   # the reader's own errors name the file
            raise UnusableInput(f"cannot read {args.input}: {e}") from None
    else:
        dump = open_for_cli(args.input, logger_id=args.logger, progress=progress)
        res = decode_dump(dump, decoder, out, layout=args.layout, start=start, end=end,
                          progress=progress)
    rep = res["report"]
    sys.stderr.write(f"decoded {rep.decoded} of {rep.frames} frame(s) into {res['rows']} "
                     f"row(s), {len(res['files'])} file(s) ({res['layout']}, "
                     f"timestamps {res['timestamp']}) -> {out}\n")
    for line in rep.lines():
        sys.stderr.write(f"  {line}\n")
    for p in (dump.problems if dump is not None else []):
        sys.stderr.write(f"  problem: {p}\n")
    return EXIT_OK

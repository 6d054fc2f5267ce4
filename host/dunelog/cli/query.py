"""``dunelog query DATASET "SQL" [--format table|csv|json] [-o FILE]``: SQL on a dataset.

The dataset (``dunelog decode ARCHIVE --dataset DIR``) is opened in DuckDB with one view
per table (:class:`dunelog.fleet.query.Dataset`); see docs/FLEET.md for worked examples.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ._common import EXIT_OK, UnusableInput, add_command

__all__ = ["register", "cmd_query"]

_OUT = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}


def register(sub: Any) -> None:
    """Add the ``query`` subcommand to the subparsers object ``sub``."""
    p = add_command(sub, "query", help="SQL (DuckDB) on a dataset made by "
                                       "`decode --dataset`", examples="""\
  dunelog query rally/ "SELECT vehicle, date, max(CoolantTemp) FROM EngineData GROUP BY ALL"
  dunelog query rally/ "SELECT * FROM gnss WHERE vehicle = 'T1-204'" -o t1_track.parquet
  dunelog query rally/ --tables
""")
    p.add_argument("dataset", metavar="DATASET", help="the dataset directory")
    p.add_argument("sql", metavar="SQL", nargs="?",
                   help="the query; tables are named as the dataset's directories "
                        "(DBC message names, gnss, events, status, integrity)")
    p.add_argument("--tables", action="store_true",
                   help="list the tables, their columns and units, and the vehicles")
    p.add_argument("--format", choices=("table", "csv", "json"), default=None,
                   help="how to print the result on stdout (default: a table)")
    p.add_argument("--max-rows", type=int, default=40, metavar="N",
                   help="rows shown by --format table (default 40; the others print all)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the whole result to FILE (.csv, .parquet or .json)")
    p.set_defaults(func=cmd_query)


def cmd_query(args: argparse.Namespace) -> int:
    """Run ``args.sql`` on the dataset ``args.dataset``."""
    from ..fleet.query import Dataset
    if not os.path.isdir(args.dataset):
        raise UnusableInput(f"no such dataset directory: {args.dataset}")
    try:
        ds = Dataset(args.dataset)
    except (FileNotFoundError, ImportError) as e:
        raise UnusableInput(str(e)) from None
    with ds:
        if args.tables:
            _describe(ds)
            return EXIT_OK
        if not args.sql:
            raise UnusableInput("no query: give SQL (or --tables to list the tables)")
        import duckdb
        try:
            rel = ds.sql(args.sql)
        except duckdb.Error as e:
            raise UnusableInput(f"query failed: {str(e).splitlines()[0]}") from None
        if rel is None:                      # a statement without a result
            return EXIT_OK
        try:
            if args.output:
                n = _write(rel, args.output)
                sys.stderr.write(f"wrote {n} row(s) to {args.output}\n")
                if args.format is None:
                    return EXIT_OK
            _print(rel, args.format or "table", args.max_rows)
        except duckdb.Error as e:
            raise UnusableInput(f"query failed: {str(e).splitlines()[0]}") from None
    return EXIT_OK


def _write(rel: Any, path: str) -> int:
    """The whole result into ``path`` (by suffix), written whole then renamed; the row
    count."""
    kind = _OUT.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise UnusableInput(f"{path}: write the result as .csv, .parquet or .json")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UnusableInput(f"{path}: no such directory {d}")
    tab = rel.to_arrow_table()
    tmp = os.path.join(d, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        if kind == "csv":
            import pyarrow.csv as pcsv
            pcsv.write_csv(tab, tmp)
        elif kind == "parquet":
            import pyarrow.parquet as pq
            pq.write_table(tab, tmp, compression="zstd")
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(tab.to_pandas().to_json(orient="records", date_format="iso",
                                                lines=True))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return int(tab.num_rows)


def _print(rel: Any, fmt: str, max_rows: int) -> None:
    if fmt == "table":
        rel.show(max_rows=max_rows, max_width=10_000)
        return
    df = rel.df()
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        sys.stdout.write(df.to_json(orient="records", date_format="iso", lines=True))


def _describe(ds: Any) -> None:
    for name in ds.tables:
        cols = ds.sql(f'DESCRIBE "{name}"').fetchall()
        units = ds.units(name)
        parts = [f"{c[0]} [{units[c[0]]}]" if units.get(c[0]) else c[0] for c in cols]
        print(f"{name}: {', '.join(parts)}")
    for v, info in sorted(ds.vehicles.items()):
        ids = ", ".join(str(i) for i in info.get("logger_ids", []))
        print(f"vehicle={v}: {info.get('name', v)!r}, logger {ids or '?'}, "
              f"{info.get('segments', 0)} segment file(s)")

"""Query a dataset with DuckDB (``dunelog query OUT "SQL"``, ``dunelog.dataset(OUT)``).

Every table directory of the dataset is a DuckDB view of the same name over its parts,
with the Hive partition columns ``vehicle`` and ``date`` (both text: ``date`` is
``YYYY-MM-DD`` or ``undated``); a ``WHERE`` on them reads only the matching parts.

>>> ds = dunelog.dataset("rally2026/")
>>> ds.sql("SELECT vehicle, date, max(CoolantTemp) FROM EngineData GROUP BY ALL").df()
"""

from __future__ import annotations

import os
from typing import Any

from .store import MANIFEST, load_manifest
from .tables import empty_tables

__all__ = ["Dataset", "view_sql"]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(root: str, table: str) -> str:
    """``CREATE VIEW`` of one table of the dataset at ``root``."""
    glob = os.path.join(os.path.abspath(root), table, "*", "*", "*.parquet")
    return (f"CREATE OR REPLACE VIEW {_ident(table)} AS SELECT * FROM read_parquet("
            f"{_literal(glob)}, hive_partitioning = true, union_by_name = true, "
            "hive_types = {'vehicle': VARCHAR, 'date': VARCHAR})")


class Dataset:
    """A dunelog dataset opened in an in-memory DuckDB database, one view per table.

    :param path: the dataset directory (the ``--dataset`` of ``dunelog decode``).
    :param connection: a DuckDB connection to add the views to (default: a new one).
    :raises FileNotFoundError: ``path`` holds no ``_dataset.json``.
    :raises ImportError: DuckDB is not installed (with the pip command).
    """

    def __init__(self, path: str | os.PathLike[str], connection: Any = None) -> None:
        self.path = os.fspath(path)
        if not os.path.exists(os.path.join(self.path, MANIFEST)):
            raise FileNotFoundError(f"{self.path}: no {MANIFEST}: not a dunelog dataset "
                                    "(make one with: dunelog decode ARCHIVE --dbc FILE "
                                    f"--dataset {self.path})")
        try:
            import duckdb
        except ImportError:
            raise ImportError("dunelog query needs DuckDB: pip install 'dunelog[fleet]' "
                              "(or: pip install duckdb)") from None
        #: the contents of ``_dataset.json``
        self.manifest: dict[str, Any] = load_manifest(self.path)
        self.con = connection if connection is not None else duckdb.connect()
        self.tables: list[str] = []
        for name in sorted(os.listdir(self.path)):
            d = os.path.join(self.path, name)
            if os.path.isdir(d) and not name.startswith((".", "_")) and _has_parts(d):
                self.con.execute(view_sql(self.path, name))
                self.tables.append(name)
        for name, empty in empty_tables().items():
            if name not in self.tables:          # no row at all (a clean rally: integrity)
                self.con.register(f"_empty_{name}", empty)
                self.con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS "
                                 f"SELECT * FROM {_ident('_empty_' + name)}")
                self.tables.append(name)
        self.tables.sort()

    def sql(self, query: str) -> Any:
        """Run ``query``; a DuckDB relation (``.df()`` pandas, ``.pl()`` Polars,
        ``.arrow()``, ``.fetchall()``, ``.show()``)."""
        return self.con.sql(query)

    def table(self, name: str) -> Any:
        """The relation of one table (``ds.table("gnss").filter("vehicle = 'T1-204'")``)."""
        if name not in self.tables:
            raise KeyError(f"no table {name!r} in {self.path} (tables: "
                           f"{', '.join(self.tables)})")
        return self.con.table(name)

    def df(self, query: str) -> Any:
        """``query`` as a pandas DataFrame."""
        return self.sql(query).df()

    def pl(self, query: str) -> Any:
        """``query`` as a Polars DataFrame."""
        return self.sql(query).pl()

    def units(self, table: str) -> dict[str, str]:
        """Units of a table's columns (from ``_dataset.json``)."""
        return dict(self.manifest.get("tables", {}).get(table, {}).get("units", {}))

    @property
    def vehicles(self) -> dict[str, Any]:
        """The ``vehicle`` partition values with their full names and logger ids."""
        return dict(self.manifest.get("vehicles", {}))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Dataset":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Dataset({self.path!r}, tables={self.tables})"


def _has_parts(d: str) -> bool:
    for _, _, files in os.walk(d):
        if any(f.endswith(".parquet") and not f.startswith(".") for f in files):
            return True
    return False

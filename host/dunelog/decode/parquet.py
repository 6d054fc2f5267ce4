"""How dunelog writes Parquet: the encoding of each column (decoded tables, dataset parts).

Measured on bench_fleet's rally and bench_decode's dump (bench/RESULTS.md): pyarrow's
defaults (a dictionary for every column, plain timestamps) cost a third more time and
twice the bytes of what is below.
"""

from __future__ import annotations

from typing import Any

__all__ = ["encodings", "conform", "ROW_GROUP"]

#: rows per Parquet row group
ROW_GROUP = 262_144


def encodings(schema: Any) -> dict[str, Any]:
    """``ParquetWriter`` / ``write_table`` options for the columns of ``schema``.

    Dictionary pages only for text (labels, kinds): for signal values they cost time and
    space (1.6 s, 97 MB vs 1.2 s, 58 MB on bench_fleet's rally).  Times (``time_us`` and
    the UTC timestamps, a third of a part's bytes) delta-encoded: a steady frame rate
    leaves a few bits per row, so zstd has little left to do (rally: 58 -> 28 MB, ~20 %
    less time).  Byte-stream-split floats, other zstd levels, no statistics, non-null
    fields, parts encoded on 2 threads were no faster (bench/RESULTS.md)."""
    import pyarrow as pa
    text = [f.name for f in schema if pa.types.is_dictionary(f.type)
            or pa.types.is_string(f.type)]
    times = {f.name: "DELTA_BINARY_PACKED" for f in schema
             if pa.types.is_timestamp(f.type) or f.name == "time_us"}
    return {"use_dictionary": text or False, "column_encoding": times or None}


def conform(table: Any, schema: Any) -> Any:
    """``table`` with ``schema`` (a part's or a file's first chunk's): only the metadata
    replaced when the columns already match, the usual case (a cast of every column of
    every chunk costs more); cast otherwise (a label column that was all null)."""
    if table.schema.equals(schema, check_metadata=False):
        return table.replace_schema_metadata(schema.metadata)
    return table.cast(schema)

"""The dataset on disk: part files, written whole or not at all, and ``_dataset.json``.

Layout (Hive partitioning, as DuckDB, pyarrow.dataset, Spark and Polars read it)::

    OUT/_dataset.json
    OUT/<table>/vehicle=<vehicle>/date=<YYYY-MM-DD or undated>/part-<segment>-<fp>.parquet

A part is written under a hidden temporary name (``.part-...parquet.tmp-<pid>``) and
renamed when complete, so a reader never sees half a part and a worker killed mid-task
leaves only a temporary file that the next run removes.  ``_dataset.json`` (written the
same way) lists, per segment file, the fingerprint of its inputs and its parts: a re-run
redoes only what is new or changed.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from typing import Any

from ..decode.parquet import ROW_GROUP, conform, encodings

__all__ = ["PartWriter", "PartsJob", "load_manifest", "save_manifest", "sweep_temporaries",
           "MANIFEST", "TMP_MARK", "part_path"]

#: a part being gathered: (schema, temporary path, relative path, Arrow tables, rows)
Part = tuple[Any, str, str, list[Any], int]

MANIFEST = "_dataset.json"
TMP_MARK = ".tmp-"


def part_path(table: str, vehicle: str, date: str, stem: str) -> str:
    """The relative path of a part file."""
    return f"{table}/vehicle={vehicle}/date={date}/part-{stem}.parquet"


class PartWriter:
    """The parts of one segment file: one per (table, vehicle, date), streamed to
    temporary files and renamed by :meth:`commit`."""

    def __init__(self, root: str, stem: str, compression: str = "zstd") -> None:
        self.root, self.stem, self.compression = root, stem, compression
        self._open: dict[tuple[str, str, str], Part] = {}
        self.rows: dict[str, int] = {}

    def write(self, table: str, vehicle: str, date: str, data: Any,
              metadata: dict[bytes, bytes]) -> None:
        """Append the Arrow table ``data`` to part (table, vehicle, date)."""
        key = (table, vehicle, date)
        ent = self._open.get(key)
        if ent is None:
            rel = part_path(table, vehicle, date, self.stem)
            final = os.path.join(self.root, rel)
            tmp = os.path.join(os.path.dirname(final),
                               f".{os.path.basename(final)}{TMP_MARK}{os.getpid()}")
            schema = data.schema.with_metadata({**(data.schema.metadata or {}), **metadata})
            ent = (schema, tmp, rel, [], 0)
            self._open[key] = ent
        schema, tmp, rel, buf, n = ent
        buf.append(data)
        n += data.num_rows
        self._open[key] = (schema, tmp, rel, buf, n)
        self.rows[table] = self.rows.get(table, 0) + data.num_rows

    def commit(self) -> list[str]:
        """Write every part whole and rename it into place; returns their relative paths."""
        parts = self._detach()
        PartsJob(self.root, self.compression, parts).result()
        return sorted(p[2] for p in parts)

    def commit_in(self, pool: Any) -> tuple[list[str], "PartsJob"]:
        """:meth:`commit` in the executor ``pool``: ``(relative paths, job)``, the parts in
        place once :meth:`PartsJob.result` returns.  Parquet encoding releases the GIL, so
        a thread encodes while this one decodes the next file."""
        parts = self._detach()
        job = PartsJob(self.root, self.compression, parts)
        job.future = pool.submit(job.run)
        return sorted(p[2] for p in parts), job

    def _detach(self) -> list[Part]:
        parts = list(self._open.values())
        self._open.clear()
        return parts

    def abort(self) -> None:
        _remove([p[1] for p in self._open.values()])
        self._open.clear()


class PartsJob:
    """The parts of one segment file, each encoded, written to its temporary file and
    renamed into place by whoever takes it: the writing thread (:attr:`future`), and the
    thread that waits for them in :meth:`result`, which takes the parts not yet begun
    instead of idling (the last file's parts, a single-file archive's, a writer behind).
    The largest parts go first, so two threads finish close together."""

    def __init__(self, root: str, compression: str, parts: list[Part]) -> None:
        self.root, self.compression, self.parts = root, compression, parts
        self._todo = sorted(parts, key=lambda p: p[4])      # popped from the end
        self._lock = threading.Lock()
        self._failed = False
        #: the writing thread's run of this job, when one was started
        self.future: Any = None

    def run(self) -> None:
        """Write parts until none is left (or one failed)."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        while True:
            with self._lock:
                if self._failed or not self._todo:
                    return
                schema, tmp, rel, chunks, _ = self._todo.pop()
            try:
                tab = pa.concat_tables([conform(t, schema) for t in chunks]) \
                    if len(chunks) > 1 else conform(chunks[0], schema)
                # encoded in memory, written in one call: straight to the file, pyarrow
                # makes ~60 small writes and seeks per part
                buf = pa.BufferOutputStream()
                pq.write_table(tab, buf, compression=self.compression,
                               row_group_size=ROW_GROUP, **encodings(schema))
                # the partition directories made here too, off the decoding thread
                # (mkdir ~0.5 ms on this VM's ext4, 0.1 s of a rally's critical path)
                d = os.path.dirname(tmp)
                if not os.path.isdir(d):        # a stat, cheaper than a failing mkdir
                    os.makedirs(d, exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(buf.getvalue())
                os.replace(tmp, os.path.join(self.root, rel))
            except BaseException:
                self._failed = True
                raise

    def result(self) -> None:
        """Help write the parts, wait for the writing thread; raises what either raised,
        the temporaries of the parts not in place removed."""
        try:
            self.run()
        finally:
            try:
                if self.future is not None:
                    self.future.result()
            finally:
                if self._failed:
                    _remove([p[1] for p in self.parts])


def _remove(paths: list[str]) -> None:
    for p in paths:
        try:
            os.remove(p)
        except OSError:
            pass


def sweep_temporaries(root: str) -> int:
    """Remove the temporary files of interrupted tasks under ``root``; returns how many."""
    n = 0
    for d, _, files in os.walk(root):
        for f in files:
            if f.startswith(".") and TMP_MARK in f:
                try:
                    os.remove(os.path.join(d, f))
                    n += 1
                except OSError:
                    pass
    return n


def load_manifest(root: str) -> dict[str, Any]:
    """``_dataset.json`` of the dataset at ``root`` (an empty one when there is none)."""
    p = os.path.join(root, MANIFEST)
    if not os.path.exists(p):
        return {}
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def save_manifest(root: str, manifest: dict[str, Any]) -> None:
    """Write ``_dataset.json`` whole (temporary file, fsync, rename)."""
    os.makedirs(root, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}{TMP_MARK}", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)                  # mkstemp makes it private
        os.replace(tmp, os.path.join(root, MANIFEST))
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise

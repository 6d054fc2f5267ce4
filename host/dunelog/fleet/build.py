"""Decode an archive into a dataset (``dunelog decode ARCHIVE --dataset OUT``).

:func:`build_dataset` probes the archive's segment files, guesses the context of the new
or changed ones from their ends (:func:`~.light.light_context`; scans them whole when it
cannot: :func:`~.plan.scan_segment`), plans one task per file (:func:`~.plan.plan_tasks`)
and runs those whose fingerprint is not in ``_dataset.json`` yet
(:func:`~.task.decode_segment`) on an :class:`~.engine.Engine`.  Each task returns its
file's exact context; when contexts were guessed, the plan is made again from the exact
ones and the tasks whose fingerprint changed run again.  After each task its
old parts (from an earlier version of the file) are removed and the manifest updated, so a
run stopped at any point leaves a dataset a re-run completes.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..card.dump import Dump
from ..decode.sink import writer_thread
from .engine import Engine, ProcessEngine, SerialEngine
from .light import LIGHT_BLOCKS, light_context
from .plan import (
    PLAN_VERSION,
    DecodeSpec,
    SegmentContext,
    plan_tasks,
    rel_path,
    scan_segment,
    vehicle_dir,
)
from .remote import is_url, open_archive, stat_token
from .store import MANIFEST, load_manifest, save_manifest, sweep_temporaries
from .tables import RECORD_TABLES, UNITS
from .task import TaskResult, dataset_version, decode_segment, decoder_for, message_metadata

__all__ = ["build_dataset", "BuildReport", "FORMAT", "DatasetError"]

#: the ``format`` of ``_dataset.json``
FORMAT = "dunelog-dataset/1"
_SAVE_EVERY_S = 5.0


class DatasetError(ValueError):
    """The output is not a dunelog dataset, or belongs to other databases."""


@dataclass
class BuildReport:
    """What a build did."""

    segments: int = 0
    #: files read whole for their context / whose context was guessed from their ends
    scanned: int = 0
    guessed: int = 0
    #: tasks run again because a guessed context was wrong
    redone: int = 0
    decoded: int = 0
    skipped: int = 0
    frames: int = 0
    frames_decoded: int = 0
    parts_written: int = 0
    parts_removed: int = 0
    temporaries_removed: int = 0
    seconds: float = 0.0
    engine: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    problems: int = 0
    unknown: dict[str, int] = field(default_factory=dict)


def build_dataset(archive: str, out: str, spec: DecodeSpec, *,
                  engine: Engine | None = None, logger_id: int | None = None,
                  vehicle: str | None = None,
                  progress: Callable[[int, int, int, int], None] | None = None,
                  light_blocks: int = LIGHT_BLOCKS) -> BuildReport:
    """Decode the segment files under ``archive`` into the dataset ``out``.

    :param spec: databases and selection (:meth:`DecodeSpec.make`).
    :param engine: where tasks run (default: this process).
    :param logger_id: only this logger's files; ``vehicle``: only this vehicle's boots
        (its name, or the partition value ``T1-204``).
    :param progress: ``progress(tasks_done, tasks_total, frames_done, frames_total)``.
    :param light_blocks: guess a new file's context from this many blocks at each end
        (:func:`~.light.light_context`; 0: read every file whole first).  The dataset is
        the same either way: tasks whose guessed inputs were wrong run again.
    :raises DatasetError: ``out`` holds something else than a dataset of these databases.
    """
    t0 = time.perf_counter()
    engine = engine or SerialEngine()
    remote = is_url(archive)
    archive = archive.rstrip("/") if remote else os.path.abspath(archive)
    out = os.path.abspath(out)
    man = _open_manifest(out, spec)
    rep = BuildReport(engine=engine.describe())
    rep.temporaries_removed = sweep_temporaries(out) if os.path.isdir(out) else 0
    if remote:
        try:
            dump = open_archive(archive, logger_id=logger_id)
        except (OSError, ValueError) as e:
            raise DatasetError(str(e)) from None
        root = archive
    else:
        dump = Dump(archive, logger_id=logger_id)
        root = archive if os.path.isdir(archive) else os.path.dirname(archive)
    segs = man.setdefault("segments", {})
    contexts: dict[str, SegmentContext] = {}
    to_scan = []
    for seg in dump.segments:
        rel = rel_path(seg.path, root)
        old = segs.get(rel, {}).get("context")
        size, version = stat_token(seg.path)
        if old and old["size"] == size and old["mtime_ns"] == version \
                and not old.get("light"):
            contexts[rel] = SegmentContext.from_json(old)
            continue
        # a guess from the file's ends; its task reads the exact context on the way
        ctx = light_context(seg.path, rel, light_blocks) \
            if light_blocks and not remote and seg.duplicate_of is None else None
        if ctx is None:
            to_scan.append((seg.path, rel))
        else:
            contexts[rel] = ctx
            rep.guessed += 1
    for (_, rel), ctx in engine.map(_scan, to_scan):
        contexts[rel] = ctx
        rep.scanned += 1
    os.makedirs(out, exist_ok=True)
    if not man:
        # a dataset from the start: a run stopped before its first save is resumed, not
        # refused as a directory of something else
        save_manifest(out, _finish(man, spec, archive, contexts))
    last_save = time.monotonic()
    results: dict[str, TaskResult] = {}
    for round_ in (1, 2):
        if round_ == 2:
            # plan again with the exact contexts the tasks read: rerun the tasks whose
            # inputs the guesses got wrong (rare: a file's middle held a surprise)
            if not rep.guessed:
                break
            for (_, rel), ctx in engine.map(_scan, [(s.path, r) for r, s in
                                                    _light_segments(dump, root, contexts)]):
                contexts[rel] = ctx             # not decoded now (--vehicle): scan it
                rep.scanned += 1
        tasks = plan_tasks(dump, root, contexts, spec)
        if vehicle is not None:
            tasks = [t for t in tasks
                     if any(vehicle in v for v in t.vehicles.values())]
        rep.segments = len(tasks)
        todo = []
        for t in tasks:
            ent = segs.get(t.relpath, {})
            if ent.get("fingerprint") == t.fingerprint and all(
                    os.path.exists(os.path.join(out, p)) for p in ent.get("parts", [])):
                if round_ == 1:
                    rep.skipped += 1
            else:
                todo.append(t)
        if round_ == 2:
            rep.redone = len(todo)
        total_frames = sum(t.frames for t in todo)
        done_frames = 0
        if progress is not None and (todo or round_ == 1):
            progress(0, len(todo), 0, total_frames)
        # the largest first: the workers of a pool finish close together
        todo.sort(key=lambda t: -t.frames)
        # one task: in this process, two threads writing its parts (a pool would idle)
        runner = SerialEngine() if len(todo) == 1 and isinstance(engine, ProcessEngine) \
            else engine
        writer = _writer(runner) if todo else None
        failed = False
        try:
            for i, (task, res) in enumerate(_settled(runner.map(
                    decode_segment, todo, out, *([writer] if writer else []))), 1):
                ctx = contexts[task.relpath]
                if res.context is not None:
                    exact = SegmentContext.from_json(res.context)
                    exact.relpath, exact.size = ctx.relpath, ctx.size
                    exact.mtime_ns = ctx.mtime_ns
                    contexts[task.relpath] = ctx = exact
                _record(out, segs, task, res, ctx, rep)
                results[task.relpath] = res
                done_frames += task.frames
                if progress is not None:
                    progress(i, len(todo), done_frames, total_frames)
                if time.monotonic() - last_save > _SAVE_EVERY_S:
                    save_manifest(out, _finish(man, spec, archive, contexts))
                    last_save = time.monotonic()
        except BaseException:
            failed = True
            # what is done is kept (a re-run does the rest), unless the disk fails too
            with contextlib.suppress(OSError):
                save_manifest(out, _finish(man, spec, archive, contexts))
            raise
        finally:
            if writer is not None:
                writer.shutdown()
            if failed:      # what workers stopped mid-task left
                with contextlib.suppress(OSError):
                    sweep_temporaries(out)
    _totals(rep, results)
    # what a worker killed mid-task left (its task ran again elsewhere)
    rep.temporaries_removed += sweep_temporaries(out)
    for t in tasks:     # contexts of skipped files may be new (first run after an upgrade)
        segs.setdefault(t.relpath, {})["context"] = contexts[t.relpath].to_json()
    save_manifest(out, _finish(man, spec, archive, contexts))
    rep.seconds = time.perf_counter() - t0
    return rep


def _writer(engine: Engine) -> Any:
    """A thread that writes a task's parts while the next task decodes, for an engine
    that runs tasks in this process on a machine with a core to spare (None otherwise):
    Parquet encoding, a third of a task, releases the GIL (bench/RESULTS.md)."""
    return writer_thread("dunelog-parts") if engine.in_process else None


def _settled(pairs: Iterator[tuple[Any, TaskResult]]) -> Iterator[tuple[Any, TaskResult]]:
    """``(task, result)`` once the result's parts are in place.  A result whose parts a
    thread is still writing is held until the next task has run, so that the writing
    overlaps it; recorded in the manifest only once settled.  If a task fails, the held
    result's writing is waited for (not recorded: the next run redoes it)."""
    held: tuple[Any, TaskResult] | None = None
    try:
        for task, res in pairs:
            if held is not None:
                done, held = held, None
                yield done[0], done[1].settle()
            if res.pending is None:
                yield task, res
            else:
                held = (task, res)
    except BaseException:
        if held is not None:
            held[1].settle()
        raise
    if held is not None:
        yield held[0], held[1].settle()


def _light_segments(dump: Dump, root: str, contexts: dict[str, SegmentContext]
                    ) -> list[tuple[str, Any]]:
    """``(relpath, segment)`` of the files whose context is still a guess."""
    out = []
    for seg in dump.segments:
        rel = rel_path(seg.path, root)
        if contexts[rel].light:
            out.append((rel, seg))
    return out


def _scan(item: tuple[str, str]) -> SegmentContext:
    return scan_segment(*item)


def _open_manifest(out: str, spec: DecodeSpec) -> dict[str, Any]:
    if os.path.isfile(out):
        raise DatasetError(f"{out} is a file: a dataset is a directory")
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(
            os.path.join(out, MANIFEST)):
        raise DatasetError(f"{out} is not empty and holds no {MANIFEST}: not a dunelog "
                           "dataset (choose a new or empty directory)")
    man = load_manifest(out)
    if man and man.get("format") != FORMAT:
        raise DatasetError(f"{out}: {MANIFEST} says format {man.get('format')!r}, "
                           f"this dunelog writes {FORMAT!r}")
    if man and man.get("plan_version") != PLAN_VERSION:
        man["segments"] = {k: {"context": v.get("context"), "parts": v.get("parts", [])}
                           for k, v in man.get("segments", {}).items()}
    want = sorted([os.path.basename(p), sha] for p, _, sha in spec.dbcs)
    have = sorted([d["name"], d["sha256"]] for d in man.get("databases", []))
    if man and have and want != have:
        names = ", ".join(n for n, _ in have)
        raise DatasetError(f"{out} was decoded with other databases ({names}); decode into "
                           "a new directory, or delete this one to redo it")
    return man


def _record(out: str, segs: dict[str, Any], task: Any, res: TaskResult,
            ctx: SegmentContext, rep: BuildReport) -> None:
    """After one task: drop the file's old parts, note its new ones."""
    old = set(segs.get(task.relpath, {}).get("parts", []))
    for p in old - set(res.parts):
        try:
            os.remove(os.path.join(out, p))
            rep.parts_removed += 1
        except FileNotFoundError:
            pass
    segs[task.relpath] = {"fingerprint": res.fingerprint, "parts": res.parts,
                          "rows": res.rows, "frames": res.frames, "context": ctx.to_json(),
                          "problems": res.problems}


def _totals(rep: BuildReport, results: dict[str, TaskResult]) -> None:
    """The report's sums over the last result of each file decoded."""
    rep.decoded = len(results)
    for res in results.values():
        _add(rep, res)


def _add(rep: BuildReport, res: TaskResult) -> None:
    rep.frames += res.frames
    rep.frames_decoded += res.decoded
    rep.parts_written += len(res.parts)
    rep.problems += res.problems
    for k, v in res.rows.items():
        rep.rows[k] = rep.rows.get(k, 0) + v
    for k, v in res.report.get("unknown_ids", {}).items():
        rep.unknown[k] = rep.unknown.get(k, 0) + v


def _finish(man: dict[str, Any], spec: DecodeSpec, archive: str,
            contexts: dict[str, SegmentContext]) -> dict[str, Any]:
    """The manifest's summary fields, from its segments."""
    tables: dict[str, Any] = {}
    for m in decoder_for(spec).messages:
        md = message_metadata(m, spec, "", "")
        tables[m.name] = {"kind": "message", "frame_id": m.frame_id,
                          "units": json.loads(md[b"dunelog.units"]),
                          "value_tables": json.loads(md[b"dunelog.value_tables"])}
    for t in RECORD_TABLES:
        tables[t] = {"kind": t, "units": UNITS[t]}
    vehicles: dict[str, Any] = {}
    for rel, ent in man.get("segments", {}).items():
        for p in ent.get("parts", []):
            v = p.split("/")[1].split("=", 1)[1]
            vehicles.setdefault(v, {"segments": 0})
        if ent.get("parts"):
            v = ent["parts"][0].split("/")[1].split("=", 1)[1]
            vehicles[v]["segments"] += 1
    for rel, ctx in contexts.items():
        for ss in ctx.sessions.values():
            d = vehicle_dir(ss["logger_id"], ss["vehicle"])
            if d in vehicles:
                vehicles[d]["name"] = ss["vehicle"]
                ids = vehicles[d].setdefault("logger_ids", [])
                if ss["logger_id"] not in ids:
                    ids.append(ss["logger_id"])
    man.update({
        "format": FORMAT, "plan_version": PLAN_VERSION,
        "dunelog_version": dataset_version(),
        "archive": archive,
        "databases": [{"name": os.path.basename(p), "path": p, "channel": ch, "sha256": sha}
                      for p, ch, sha in spec.dbcs],
        "selection": {"ids": list(spec.ids or []), "signals": list(spec.signals or [])},
        "partitioning": ["vehicle", "date"],
        "tables": tables,
        "vehicles": vehicles,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return man

"""A rally's archive as one dataset (issue 16 parts 2-4): ``decode ARCHIVE --dataset``,
incremental and idempotent re-runs, parts never half-visible, the Dask engine equal to the
single process row for row (also when a worker is killed mid-run), ``dunelog query``.

The archive here is the three-logger fleet of test_vehicles.py, split into several segment
files per boot so that tasks depend on each other's context (time syncs, the vehicle name
of the session start, block sequence numbers); tests/host/test_rally.py's firmware-made
archive is used by tests/host/test_fleet_rally.py."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_vehicles import DATES, DAY, DBC, LOGGERS, boot_segment

from dunelog.card.blocks import read_segment_header
from dunelog.card.format import (
    build_segment_header,
    pack_blocks,
    rec_can,
    rec_session,
    rec_timesync,
)
from dunelog.cli import main
from dunelog.fleet import DecodeSpec, SerialEngine, build_dataset
from dunelog.fleet.plan import scan_segment
from dunelog.fleet.query import Dataset
from dunelog.fleet.store import TMP_MARK

BS = 4096
pytest.importorskip("duckdb", reason="the dataset's query engine (pip install duckdb)")


def _split(data: bytes, parts: int) -> list[bytes]:
    """One boot's segment file cut into ``parts`` segment files (headers renumbered), as a
    logger rotating its segments writes them: the time sync and session start only in the
    first."""
    hdr, err = read_segment_header_bytes(data)
    blocks = [data[i:i + BS] for i in range(BS, len(data), BS)]
    per = -(-len(blocks) // parts)
    out = []
    for k in range(parts):
        chunk = blocks[k * per:(k + 1) * per]
        if not chunk:
            break
        head = build_segment_header(logger_id=hdr.logger_id, boot=hdr.boot, segment=k,
                                    first_seq=k * per, firmware=hdr.firmware, block_size=BS,
                                    vehicle=hdr.vehicle)
        out.append(head + b"".join(chunk))
    return out


def read_segment_header_bytes(data: bytes):
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".dlg") as f:
        f.write(data[:BS])
        f.flush()
        return read_segment_header(f.name)


def write_archive(root: Path, loggers=LOGGERS, seconds: int = 40, parts: int = 3) -> Path:
    """``root/<vehicle>/<date>/B*_S*.dlg`` like ``dunelog ingest``."""
    for lg, vehicle, vdir, boots in loggers:
        for boot, day in boots:
            d = root / vdir / DATES[day]
            d.mkdir(parents=True, exist_ok=True)
            data = boot_segment(lg, vehicle, boot, day, seconds=seconds)
            for k, seg in enumerate(_split(data, parts)):
                (d / f"B{boot:05d}_S{k:04d}.dlg").write_bytes(seg)
    return root


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return write_archive(tmp_path_factory.mktemp("rally") / "archive")


SPEC = DecodeSpec.make([(DBC, None)])


def read_dataset(root: Path) -> dict[str, pa.Table]:
    """Every table of a dataset, partition columns added, rows in a canonical order."""
    out = {}
    for tdir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        tabs = []
        for f in sorted(tdir.rglob("*.parquet")):
            t = pq.read_table(f).replace_schema_metadata(None)
            v = f.parent.parent.name.split("=", 1)[1]
            d = f.parent.name.split("=", 1)[1]
            t = t.append_column("vehicle", pa.array([v] * t.num_rows)) \
                 .append_column("date", pa.array([d] * t.num_rows))
            tabs.append(t)
        t = pa.concat_tables(tabs, promote_options="default")
        keys = [c for c in ("vehicle", "logger_id", "boot", "time_us", "kind", "offset")
                if c in t.column_names]
        out[tdir.name] = t.sort_by([(k, "ascending") for k in keys])
    return out


def test_dataset_layout_and_metadata(archive, tmp_path):
    out = tmp_path / "ds"
    rep = build_dataset(str(archive), str(out), SPEC)
    assert rep.segments == rep.decoded == 12 and rep.skipped == 0
    man = json.loads((out / "_dataset.json").read_text())
    assert man["format"] == "dunelog-dataset/1"
    assert man["databases"][0]["name"] == "recce.dbc"
    assert man["vehicles"]["T1-204"]["name"] == "T1 #204"
    assert man["vehicles"]["T1-204"]["logger_ids"] == [11]
    assert man["tables"]["EngineData"]["units"]["EngineSpeed"] == "rpm"
    assert set(man["tables"]) >= {"gnss", "events", "status", "integrity"}
    parts = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    assert "EngineData/vehicle=RECCE-07/date=2025-11-29/part-L7-B2-S1-" in "".join(parts)
    assert {p.split("/")[0] for p in parts} == {"EngineData", "WheelSpeeds", "gnss", "events",
                                               "integrity"}
    f = next(out.glob("EngineData/vehicle=T1-204/date=*/part-*.parquet"))
    md = pq.read_schema(f).metadata
    assert json.loads(md[b"dunelog.units"])["CoolantTemp"] == "degC"
    assert json.loads(md[b"dunelog.vehicle"]) == "T1 #204"
    assert json.loads(md[b"dunelog.databases"])[0]["sha256"] == SPEC.dbcs[0][2]
    assert json.loads(md[b"dunelog.source"])[0].startswith("T1-204/2025-11-29/B00001_S")
    assert b"dunelog.version" in md
    # the vehicle name of the session start (first segment file) reaches every file of
    # the boot; the sequence numbers continue across the files: no false gap
    ds = read_dataset(out)
    kinds = ds["integrity"].column("kind").to_pylist()
    assert "seq_gap" not in kinds and kinds.count("power_cut") == 4


def test_dataset_equals_the_per_vehicle_per_day_decode(archive, tmp_path):
    out = tmp_path / "ds"
    build_dataset(str(archive), str(out), SPEC)
    ds = read_dataset(out)
    for lg, vehicle, vdir, boots in LOGGERS:
        for _, day in boots:
            one = tmp_path / f"{vdir}_{DATES[day]}.parquet"
            assert main(["decode", str(archive / vdir / DATES[day]), "--dbc", DBC,
                         "-o", str(one)]) == 0
            ref = pq.read_table(one / "EngineData.parquet")
            got = ds["EngineData"].filter(
                pa.compute.and_(pa.compute.equal(ds["EngineData"]["vehicle"], vdir),
                                pa.compute.equal(ds["EngineData"]["date"], DATES[day])))
            assert got.num_rows == ref.num_rows > 0
            for col in ("time_us", "boot", "utc", "EngineSpeed", "CoolantTemp",
                        "EngineState_label", "logger_id"):
                assert got[col].to_pylist() == ref[col].to_pylist(), col
            assert set(ref["vehicle"].to_pylist()) == {vehicle}


def test_rerun_is_idempotent_and_incremental(tmp_path):
    first = [LOGGERS[0]]
    arch = write_archive(tmp_path / "archive", loggers=first)
    out = tmp_path / "ds"
    rep = build_dataset(str(arch), str(out), SPEC)
    assert rep.decoded == 6
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    rep = build_dataset(str(arch), str(out), SPEC)
    assert (rep.decoded, rep.skipped, rep.scanned) == (0, 6, 0)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == before
    # the archive grows: two more vehicles' cards ingested
    write_archive(arch, loggers=LOGGERS[1:])
    rep = build_dataset(str(arch), str(out), SPEC)
    assert (rep.decoded, rep.skipped, rep.scanned) == (6, 6, 6)
    assert {p: p.stat().st_mtime_ns for p in before} == before     # old parts untouched
    fresh = tmp_path / "fresh"
    build_dataset(str(arch), str(fresh), SPEC)
    a, b = read_dataset(out), read_dataset(fresh)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equals(b[k]), k


def test_a_boot_that_grows_redoes_only_what_depends_on_it(tmp_path):
    """The last file of a boot ingested again, longer (the card was pulled mid-stage): it
    is redone, its old parts removed; the boot's earlier files are not (their UTC and
    vehicle do not change), but the power cut moves to the new end."""
    lg, vehicle, vdir, boots = LOGGERS[0]
    boot, day = boots[0]
    d = tmp_path / "archive" / vdir / DATES[day]
    d.mkdir(parents=True)
    full = _split(boot_segment(lg, vehicle, boot, day, seconds=40), 3)
    short = _split(boot_segment(lg, vehicle, boot, day, seconds=40), 3)[2][:BS * 4]
    for k, seg in enumerate(full[:2] + [short]):
        (d / f"B{boot:05d}_S{k:04d}.dlg").write_bytes(seg)
    out = tmp_path / "ds"
    build_dataset(str(tmp_path / "archive"), str(out), SPEC)
    old_last = sorted(out.rglob("part-L7-B1-S2-*.parquet"))
    assert old_last
    (d / f"B{boot:05d}_S0002.dlg").write_bytes(full[2])
    os.utime(d / f"B{boot:05d}_S0002.dlg", ns=(1, 2))
    rep = build_dataset(str(tmp_path / "archive"), str(out), SPEC)
    assert (rep.decoded, rep.skipped) == (1, 2)
    assert rep.parts_removed == len(old_last)
    assert not any(p.exists() for p in old_last)
    fresh = tmp_path / "fresh"
    build_dataset(str(tmp_path / "archive"), str(fresh), SPEC)
    a, b = read_dataset(out), read_dataset(fresh)
    for k in a:
        assert a[k].equals(b[k]), k


def test_half_written_parts_are_never_visible(archive, tmp_path):
    out = tmp_path / "ds"
    build_dataset(str(archive), str(out), SPEC)
    part = next(out.rglob("EngineData/*/*/part-*.parquet"))
    # what a worker killed while writing leaves: a hidden temporary beside the parts
    tmp = part.parent / f".{part.name}{TMP_MARK}4242"
    tmp.write_bytes(part.read_bytes()[:1000])
    with Dataset(out) as ds:
        n = ds.sql("SELECT count(*) FROM EngineData").fetchall()[0][0]
    assert n == read_dataset(out)["EngineData"].num_rows
    rep = build_dataset(str(archive), str(out), SPEC)
    assert rep.temporaries_removed == 1 and not tmp.exists()
    assert read_dataset(out)["EngineData"].num_rows == n


def test_refuses_what_is_not_a_dataset(archive, tmp_path, capsys):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["decode", str(archive), "--dbc", DBC, "--dataset", str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a dunelog dataset" in err[0]
    assert (other / "notes.txt").read_text() == "mine"
    out = tmp_path / "ds"
    assert main(["decode", str(archive), "--dbc", DBC, "--dataset", str(out)]) == 0
    obd = str(Path(DBC).with_name("obd2.dbc"))
    capsys.readouterr()
    assert main(["decode", str(archive), "--dbc", obd, "--dataset", str(out)]) == 2
    assert "other databases (recce.dbc)" in capsys.readouterr().err


def test_query_cli(archive, tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["decode", str(archive), "--dbc", DBC, "--dataset", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    sql = ("SELECT vehicle, date, max(CoolantTemp) AS m FROM EngineData "
           "WHERE date = '2025-11-29' GROUP BY ALL ORDER BY ALL")
    assert main(["query", str(out), sql, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "vehicle,date,m"
    assert [ln.split(",")[0] for ln in lines[1:]] == ["RECCE-07", "T1-204"]
    res = tmp_path / "r.parquet"
    assert main(["query", str(out), sql, "-o", str(res)]) == 0
    assert pq.read_table(res).num_rows == 2
    assert main(["query", str(out), "--tables"]) == 0
    text = capsys.readouterr().out
    assert "CoolantTemp [degC]" in text and "vehicle=T1-204: 'T1 #204', logger 11" in text
    assert main(["query", str(out), "SELECT nope FROM EngineData"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dunelog: error: query failed")
    assert main(["query", str(tmp_path), "SELECT 1"]) == 2
    assert "not a dunelog dataset" in capsys.readouterr().err


def _dask():
    return pytest.importorskip("distributed", reason="the Dask engine (pip install "
                                                     "'dask[distributed]')")


def _profiling() -> bool:
    import dask
    return bool(dask.config.get("distributed.worker.profile.enabled"))


def test_dask_equals_single_process(archive, tmp_path):
    _dask()
    from dunelog.fleet import DaskEngine
    one = tmp_path / "one"
    build_dataset(str(archive), str(one), SPEC, engine=SerialEngine())
    two = tmp_path / "two"
    with DaskEngine(workers=2) as eng:
        rep = build_dataset(str(archive), str(two), SPEC, engine=eng)
        # our cluster's workers run without Dask's profiler (no dashboard to show it)
        assert set(eng._ready().run(_profiling).values()) == {False}
    assert rep.decoded == 12 and "2 worker" in rep.engine
    a, b = read_dataset(one), read_dataset(two)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equals(b[k]), k
    names_a = sorted(p.relative_to(one).as_posix() for p in one.rglob("*.parquet"))
    names_b = sorted(p.relative_to(two).as_posix() for p in two.rglob("*.parquet"))
    assert names_a == names_b


def test_dask_on_a_running_scheduler(archive, tmp_path):
    """``--scheduler ADDR``: the dataset equals the single-process one; an address where
    no scheduler answers is an :class:`EngineError` naming it."""
    _dask()
    from distributed import LocalCluster

    from dunelog.fleet import DaskEngine, EngineError
    one = tmp_path / "one"
    build_dataset(str(archive), str(one), SPEC, engine=SerialEngine())
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, \
            DaskEngine(scheduler=cluster.scheduler_address) as eng:
        rep = build_dataset(str(archive), str(tmp_path / "two"), SPEC, engine=eng)
    assert rep.decoded == 12 and cluster.scheduler_address in rep.engine
    a, b = read_dataset(one), read_dataset(tmp_path / "two")
    assert a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)
    with pytest.raises(EngineError, match=r"cannot reach the Dask scheduler tcp://127\.0\.0\.1:9"):
        DaskEngine(scheduler="tcp://127.0.0.1:9", connect_timeout=1)    # nothing listens


def test_a_killed_worker_loses_nothing(tmp_path):
    """SIGKILL one of two workers while tasks run: the scheduler reruns its task, and the
    dataset equals an uninterrupted run's; no temporary file is left."""
    _dask()
    import signal
    import threading

    from dunelog.fleet import DaskEngine
    arch = write_archive(tmp_path / "archive", seconds=200, parts=10)
    ref = tmp_path / "ref"
    build_dataset(str(arch), str(ref), SPEC)
    out = tmp_path / "out"
    killed: list[int] = []
    with DaskEngine(workers=2) as eng:
        pids = eng.worker_pids()

        def progress(done: int, total: int, *_: int) -> None:
            if done == 3 and not killed:       # mid-run: other tasks are on the workers
                killed.append(pids[0])
                threading.Thread(target=os.kill, args=(pids[0], signal.SIGKILL)).start()

        rep = build_dataset(str(arch), str(out), SPEC, engine=eng, progress=progress)
    assert killed and rep.decoded == rep.segments == len(list(arch.rglob("*.dlg")))
    a, b = read_dataset(ref), read_dataset(out)
    for k in a:
        assert a[k].equals(b[k]), k
    assert not [p for p in out.rglob("*") if TMP_MARK in p.name]


def test_cli_workers(archive, tmp_path, capsys):
    _dask()
    out = tmp_path / "ds"
    assert main(["decode", str(archive), "--dbc", DBC, "--dataset", str(out),
                 "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "12 segment file(s) decoded" in err and "Dask LocalCluster, 2 worker" in err
    assert main(["decode", str(archive), "--dbc", DBC, "-o", str(tmp_path / "x.parquet"),
                 "--workers", "2"]) == 2
    assert "add --dataset" in capsys.readouterr().err




def test_bulk_gnss_fixes_equal_the_typed_records(archive):
    """The dataset reads fixes in bulk (card.bulk.gnss_fixes); the typed reader one by
    one: the same fixes, field for field."""
    import dunelog
    from dunelog.card.bulk import GNSS_DTYPE
    from dunelog.card.records import GnssFix
    dump = dunelog.open(archive)
    typed = [r for r in dump.records() if isinstance(r, GnssFix)]
    bulk = np.concatenate([f for _, f, _ in dump.chunks()])
    others = [r for _, _, o in dump.chunks() for r in o]
    assert len(typed) == bulk.size > 0
    assert not any(isinstance(r, GnssFix) for r in others)
    for name in GNSS_DTYPE.names:
        assert bulk[name].tolist() == [getattr(r, name) for r in typed], name


def test_an_archive_behind_a_url(archive, tmp_path, capsys):
    """An fsspec URL as the archive (file:// here; s3:// and the like the same way, with
    their fsspec package): listed and probed through fsspec, each task decoding a local
    copy of its file; the dataset equals the one from the path, and a re-run through the
    URL decodes nothing again."""
    pytest.importorskip("fsspec", reason="URL archives (pip install fsspec)")
    ref = tmp_path / "ref"
    build_dataset(str(archive), str(ref), SPEC)
    out = tmp_path / "url"
    url = "file://" + str(archive)
    assert main(["decode", url, "--dbc", DBC, "--dataset", str(out), "--no-progress"]) == 0
    assert "12 segment file(s) decoded" in capsys.readouterr().err
    a, b = read_dataset(ref), read_dataset(out)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equals(b[k]), k
    rep = build_dataset(url, str(out), SPEC)
    assert (rep.decoded, rep.skipped, rep.scanned) == (0, 12, 0)
    assert main(["decode", "file:///nonexistent/archive", "--dbc", DBC, "--dataset",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no dunelog segment files" in err[0], err


def _drifting_boot(logger_id: int, boot: int, day: int, seconds: int,
                   no_sync: tuple[int, int]) -> bytes:
    """One boot whose time syncs (every second, none from ``no_sync[0]`` to ``no_sync[1]``
    s) drift 1 ms each: a frame put on UTC by the wrong sync gets another value."""
    rng = random.Random(boot)
    timed = [(0, rec_session(0, firmware="1.2.0", vehicle=f"V{logger_id}",
                             logger_id=logger_id))]
    for k in range(seconds * 10):
        t = 100_000 * (k + 1)
        if k % 10 == 0 and not no_sync[0] <= k // 10 < no_sync[1]:
            timed.append((t + 5, rec_timesync(0, utc_days=day,
                                              utc_ms=36_000_000 + t // 1000 + k // 10)))
        timed.append((t + 10, rec_can(0, 0x0C0, rng.randbytes(8))))
        timed.append((t + 20, rec_can(0, 0x1A0, rng.randbytes(8))))
    blocks = list(pack_blocks(timed, boot=boot, logger_id=logger_id, block_size=BS))
    return build_segment_header(logger_id=logger_id, boot=boot, segment=0,
                                firmware="1.2.0", block_size=BS) + b"".join(blocks)


def test_contexts_guessed_from_the_files_ends_give_the_same_dataset(tmp_path):
    """``light_blocks``: the plan guesses each file's context from its first and last
    blocks; a file whose end holds no time sync (GNSS lost) makes the next file's guess
    wrong, and that task runs again with the exact contexts the tasks read."""
    arch = tmp_path / "archive"
    for boot, gap in ((1, (0, 0)), (2, (25, 47))):
        d = arch / "V9" / DATES[DAY]
        d.mkdir(parents=True, exist_ok=True)
        for k, seg in enumerate(_split(_drifting_boot(9, boot, DAY, 120, gap), 3)):
            (d / f"B{boot:05d}_S{k:04d}.dlg").write_bytes(seg)
    full = build_dataset(str(arch), str(tmp_path / "full"), SPEC, light_blocks=0)
    guess = build_dataset(str(arch), str(tmp_path / "guess"), SPEC, light_blocks=1)
    assert (full.scanned, full.guessed, full.redone) == (6, 0, 0)
    assert (guess.scanned, guess.guessed, guess.decoded) == (0, 6, 6)
    assert guess.redone >= 1                      # boot 2's file after the gap
    a, b = read_dataset(tmp_path / "full"), read_dataset(tmp_path / "guess")
    assert a.keys() == b.keys() and "EngineData" in a
    for k in a:
        assert a[k].equals(b[k]), k
    assert b["EngineData"].column("utc").null_count == 0
    # the manifest keeps the exact contexts: a re-run guesses nothing, redoes nothing
    ma = json.loads((tmp_path / "full" / "_dataset.json").read_text())["segments"]
    mb = json.loads((tmp_path / "guess" / "_dataset.json").read_text())["segments"]
    assert {k: v["context"] for k, v in ma.items()} == {k: v["context"] for k, v in mb.items()}
    for rel, ent in mb.items():       # what each task read on the way = a full scan
        assert ent["context"] == scan_segment(str(arch / rel), rel).to_json()
    again = build_dataset(str(arch), str(tmp_path / "guess"), SPEC, light_blocks=1)
    assert (again.decoded, again.skipped, again.guessed) == (0, 6, 0)


def _modules_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh Python process has imported after running ``code``."""
    import subprocess
    import sys
    probe = f"{code}; import sys; print(sorted(m for m in {modules!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().replace("'", '"'))


def test_parts_are_cheap_to_write_and_read(archive, tmp_path):
    """Times are delta-encoded, integer signals int32 where the DBC says every value fits,
    and a decode never imports pandas (0.15 s of every process, each worker's included),
    nor python-can (0.7 s: it imports asammdf) unless it reads or writes a frame log."""
    out = tmp_path / "ds"
    assert _modules_after(
        "from dunelog.fleet import DecodeSpec, build_dataset; "
        f"build_dataset({str(archive)!r}, {str(out)!r}, DecodeSpec.make([({str(DBC)!r}, None)]))",
        ("pandas",)) == []
    f = next(out.glob("EngineData/vehicle=T1-204/date=*/part-*.parquet"))
    meta = pq.ParquetFile(f).metadata.row_group(0)
    enc = {meta.column(i).path_in_schema: meta.column(i).encodings
           for i in range(meta.num_columns)}
    assert "DELTA_BINARY_PACKED" in enc["time_us"] and "DELTA_BINARY_PACKED" in enc["utc"]
    assert "DELTA_BINARY_PACKED" not in enc["EngineSpeed"]
    schema = pq.read_schema(f)
    assert schema.field("CoolantTemp").type == pa.int32()       # 8 bits, offset -40
    assert schema.field("EngineSpeed").type == pa.float64()     # scale 0.25
    wide = tmp_path / "wide.parquet"
    assert _modules_after(
        "from dunelog.cli import main; "
        f"main(['decode', {str(archive)!r}, '--dbc', {str(DBC)!r}, '--logger', '11', "
        f"'-o', {str(wide)!r}, '--no-progress'])", ("pandas", "can", "asammdf")) == []
    f = wide / "EngineData.parquet"
    meta = pq.ParquetFile(f).metadata.row_group(0)
    assert "DELTA_BINARY_PACKED" in meta.column(0).encodings          # time_us
    assert pq.read_schema(f).field("CoolantTemp").type == pa.int32()


class _Inline(SerialEngine):
    """This process's tasks, each writing its own parts before the next starts."""

    in_process = False


def _writer_threads() -> int:
    import threading
    return sum(t.name.startswith("dunelog-parts") for t in threading.enumerate())


def test_parts_written_on_a_thread_equal_those_written_inline(archive, tmp_path):
    """One process on two cores writes a task's parts on a thread while the next task
    decodes: the same parts, the same dataset and manifest as a task writing its own."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the parts are written inline (a thread would only "
                    "take turns with the decoding)")
    seen: list[tuple[int, int]] = []
    thread = tmp_path / "thread"

    def progress(done, total, frames, frames_total):
        seen.append((done, _writer_threads()))

    build_dataset(str(archive), str(thread), SPEC, progress=progress)
    assert [d for d, _ in seen] == list(range(13))
    assert all(n == 1 for _, n in seen[1:])    # started by the first task's parts
    assert _writer_threads() == 0              # shut down with the build
    inline = tmp_path / "inline"
    build_dataset(str(archive), str(inline), SPEC, engine=_Inline())
    a, b = read_dataset(thread), read_dataset(inline)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equals(b[k]), k
    ma = json.loads((thread / "_dataset.json").read_text())["segments"]
    mb = json.loads((inline / "_dataset.json").read_text())["segments"]
    assert {k: v["parts"] for k, v in ma.items()} == {k: v["parts"] for k, v in mb.items()}


def _two_processes():
    from dunelog.fleet import ProcessEngine
    return ProcessEngine(2)


@pytest.mark.parametrize("engine", [SerialEngine, _Inline, _two_processes])
def test_a_part_that_cannot_be_written_stops_the_build(archive, tmp_path, engine, capsys):
    """A part whose place is taken (here by a directory) fails the build with the OS's
    error naming it, on the writing thread, inline or in a worker process; no temporary
    file remains, and once the place is free a re-run completes the dataset."""
    ref = tmp_path / "ref"
    build_dataset(str(archive), str(ref), SPEC)
    segs = json.loads((ref / "_dataset.json").read_text())["segments"]
    blocked = segs[sorted(segs)[len(segs) // 2]]["parts"][0]
    out = tmp_path / "ds"

    def progress(done, total, frames, frames_total):
        if done == 0:
            (out / blocked).mkdir(parents=True)

    with pytest.raises(OSError) as err, engine() as eng:
        build_dataset(str(archive), str(out), SPEC, engine=eng, progress=progress)
    assert blocked in str(err.value)
    assert not [p for p in out.rglob("*") if TMP_MARK in p.name]
    if engine is SerialEngine:
        capsys.readouterr()
        assert main(["decode", str(archive), "--dbc", DBC, "--dataset", str(out),
                     "--no-progress"]) == 2
        msg = capsys.readouterr().err.strip().splitlines()
        assert len(msg) == 1 and "not completed" in msg[0] and blocked in msg[0], msg
    (out / blocked).rmdir()
    with engine() as eng:
        build_dataset(str(archive), str(out), SPEC, engine=eng)
    a, b = read_dataset(ref), read_dataset(out)
    for k in a:
        assert a[k].equals(b[k]), k


def test_the_waiting_thread_writes_the_parts_the_writer_has_not_begun(tmp_path):
    """A segment's parts handed to a writing thread that is busy: the thread that waits
    for them writes them all itself (the last file's parts, a one-file archive's), each
    equal to what an inline commit writes; a failing part leaves no temporary file."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from dunelog.fleet.store import PartWriter, part_path

    def parts(root: Path) -> PartWriter:
        w = PartWriter(str(root), "L1-B1-S0-x")
        for k, n in enumerate([5, 300, 40, 7]):
            tab = pa.table({"time_us": np.arange(n, dtype=np.int64) * 1000,
                            "v": np.linspace(0, 1, n)})
            for half in (tab.slice(0, n // 2), tab.slice(n // 2)):
                w.write(f"T{k}", "RECCE-02", "2025-11-28", half, {b"k": str(k).encode()})
        return w

    parts(tmp_path / "inline").commit()
    busy = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(busy.wait, 30)                  # the writer is behind
        rels, job = parts(tmp_path / "helped").commit_in(pool)
        job.run()                                   # what result() does before waiting
        assert not job.future.done()
        for rel in rels:                            # all in place, by this thread
            a = pq.read_table(tmp_path / "inline" / rel)
            b = pq.read_table(tmp_path / "helped" / rel)
            assert a.equals(b) and a.schema.metadata == b.schema.metadata, rel
        busy.set()
        job.result()

        busy.clear()
        pool.submit(busy.wait, 30)
        w = parts(tmp_path / "failed")
        blocked = tmp_path / "failed" / part_path("T1", "RECCE-02", "2025-11-28", w.stem)
        blocked.mkdir(parents=True)
        rels, job = w.commit_in(pool)
        threading.Timer(0.2, busy.set).start()
        with pytest.raises(OSError) as err:
            job.result()
        assert blocked.name in str(err.value)
        assert not [p for p in (tmp_path / "failed").rglob("*") if TMP_MARK in p.name]


def test_a_result_is_passed_on_once_its_parts_are_in_place():
    """The order of a single-process build: task k's parts are written while task k+1
    runs, and task k is recorded only after both."""
    from concurrent.futures import ThreadPoolExecutor

    from dunelog.fleet.build import _settled
    from dunelog.fleet.task import TaskResult
    log: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        def tasks():
            for k in range(3):
                log.append(f"run {k}")
                fut = pool.submit(log.append, f"written {k}")
                yield k, TaskResult(str(k), "", [], {}, 0, 0, 0.0, pending=fut)
            log.append("no more")
        for k, res in _settled(tasks()):
            assert res.pending is None
            log.append(f"recorded {k}")
    for k in range(3):
        assert log.index(f"written {k}") < log.index(f"recorded {k}")
    assert log.index("run 1") < log.index("recorded 0")
    assert log.index("run 2") < log.index("recorded 1")
    assert log.index("no more") < log.index("recorded 2") == len(log) - 1

    def failing():
        fut = pool2.submit(log.append, "written a")
        yield "a", TaskResult("a", "", [], {}, 0, 0, 0.0, pending=fut)
        raise RuntimeError("task b failed")
    log.clear()
    with ThreadPoolExecutor(1) as pool2, pytest.raises(RuntimeError, match="task b"):
        for _ in _settled(failing()):
            log.append("recorded")
    assert log == ["written a"]              # waited for, not recorded


def test_processes_equal_single_process(archive, tmp_path):
    """``--jobs 2``: tasks on two processes forked from this one give the single
    process's dataset, the same parts by name; an archive of one file is decoded in this
    process (its parts written on two threads) with the same result."""
    from dunelog.fleet import ProcessEngine
    one = tmp_path / "one"
    build_dataset(str(archive), str(one), SPEC, engine=SerialEngine())
    two = tmp_path / "two"
    with ProcessEngine(2) as eng:
        pids = eng.worker_pids()
        rep = build_dataset(str(archive), str(two), SPEC, engine=eng)
        assert len(pids) == 2 and os.getpid() not in pids
    assert rep.decoded == 12 and rep.engine == "2 processes"
    a, b = read_dataset(one), read_dataset(two)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].equals(b[k]), k
    names = [sorted(p.relative_to(d).as_posix() for p in d.rglob("*.parquet"))
             for d in (one, two)]
    assert names[0] == names[1]
    seg = sorted(archive.rglob("*.dlg"))[0]
    single = [tmp_path / "s1", tmp_path / "s2"]
    build_dataset(str(seg), str(single[0]), SPEC, engine=SerialEngine())
    with ProcessEngine(2) as eng:
        build_dataset(str(seg), str(single[1]), SPEC, engine=eng)
    a, b = read_dataset(single[0]), read_dataset(single[1])
    assert a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)


def test_spawned_processes_equal_single_process(archive, tmp_path):
    """Workers spawned (macOS's and Windows' way: new interpreters importing dunelog, no
    copy of this process) give the same dataset."""
    from dunelog.fleet import ProcessEngine
    one, two = tmp_path / "one", tmp_path / "two"
    build_dataset(str(archive), str(one), SPEC, engine=SerialEngine())
    with ProcessEngine(2, method="spawn") as eng:
        rep = build_dataset(str(archive), str(two), SPEC, engine=eng)
    assert rep.decoded == 12
    a, b = read_dataset(one), read_dataset(two)
    assert a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)


def test_a_killed_process_loses_nothing(tmp_path):
    """SIGKILL one of two worker processes while tasks run: the tasks not done run again
    on a new pool, the dataset equals an uninterrupted run's, no temporary is left."""
    import signal

    from dunelog.fleet import ProcessEngine
    arch = write_archive(tmp_path / "archive", seconds=200, parts=10)
    ref = tmp_path / "ref"
    build_dataset(str(arch), str(ref), SPEC)
    out = tmp_path / "out"
    killed: list[int] = []
    with ProcessEngine(2) as eng:
        pids = eng.worker_pids()

        def progress(done: int, total: int, *_: int) -> None:
            if done == 3 and not killed:       # mid-run: the workers have tasks
                killed.append(pids[0])
                os.kill(pids[0], signal.SIGKILL)

        rep = build_dataset(str(arch), str(out), SPEC, engine=eng, progress=progress)
        assert pids[0] not in eng.worker_pids()           # a new pool
    assert killed and rep.decoded == rep.segments == len(list(arch.rglob("*.dlg")))
    a, b = read_dataset(ref), read_dataset(out)
    for k in a:
        assert a[k].equals(b[k]), k
    assert not [p for p in out.rglob("*") if TMP_MARK in p.name]


def _die(_: int) -> None:
    os._exit(3)


def _fail(i: int) -> int:
    if i == 2:
        raise OSError(28, "No space left on device", f"part-{i}")
    return i


def test_processes_raise_what_a_task_raised_and_a_second_death(tmp_path):
    """A task's own error reaches the caller as it was raised; a worker dying twice in
    one map is an EngineError that says so."""
    from dunelog.fleet import EngineError, ProcessEngine
    with ProcessEngine(2) as eng:
        with pytest.raises(OSError, match="No space left") as err:
            list(eng.map(_fail, [1, 2, 3]))
        assert err.value.errno == 28 and err.value.filename == "part-2"
        assert sorted(r for _, r in eng.map(_fail, [1, 3])) == [1, 3]   # a new pool
        with pytest.raises(EngineError, match="a worker process died twice"):
            list(eng.map(_die, [1, 2]))


def _sleep(s: float) -> float:
    import time
    time.sleep(s)
    return s


def test_processes_stopped_by_the_caller_end_at_once():
    """^C (or any error) in the caller while workers run tasks: the workers are stopped,
    not waited for, and none is left."""
    import time

    from dunelog.fleet import ProcessEngine
    with ProcessEngine(2) as eng:
        pids = eng.worker_pids()
        run = eng.map(_sleep, [0.0, 30.0, 30.0])
        assert next(run)[1] == 0.0
        t = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            run.throw(KeyboardInterrupt)
        assert time.monotonic() - t < 10
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_usable_cores_follow_a_containers_cpu_quota(tmp_path):
    """``docker --cpus=0.5`` (cgroup v2 ``cpu.max``, or v1's quota and period) gives one
    worker however many cores the affinity shows; no quota, the affinity."""
    from dunelog.cores import cpu_quota, usable_cores
    cores = len(os.sched_getaffinity(0))
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("50000 100000\n")
    assert cpu_quota(str(v2)) == 0.5 and usable_cores(str(v2)) == 1
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(str(v2)) is None and usable_cores(str(v2)) == cores
    (v2 / "cpu.max").write_text(f"{cores * 300000} 100000\n")       # more than there is
    assert usable_cores(str(v2)) == cores
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(str(v1.parent)) == 1.0 and usable_cores(str(v1.parent)) == 1
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(str(v1.parent)) is None
    assert cpu_quota(str(tmp_path / "none")) is None


def test_cli_jobs(archive, tmp_path, capsys):
    """``--jobs N`` names its processes and their memory; 0, and with Dask's options or
    without --dataset, refused in one line."""
    out = tmp_path / "ds"
    assert main(["decode", str(archive), "--dbc", DBC, "--dataset", str(out),
                 "--jobs", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "12 segment file(s) decoded" in err and "2 processes; worker peak RSS" in err
    assert main(["decode", str(archive), "--dbc", DBC, "--dataset", str(out),
                 "-j", "1", "--no-progress"]) == 0
    assert "0 segment file(s) decoded, 12 unchanged" in capsys.readouterr().err
    for bad in (["--jobs", "2", "--workers", "2"], ["--jobs", "2", "--scheduler", "tcp://x:1"]):
        assert main(["decode", str(archive), "--dbc", DBC, "--dataset", str(out), *bad]) == 2
        assert "give one" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["decode", str(archive), "--dbc", DBC, "--dataset", str(out), "--jobs", "0"])
    assert "1 or more" in capsys.readouterr().err
    assert main(["decode", str(archive), "--dbc", DBC, "-o", str(tmp_path / "x.parquet"),
                 "--jobs", "2"]) == 2
    assert "add --dataset" in capsys.readouterr().err
    # by default no more workers than files: one file is decoded in this process
    seg = sorted(archive.rglob("*.dlg"))[0]
    assert main(["decode", str(seg), "--dbc", DBC, "--dataset", str(tmp_path / "one"),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "1 segment file(s) decoded" in err and "single process)" in err

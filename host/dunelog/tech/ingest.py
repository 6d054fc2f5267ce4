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
  only once its archived copy is verified (this run, or by hash against the index);
- an untrusted card: only regular ``*.dlg`` files are read (symbolic links, FIFOs and
  devices are listed as skipped, linked directories not followed); every archive path
  component is made file-name-safe, so nothing is written outside the archive; the index
  and the ``SHA256SUMS`` files are rewritten whole (temporary file, rename) each time the
  index has grown by an eighth, and at the end, so 100,000 files cost linear time (a file
  not yet in them is found by name and hash by the next run); a full archive
  disk (ENOSPC, EFBIG, EDQUOT) stops the run with one line, the partial copy removed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from ..card.blocks import SegmentScanner
from ..card.dump import Dump, Segment, order_segments
from ..card.problems import ProblemLog
from ..card.records import EPOCH

__all__ = ["IngestError", "FileResult", "VehicleSummary", "IngestReport", "ingest",
           "INDEX_NAME", "card_files"]

INDEX_NAME = ".dunelog-index.json"
CHECKPOINT_FILES = 64       # index and SHA256SUMS rewritten after max(this, index / 8) new
_CHUNK = 1 << 20
_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}      # the archive disk is full
_MAX_DEPTH = 64             # directory levels walked on a card
_LISTED = 20                # skipped / failed files named one per line, then counted
_TORN = {"torn_tail", "cut_at_open", "cut_in_rotation", "crc", "bad_block_header",
         "slot_table", "garbage",
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
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (card path, why)
    full: str = ""              # the archive disk filled: the one-line reason; run stopped

    @property
    def ok(self) -> bool:
        """Every file archived and verified."""
        return all(f.action != "failed" for f in self.files)


def _slug(s: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", s.strip()).strip("-.")
    return s[:48] or "unnamed"


def _file_name(base: str) -> str:
    """The archive name of a card file: itself when plain (``B00012_S0003.dlg``), else a
    safe one (no separator, control character or leading dot), still ``*.dlg``."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.dlg", base):
        return base
    return _slug(base[:-4]) + ".dlg"


def card_files(card: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The regular ``*.dlg`` files under ``card``, sorted, and ``(path, why)`` of the
    entries skipped: symbolic links (to files or directories: never followed), FIFOs,
    devices, directories nested deeper than :data:`_MAX_DEPTH`, unreadable directories.
    Iterative (no recursion limit) and never opens what it skips."""
    out: list[str] = []
    skipped: list[tuple[str, str]] = []
    stack = [(card, 0)]
    while stack:
        d, depth = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as err:
            skipped.append((d, f"directory not readable ({err.strerror})"))
            continue
        for ent in entries:
            dlg = ent.name.lower().endswith(".dlg")
            try:
                st = ent.stat(follow_symlinks=False)
            except OSError as x:
                if dlg:
                    skipped.append((ent.path, f"not readable ({x.strerror})"))
                continue
            if stat.S_ISLNK(st.st_mode):
                if dlg or ent.is_dir():          # is_dir() follows: a linked directory
                    skipped.append((ent.path, "a symbolic link (not followed)"))
            elif stat.S_ISDIR(st.st_mode):
                if depth >= _MAX_DEPTH:
                    skipped.append((ent.path, f"nested deeper than {_MAX_DEPTH} directories"))
                else:
                    stack.append((ent.path, depth + 1))
            elif dlg and not stat.S_ISREG(st.st_mode):
                kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
                skipped.append((ent.path, f"{kind}, not a file"))
            elif dlg:
                out.append(ent.path)
    out.sort()
    skipped.sort()
    return out, skipped


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


def _write_whole(path: str, text: str) -> None:
    """path's new contents, complete or not at all: a temporary file, fsync, rename (on a
    full disk the temporary file is removed and the old contents stay)."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _save_index(archive: str, index: dict[str, str]) -> None:
    _write_whole(os.path.join(archive, INDEX_NAME), json.dumps(index, indent=0,
                                                                sort_keys=True))


class _Ledger:
    """The archive's index and its ``SHA256SUMS`` files, held in memory and written whole
    (:func:`_write_whole`) by :meth:`save`: after :data:`CHECKPOINT_FILES` new entries or
    an eighth of the index (a geometric series: linear in all), and at the end. A file
    archived but not yet in them is found by name and hash on the next run."""

    def __init__(self, archive: str) -> None:
        self.archive = archive
        self.index = load_index(archive)
        self.sums: dict[str, dict[str, str]] = {}        # dir -> {name: sha}
        self.dirty: set[str] = set()
        self.index_dirty = False
        self.pending = 0

    def _dir_sums(self, d: str) -> dict[str, str]:
        s = self.sums.get(d)
        if s is None:
            s = {}
            try:
                with open(os.path.join(d, "SHA256SUMS")) as f:
                    for line in f:
                        sha, sep, name = line.rstrip("\n").partition("  ")
                        if sep and name:
                            s[name] = sha
            except (OSError, UnicodeDecodeError):
                pass
            self.sums[d] = s
        return s

    def note(self, dest: str, sha: str) -> None:
        """``dest`` (in the archive) has ``sha``."""
        rel = os.path.relpath(dest, self.archive)
        if self.index.get(sha) != rel:
            self.index[sha] = rel
            self.index_dirty = True
        d, name = os.path.split(dest)
        s = self._dir_sums(d)
        if s.get(name) != sha:
            s[name] = sha
            self.dirty.add(d)
        self.pending += 1
        if self.pending >= max(CHECKPOINT_FILES, len(self.index) // 8):
            self.save()

    def save(self) -> None:
        """Write what changed."""
        for d in sorted(self.dirty):
            _write_whole(os.path.join(d, "SHA256SUMS"),
                         "".join(f"{sha}  {n}\n" for n, sha in sorted(self.sums[d].items())))
            _fsync_dir(d)
        self.dirty.clear()
        if self.index_dirty:
            _save_index(self.archive, self.index)
            self.index_dirty = False
        self.pending = 0


def _scan_problems(path: str) -> list[str]:
    """Block-level problems of one file (CRC of every block, torn tail, ...)."""
    log = ProblemLog()
    sc = SegmentScanner(path, problems=log)
    for _ in sc:
        pass
    return [f"{p.kind}: {p.message}" for p in log.items if p.kind in _TORN]


def _copy_verified(src: str, dest: str, sha: str, card_problems: int,
                   durable: bool) -> None:
    """src -> dest.part (fsync), check sha256 and blocks, rename to dest; ``durable``: the
    rename too is on the disk before this returns (else at the ledger's next save)."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    part = dest + ".part"
    try:
        with open(src, "rb") as fi, open(part, "wb") as fo:
            while True:
                b = fi.read(_CHUNK)
                if not b:
                    break
                fo.write(b)
            fo.flush()
            os.fsync(fo.fileno())
    except BaseException:
        _remove(part)       # a failed or interrupted copy leaves nothing behind
        raise
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
    if durable:
        _fsync_dir(os.path.dirname(dest))


def _date_of(path: str) -> str:
    """The file's modification date (local), or ``undated`` for a time no calendar has."""
    try:
        return datetime.fromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d")
    except (OSError, OverflowError, ValueError):
        return "undated"


def _utc_date(u: int) -> str | None:
    try:
        return (EPOCH + timedelta(microseconds=u)).strftime("%Y-%m-%d")
    except (OverflowError, ValueError):
        return None


def _full_line(e: OSError, archive: str, done: int, left: int) -> str:
    return (f"archive disk full at {archive} ({e.strerror or e}): {done} file(s) archived, "
            f"{left} not; nothing partial is left: free space and run ingest again")


def ingest(card: str, archive: str, *, names: dict[int, str] | None = None,
           clear_after_verify: bool = False,
           say: Callable[[str], None] = lambda m: None) -> IngestReport:
    """Archive every segment file under ``card`` into ``archive`` (see the module doc)."""
    t0 = time.monotonic()
    if not os.path.isdir(card):
        raise IngestError(f"{card}: not a directory (is the card mounted?)")
    paths, skipped = card_files(card)
    if not paths:
        more = f" ({len(skipped)} entrie(s) skipped: {skipped[0][0]}: {skipped[0][1]})" \
            if skipped else ""
        raise IngestError(f"no dunelog segment files (*.dlg) under {card}{more}")
    os.makedirs(archive, exist_ok=True)
    names = names or {}
    dump = Dump.from_segments(card, order_segments([Segment.probe(p) for p in paths]))
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
        day = _utc_date(u) if u is not None else None
        if day is not None:
            boot_date[(lg, bt)] = day
    ledger = _Ledger(archive)
    index = ledger.index
    vehicles: dict[str, VehicleSummary] = {}
    files: list[FileResult] = []
    copied_bytes = 0
    full = ""
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
            date = _date_of(seg.path)
        base = os.path.basename(seg.path)
        dest = os.path.join(archive, vdir, date, _file_name(base))
        probs = card_problems.get(seg.path, [])
        fr = FileResult(seg.path, dest, lg, "failed", seg.size, problems=probs)
        if full:
            fr.problems = probs + ["not archived: the archive disk is full"]
        else:
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
                        _copy_verified(seg.path, dest, sha, len(probs), clear_after_verify)
                        fr.action = "copied"
                        copied_bytes += seg.size
                    ledger.note(fr.dest, sha)
                if clear_after_verify:
                    # verified: copied and compared in this run, or re-hashed just above;
                    # its directory entry on the disk before the card's copy goes
                    _fsync_dir(os.path.dirname(fr.dest))
                    os.remove(seg.path)
                    fr.cleared = True
            except OSError as e:
                fr.action = "failed"
                fr.problems = probs + [f"not archived: {e}"]
                if e.errno in _FULL:
                    done = sum(f.action != "failed" for f in files)
                    full = _full_line(e, archive, done, len(dump.segments) - done)
            except IngestError as e:
                fr.action = "failed"
                fr.problems = probs + [f"not archived: {e}"]
        files.append(fr)
        setattr(vs, fr.action, getattr(vs, fr.action) + 1)
        if fr.torn:
            vs.torn.append(base)
    try:
        ledger.save()
    except OSError as e:
        if e.errno not in _FULL:
            raise IngestError(f"cannot write the archive index: {e}") from None
        if not full:    # every file archived; the next run finds them by name and hash
            full = (f"archive disk full at {archive} ({e.strerror}) writing its index: "
                    f"the files are archived; free space and run ingest again")
            for f in files:
                if f.action == "copied":
                    f.action = "failed"
                    f.problems = f.problems + ["not archived: not in the archive's index"]
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
    return IngestReport(files, vehicles, time.monotonic() - t0, copied_bytes, skipped, full)


def format_report(rep: IngestReport) -> str:
    """Per-vehicle summary text."""
    out = []
    for vdir, v in sorted(rep.vehicles.items()):
        out.append(f"{v.vehicle} (logger {v.logger_id}): {v.files} file(s): {v.copied} copied, "
                   f"{v.present} already archived, {v.failed} failed; {v.hours:.3f} h logged "
                   f"in {v.boots} boot(s), {v.drops} record(s) dropped, {v.gaps} gap(s)")
        for t in v.torn:
            out.append(f"  damaged on the card (archived as is): {t}")
    for path, why in rep.skipped[:_LISTED]:
        out.append(f"skipped {path}: {why}")
    if len(rep.skipped) > _LISTED:
        out.append(f"skipped {len(rep.skipped) - _LISTED} more entrie(s) of the card")
    failed = [f for f in rep.files if f.action == "failed"
              and not f.problems[-1].endswith("the archive disk is full")]
    for f in failed[:_LISTED]:
        out.append(f"FAILED {f.source}: {f.problems[-1]}")
    if len(failed) > _LISTED:
        out.append(f"FAILED {len(failed) - _LISTED} more file(s)")
    if rep.full:
        out.append(rep.full)
    mb = rep.bytes_copied / 1e6
    out.append(f"{mb:.1f} MB copied and verified in {rep.seconds:.1f} s"
               + (f" ({mb / rep.seconds:.0f} MB/s)" if rep.seconds > 0 and mb else ""))
    return "\n".join(out) + "\n"


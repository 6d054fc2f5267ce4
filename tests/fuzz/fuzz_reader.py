"""Coverage-guided fuzzing of the host reader (:mod:`dunelog.card`) with atheris.

    python tests/fuzz/fuzz_reader.py [libFuzzer flags] [CORPUS_DIR ...]

e.g. ``-atheris_runs=1000000 -timeout=10 -rss_limit_mb=2048 -seed=1``. The seeds
(real segments from the test generator and the vectors, see ``fuzz_reader_target``) and
``tests/fuzz/regressions/reader-*`` are added to the first corpus directory (a temporary
one by default). Half the mutations are libFuzzer's, half structure-aware ones that aim at
the block header's and records' length fields; a flags byte before each input asks for
the CRCs to be recomputed (see ``fuzz_reader_target``).

A crash is an exception out of the reader; libFuzzer writes the input as ``crash-*`` and
stops. Every 64th input is also read again under tracemalloc: one whose peak allocation
exceeds ``MEM_FIXED + MEM_PER_BYTE * size`` is a crash too. The figures (executions,
largest input, largest peak and ratio) go to ``$FUZZ_STATS`` (JSON) every 10,000 inputs
and at exit.
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import random
import sys
import tempfile

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "host")]

with atheris.instrument_imports(include=["dunelog.card"]):
    import dunelog.card.dump
    import dunelog.card.info
    import dunelog.card.problems  # noqa: F401 - read_all reaches them through the package

import fuzz_reader_target as T  # noqa: E402

MEM_FIXED, MEM_PER_BYTE = T.MEM_FIXED, T.MEM_PER_BYTE

TARGET = T.Target(dunelog.card, every_path=False)
SEEDS = T.seed_inputs()
STATS = {"executions": 0, "max_input": 0, "mem_samples": 0, "max_peak": 0,
         "max_peak_input": 0, "max_var_per_byte": 0.0}


def _write_stats() -> None:
    path = os.environ.get("FUZZ_STATS")
    if path:
        with open(path, "w") as f:
            json.dump(STATS, f)


def test_one_input(data: bytes) -> None:
    STATS["executions"] += 1
    n = STATS["executions"]
    STATS["max_input"] = max(STATS["max_input"], len(data))
    TARGET(data)
    if n % 64 == 0:
        size, peak = TARGET.peak(data)
        STATS["mem_samples"] += 1
        if peak > STATS["max_peak"]:
            STATS["max_peak"], STATS["max_peak_input"] = peak, size
        if size:
            STATS["max_var_per_byte"] = max(STATS["max_var_per_byte"],
                                            max(peak - MEM_FIXED // 2, 0) / size)
        if peak > MEM_FIXED + MEM_PER_BYTE * size:
            raise MemoryError(f"reading {size} bytes allocated {peak} bytes at peak")
    if n % 10000 == 0:
        _write_stats()


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.5:
        out = atheris.Mutate(data, max_size)
    else:
        out = T.mutate(rng, data, SEEDS)
    return out[:max_size]


def main() -> None:
    args = list(sys.argv)
    dirs = [a for a in args[1:] if not a.startswith("-")]
    if not dirs:
        dirs = [tempfile.mkdtemp(prefix="dunelog-fuzz-corpus-")]
        args.append(dirs[0])
    for i, s in enumerate(SEEDS):
        with open(os.path.join(dirs[0], f"seed-{i}"), "wb") as f:
            f.write(s)
    for p in glob.glob(os.path.join(HERE, "regressions", "reader-*")):
        with open(p, "rb") as f:
            data = f.read()
        with open(os.path.join(dirs[0], os.path.basename(p)), "wb") as f:
            f.write(data)
    atexit.register(_write_stats)
    atexit.register(TARGET.close)
    atheris.Setup(args, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

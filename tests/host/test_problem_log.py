"""ProblemLog: the per-(file, kind) cap and its `suppressed` summaries, and a cost linear
in the number of files (closing a file used to walk every count of every file: a card of
8,000 small files with one problem each took 43 s to scan)."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from dunelog.card import problems as problems_module
from dunelog.card.problems import Problem, ProblemLog


class ReferenceLog:
    """The specification: the original quadratic collector, kept as the oracle."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: list[Problem] = []
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, p: Problem) -> None:
        key = (p.file, p.kind)
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        if n <= self.cap:
            self.items.append(p)

    def close_file(self, file: str) -> None:
        for (f, kind), n in list(self.counts.items()):
            if f == file and n > self.cap:
                self.items.append(Problem("suppressed", file, None,
                                          f"{n - self.cap} more '{kind}' problems not listed"))
                self.counts[(f, kind)] = self.cap


def test_same_output_as_the_reference() -> None:
    kinds = ["crc", "garbage", "seq_gap", "torn_tail", "unknown_type"]
    for seed in range(200):
        rng = random.Random(seed)
        cap = rng.randint(1, 4)
        files = [f"f{i}.dlg" for i in range(rng.randint(1, 6))]
        new, ref = ProblemLog(cap), ReferenceLog(cap)
        for step in range(rng.randint(0, 120)):
            f = rng.choice(files)
            if rng.random() < 0.1:         # closing, then more problems (as Dump adds
                new.close_file(f)          # unknown_type after the scanner closed a file)
                ref.close_file(f)
                continue
            p = Problem(rng.choice(kinds), f, step, f"problem {step}")
            new.add(p)
            ref.add(p)
        for f in files:
            new.close_file(f)
            ref.close_file(f)
        assert list(new) == ref.items, seed
        assert len(new) == len(ref.items)


@contextmanager
def lines_run(module_file: str) -> Iterator[list[int]]:
    """Count the Python lines executed in ``module_file`` (a cost that does not depend on
    the machine's load, unlike a time)."""
    count = [0]

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != module_file:
            return None

        def local(frame, event, arg):
            if event == "line":
                count[0] += 1
            return local
        return local

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield count
    finally:
        sys.settrace(old)


def run_files(n: int) -> int:
    """Lines run to log one problem in each of n files and close them, as a scan does."""
    log = ProblemLog()
    with lines_run(problems_module.__file__) as count:
        for i in range(n):
            f = f"B{i:05d}_S0000.dlg"
            log.add(Problem("seq_order", f, 0, "x"))
            log.close_file(f)
    assert len(log) == n
    return count[0]


def test_closing_files_costs_linear_work() -> None:
    small, big = run_files(250), run_files(2000)
    # linear: 8x the files, 8x the lines (a quadratic log runs ~64x)
    assert big <= 8 * small + 100, (small, big)

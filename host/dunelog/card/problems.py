"""Integrity problems found while reading a dump, and a capped collector for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Problem", "ProblemLog", "KINDS"]

#: problem kinds, with a short description
KINDS: dict[str, str] = {
    "bad_segment_header": "segment header missing or corrupt",
    "crc": "block CRC-32 mismatch",
    "bad_block_header": "block magic found but the header is not valid",
    "slot_table": "block header / slot table / record chain inconsistent",
    "torn_tail": "file ends inside a block",
    "cut_at_open": "segment file empty or its header cut short: power cut while opening it",
    "cut_in_rotation": "the blocks closing a segment never reached the card: power cut "
                       "while rotating to the next (which holds only its header)",
    "garbage": "bytes skipped between blocks",
    "seq_gap": "missing block sequence numbers",
    "seq_order": "block sequence number went backwards or repeated",
    "mismatch": "block does not belong to the segment (logger, boot, block size)",
    "malformed_record": "record of a known type too short for its contents",
    "unknown_type": "records of unknown type skipped",
    "duplicate_segment": "the same segment appears twice in the dump",
    "io_error": "file could not be read",
    "suppressed": "further problems of one kind in one file not listed",
}


@dataclass(frozen=True)
class Problem:
    """One integrity problem.

    ``offset`` is the byte offset in ``file`` where the problem starts; ``seq`` is the
    block sequence number when known; ``missing`` is an inclusive ``(first, last)`` range
    of missing sequence numbers for ``seq_gap`` and ``cut_in_rotation``; ``nbytes`` the
    size of a skipped region.
    """

    kind: str
    file: str
    offset: int | None
    message: str
    seq: int | None = None
    boot: int | None = None
    missing: tuple[int, int] | None = None
    nbytes: int | None = None

    def __str__(self) -> str:
        where = self.file if self.offset is None else f"{self.file}@{self.offset}"
        seq = "" if self.seq is None else f" seq {self.seq}"
        return f"{where}{seq}: {self.kind}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        d = asdict(self)
        if self.missing is not None:
            d["missing"] = list(self.missing)
        return d


class ProblemLog:
    """Ordered collector of problems, capped per ``(file, kind)`` so that a file of pure
    garbage cannot grow the list without bound (a ``suppressed`` summary is added by
    :meth:`close_file`)."""

    def __init__(self, cap_per_kind: int = 500) -> None:
        self.cap = cap_per_kind
        self.items: list[Problem] = []
        self._counts: dict[tuple[str, str], int] = {}
        # file -> its kinds over the cap: close_file() visits only these (walking every
        # count for each file closed was quadratic in the number of files)
        self._over: dict[str, list[str]] = {}
        self._born: dict[tuple[str, str], int] = {}     # key -> order of its first problem

    def add(self, p: Problem) -> None:
        """Record ``p`` (or only count it once the cap for its file and kind is hit)."""
        key = (p.file, p.kind)
        n = self._counts.get(key, 0) + 1
        self._counts[key] = n
        if n == 1:
            self._born[key] = len(self._born)
        if n <= self.cap:
            self.items.append(p)
        elif n == self.cap + 1:
            self._over.setdefault(p.file, []).append(p.kind)

    def close_file(self, file: str) -> None:
        """Add ``suppressed`` summaries for ``file`` (in the order its kinds were first
        seen, as before)."""
        kinds = self._over.pop(file, None)
        if not kinds:
            return
        for kind in sorted(kinds, key=lambda k: self._born[(file, k)]):
            n = self._counts[(file, kind)]
            self.items.append(Problem("suppressed", file, None,
                                      f"{n - self.cap} more '{kind}' problems not listed"))
            self._counts[(file, kind)] = self.cap

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

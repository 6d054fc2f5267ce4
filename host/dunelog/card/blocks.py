"""Scanning one segment file: segment header, block resync, CRC, integrity problems.

:class:`SegmentScanner` streams a segment file in chunks (memory stays flat for
multi-GB files).  Candidate blocks are found by searching for ``b"DLGB"`` at any byte
offset; a candidate is accepted when its CRC-32 matches and its header and slot table
are consistent, otherwise a :class:`~dunelog.card.problems.Problem` is reported and the
search goes on from the next byte.  Accepted blocks come out as :class:`BlockChunk`
(one NumPy array of equally sized blocks plus their record index).  Bad data never
raises.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np

from .bulk import RecordIndex, block_headers, index_records
from .format import (
    BLOCK_HEADER_SIZE,
    BLOCK_MAGIC,
    FORMAT_VERSION,
    MAX_BLOCK_SHIFT,
    MIN_BLOCK_SHIFT,
    SEGMENT_HEADER_FIELDS_SIZE,
    SEGMENT_MAGIC,
)
from .problems import Problem, ProblemLog

__all__ = [
    "SegmentHeader", "parse_segment_header", "read_segment_header", "BlockChunk",
    "SegmentScanner", "DEFAULT_CHUNK_SIZE", "find_first_block", "read_upto",
    "header_cut_at_open", "partial_header_ids",
]

DEFAULT_CHUNK_SIZE = 4 << 20

_HDR = struct.Struct("<4sBBHHHIIIQ")
_SEG = struct.Struct("<4sBBHIIIIQII24s32s")
_U32 = struct.Struct("<I")
_crc32 = zlib.crc32
#: the block header (the fields :meth:`SegmentScanner._run` checks), as _HDR reads it
_HDR_DTYPE = np.dtype([("magic", "<u4"), ("version", "u1"), ("shift", "u1"),
                       ("count", "<u2"), ("used", "<u2")])
_MAGIC_U32 = int.from_bytes(BLOCK_MAGIC, "little")
#: runs of good blocks checked at once, up to _RUN_MAX blocks a call (tests turn it off to
#: compare with the block-by-block loop)
_FAST = True
_RUN_MAX = 256


def read_upto(f: BinaryIO, n: int) -> bytes:
    """``f.read(n)`` without allocating ``n`` bytes for a smaller regular file
    (``read(n)`` sizes its buffer by ``n``: 8 MiB for a 1 KiB file). One byte more than
    the file holds is asked for, so a file that grew is still read on."""
    try:
        st = os.fstat(f.fileno())
        if stat.S_ISREG(st.st_mode):
            n = min(n, max(st.st_size - f.tell(), 0) + 1)
    except (OSError, AttributeError, ValueError):
        pass                                  # not a plain file: read as asked
    return f.read(n)


@dataclass(frozen=True)
class SegmentHeader:
    """The fields of a valid segment header."""

    version: int
    block_shift: int
    logger_id: int
    boot: int
    segment: int
    first_seq: int
    created_us: int
    config_hash: int
    firmware: str
    vehicle: str

    @property
    def block_size(self) -> int:
        """Block size in bytes."""
        return 1 << self.block_shift


def parse_segment_header(data: bytes) -> tuple[SegmentHeader | None, str | None]:
    """Parse the segment header at the start of ``data``.

    Returns ``(header, None)`` or ``(None, reason)``.
    """
    if len(data) < 4 or data[:4] != SEGMENT_MAGIC:
        return None, "no segment header (magic DLGS) at offset 0"
    if len(data) < SEGMENT_HEADER_FIELDS_SIZE:
        return None, f"file too short for a segment header ({len(data)} bytes)"
    (_, version, shift, _, logger, boot, segment, first_seq, created, cfg, _, fw,
     vh) = _SEG.unpack_from(data, 0)
    if version != FORMAT_VERSION:
        return None, f"unsupported segment header version {version}"
    if not MIN_BLOCK_SHIFT <= shift <= MAX_BLOCK_SHIFT:
        return None, f"bad block_shift {shift} in segment header"
    bs = 1 << shift
    if len(data) < bs:
        return None, f"segment header truncated ({len(data)} of {bs} bytes)"
    if _crc32(memoryview(data)[:bs - 4]) != _U32.unpack_from(data, bs - 4)[0]:
        return None, "segment header CRC mismatch"
    return SegmentHeader(
        version, shift, logger, boot, segment, first_seq, created, cfg,
        fw.rstrip(b"\0").decode("ascii", errors="replace"),
        vh.rstrip(b"\0").decode("utf-8", errors="replace")), None


def header_cut_at_open(data: bytes) -> str | None:
    """Why ``data``, the whole content of a segment file, is what a power cut while the
    firmware opened that segment leaves: nothing (the directory entry was written, the
    header not yet synced) or the first bytes of a segment header, shorter than its block.
    None when it is anything else: a header present at full length but wrong (CRC, fields)
    stays a damaged header.  Nothing in such a file was acknowledged."""
    n = len(data)
    if n == 0:
        return "empty segment file: the power was cut while the segment was opened"
    if data[:min(n, 4)] != SEGMENT_MAGIC[:min(n, 4)]:
        return None
    if n > 4 and data[4] != FORMAT_VERSION:
        return None
    size = 1 << MIN_BLOCK_SHIFT
    if n > 5:
        if not MIN_BLOCK_SHIFT <= data[5] <= MAX_BLOCK_SHIFT:
            return None
        size = 1 << data[5]
    if n >= size:
        return None
    return (f"segment header cut short ({n} of {size} bytes): the power was cut while the "
            f"segment was opened")


def partial_header_ids(data: bytes) -> tuple[int | None, int | None, int | None]:
    """``(logger_id, boot, segment)`` as far as the first bytes of a segment header give
    them (None for a field not present)."""
    out: list[int | None] = []
    for off in (8, 12, 16):
        out.append(_U32.unpack_from(data, off)[0] if len(data) >= off + 4 else None)
    return out[0], out[1], out[2]


def read_segment_header(path: str | os.PathLike[str]) -> tuple[SegmentHeader | None, str | None]:
    """Read and parse the segment header of the file at ``path``."""
    try:
        with open(path, "rb") as f:
            data = read_upto(f, 1 << MAX_BLOCK_SHIFT)
    except OSError as e:
        return None, f"cannot read: {e}"
    return parse_segment_header(data)


def find_first_block(data: bytes) -> tuple[int, int, int, int] | None:
    """First block in ``data`` with a valid CRC: ``(offset, logger_id, boot, seq)``.

    A cheap probe (no slot table check) used to order segments whose header is damaged.
    """
    pos = 0
    while True:
        j = data.find(BLOCK_MAGIC, pos)
        if j < 0 or j + BLOCK_HEADER_SIZE > len(data):
            return None
        _, version, shift, _, _, _, logger, boot, seq, _ = _HDR.unpack_from(data, j)
        if version == FORMAT_VERSION and MIN_BLOCK_SHIFT <= shift <= MAX_BLOCK_SHIFT:
            end = j + (1 << shift)
            if end <= len(data) and \
                    _crc32(memoryview(data)[j:end - 4]) == _U32.unpack_from(data, end - 4)[0]:
                return j, logger, boot, seq
        pos = j + 1


@dataclass
class BlockChunk:
    """Accepted blocks of one segment file, all of one size, in file order.

    ``blocks`` is C-contiguous uint8 ``(n, block_size)``; ``offsets`` their byte offsets
    in ``file``; ``headers`` their parsed headers (:data:`~dunelog.card.bulk.BLOCK_HEADER_DTYPE`);
    ``index`` where every record is (see :func:`~dunelog.card.bulk.index_records`).
    """

    file: str
    blocks: np.ndarray
    offsets: np.ndarray
    headers: np.ndarray
    index: RecordIndex

    @property
    def block_size(self) -> int:
        """Block size in bytes."""
        return int(self.blocks.shape[1])

    def __len__(self) -> int:
        return int(self.blocks.shape[0])


class SegmentScanner:
    """Stream the accepted blocks of one segment file, reporting every problem.

    :param path: the segment file.
    :param problems: where to report problems (a new :class:`ProblemLog` by default).
    :param expect_seq: the sequence number the first block of this file should have
        given the previous segments of its boot (``None``: unknown); used to report
        missing blocks or segment files before this one.
    :param chunk_size: bytes read at a time.

    Iterate it for :class:`BlockChunk` objects.  Afterwards ``header``,
    ``header_error``, ``n_blocks``, ``n_records``, ``first`` and ``last`` (``(boot,
    seq)`` of the first/last accepted block) describe the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, problems: ProblemLog | None = None,
                 expect_seq: int | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.path = os.fspath(path)
        self.problems = problems if problems is not None else ProblemLog()
        self.expect_seq = expect_seq
        self.chunk_size = max(int(chunk_size), 64)
        self.header: SegmentHeader | None = None
        self.header_error: str | None = None
        self.size = 0
        self.n_blocks = 0
        self.n_records = 0
        self.first: tuple[int, int] | None = None
        self.last: tuple[int, int] | None = None
        self.block_size: int | None = None
        #: the file is what a cut while opening the segment leaves (see header_cut_at_open)
        self.cut_at_open = False
        # identity of the file (from the header, else from the first accepted block)
        self._logger: int | None = None
        self._boot: int | None = None
        self._skip: int | None = None   # start of the current run of skipped bytes
        self._torn: int | None = None   # first incomplete candidate at end of file

    # ------------------------------------------------------------------ helpers
    def _p(self, kind: str, offset: int | None, message: str, **kw) -> Problem:
        return Problem(kind, self.path, offset, message, **kw)

    def _plausible(self, logger: int, boot: int) -> bool:
        return (self._logger is None or logger == self._logger) and \
            (self._boot is None or boot == self._boot)

    # ------------------------------------------------------------------ stage 1
    def _stage1(self, buf: bytes, base: int, pos: int, eof: bool, banned: dict[int, str],
                skip: int | None, torn: int | None):
        """Find candidates in ``buf[pos:]``; accept those with a good CRC and header.

        Pure apart from its return value: ``(accepted, events, next_pos, skip, torn)``
        where ``accepted`` holds ``(local_offset, block_size)``.
        """
        n = len(buf)
        mv = memoryview(buf)
        acc: list[tuple[int, int]] = []
        ev: list[Problem] = []
        magic = BLOCK_MAGIC
        unpack = _HDR.unpack_from
        u32 = _U32.unpack_from
        while True:
            if skip is None and _FAST:
                k = self._run(buf, mv, pos, banned, base)
                if k:
                    bs = 1 << buf[pos + 5]
                    acc.extend((pos + i * bs, bs) for i in range(k))
                    torn = None
                    pos += k * bs
                    continue
            if buf.startswith(magic, pos):
                j = pos
            else:
                j = buf.find(magic, pos)
                if j < 0:
                    stop = n if eof else max(pos, n - 3)
                    if stop > pos and skip is None:
                        skip = base + pos
                    return acc, ev, stop, skip, torn
                if skip is None:
                    skip = base + pos
            a = base + j
            if j + BLOCK_HEADER_SIZE > n:
                if not eof:
                    return acc, ev, j, skip, torn
                rest = buf[j:]
                if (len(rest) > 4 and rest[4] != FORMAT_VERSION) or \
                        (len(rest) > 5 and not MIN_BLOCK_SHIFT <= rest[5] <= MAX_BLOCK_SHIFT):
                    ev.append(self._p("bad_block_header", a, "block magic with invalid header"))
                elif torn is None:
                    torn = a
                if skip is None:
                    skip = a
                pos = j + 1
                continue
            _, version, shift, count, used, flags, logger, boot, seq, base_us = unpack(buf, j)
            if version != FORMAT_VERSION or not MIN_BLOCK_SHIFT <= shift <= MAX_BLOCK_SHIFT:
                ev.append(self._p("bad_block_header", a,
                                  f"block magic with invalid header (version {version}, "
                                  f"block_shift {shift})"))
                if skip is None:
                    skip = a
                pos = j + 1
                continue
            bs = 1 << shift
            end = j + bs
            plaus = self._plausible(logger, boot)
            if end > n:
                if not eof:
                    return acc, ev, j, skip, torn
                if torn is None:
                    torn = a
                if skip is None:
                    skip = a
                pos = j + 1
                continue
            if _crc32(mv[j:end - 4]) != u32(buf, end - 4)[0]:
                ev.append(self._p(
                    "crc", a, "block CRC mismatch"
                    + (f" (header claims seq {seq})" if plaus else ""),
                    seq=seq if plaus else None, boot=boot if plaus else None))
                if skip is None:
                    skip = a
                pos = j + 1
                continue
            why = None
            if used & 3 or BLOCK_HEADER_SIZE + used + 2 * count > bs - 4 \
                    or (count == 0) != (used == 0) or used < 8 * count:
                why = f"header count {count} / used {used} impossible in a {bs}-byte block"
            elif a in banned:
                why = banned[a]
            if why is not None:
                ev.append(self._p("slot_table", a, why, seq=seq, boot=boot))
                if skip is None:
                    skip = a
                pos = j + 1
                continue
            # accepted
            if skip is not None:
                ev.append(self._garbage(skip, a))
                skip = None
            torn = None
            acc.append((j, bs))
            pos = end

    @staticmethod
    def _run(buf: bytes, mv: memoryview, pos: int, banned: dict[int, str], base: int) -> int:
        """How many blocks from ``buf[pos]`` on the loop of :meth:`_stage1` would accept
        one after the other without a word (equally sized, whole, good header, good CRC,
        not banned): checked for all at once; 0 when not at least two, and the loop then
        goes on block by block, reporting what it finds.  Most of a card is such runs."""
        n = len(buf)
        if n - pos < 2 * (1 << MIN_BLOCK_SHIFT) or not buf.startswith(BLOCK_MAGIC, pos):
            return 0
        shift = buf[pos + 5]
        if buf[pos + 4] != FORMAT_VERSION or not MIN_BLOCK_SHIFT <= shift <= MAX_BLOCK_SHIFT:
            return 0
        bs = 1 << shift
        m = min((n - pos) // bs, _RUN_MAX)      # bounded work per call on a bad card
        if m < 2:
            return 0
        h = np.ndarray((m,), _HDR_DTYPE, buf, pos, (bs,))
        count = h["count"].astype(np.int64)
        used = h["used"].astype(np.int64)
        good = (h["magic"] == _MAGIC_U32) & (h["version"] == FORMAT_VERSION) \
            & (h["shift"] == shift) & ((used & 3) == 0) \
            & (BLOCK_HEADER_SIZE + used + 2 * count <= bs - 4) \
            & ((count == 0) == (used == 0)) & (used >= 8 * count)
        k = m if good.all() else int(np.argmin(good))
        if banned:
            for i in range(k):
                if base + pos + i * bs in banned:
                    k = i
                    break
        if k < 2:
            return 0
        crc = np.ndarray((k,), "<u4", buf, pos + bs - 4, (bs,)).tolist()
        for i in range(k):
            a = pos + i * bs
            if _crc32(mv[a:a + bs - 4]) != crc[i]:
                return i if i >= 2 else 0
        return k

    def _garbage(self, start: int, end: int) -> Problem:
        return self._p("garbage", start, f"{end - start} bytes skipped "
                       f"(offsets {start}..{end - 1}) before the next valid block",
                       nbytes=end - start)

    # ------------------------------------------------------------------ stage 2
    def _stage2(self, buf: bytes, base: int, acc: list[tuple[int, int]]):
        """Group accepted candidates into chunks and check their slot tables.

        Returns ``(chunks, bad)`` where ``bad`` maps file offsets of blocks whose slot
        table is inconsistent to a message.
        """
        chunks: list[BlockChunk] = []
        bad: dict[int, str] = {}
        k = 0
        whole = None
        while k < len(acc):
            bs = acc[k][1]
            m = k + 1
            while m < len(acc) and acc[m][1] == bs:
                m += 1
            offs = np.fromiter((o for o, _ in acc[k:m]), dtype=np.int64, count=m - k)
            nb = m - k
            arr = None
            if offs[-1] - offs[0] == (nb - 1) * bs and (nb == 1 or (np.diff(offs) == bs).all()):
                arr = np.frombuffer(buf, np.uint8, count=nb * bs,
                                    offset=int(offs[0])).reshape(nb, bs)
                if arr.ctypes.data % 8:
                    arr = arr.copy()
            else:
                if whole is None:
                    whole = np.frombuffer(buf, np.uint8)
                arr = np.empty((nb, bs), np.uint8)
                for r, o in enumerate(offs.tolist()):
                    arr[r] = whole[o:o + bs]
            hdr = block_headers(arr)
            index, bad_blocks = index_records(arr, hdr)
            if bad_blocks.any():
                for r in np.flatnonzero(bad_blocks).tolist():
                    bad[base + int(offs[r])] = (
                        "slot table disagrees with the record length chain")
            else:
                chunks.append(BlockChunk(self.path, arr, offs + base, hdr, index))
            k = m
        return chunks, bad

    # ------------------------------------------------------------------ bookkeeping
    def _header(self, buf: bytes) -> int:
        hdr, err = parse_segment_header(buf)
        self.header, self.header_error = hdr, err
        if hdr is None:
            cut = header_cut_at_open(buf) if len(buf) == self.size else None
            if cut is not None:
                # the expected residue of a power cut, like a torn tail: not damage
                self.cut_at_open = True
                self.problems.add(self._p("cut_at_open", 0, cut + "; nothing in it was "
                                          "acknowledged, the boot ends in the segment before"))
            else:
                self.problems.add(self._p("bad_segment_header", 0,
                                          err or "bad segment header"))
            return 0
        self._logger, self._boot = hdr.logger_id, hdr.boot
        self.block_size = hdr.block_size
        if self.expect_seq is not None:
            if hdr.first_seq > self.expect_seq and self.size <= hdr.block_size:
                # a header and no block: the firmware creates the next segment before it
                # writes the rotation's LAST block, so the missing blocks are those the
                # cut kept from the card (never acknowledged), not a lost file
                self.problems.add(self._p(
                    "cut_in_rotation", 0,
                    f"blocks {self.expect_seq}..{hdr.first_seq - 1} of boot {hdr.boot} "
                    "never reached the card: power cut while the segment before was "
                    "closed by a rotation (nothing in them was acknowledged)",
                    seq=hdr.first_seq, boot=hdr.boot,
                    missing=(self.expect_seq, hdr.first_seq - 1)))
            elif hdr.first_seq > self.expect_seq:
                self.problems.add(self._p(
                    "seq_gap", 0,
                    f"blocks {self.expect_seq}..{hdr.first_seq - 1} of boot {hdr.boot} "
                    f"missing before this segment (missing segment file?)",
                    seq=hdr.first_seq, boot=hdr.boot,
                    missing=(self.expect_seq, hdr.first_seq - 1)))
            elif hdr.first_seq < self.expect_seq:
                self.problems.add(self._p(
                    "seq_order", 0,
                    f"segment first_seq {hdr.first_seq} but previous segments of boot "
                    f"{hdr.boot} already reached {self.expect_seq - 1}",
                    seq=hdr.first_seq, boot=hdr.boot))
        return hdr.block_size

    def _track(self, chunk: BlockChunk) -> None:
        hdr = chunk.headers
        seqs = hdr["seq"].astype(np.int64)
        boots = hdr["boot"].astype(np.int64)
        loggers = hdr["logger_id"].astype(np.int64)
        offs = chunk.offsets
        if self._logger is None:
            self._logger, self._boot = int(loggers[0]), int(boots[0])
        if self.block_size is None:
            self.block_size = chunk.block_size
        elif chunk.block_size != self.block_size:
            self.problems.add(self._p(
                "mismatch", int(offs[0]),
                f"{len(chunk)} block(s) of {chunk.block_size} bytes in a segment of "
                f"{self.block_size}-byte blocks", seq=int(seqs[0])))
        for r in np.flatnonzero((loggers != self._logger) | (boots != self._boot)).tolist():
            self.problems.add(self._p(
                "mismatch", int(offs[r]),
                f"block of logger {loggers[r]} boot {boots[r]} in a segment of logger "
                f"{self._logger} boot {self._boot}", seq=int(seqs[r]), boot=int(boots[r])))
        if self.last is None:
            ref = self.header.first_seq if self.header is not None else self.expect_seq
            prev_boot, exp0 = int(boots[0]), (int(seqs[0]) if ref is None else ref)
        else:
            prev_boot, exp0 = self.last[0], self.last[1] + 1
        exp = np.empty_like(seqs)
        exp[0] = exp0
        exp[1:] = seqs[:-1] + 1
        pboot = np.empty_like(boots)
        pboot[0] = prev_boot
        pboot[1:] = boots[:-1]
        for r in np.flatnonzero((seqs != exp) & (boots == pboot)).tolist():
            s, e, b = int(seqs[r]), int(exp[r]), int(boots[r])
            if s > e:
                self.problems.add(self._p(
                    "seq_gap", int(offs[r]),
                    f"blocks {e}..{s - 1} of boot {b} missing" if s - 1 > e
                    else f"block {e} of boot {b} missing",
                    seq=s, boot=b, missing=(e, s - 1)))
            else:
                self.problems.add(self._p(
                    "seq_order", int(offs[r]),
                    f"seq {s} after seq {e - 1} (went backwards or repeated)", seq=s, boot=b))
        if self.first is None:
            self.first = (int(boots[0]), int(seqs[0]))
        self.last = (int(boots[-1]), int(seqs[-1]))
        self.n_blocks += len(chunk)
        self.n_records += chunk.index.total

    def _finish(self, buf: bytes, base: int) -> None:
        end = base + len(buf)
        skip, torn = self._skip, self._torn
        if torn is not None:
            if skip is not None and skip < torn:
                self.problems.add(self._garbage(skip, torn))
            seq = None
            j = torn - base
            msg = f"file ends inside a block: {end - torn} bytes of a block at the end"
            if j + BLOCK_HEADER_SIZE <= len(buf):
                _, _, shift, _, _, _, logger, boot, s, _ = _HDR.unpack_from(buf, j)
                if self._plausible(logger, boot):
                    seq = s
                msg = (f"file ends inside a block: {end - torn} of {1 << shift} bytes "
                       f"present" + ("" if seq is None else f" (header claims seq {seq})"))
            self.problems.add(self._p("torn_tail", torn, msg, seq=seq, nbytes=end - torn))
        elif skip is not None and end > skip:
            tail = buf[skip - base:]
            if len(tail) < 4 and BLOCK_MAGIC.startswith(tail):
                self.problems.add(self._p(
                    "torn_tail", skip, f"file ends inside a block: {len(tail)} bytes of a "
                    "block at the end", nbytes=len(tail)))
            else:
                self.problems.add(self._garbage(skip, end))
        self._skip = self._torn = None

    # ------------------------------------------------------------------ main loop
    def __iter__(self) -> Iterator[BlockChunk]:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed by the `with f` below
        except OSError as e:
            self.problems.add(self._p("io_error", None, f"cannot open: {e}"))
            return
        with f:
            try:
                self.size = os.fstat(f.fileno()).st_size
                first = max(self.chunk_size, 1 << MAX_BLOCK_SHIFT)
                buf = read_upto(f, first)
                eof = len(buf) < first
                base = 0
                pos = self._header(buf)
                while not self.cut_at_open:     # a cut-short header: no block can follow
                    banned: dict[int, str] = {}
                    while True:
                        acc, ev, npos, skip, torn = self._stage1(
                            buf, base, pos, eof, banned, self._skip, self._torn)
                        chunks, bad = self._stage2(buf, base, acc)
                        if not bad:
                            break
                        banned.update(bad)
                    for p in ev:
                        self.problems.add(p)
                    self._skip, self._torn = skip, torn
                    for chunk in chunks:
                        self._track(chunk)
                        yield chunk
                    if eof:
                        self._finish(buf, base)
                        break
                    data = read_upto(f, self.chunk_size)
                    eof = len(data) < self.chunk_size
                    buf = buf[npos:] + data
                    base += npos
                    pos = 0
            except OSError as e:
                self.problems.add(self._p("io_error", None, f"read error: {e}"))
        self.problems.close_file(self.path)

"""A cheap first guess at a segment file's context: its first and last blocks only.

:func:`~.plan.scan_segment` reads a whole file for its context (time syncs, vehicle,
last block number, ...), and then its task reads it again to decode it: ~20 % of an
archive decode.  :func:`light_context` reads only the file's header, first
``blocks`` and last ``blocks`` blocks: the boot's session start, the first and last
time syncs near each end, the first and last block numbers, the time span and whether
the boot ended cleanly.  That is all the *other* files' tasks need of it when the
file's middle holds nothing surprising (see :func:`~.plan.plan_tasks`).

It is only a guess: each task returns, as a by-product of its decode, the file's exact
context (:func:`~.plan.context_of`); the build then plans again with the exact contexts
and reruns every task whose inputs the guess got wrong (:mod:`.build`), so the dataset is
the same as with full scans.  ``None`` (read the whole file) when the ends show anything
unusual: damage, a torn tail, blocks of another boot, a gap in the block numbers, a
file too small to be worth it.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict

import numpy as np

from ..card import format as F
from ..card.blocks import parse_segment_header, read_upto
from ..card.bulk import as_blocks, block_headers, decode_chunk, index_records
from ..card.records import MalformedRecord, SessionStart, TimeSync, decode_record
from .plan import SegmentContext
from .remote import stat_token

__all__ = ["light_context", "LIGHT_BLOCKS"]

#: blocks read at each end of a file (64 blocks of 4 KiB: ~1.5 s of a busy bus)
LIGHT_BLOCKS = 64


def light_context(path: str, relpath: str, blocks: int = LIGHT_BLOCKS
                  ) -> SegmentContext | None:
    """A guess at :func:`~.plan.scan_segment` of a local file from its ends (``light``
    set), or None when the ends do not allow one."""
    try:
        return _light(path, relpath, blocks)
    except (OSError, ValueError, IndexError, MalformedRecord):
        return None


def _light(path: str, relpath: str, nb: int) -> SegmentContext | None:
    size, version = stat_token(path)
    with open(path, "rb") as f:
        head = read_upto(f, 4096)
        hdr, _ = parse_segment_header(head)
        if hdr is None or nb < 1:
            return None
        bs = hdr.block_size
        total = size // bs - 1                      # blocks after the header block
        if size % bs or total < 4 * nb:             # a torn tail, or small: read it all
            return None
        f.seek(bs)
        first = read_upto(f, nb * bs)
        f.seek(size - nb * bs)
        last = read_upto(f, nb * bs)
    ends = []
    for data, seq0 in ((first, hdr.first_seq), (last, hdr.first_seq + total - nb)):
        arr = as_blocks(data, bs)
        h = block_headers(arr)
        if arr.shape[0] != nb or (h["magic"] != F.BLOCK_MAGIC).any() \
                or (h["logger_id"] != hdr.logger_id).any() or (h["boot"] != hdr.boot).any() \
                or (h["seq"].astype(np.int64) != seq0 + np.arange(nb)).any():
            return None                              # damage, or not one run of blocks
        crc = np.frombuffer(arr[:, -4:].tobytes(), "<u4")
        if any(zlib.crc32(arr[i, :-4].tobytes()) != int(crc[i]) for i in range(nb)):
            return None
        index, bad = index_records(arr, h)
        if bad.any():
            return None
        ends.append((arr, h, decode_chunk(arr, h, index, can=False)))
    (_, _, d0), (_, h1, d1) = ends
    if not d0.time_us.size or not d1.time_us.size:
        return None
    bt = hdr.boot
    can = sum(int(np.count_nonzero((d.types == F.REC_CAN) | (d.types == F.REC_CANFD)))
              for _, _, d in ends)
    recs = int(d0.time_us.size + d1.time_us.size)
    ctx = SegmentContext(relpath, size, version, frames=can * total // (2 * nb),
                         last=[bt, int(h1["seq"][-1])], light=True)
    ctx.boots[str(bt)] = {"first_us": int(d0.time_us.min()), "last_us": int(d1.time_us.max()),
                          "clean_end": bool(int(h1["flags"][-1]) & F.BLOCK_FLAG_LAST),
                          "blocks": total, "records": recs * total // (2 * nb)}
    syncs: list[list[int]] = []
    for arr, _, dec in ends:
        idx = dec.other_rec
        idx = idx[np.isin(dec.types[idx], np.asarray([F.REC_TIMESYNC, F.REC_SESSION],
                                                     np.uint8))]
        buf = arr.reshape(-1).data
        for p, t, b in zip(dec.index.pos[idx].tolist(), dec.time_us[idx].tolist(),
                           dec.boot[idx].tolist()):
            if b != bt:
                return None
            rec = decode_record(buf, p, t, b)
            if isinstance(rec, TimeSync):
                syncs.append([rec.time_us, rec.utc_epoch_us])
            elif isinstance(rec, SessionStart) and str(bt) not in ctx.sessions:
                ctx.sessions[str(bt)] = asdict(rec)
    if syncs:
        ctx.syncs[str(bt)] = sorted(syncs)
    return ctx

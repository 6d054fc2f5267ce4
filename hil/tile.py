"""Repeat a firmware-logged card into a long boot (benchmarks, the synthetic rally).

:func:`tile` takes the segment files of one boot that the real firmware wrote (under the
MicroPython Unix port, ``hil/feed.py``) and writes ``copies`` back-to-back repetitions of
it as one boot, one segment file per copy: block sequence numbers renumbered, block base
times shifted by one lap period per copy, the UTC of every time sync and GNSS fix shifted
with them, CRCs recomputed; the block(s) holding the session-start record are kept only
in the first copy. Optionally the boot number, the UTC day, the vehicle name (same byte
length) and any payload bytes (a hook) are changed on the way; the logger id, config hash
and firmware version stay the card's.
"""

from __future__ import annotations

import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dunelog.card import format as F
from dunelog.card.blocks import read_segment_header
from dunelog.card.bulk import RecordIndex, block_headers, index_records

__all__ = ["F_HDR", "TileResult", "Tweak", "tile", "can_data_pos"]

#: the 32-byte block header as a NumPy dtype (docs/FORMAT.md)
F_HDR = np.dtype([("magic", "S4"), ("version", "u1"), ("block_shift", "u1"), ("count", "<u2"),
                  ("used", "<u2"), ("flags", "<u2"), ("logger_id", "<u4"), ("boot", "<u4"),
                  ("seq", "<u4"), ("base_us", "<u8")])

#: ``tweak(copy, flat, index)``: change payload bytes of copy ``copy`` in place; ``flat`` is
#: the writable uint8 array of all the card's blocks back to back, ``index`` locates its
#: records (record ``i`` starts at ``flat[index.pos[i]]``, type ``index.word0[i] & 0xFF``)
Tweak = Callable[[int, np.ndarray, RecordIndex], None]


@dataclass
class TileResult:
    """What :func:`tile` wrote."""

    files: list[Path]
    logger_id: int
    boot: int
    blocks: int
    can: int                    # classic CAN records
    canfd: int                  # CAN FD records
    period_us: int              # time between the starts of two copies

    @property
    def frames(self) -> int:
        """CAN frames, classic and FD."""
        return self.can + self.canfd


def can_data_pos(flat: np.ndarray, index: RecordIndex, can_id: int) -> np.ndarray:
    """Byte positions in ``flat`` of the first data byte of every classic or FD CAN record
    with identifier ``can_id`` (the CAN body's data starts at record offset 16)."""
    types = index.word0 & 0xFF
    can = (types == F.REC_CAN) | (types == F.REC_CANFD)
    pos = index.pos[can]
    ids = flat.view("<u4")[(pos + 8) >> 2]
    return pos[ids == np.uint32(can_id)] + 16


def _add_u32(u: np.ndarray, at: np.ndarray, delta: int) -> None:
    """Add ``delta`` (mod 2**32) to the little-endian u32 fields at byte positions ``at``."""
    vals = np.zeros(at.size, np.uint32)
    for j in range(4):
        vals |= u[at + j].astype(np.uint32) << np.uint32(8 * j)
    vals = vals + np.uint32(delta % (1 << 32))
    for j in range(4):
        u[at + j] = (vals >> np.uint32(8 * j)).astype(np.uint8)


def _add_u16(u: np.ndarray, at: np.ndarray, delta: int) -> None:
    vals = (u[at].astype(np.uint32) | (u[at + 1].astype(np.uint32) << np.uint32(8)))
    vals = (vals + np.uint32(delta % (1 << 16))) & np.uint32(0xFFFF)
    u[at] = (vals & np.uint32(0xFF)).astype(np.uint8)
    u[at + 1] = (vals >> np.uint32(8)).astype(np.uint8)


def tile(card: Path, out: Path, copies: int, *, boot: int | None = None, utc_days: int = 0,
         utc_ms: int = 0, vehicle: str | None = None, tweak: Tweak | None = None,
         clear: bool = True) -> TileResult:
    """Repeat the (single-boot) card ``copies`` times into ``out`` as segment files
    ``B<boot>_S<k>.dlg`` (see the module doc).

    :param boot: boot number of the output (block headers, segment headers, file names);
        default the card's.
    :param utc_days: added to the UTC day of every time sync and fix (all copies).
    :param utc_ms: added to their UTC time of day (all copies; copy ``k`` adds ``k``
        periods on top). Nothing wraps at midnight: the caller keeps the day inside.
    :param vehicle: new vehicle name for the segment headers and the session-start record;
        its UTF-8 encoding must be as long as the card's (the record keeps its length).
    :param tweak: payload hook, called once per copy (see :data:`Tweak`).
    :param clear: delete ``out`` first if it exists.
    """
    segs = sorted(card.glob("B*_S*.dlg"))
    hdr0, err = read_segment_header(str(segs[0]))
    assert hdr0 is not None, err
    bs = hdr0.block_size
    boot = hdr0.boot if boot is None else boot
    raw = b"".join(p.read_bytes()[bs:] for p in segs)
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, bs).copy()
    hdr = block_headers(blocks)
    idx, bad = index_records(blocks, hdr)
    assert not bad.any()
    types = idx.word0 & 0xFF
    flat_pos = idx.pos
    sync_pos, fix_pos = flat_pos[types == F.REC_TIMESYNC], flat_pos[types == F.REC_GNSS]
    utc_fields = np.r_[sync_pos + 12, fix_pos + 20]
    day_fields = np.r_[sync_pos + 8, fix_pos + 24]
    session = types == F.REC_SESSION
    session_blocks = set(idx.blk[session].tolist())
    period_us = int(hdr["base_us"].max()) + 1_000_000
    period_us = (period_us + 999) // 1000 * 1000
    base_flat = blocks.reshape(-1)
    if vehicle is not None and vehicle != hdr0.vehicle:
        _rename(base_flat, idx.pos[session], hdr0.vehicle, vehicle)
    if utc_days:
        _add_u16(base_flat, day_fields, utc_days)
    keep_later = np.array([i not in session_blocks for i in range(len(blocks))])
    is_can = (types == F.REC_CAN)
    is_fd = (types == F.REC_CANFD)
    n_can = [int(is_can.sum()), int(is_can[keep_later[idx.blk]].sum())]
    n_fd = [int(is_fd.sum()), int(is_fd[keep_later[idx.blk]].sum())]
    if out.exists() and clear:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    seq = 0
    res = TileResult([], hdr0.logger_id, boot, 0, 0, 0, period_us)
    for k in range(copies):
        flat = base_flat.copy()
        if k or utc_ms:
            _add_u32(flat, utc_fields, utc_ms + k * period_us // 1000)
        if tweak is not None:
            tweak(k, flat, idx)
        cb = flat.reshape(-1, bs)
        cb = cb if k == 0 else cb[keep_later]
        n = cb.shape[0]
        h = cb[:, :32].copy().view(F_HDR)[:, 0]
        h["seq"] = np.arange(seq, seq + n, dtype=np.uint32)
        h["boot"] = np.uint32(boot)
        h["base_us"] = h["base_us"] + np.uint64(k * period_us)
        if k != copies - 1:
            h["flags"] = h["flags"] & np.uint16(~F.BLOCK_FLAG_LAST & 0xFFFF)
        cb = np.ascontiguousarray(cb)
        cb[:, :32] = h.view(np.uint8).reshape(n, 32)
        for i in range(n):
            row = cb[i]
            row[-4:] = np.frombuffer(zlib.crc32(row[:-4].tobytes()).to_bytes(4, "little"),
                                     np.uint8)
        head = F.build_segment_header(logger_id=hdr0.logger_id, boot=boot, segment=k,
                                      first_seq=seq, created_us=int(h["base_us"][0]),
                                      config_hash=hdr0.config_hash, firmware=hdr0.firmware,
                                      vehicle=hdr0.vehicle if vehicle is None else vehicle,
                                      block_size=bs)
        path = out / f"B{boot:05d}_S{k:04d}.dlg"
        path.write_bytes(head + cb.tobytes())
        res.files.append(path)
        seq += n
        res.blocks += n
        res.can += n_can[k > 0]
        res.canfd += n_fd[k > 0]
    return res


def _rename(flat: np.ndarray, session_pos: np.ndarray, old: str, new: str) -> None:
    """Replace the vehicle name ``old`` by ``new`` (same length) in session-start records."""
    a, b = old.encode(), new.encode()
    if len(a) != len(b):
        raise ValueError(f"vehicle {new!r} must encode to as many bytes as {old!r}")
    for p in session_pos.tolist():
        fw_len = int(flat[p + 2])
        at = p + 16 + fw_len
        if bytes(flat[at:at + len(a)]) != a:
            raise ValueError(f"session record at {p} does not name vehicle {old!r}")
        flat[at:at + len(b)] = np.frombuffer(b, np.uint8)

"""Vectorised decoding of whole chunks of accepted blocks with NumPy.

A chunk is ``n`` accepted blocks of one block size ``bs`` held as one C-contiguous
``uint8`` array of shape ``(n, bs)``.  Every record offset comes from the slot tables
(``np.repeat``/``cumsum`` arithmetic, no per-record Python); since records are 4-byte
aligned, their u32 fields are gathered through a ``'<u4'`` view of the chunk.

The functions here agree exactly with the construct reference parser
(:func:`dunelog.card.format.Block`), which the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .format import BLOCK_HEADER_SIZE, REC_CAN, REC_CANFD, REC_GNSS, RECORD_MIN_LEN

__all__ = [
    "BLOCK_HEADER_DTYPE", "CAN_DTYPE", "CANFD_DTYPE", "RecordIndex", "DecodedChunk",
    "block_headers", "index_records", "decode_chunk", "as_blocks",
]

#: the 32-byte block header as a NumPy structured dtype
BLOCK_HEADER_DTYPE = np.dtype([
    ("magic", "S4"), ("version", "u1"), ("block_shift", "u1"), ("count", "<u2"),
    ("used", "<u2"), ("flags", "<u2"), ("logger_id", "<u4"), ("boot", "<u4"),
    ("seq", "<u4"), ("base_us", "<u8"),
])
assert BLOCK_HEADER_DTYPE.itemsize == BLOCK_HEADER_SIZE

_CAN_FIELDS = {
    "time_us": ("<u8", 0), "id": ("<u4", 8), "boot": ("<u4", 12),
    "channel": ("u1", 16), "flags": ("u1", 17), "dlc": ("u1", 18), "data_len": ("u1", 19),
}

#: CAN classic frames: time_us (us since boot), boot, id, channel, flags, dlc, data_len,
#: data (8 bytes, zero beyond data_len)
CAN_DTYPE = np.dtype({
    "names": list(_CAN_FIELDS) + ["data"],
    "formats": [f for f, _ in _CAN_FIELDS.values()] + [("u1", (8,))],
    "offsets": [o for _, o in _CAN_FIELDS.values()] + [24],
    "itemsize": 32,
})
#: CAN FD frames: as :data:`CAN_DTYPE` with 64 data bytes
CANFD_DTYPE = np.dtype({
    "names": list(_CAN_FIELDS) + ["data"],
    "formats": [f for f, _ in _CAN_FIELDS.values()] + [("u1", (64,))],
    "offsets": [o for _, o in _CAN_FIELDS.values()] + [24],
    "itemsize": 88,
})

# write-side overlays: fill two bytes / eight bytes at once
_OVERLAY = {
    itemsize: np.dtype({"names": ["chfl", "dlcdl", "d8"], "formats": ["<u2", "<u2", "<u8"],
                        "offsets": [16, 18, 24], "itemsize": itemsize})
    for itemsize in (32, 88)
}

_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1] * 248,
                       dtype=np.uint64)


def as_blocks(data: bytes | np.ndarray, block_size: int) -> np.ndarray:
    """View ``data`` (bytes or a flat/2-D uint8 array) as ``(n, block_size)`` uint8."""
    arr = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) \
        else np.asarray(data, np.uint8)
    arr = arr.reshape(-1, block_size)
    if not arr.flags.c_contiguous or arr.ctypes.data % 8:
        arr = np.ascontiguousarray(arr).copy()
    return arr


def block_headers(blocks: np.ndarray) -> np.ndarray:
    """The headers of ``blocks`` (``(n, bs)`` uint8) as a :data:`BLOCK_HEADER_DTYPE` array."""
    return np.ascontiguousarray(blocks[:, :BLOCK_HEADER_SIZE]).view(BLOCK_HEADER_DTYPE)[:, 0]


@dataclass
class RecordIndex:
    """Where every record of a chunk is.  Record ``k`` lives in block ``blk[k]`` at byte
    ``pos[k]`` of the flattened chunk; ``word0`` is its first u32 (type, len, aux)."""

    blk: np.ndarray
    pos: np.ndarray
    word0: np.ndarray
    counts: np.ndarray
    starts: np.ndarray

    @property
    def total(self) -> int:
        """Number of records."""
        return int(self.pos.shape[0])

    @property
    def types(self) -> np.ndarray:
        """Record type of each record (uint8)."""
        return (self.word0 & 0xFF).astype(np.uint8)

    @property
    def lens(self) -> np.ndarray:
        """Record length of each record (uint8)."""
        return ((self.word0 >> 8) & 0xFF).astype(np.uint8)


def index_records(blocks: np.ndarray, hdr: np.ndarray) -> tuple[RecordIndex, np.ndarray]:
    """Locate every record of ``blocks`` through the slot tables and check them.

    Returns the index and a boolean array, one per block, true where the slot table and
    the record length chain disagree (``slot[0] == 32``, ``slot[i+1] == slot[i] +
    len[i]``, last record ending at ``32 + used``, lengths >= 8 and multiples of 4).
    The header-only checks (``count``/``used`` fit the block) are the caller's.
    """
    n, bs = blocks.shape
    counts = hdr["count"].astype(np.intp)
    total = int(counts.sum())
    ends = np.cumsum(counts)
    starts = ends - counts
    half = bs // 2
    # u16 index of slot i of block b is b*half + half - 3 - i
    ar = np.arange(total, dtype=np.intp)
    slot_idx = np.repeat(np.arange(n, dtype=np.intp) * half + (half - 3) + starts, counts) - ar
    flat = blocks.reshape(-1)
    slot = flat.view("<u2").take(slot_idx).astype(np.intp)
    rowbase = np.repeat(np.arange(n, dtype=np.intp) * bs, counts)
    pos = rowbase + np.minimum(slot, bs - 8)
    w32 = flat.view("<u4")
    word0 = w32.take(pos >> 2)
    lens = ((word0 >> 8) & 0xFF).astype(np.intp)
    nxt = slot + lens
    expect = np.empty(total, dtype=np.intp)
    if total:
        expect[1:] = nxt[:-1]
    nonempty = counts > 0
    expect[starts[nonempty]] = BLOCK_HEADER_SIZE
    bad = (expect != slot) | (lens < 8) | ((lens & 3) != 0)
    bad_blocks = np.zeros(n, dtype=bool)
    if bad.any():
        bad_blocks[np.repeat(np.arange(n), counts)[bad]] = True
    last_end = nxt[ends[nonempty] - 1]
    bad_blocks[np.flatnonzero(nonempty)[last_end != BLOCK_HEADER_SIZE
                                        + hdr["used"][nonempty].astype(np.intp)]] = True
    blk = np.repeat(np.arange(n, dtype=np.intp), counts)
    return RecordIndex(blk, pos, word0, counts, starts), bad_blocks


@dataclass
class DecodedChunk:
    """Result of :func:`decode_chunk`.

    ``classic``/``fd`` hold the well-formed CAN records in record order;
    ``classic_rec``/``fd_rec``/``other_rec`` give, for each, the record number in the
    chunk (so a typed reader can merge them back in order).  ``other_rec`` covers every
    non-CAN record and CAN records too short for their ``data_len`` (malformed).
    """

    index: RecordIndex
    types: np.ndarray
    time_us: np.ndarray
    boot: np.ndarray
    classic: np.ndarray
    fd: np.ndarray
    classic_rec: np.ndarray
    fd_rec: np.ndarray
    other_rec: np.ndarray
    malformed_can: np.ndarray


def _fill_common(out: np.ndarray, w32: np.ndarray, wi: np.ndarray, w0: np.ndarray,
                 w3: np.ndarray, time_us: np.ndarray, boot: np.ndarray) -> None:
    ov = out.view(_OVERLAY[out.dtype.itemsize])
    out["time_us"] = time_us
    out["boot"] = boot
    out["id"] = w32.take(wi + 2)
    ov["chfl"] = w0 >> 16
    ov["dlcdl"] = w3 & 0xFFFF


def decode_chunk(blocks: np.ndarray, hdr: np.ndarray, index: RecordIndex,
                 can: bool = True) -> DecodedChunk:
    """Decode the CAN records of a validated chunk into structured arrays (with
    ``can=False`` the arrays are left empty: a pass that only counts them)."""
    flat = blocks.reshape(-1)
    w32 = flat.view("<u4")
    counts = index.counts
    word0 = index.word0
    types = (word0 & 0xFF).astype(np.uint8)
    wi = index.pos >> 2
    time_us = np.repeat(hdr["base_us"], counts) + w32.take(wi + 1)
    boots = hdr["boot"]
    if boots.size and (boots == boots[0]).all():
        boot = np.full(index.total, boots[0], dtype=np.uint32)
    else:
        boot = np.repeat(boots, counts)
    lens = (word0 >> 8) & 0xFF

    is_can = (types == REC_CAN) | (types == REC_CANFD)
    can_rec = np.flatnonzero(is_can)
    wc = wi[can_rec]
    w3c = w32.take(wc + 3, mode="clip")
    dlc_ = (w3c >> 8) & 0xFF
    tc = types[can_rec]
    ok = (lens[can_rec] >= 16 + ((dlc_ + 3) & 0x1FC)) & (dlc_ <= np.where(tc == REC_CAN, 8, 64))
    classic_rec = can_rec[ok & (tc == REC_CAN)]
    fd_rec = can_rec[ok & (tc == REC_CANFD)]
    malformed = can_rec[~ok]
    if malformed.size:
        other_rec = np.flatnonzero(~is_can | np.isin(np.arange(index.total), malformed))
    else:
        other_rec = np.flatnonzero(~is_can)

    if not can:
        return DecodedChunk(index, types, time_us, boot, np.empty(0, CAN_DTYPE),
                            np.empty(0, CANFD_DTYPE), classic_rec, fd_rec, other_rec,
                            malformed)

    # classic
    sel = ok & (tc == REC_CAN)
    wi_c = wc[sel]
    w3 = w3c[sel]
    classic = np.empty(wi_c.shape[0], dtype=CAN_DTYPE)
    if wi_c.size:
        _fill_common(classic, w32, wi_c, word0[classic_rec], w3,
                     time_us[classic_rec], boot[classic_rec])
        dl = (w3 >> 8) & 0xFF
        lo = w32.take(wi_c + 4, mode="clip").astype(np.uint64)
        hi = w32.take(wi_c + 5, mode="clip").astype(np.uint64)
        classic.view(_OVERLAY[32])["d8"] = (lo | (hi << np.uint64(32))) & _BYTE_MASKS[dl]

    # FD
    fd = np.empty(fd_rec.shape[0], dtype=CANFD_DTYPE)
    if fd_rec.size:
        sel = ok & (tc == REC_CANFD)
        wi_f = wc[sel]
        w3 = w3c[sel]
        _fill_common(fd, w32, wi_f, word0[fd_rec], w3, time_us[fd_rec], boot[fd_rec])
        dl = ((w3 >> 8) & 0xFF).astype(np.intp)
        words = w32.take(wi_f[:, None] + (4 + np.arange(16)), mode="clip")
        data = words.view(np.uint8).reshape(-1, 64)
        data[np.arange(64)[None, :] >= dl[:, None]] = 0
        fd["data"] = data

    return DecodedChunk(index, types, time_us, boot, classic, fd, classic_rec, fd_rec,
                        other_rec, malformed)


#: one GNSS fix per row (:func:`gnss_fixes`); fields as :class:`~.records.GnssFix`
GNSS_DTYPE = np.dtype([("time_us", "<i8"), ("boot", "<u4"), ("fix_type", "u1"),
                       ("sats", "u1"), ("lat", "<i4"), ("lon", "<i4"), ("alt_mm", "<i4"),
                       ("utc_ms", "<u4"), ("utc_days", "<u2"), ("speed_cms", "<u2"),
                       ("course_cdeg", "<u2"), ("hdop_c", "<u2")])


def gnss_records(dec: DecodedChunk) -> np.ndarray:
    """Record numbers of the well-formed GNSS fix records of a decoded chunk."""
    idx = dec.other_rec
    lens = (dec.index.word0[idx] >> 8) & 0xFF
    return idx[(dec.types[idx] == REC_GNSS) & (lens >= RECORD_MIN_LEN[REC_GNSS])]


def gnss_fixes(blocks: np.ndarray, dec: DecodedChunk) -> np.ndarray:
    """The GNSS fixes of a decoded chunk (:data:`GNSS_DTYPE`, record order), read in bulk
    (a 12-hour boot logs ~430,000 at 10 Hz)."""
    rec = gnss_records(dec)
    out = np.empty(rec.size, GNSS_DTYPE)
    if not rec.size:
        return out
    w32 = blocks.reshape(-1).view("<u4")
    wi = dec.index.pos[rec] >> 2
    w0 = dec.index.word0[rec]
    out["time_us"] = dec.time_us[rec]
    out["boot"] = dec.boot[rec]
    out["fix_type"] = (w0 >> 16) & 0xFF
    out["sats"] = (w0 >> 24) & 0xFF
    out["lat"] = w32.take(wi + 2).view("<i4")
    out["lon"] = w32.take(wi + 3).view("<i4")
    out["alt_mm"] = w32.take(wi + 4).view("<i4")
    out["utc_ms"] = w32.take(wi + 5)
    w6 = w32.take(wi + 6)
    w7 = w32.take(wi + 7)
    out["utc_days"] = w6 & 0xFFFF
    out["speed_cms"] = w6 >> 16
    out["course_cdeg"] = w7 & 0xFFFF
    out["hdop_c"] = w7 >> 16
    return out

"""Vectorised decoding of one message's frames: whole columns, no per-frame Python."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .compiled import CompiledMessage, CompiledSignal

__all__ = ["Payload", "extract_raw", "decode_columns", "MessageColumns"]

_U64 = np.uint64


class Payload:
    """The payload bytes of ``n`` frames (``(n, w)`` uint8) with cached 64-bit words."""

    def __init__(self, data: np.ndarray, length: int, le0: np.ndarray | None = None) -> None:
        n = data.shape[0]
        self.n = n
        self.length = length
        if length <= 8 and data.shape[1] >= 8:
            self.pad = None
            self.le0 = np.ascontiguousarray(data[:, :8]).view("<u8").reshape(n) \
                if le0 is None else le0
            if length < 8:   # bytes beyond the message are ignored, as cantools does
                self.le0 = self.le0 & _U64((1 << (8 * length)) - 1)
            self._be0: np.ndarray | None = None
        else:
            w = ((length + 9 + 7) // 8) * 8
            pad = np.zeros((n, w), np.uint8)
            k = min(length, data.shape[1])
            pad[:, :k] = data[:, :k]
            self.pad = pad
        self._le: dict[int, np.ndarray] = {}
        self._be: dict[int, np.ndarray] = {}

    @property
    def be0(self) -> np.ndarray:
        if self._be0 is None:
            self._be0 = self.le0.byteswap()
        return self._be0

    def le(self, k: int) -> np.ndarray:
        w = self._le.get(k)
        if w is None:
            assert self.pad is not None       # only long payloads are read by offset
            w = self._le[k] = np.ascontiguousarray(self.pad[:, k:k + 8]).view("<u8").reshape(self.n)
        return w

    def be(self, k: int) -> np.ndarray:
        w = self._be.get(k)
        if w is None:
            w = self._be[k] = self.le(k).byteswap()
        return w


def extract_raw(p: Payload, s: CompiledSignal) -> np.ndarray:
    """The raw unsigned bits of signal ``s`` as uint64 (not sign-extended)."""
    L = s.length  # noqa: N806 - the bit length, as in the DBC literature
    mask = _U64((1 << L) - 1)
    if p.pad is None:
        if s.little_endian:
            raw = p.le0 >> _U64(s.start) if s.start else p.le0
        else:
            sh = 63 - s.be_lsb
            raw = p.be0 >> _U64(sh) if sh else p.be0
    elif s.little_endian:
        lo = s.lo
        sh = s.start - 8 * lo
        raw = p.le(lo) >> _U64(sh)
        if sh + L > 64:
            raw = raw | (p.pad[:, lo + 8].astype(np.uint64) << _U64(64 - sh))
    else:
        lo = s.lo
        rel = s.be_lsb - 8 * lo
        if rel <= 63:
            raw = p.be(lo) >> _U64(63 - rel)
        else:
            t = 71 - rel
            raw = (p.be(lo) << _U64(8 - t)) | (p.pad[:, lo + 8].astype(np.uint64) >> _U64(t))
    if L < 64:
        raw = raw & mask
    return raw


def to_numeric(raw: np.ndarray, s: CompiledSignal) -> np.ndarray:
    """Raw bits -> the raw number (signed int64, uint64 or float)."""
    if s.is_float:
        if s.length == 32:
            return raw.astype(np.uint32).view(np.float32)
        return raw.view(np.float64)
    if s.signed:
        if s.length < 64:
            sb = _U64(1 << (s.length - 1))
            return ((raw ^ sb) - sb).view(np.int64)
        return raw.view(np.int64)
    if s.length < 64:
        return raw.view(np.int64)     # fits
    return raw


def to_physical(num: np.ndarray, s: CompiledSignal) -> np.ndarray:
    """Raw numbers -> physical values: float64, or integers where the DBC makes every value
    one (int32 when every value the signal can hold fits one, else int64; uint64 raw
    64-bit unsigned)."""
    if s.is_float:
        with np.errstate(invalid="ignore"):     # signalling NaNs stay NaN
            v = num.astype(np.float64)
        if s.scale == 1 and s.offset == 0:
            return v
        return v * s.scale + s.offset
    if s.integer_out:
        if s.int32:         # every value the DBC allows fits: half the bytes downstream
            if s.scale == 1 and s.offset == 0:
                return num.astype(np.int32)
            return (num * np.int64(s.scale) + np.int64(s.offset)).astype(np.int32)
        if s.scale == 1 and s.offset == 0:
            return num
        if num.dtype == np.uint64:
            return num * _U64(s.scale) + _U64(s.offset) if s.scale >= 0 and s.offset >= 0 \
                else num.astype(np.float64) * s.scale + s.offset
        return num * np.int64(s.scale) + np.int64(s.offset)
    return num.astype(np.float64) * float(s.scale) + float(s.offset)


@dataclass
class MessageColumns:
    """Decoded columns of one message for a set of frames."""

    message: CompiledMessage
    values: dict[str, np.ndarray] = field(default_factory=dict)     # by signal name
    present: dict[str, np.ndarray | None] = field(default_factory=dict)
    label_codes: dict[str, np.ndarray] = field(default_factory=dict)  # -1 = no label
    unknown_mux: int = 0          # frames whose multiplexer value has no branch


def decode_columns(msg: CompiledMessage, data: np.ndarray,
                   le0: np.ndarray | None = None) -> MessageColumns:
    """Decode frames' payloads ``data`` (``(n, >= min(len, 8))`` uint8) of message ``msg``
    (``le0``: optionally the first 8 bytes as little-endian uint64 words)."""
    p = Payload(data, msg.length, le0)
    out = MessageColumns(msg)
    nums: dict[str, np.ndarray] = {}
    branch_ids: dict[str, set[int]] = {}
    for s in msg.signals:
        if s.mux_signal is not None and s.mux_ids:
            branch_ids.setdefault(s.mux_signal, set()).update(s.mux_ids)
    bad = None
    rawbits: dict[str, tuple[np.ndarray, int, bool]] = {}   # short plain-integer multiplexers
    for s in msg.signals:
        raw = extract_raw(p, s)
        num = to_numeric(raw, s)
        phys = to_physical(num, s)
        out.values[s.name] = phys
        present = None
        if s.mux_signal is not None and s.mux_ids and s.mux_signal in nums:
            if s.mux_signal in rawbits:
                rb, ln, signed = rawbits[s.mux_signal]
                lut = np.zeros(1 << ln, bool)
                lo = -(1 << (ln - 1)) if signed else 0
                for i in s.mux_ids:
                    if lo <= i < lo + (1 << ln):
                        lut[i & ((1 << ln) - 1)] = True
                present = lut[rb]
            else:
                sel = nums[s.mux_signal]
                ids = np.array(sorted(s.mux_ids),
                               dtype=sel.dtype if sel.dtype.kind in "iu" else np.int64)
                present = np.isin(sel, ids)
            parent = out.present.get(s.mux_signal)
            if parent is not None:
                present &= parent
        out.present[s.name] = present
        if s.is_multiplexer:
            if s.integer_out and s.scale == 1 and s.offset == 0:
                mnum = num if num.dtype.kind in "iu" else num.astype(np.int64)
                if s.length <= 16 and (not s.signed or s.length > 1):
                    rawbits[s.name] = (raw, s.length, s.signed)
            else:
                mnum = np.trunc(np.asarray(phys, np.float64)).astype(np.int64)
            nums[s.name] = mnum
            if s.name in branch_ids:
                ids = np.array(sorted(branch_ids[s.name]), dtype=mnum.dtype)
                miss = ~np.isin(mnum, ids)
                if present is not None:
                    miss &= present
                bad = miss if bad is None else (bad | miss)
        if s.choice_lut is not None:
            out.label_codes[s.name] = s.choice_lut[raw]
        elif s.choice_keys is not None:
            key = num if num.dtype.kind == "i" else (
                np.trunc(num).astype(np.int64) if num.dtype.kind == "f" else num.astype(np.int64))
            keys, codes = s.choice_keys, s.choice_codes
            assert keys is not None and codes is not None
            idx = np.searchsorted(keys, key)
            idx_c = np.minimum(idx, len(keys) - 1)
            hit = keys[idx_c] == key
            if num.dtype == np.uint64:
                hit &= num < np.uint64(1 << 63)
            out.label_codes[s.name] = np.where(hit, codes[idx_c], -1).astype(np.int32)
    if bad is not None:
        out.unknown_mux = int(bad.sum())
    return out

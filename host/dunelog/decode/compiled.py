"""Compile cantools messages into plain objects the vectorised decoder works from."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CompiledSignal", "CompiledMessage", "CompiledDatabase", "compile_message",
           "compile_database", "load_database", "load_compiled", "cache_dir", "j1939_pgn"]

RESERVED = {"time_us", "boot", "utc", "channel", "frame_id", "logger_id", "vehicle"}


@dataclass
class CompiledSignal:
    name: str
    column: str                 # output column name (renamed if it collides)
    start: int                  # cantools start bit (DBC numbering)
    length: int
    little_endian: bool
    signed: bool
    is_float: bool
    scale: float | int
    offset: float | int
    integer_out: bool           # physical value is an integer (identity/int linear)
    unit: str
    choices: dict[int, str] | None
    mux_signal: str | None      # the multiplexer this signal depends on
    mux_ids: tuple[int, ...] | None
    is_multiplexer: bool
    lo: int = 0                 # first payload byte touched
    hi: int = 0                 # last payload byte touched
    be_lsb: int = 0             # big-endian bit number of the LSB (Motorola)
    choice_keys: np.ndarray | None = None
    choice_labels: list[str] | None = None
    choice_codes: np.ndarray | None = None
    choice_lut: np.ndarray | None = None   # raw bits -> label code (short integer signals)
    int32: bool = False         # integer output whose every value fits an int32


@dataclass
class CompiledMessage:
    name: str
    frame_id: int
    extended: bool
    length: int
    is_fd: bool
    j1939_pgn: int | None
    signals: list[CompiledSignal]
    unsupported: str | None = None   # reason the message cannot be decoded (reported)
    senders: list[str] = field(default_factory=list)


def j1939_pgn(frame_id):
    """PGN of 29-bit J1939 ids (int or uint array), as :func:`cantools.j1939`."""
    fid = np.asarray(frame_id, dtype=np.uint64) if not isinstance(frame_id, int) else frame_id
    pf = (fid >> 16) & 0xFF
    ps = (fid >> 8) & 0xFF
    dp = (fid >> 24) & 0x3
    if isinstance(fid, int):
        return (dp << 16) | (pf << 8) | (ps if pf >= 240 else 0)
    return (dp << np.uint64(16)) | (pf << np.uint64(8)) \
        | np.where(pf >= 240, ps, 0).astype(np.uint64)


def _num(x):
    return x if isinstance(x, (int, float)) else float(x)


def compile_signal(sig) -> CompiledSignal:
    choices = None
    if sig.choices:
        choices = {int(k): str(v) for k, v in sig.choices.items()}
    scale, offset = _num(sig.scale), _num(sig.offset)
    # integer arithmetic only where scale and offset are int64s (a DBC may say 1e308)
    integer_out = (not sig.is_float and isinstance(scale, int) and isinstance(offset, int)
                   and -_I64 <= scale < _I64 and -_I64 <= offset < _I64)
    col = sig.name + "_" if sig.name in RESERVED else sig.name
    cs = CompiledSignal(sig.name, col, sig.start, sig.length, sig.byte_order == "little_endian",
                        bool(sig.is_signed), bool(sig.is_float), scale, offset, integer_out,
                        sig.unit or "", choices, sig.multiplexer_signal,
                        tuple(sig.multiplexer_ids) if sig.multiplexer_ids else None,
                        bool(sig.is_multiplexer))
    if integer_out:
        raw = (-(1 << (cs.length - 1)), (1 << (cs.length - 1)) - 1) if cs.signed \
            else (0, (1 << cs.length) - 1)
        ends = [r * scale + offset for r in raw]
        cs.int32 = min(ends) >= -(1 << 31) and max(ends) < (1 << 31)
    if cs.little_endian:
        cs.lo = cs.start // 8
        cs.hi = (cs.start + cs.length - 1) // 8
    else:
        msb = (cs.start // 8) * 8 + 7 - cs.start % 8
        cs.be_lsb = msb + cs.length - 1
        cs.lo, cs.hi = msb // 8, cs.be_lsb // 8
    if choices:
        labels = sorted(set(choices.values()))
        pos = {lab: i for i, lab in enumerate(labels)}
        cs.choice_keys = np.array(sorted(choices), dtype=np.int64) \
            if all(-(1 << 63) <= k < (1 << 63) for k in choices) else None
        cs.choice_labels = labels
        cs.choice_codes = np.array([pos[choices[k]] for k in sorted(choices)], np.int32)
        if not cs.is_float and cs.length <= 16:
            lut = np.full(1 << cs.length, -1, np.int32)
            lo = -(1 << (cs.length - 1)) if cs.signed else 0
            for k in sorted(choices):
                if lo <= k < lo + (1 << cs.length):
                    lut[k & ((1 << cs.length) - 1)] = pos[choices[k]]
            cs.choice_lut = lut
    return cs


def compile_message(msg) -> CompiledMessage:
    """One cantools :class:`~cantools.database.can.Message` as a :class:`CompiledMessage`."""
    pgn = None
    if (getattr(msg, "protocol", None) or "").lower() == "j1939" and msg.is_extended_frame:
        pgn = j1939_pgn(int(msg.frame_id))
    cm = CompiledMessage(msg.name, int(msg.frame_id), bool(msg.is_extended_frame),
                         int(msg.length), bool(getattr(msg, "is_fd", False)), pgn,
                         [compile_signal(s) for s in msg.signals],
                         senders=list(msg.senders or []))
    if getattr(msg, "is_container", False):
        cm.unsupported = "container message"
    elif cm.length > 64:
        cm.unsupported = f"length {cm.length} > 64"
    else:
        for s in cm.signals:
            if s.length > 64 or s.length < 1:
                cm.unsupported = f"signal {s.name} has length {s.length}"
            elif s.hi >= cm.length or s.lo < 0:
                cm.unsupported = f"signal {s.name} does not fit in {cm.length} bytes"
            elif s.is_float and s.length not in (32, 64):
                cm.unsupported = f"float signal {s.name} of length {s.length}"
            if cm.unsupported:
                break
    # duplicate signal names (real-world DBCs have them): keep the one cantools reports
    # (little-endian formats override big-endian ones; within one byte order the first)
    win: dict[str, CompiledSignal] = {}
    for sg in cm.signals:
        w = win.get(sg.name)
        if w is None or (sg.little_endian and not w.little_endian):
            win[sg.name] = sg
    cm.signals = [sg for sg in cm.signals if win[sg.name] is sg]
    # order signals so that multiplexers come before the signals they select
    byname = {s.name: s for s in cm.signals}

    def depth(s, seen=0):
        return 0 if s.mux_signal is None or s.mux_signal not in byname or seen > 16 \
            else 1 + depth(byname[s.mux_signal], seen + 1)

    cm.signals.sort(key=depth)
    return cm


_I64 = 1 << 63
#: real DBCs declare signals longer than any frame (a 200-byte J1939 transport-protocol
#: text, 1,600 bits, in a DBC shipped with canmatrix); cantools allocates ~10 bytes per
#: declared bit when loading, so what is refused is only what no database means
MAX_SIGNAL_BITS = 1 << 16
_SG_LENGTH = re.compile(rb"^\s*SG_\s+(\S+).*?:\s*\d+\|(\d+)@", re.M)


def _check_signal_lengths(path: str) -> None:
    """A DBC signal of absurd length makes cantools allocate for it (2**31 bits: ~23 GB)
    before it fails: refuse it first, naming the line."""
    with open(path, "rb") as f:
        text = f.read()
    for m in _SG_LENGTH.finditer(text):
        if int(m.group(2)) > MAX_SIGNAL_BITS:
            line = text.count(b"\n", 0, m.start()) + 1
            raise ValueError(f"line {line}: signal {m.group(1).decode(errors='replace')} is "
                             f"{int(m.group(2))} bits long (at most {MAX_SIGNAL_BITS} are "
                             f"accepted; a CAN FD frame holds 512)")


def load_database(path: str | os.PathLike[str]):
    """Load a DBC/ARXML/KCD/SYM file with cantools (strict first, then lenient)."""
    import cantools
    if os.fspath(path).lower().endswith(".dbc"):
        _check_signal_lengths(os.fspath(path))
    try:
        return cantools.database.load_file(os.fspath(path))
    except Exception:  # noqa: BLE001 - any strict-mode complaint: retry leniently
        return cantools.database.load_file(os.fspath(path), strict=False)


def compile_database(db) -> list[CompiledMessage]:
    """All messages of a cantools database (or a path to one, or a
    :class:`CompiledDatabase`), compiled."""
    if isinstance(db, CompiledDatabase):
        return db.messages
    if isinstance(db, (str, os.PathLike)):
        return load_compiled(db).messages
    return [compile_message(m) for m in db.messages]


@dataclass
class CompiledDatabase:
    """The compiled messages of one database file (what :class:`~.decoder.Decoder` needs;
    ``messages`` as a cantools database's)."""

    path: str
    messages: list[CompiledMessage]


def cache_dir() -> str:
    """Where dunelog keeps what it can rebuild: ``$DUNELOG_CACHE``, else
    ``$XDG_CACHE_HOME/dunelog`` or ``~/.cache/dunelog``."""
    root = os.environ.get("DUNELOG_CACHE")
    if root:
        return root
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "dunelog")


@functools.lru_cache(maxsize=1)
def _compiler_digest() -> bytes:
    """This module's source: a change of the compiler is a new cache key."""
    import hashlib
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).digest()


def load_compiled(path: str | os.PathLike[str]) -> CompiledDatabase:
    """:func:`compile_database` of a database file, kept in :func:`cache_dir` by the
    file's contents: cantools is imported only for a file not seen before (importing it
    imports python-can, and with it asammdf: over a second; parsing a large DBC is more).
    Errors are cantools', as :func:`load_database`'s."""
    import hashlib
    import pickle
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    key = hashlib.sha256(data + b"\0" + os.path.splitext(path)[1].lower().encode()
                         + b"\0" + _compiler_digest()).hexdigest()[:32]
    cached = os.path.join(cache_dir(), "dbc", f"{key}.pickle")
    try:
        with open(cached, "rb") as f:
            msgs = pickle.load(f)
        return CompiledDatabase(path, msgs)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass
    msgs = [compile_message(m) for m in load_database(path).messages]
    try:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        tmp = f"{cached}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            pickle.dump(msgs, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cached)
    except OSError:
        pass                                  # a read-only home: no cache, same result
    return CompiledDatabase(path, msgs)

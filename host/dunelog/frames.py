"""CAN frames between the card and everything else: the chunk type and the one conversion
between dunelog flags and :class:`can.Message`.

* :class:`FrameChunk` - the frames of one chunk as NumPy structured arrays
  (:data:`~dunelog.card.bulk.CAN_DTYPE` / :data:`~dunelog.card.bulk.CANFD_DTYPE`) with their
  timestamps in seconds; every reader of :mod:`dunelog.io` yields them and every columnar
  consumer (the DBC decoder, the writers) takes them, whatever log they came from.
* :class:`Frames` / :func:`merged` - a chunk's classic and FD frames merged into time-ordered
  columns (what the writers consume).
* :func:`frame_message` (flags -> :class:`can.Message`) and :func:`message_flags`
  (:class:`can.Message` -> flags): the only places that map the dunelog ``CAN_*`` flag bits
  (:mod:`dunelog.card.format`) to python-can's attributes and back.  Everything else goes
  through them: :func:`frames_to_messages`, :func:`chunk_to_messages`,
  :func:`messages_to_chunks`.

Timestamps
----------
For a dunelog dump, the seconds are UTC seconds since 1970 for every boot that has a time
sync record (GNSS/PPS), else seconds since that boot started (boot time);
``FrameChunk.*_epoch`` says, per frame, which of the two it is.  For a foreign log the
timestamp is whatever the log holds (usually epoch seconds); in its chunks ``time_us`` is
``round(timestamp * 1e6)`` and ``boot`` is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from .card.bulk import CAN_DTYPE, CANFD_DTYPE
from .card.format import CAN_BRS, CAN_ERR, CAN_ESI, CAN_EXT, CAN_RTR, CAN_TX

if TYPE_CHECKING:       # python-can is imported when a message is made: it loads asammdf
    import can

__all__ = ["FrameChunk", "Frames", "merged", "frame_message", "message_flags",
           "frames_to_messages", "chunk_to_messages", "messages_to_chunks", "channel_int",
           "DEFAULT_MESSAGES_PER_CHUNK", "LEN2DLC"]

DEFAULT_MESSAGES_PER_CHUNK = 65536

#: DLC code for a CAN FD data length (0..64 bytes)
LEN2DLC = np.zeros(65, np.uint8)
for _n in range(65):
    LEN2DLC[_n] = _n if _n <= 8 else next(
        c for c, n in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64])
        if n >= _n)


@dataclass
class FrameChunk:
    """CAN frames of one chunk: ``classic`` (:data:`~dunelog.card.bulk.CAN_DTYPE`) and ``fd``
    (:data:`~dunelog.card.bulk.CANFD_DTYPE`), from ``file``.

    ``classic_time_s`` / ``fd_time_s`` are the timestamps in seconds (float64; UTC epoch
    where ``*_epoch`` is true, else seconds since boot).
    """

    file: str
    logger_id: int
    classic: np.ndarray
    fd: np.ndarray
    classic_time_s: np.ndarray
    fd_time_s: np.ndarray
    classic_epoch: np.ndarray = field(default=None)  # type: ignore[arg-type]
    fd_epoch: np.ndarray = field(default=None)  # type: ignore[arg-type]
    #: position of each frame (classic then fd) in the source's order, when known
    order: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.classic_epoch is None:
            self.classic_epoch = np.zeros(len(self.classic), bool)
        if self.fd_epoch is None:
            self.fd_epoch = np.zeros(len(self.fd), bool)

    def __len__(self) -> int:
        return len(self.classic) + len(self.fd)

    def merge_order(self) -> np.ndarray:
        """Permutation of the concatenated ``[classic, fd]`` frames into source order:
        the foreign log's message order, else by (boot, time_us) (a dump's time is not
        monotonic across boots, so the merge must not sort by the timestamp alone)."""
        if self.order is not None:
            return np.argsort(self.order, kind="stable")
        if not len(self.fd):
            return np.arange(len(self.classic))
        if not len(self.classic):
            return np.arange(len(self.fd))
        boot = np.concatenate([self.classic["boot"], self.fd["boot"]])
        t = np.concatenate([self.classic["time_us"], self.fd["time_us"]])
        return np.lexsort((t, boot))


@dataclass
class Frames:
    """One chunk's frames merged (classic and FD) in source order, as columns."""

    timestamp: np.ndarray   # float64 seconds
    channel: np.ndarray     # uint8
    id: np.ndarray          # uint32
    flags: np.ndarray       # uint8, dunelog CAN_* bits
    dlc: np.ndarray         # uint8 DLC code (0..15)
    data_len: np.ndarray    # uint8 bytes
    data: np.ndarray        # (n, 64) uint8, zero beyond data_len
    fd: np.ndarray          # bool

    def __len__(self) -> int:
        return len(self.id)

    def select(self, mask: np.ndarray) -> "Frames":
        """The frames where ``mask`` is true."""
        return Frames(*(getattr(self, k)[mask] for k in Frames.__dataclass_fields__))


def merged(chunk: FrameChunk) -> Frames:
    """Merge a chunk's classic and FD arrays into columns in source order."""
    c, f = chunk.classic, chunk.fd
    n = len(c) + len(f)
    data = np.zeros((n, 64), np.uint8)
    data[:len(c), :8] = c["data"]
    data[len(c):] = f["data"]
    cols = {k: np.concatenate([c[k], f[k]]) for k in ("channel", "id", "flags", "dlc",
                                                     "data_len")}
    ts = np.concatenate([chunk.classic_time_s, chunk.fd_time_s])
    fd = np.concatenate([np.zeros(len(c), bool), np.ones(len(f), bool)])
    if len(c) and len(f):
        o = chunk.merge_order()
        ts, fd, data = ts[o], fd[o], data[o]
        cols = {k: v[o] for k, v in cols.items()}
    return Frames(ts, fd=fd, data=data, **cols)


# --------------------------------------------------------------------- the conversion
def frame_message(timestamp: float, channel: Any, arbitration_id: int, flags: int,
                  dlc: int, data: bytes, fd: bool) -> can.Message:
    """One frame as a :class:`can.Message`: dunelog ``flags`` -> python-can attributes.

    ``dlc`` is the DLC code as on the wire; python-can's ``dlc`` is the data length, except
    for a classic remote frame, where it is the requested length (the DLC).
    """
    import can
    rtr = bool(flags & CAN_RTR)
    return can.Message(
        timestamp=timestamp, arbitration_id=arbitration_id,
        is_extended_id=bool(flags & CAN_EXT), is_remote_frame=rtr,
        is_error_frame=bool(flags & CAN_ERR), channel=channel,
        dlc=dlc if (rtr and not fd) else len(data), data=data, is_fd=fd,
        bitrate_switch=bool(flags & CAN_BRS), error_state_indicator=bool(flags & CAN_ESI),
        is_rx=not flags & CAN_TX, check=False)


def message_flags(m: can.Message) -> int:
    """The dunelog ``CAN_*`` flags of a :class:`can.Message` (the inverse of
    :func:`frame_message`; BRS and ESI only on CAN FD frames)."""
    fl = (CAN_EXT if m.is_extended_id else 0) | (CAN_RTR if m.is_remote_frame else 0) \
        | (CAN_ERR if m.is_error_frame else 0) | (0 if m.is_rx else CAN_TX)
    if m.is_fd:
        fl |= (CAN_BRS if m.bitrate_switch else 0) | \
            (CAN_ESI if m.error_state_indicator else 0)
    return fl


def frames_to_messages(fr: Frames, channel_fmt: Callable[[int], Any] | None = None
                       ) -> Iterator[can.Message]:
    """Yield a :class:`can.Message` for each frame of ``fr`` (``channel_fmt`` maps the
    dunelog channel number to the message's channel; default: the number)."""
    ts = fr.timestamp.tolist()
    ch = fr.channel.tolist()
    ids = fr.id.tolist()
    fl = fr.flags.tolist()
    dlc = fr.dlc.tolist()
    dl = fr.data_len.tolist()
    fd = fr.fd.tolist()
    data = fr.data
    for i in range(len(ids)):
        yield frame_message(ts[i], channel_fmt(ch[i]) if channel_fmt else ch[i], ids[i],
                            fl[i], dlc[i], data[i, :dl[i]].tobytes(), fd[i])


def chunk_to_messages(chunk: FrameChunk) -> Iterator[can.Message]:
    """The frames of a chunk as :class:`can.Message` in source order."""
    return frames_to_messages(merged(chunk))


def channel_int(ch: Any) -> int:
    """A python-can channel (``0``, ``"can1"``, ``"vcan0"``, None) as a channel number."""
    if ch is None:
        return 0
    if isinstance(ch, (int, np.integer)):
        return int(ch)
    from can.util import channel2int
    v = channel2int(ch)
    return int(v) if v is not None else 0


def messages_to_chunks(messages: Iterable[can.Message], file: str = "",
                       size: int = DEFAULT_MESSAGES_PER_CHUNK) -> Iterator[FrameChunk]:
    """Group :class:`can.Message` objects into :class:`FrameChunk` arrays of ``size``
    messages (``time_us = round(timestamp * 1e6)``, ``boot = 0``)."""
    buf: list[can.Message] = []
    for m in messages:
        buf.append(m)
        if len(buf) >= size:
            yield _build_chunk(buf, file)
            buf = []
    if buf:
        yield _build_chunk(buf, file)


def _build_chunk(msgs: list[can.Message], file: str) -> FrameChunk:
    isfd = np.array([bool(m.is_fd) for m in msgs], bool)
    fdm = [m for m in msgs if m.is_fd]
    clm = [m for m in msgs if not m.is_fd]
    pos = np.arange(len(msgs))
    order = np.concatenate([pos[~isfd], pos[isfd]])
    out = []
    for group, dt, width in ((clm, CAN_DTYPE, 8), (fdm, CANFD_DTYPE, 64)):
        a = np.zeros(len(group), dt)
        ts = np.empty(len(group), np.float64)
        for i, m in enumerate(group):
            t = float(m.timestamp or 0.0)
            ts[i] = t
            d = bytes(m.data or b"")[:width]
            if m.is_fd:
                dlc = int(LEN2DLC[len(d)])
            else:
                dlc = int(m.dlc) if m.dlc is not None else len(d)
            r = a[i]
            r["time_us"] = max(int(round(t * 1e6)), 0)
            r["id"] = int(m.arbitration_id)
            r["channel"] = channel_int(m.channel) & 0xFF
            r["flags"] = message_flags(m)
            r["dlc"] = dlc
            r["data_len"] = len(d)
            r["data"][:len(d)] = np.frombuffer(d, np.uint8)
        out.append((a, ts))
    (ca, ct), (fa, ft) = out
    return FrameChunk(file, 0, ca, fa, ct, ft, np.ones(len(ca), bool), np.ones(len(fa), bool),
                      order)

"""Formats written by python-can's own writers: BLF, ASC, TRC and candump ``.log``.

Frames go to the python-can writer as :class:`can.Message` objects (the writer owns the
file format).  Channel: dunelog channel ``n`` is passed as ``n``; BLF, ASC and TRC store
it 1-based (python-can adds 1 on write and removes it on read), candump ``.log`` stores
it as the interface name ``can<n>``.
"""

from __future__ import annotations

import logging

import can
import numpy as np

from ..format import CAN_BRS, CAN_ERR, CAN_ESI, CAN_EXT, CAN_RTR, CAN_TX
from .base import Frames, FrameWriter, register

__all__ = ["BlfWriter", "AscWriter", "TrcWriter", "CandumpLogWriter", "frames_to_messages"]


def frames_to_messages(fr: Frames, channel_fmt=None):
    """Yield :class:`can.Message` for each frame of ``fr``."""
    ts = fr.timestamp.tolist()
    ch = fr.channel.tolist()
    ids = fr.id.tolist()
    fl = fr.flags.tolist()
    dlc = fr.dlc.tolist()
    dl = fr.data_len.tolist()
    fd = fr.fd.tolist()
    data = fr.data
    for i in range(len(ids)):
        f = fl[i]
        n = dl[i]
        isfd = fd[i]
        rtr = bool(f & CAN_RTR)
        yield can.Message(
            timestamp=ts[i], arbitration_id=ids[i], is_extended_id=bool(f & CAN_EXT),
            is_remote_frame=rtr, is_error_frame=bool(f & CAN_ERR),
            channel=channel_fmt(ch[i]) if channel_fmt else ch[i],
            dlc=dlc[i] if (rtr and not isfd) else n, data=data[i, :n].tobytes(),
            is_fd=isfd, bitrate_switch=bool(f & CAN_BRS),
            error_state_indicator=bool(f & CAN_ESI), is_rx=not f & CAN_TX, check=False)


class _PyCanWriter(FrameWriter):
    writer_class: type = None  # type: ignore[assignment]
    channel_fmt = None

    def __init__(self, path, **options) -> None:
        super().__init__(path, **options)
        self._w = self.writer_class(self.path, **options)

    def _keep(self, fr: Frames) -> np.ndarray | None:
        """Mask of the frames the format can hold (None: all)."""
        return None

    def write_frames(self, fr: Frames) -> int:
        keep = self._keep(fr)
        if keep is not None and not keep.all():
            self.skipped += int((~keep).sum())
            fr = Frames(*(getattr(fr, k)[keep] for k in Frames.__dataclass_fields__))
        on = self._w.on_message_received
        n = 0
        for m in frames_to_messages(fr, self.channel_fmt):
            on(m)
            n += 1
        return n

    def close(self) -> None:
        self._w.stop()


@register
class BlfWriter(_PyCanWriter):
    """Vector BLF (binary logging format), via :class:`can.BLFWriter`."""

    suffixes = (".blf",)
    description = "Vector BLF (python-can BLFWriter): channel, CAN FD, ns timestamps"
    writer_class = can.BLFWriter


@register
class AscWriter(_PyCanWriter):
    """Vector ASC (ASCII logging format), via :class:`can.ASCWriter`."""

    suffixes = (".asc",)
    description = "Vector ASC (python-can ASCWriter): channel, CAN FD, us timestamps"
    writer_class = can.ASCWriter


@register
class TrcWriter(_PyCanWriter):
    """PEAK TRC, via :class:`can.TRCWriter` (classic data frames only: python-can's
    TRC writer has no CAN FD, remote or error frames; those are skipped and counted)."""

    suffixes = (".trc",)
    description = "PEAK TRC v2.1 (python-can TRCWriter): channel, classic data frames only"
    writer_class = can.TRCWriter

    def _keep(self, fr: Frames) -> np.ndarray:
        keep = ~fr.fd & (fr.flags & (CAN_RTR | CAN_ERR) == 0)
        if not keep.all() and not self.skipped:
            logging.getLogger(__name__).warning(
                "%s: TRC holds no CAN FD/remote/error frames; skipping them", self.path)
        return keep


@register
class CandumpLogWriter(_PyCanWriter):
    """Linux candump ``-l`` log, via :class:`can.CanutilsLogWriter`."""

    suffixes = (".log",)
    description = "candump -l log (python-can CanutilsLogWriter): channel as canN, CAN FD"
    writer_class = can.CanutilsLogWriter
    channel_fmt = staticmethod(lambda c: f"can{c}")

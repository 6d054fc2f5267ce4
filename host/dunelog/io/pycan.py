"""Formats python-can reads and writes itself: BLF, ASC, TRC, candump ``.log`` (writers),
and any log :func:`can.LogReader` opens (the fallback reader: ``.blf .asc .trc .log .mf4
.csv .db``, plus plugins).

Frames go to the python-can writer as :class:`can.Message` objects (the writer owns the
file format).  Channel: dunelog channel ``n`` is passed as ``n``; BLF, ASC and TRC store
it 1-based (python-can adds 1 on write and removes it on read), candump ``.log`` stores
it as the interface name ``can<n>``.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterator

import can
import numpy as np

from ..card.format import CAN_ERR, CAN_RTR
from ..frames import Frames, frames_to_messages
from .base import (
    ANY_SUFFIX,
    FrameReader,
    FrameWriter,
    SourceError,
    register_reader,
    register_writer,
)

__all__ = ["PyCanReader", "BlfWriter", "AscWriter", "TrcWriter", "CandumpLogWriter"]


@register_reader
class PyCanReader(FrameReader):
    """Any log :func:`can.LogReader` opens (the fallback for every suffix)."""

    suffixes = (ANY_SUFFIX,)

    def messages(self) -> Iterator[can.Message]:
        path = self.path
        suffix = os.path.splitext(path)[1].lower()
        try:
            reader = can.LogReader(path)
        except ValueError as e:
            raise SourceError(f"{path}: not a dunelog dump and not a log python-can reads "
                              f"({e})") from None
        except Exception as e:  # noqa: BLE001 - libraries raise anything on bad files
            raise SourceError(f"cannot read {path}: {type(e).__name__}: {e}") from None
        # python-can's TRC writer stores channel n as bus n+1 but its reader returns the
        # bus number as is; undo that so a dunelog -> TRC -> dunelog round trip keeps
        # channels
        trc = suffix == ".trc"
        with reader:
            try:
                for m in reader:
                    if trc and isinstance(m.channel, int) and m.channel > 0:
                        m.channel -= 1
                    yield m
            except Exception as e:  # noqa: BLE001
                raise SourceError(f"cannot read {path}: {type(e).__name__}: {e}") from None


class _PyCanWriter(FrameWriter):
    writer_class: type[Any]
    channel_fmt: Callable[[int], Any] | None = None

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        super().__init__(path, **options)
        self._w = self.writer_class(self.path, **options)

    def _keep(self, fr: Frames) -> np.ndarray | None:
        """Mask of the frames the format can hold (None: all)."""
        return None

    def write_frames(self, fr: Frames) -> int:
        keep = self._keep(fr)
        if keep is not None and not keep.all():
            self.skipped += int((~keep).sum())
            fr = fr.select(keep)
        on = self._w.on_message_received
        n = 0
        for m in frames_to_messages(fr, self.channel_fmt):
            on(m)
            n += 1
        return n

    def close(self) -> None:
        self._w.stop()


@register_writer
class BlfWriter(_PyCanWriter):
    """Vector BLF (binary logging format), via :class:`can.BLFWriter`."""

    suffixes = (".blf",)
    description = "Vector BLF (python-can BLFWriter): channel, CAN FD, ns timestamps"
    writer_class = can.BLFWriter


@register_writer
class AscWriter(_PyCanWriter):
    """Vector ASC (ASCII logging format), via :class:`can.ASCWriter`."""

    suffixes = (".asc",)
    description = "Vector ASC (python-can ASCWriter): channel, CAN FD, us timestamps"
    writer_class = can.ASCWriter


@register_writer
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


def _canutils_channel(c: int) -> str:
    return f"can{c}"


@register_writer
class CandumpLogWriter(_PyCanWriter):
    """Linux candump ``-l`` log, via :class:`can.CanutilsLogWriter`."""

    suffixes = (".log",)
    description = "candump -l log (python-can CanutilsLogWriter): channel as canN, CAN FD"
    writer_class = can.CanutilsLogWriter
    channel_fmt = staticmethod(_canutils_channel)

"""ASAM MDF 4 (``.mf4``) CAN bus logging via asammdf.

The file uses asammdf's own bus-logging layout (the one its GUI, ``MDF.extract_bus_logging``
and python-can's MF4 reader understand): channel groups named ``CAN_DataFrame``,
``CAN_RemoteFrame`` and ``CAN_ErrorFrame`` with a CAN bus acquisition source
(``SOURCE_BUS``/``BUS_TYPE_CAN``, so the groups carry the bus-event flag) and the
structure members ``.BusChannel .ID .IDE .DLC .DataLength .DataBytes .Dir .EDL .BRS .ESI``.
Time is float64 seconds relative to the header start time, which is the first frame's
timestamp (UTC when the dump has a time sync).  Chunks are appended with
``MDF.extend`` (asammdf streams them to its temporary file), then saved once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np

from ..card.format import CAN_BRS, CAN_ERR, CAN_ESI, CAN_EXT, CAN_RTR, CAN_TX
from ..frames import Frames
from .base import FrameWriter, register_writer

__all__ = ["Mf4Writer", "DATA_DTYPE", "REMOTE_DTYPE", "ERROR_DTYPE"]


def _dt(prefix: str, with_data: bool = True) -> np.dtype:
    f = [(f"{prefix}.BusChannel", "<u1"), (f"{prefix}.ID", "<u4"), (f"{prefix}.IDE", "<u1"),
         (f"{prefix}.DLC", "<u1"), (f"{prefix}.DataLength", "<u1")]
    if with_data:
        f.append((f"{prefix}.DataBytes", "(64,)u1"))
    f.append((f"{prefix}.Dir", "<u1"))
    if with_data:
        f += [(f"{prefix}.EDL", "<u1"), (f"{prefix}.BRS", "<u1"), (f"{prefix}.ESI", "<u1")]
    return np.dtype(f)


DATA_DTYPE = _dt("CAN_DataFrame")
ERROR_DTYPE = _dt("CAN_ErrorFrame")
REMOTE_DTYPE = _dt("CAN_RemoteFrame", with_data=False)
_GROUPS = (("CAN_DataFrame", DATA_DTYPE), ("CAN_ErrorFrame", ERROR_DTYPE),
           ("CAN_RemoteFrame", REMOTE_DTYPE))


@register_writer
class Mf4Writer(FrameWriter):
    """MDF 4.10 bus logging file (asammdf)."""

    suffixes = (".mf4",)
    description = "ASAM MDF 4 CAN bus logging (asammdf): channel, CAN FD, remote/error, " \
                  "float64 s timestamps"

    def __init__(self, path: str, *, compression: Literal[0, 1, 2, 3, 4, 5] = 2,
                 **options: Any) -> None:
        super().__init__(path, **options)
        from asammdf import MDF, Signal
        from asammdf.blocks.source_utils import Source
        self._mdf = MDF(version="4.10")
        self._compression = compression
        self._start: float | None = None
        src = Source(name="dunelog", path="dunelog", comment="dunelog CAN logger",
                     source_type=Source.SOURCE_BUS, bus_type=Source.BUS_TYPE_CAN)
        for name, dt in _GROUPS:
            self._mdf.append(Signal(name=name, samples=np.array([], dtype=dt),
                                    timestamps=np.array([], dtype="<f8"), source=src),
                             comment=f"dunelog {name}")

    def write_frames(self, fr: Frames) -> int:
        if self._start is None:
            self._start = float(fr.timestamp[0])
            self._mdf.header.start_time = datetime.fromtimestamp(self._start, timezone.utc)
        t = fr.timestamp - self._start
        fl = fr.flags
        rtr = (fl & CAN_RTR != 0) & ~fr.fd
        err = (fl & CAN_ERR != 0) & ~rtr
        dat = ~rtr & ~err
        for gi, (name, dt), m in zip(range(3), _GROUPS, (dat, err, rtr)):
            if not m.any():
                continue
            a = np.zeros(int(m.sum()), dt)
            a[f"{name}.BusChannel"] = fr.channel[m]
            a[f"{name}.ID"] = fr.id[m]
            a[f"{name}.IDE"] = fl[m] & CAN_EXT != 0
            a[f"{name}.DLC"] = fr.dlc[m]
            a[f"{name}.DataLength"] = fr.data_len[m]
            a[f"{name}.Dir"] = fl[m] & CAN_TX != 0      # 0 = Rx, 1 = Tx
            if name != "CAN_RemoteFrame":
                a[f"{name}.DataBytes"] = fr.data[m]
                a[f"{name}.EDL"] = fr.fd[m]
                a[f"{name}.BRS"] = (fl[m] & CAN_BRS != 0) & fr.fd[m]
                a[f"{name}.ESI"] = (fl[m] & CAN_ESI != 0) & fr.fd[m]
            self._mdf.extend(gi, [(np.ascontiguousarray(t[m]), None), (a, None)])
        return len(fr)

    def close(self) -> None:
        try:
            self._mdf.save(self.path, overwrite=True, compression=self._compression)
        finally:
            self._mdf.close()

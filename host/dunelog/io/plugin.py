"""The python-can plugin: :class:`DunelogReader` is registered in ``pyproject.toml`` under
the entry-point group ``can.io.message_reader`` (key ``.dlg``), which python-can 4.x
consults in :func:`can.LogReader`; so these work once dunelog is installed::

    import can
    for msg in can.LogReader("B00001_S0000.dlg"): ...
    python -m can.logconvert B00001_S0000.dlg out.blf
    python -m can.player -i virtual B00001_S0000.dlg

A module of its own: it subclasses python-can's ``MessageReader``, and python-can imports
asammdf (~1 s), which reading a dump with :mod:`.dlg` does not need."""

from __future__ import annotations

import os
from typing import Any, Iterator

import can
from can.io.generic import MessageReader

from .dlg import DlgReader

__all__ = ["DunelogReader"]


class DunelogReader(MessageReader):
    """python-can plugin: iterate the CAN frames of a dunelog segment file, directory or
    dump tree (:class:`can.Message`, as :meth:`DlgReader.messages`)."""

    def __init__(self, file: Any, **kwargs: Any) -> None:
        if not isinstance(file, (str, bytes, os.PathLike)):
            raise TypeError("DunelogReader needs a path (segment file or directory), "
                            f"not {type(file).__name__}")
        self.file = None
        self.path = os.fsdecode(file)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such file or directory: {self.path}")

    def __iter__(self) -> Iterator[can.Message]:
        yield from DlgReader(self.path).messages()

    def stop(self) -> None:
        pass

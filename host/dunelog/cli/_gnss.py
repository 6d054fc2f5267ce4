"""The GNSS-as-CAN options of ``convert`` and ``decode``: ``--gnss-can/--no-gnss-can``,
``--gnss-id BASE``, ``--gnss-channel N`` (see :mod:`dunelog.io.gnss_can`)."""

from __future__ import annotations

import argparse
import os

from ..io.gnss_can import DEFAULT_BASE_ID, DEFAULT_CHANNEL, GnssCan
from ._common import UnusableInput

__all__ = ["GNSS_DEFAULT_SUFFIXES", "add_gnss_options", "gnss_for"]

#: outputs that get the GNSS frames unless --no-gnss-can: the binary formats CAN tools
#: open with a DBC (CANalyzer/CANoe, asammdf), as CANedge MF4s carry their GNSS frames
GNSS_DEFAULT_SUFFIXES = (".blf", ".mf4")


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r} (e.g. 0x6D0)") from None


def add_gnss_options(p: argparse.ArgumentParser, what: str) -> None:
    """Add the three options to ``p``; ``what`` says what they add to (help text)."""
    g = p.add_argument_group("GNSS fixes as CAN frames (dbc/dunelog_gnss.dbc; docs/EXPORT.md)")
    g.add_argument("--gnss-can", action=argparse.BooleanOptionalAction, default=None,
                   help=f"{what} (default: on for .blf and .mf4, off otherwise; a foreign "
                        "log has no fixes to add)")
    g.add_argument("--gnss-id", type=_int, default=DEFAULT_BASE_ID, metavar="BASE",
                   help=f"CAN id of the first of the 4 GNSS messages (default "
                        f"0x{DEFAULT_BASE_ID:X}: ids 0x{DEFAULT_BASE_ID:X}-"
                        f"0x{DEFAULT_BASE_ID + 3:X}; above 0x7FC: 29-bit ids)")
    g.add_argument("--gnss-channel", type=int, default=DEFAULT_CHANNEL, metavar="N",
                   help=f"channel of the GNSS frames, 0-based as --channel (default "
                        f"{DEFAULT_CHANNEL}: CAN {DEFAULT_CHANNEL + 1} in BLF/ASC; no board "
                        "logs it)")


def gnss_for(args: argparse.Namespace, out: str) -> GnssCan | None:
    """The :class:`GnssCan` for output ``out`` (None: no GNSS frames), or
    :class:`UnusableInput` for a bad ``--gnss-id``/``--gnss-channel``."""
    on = args.gnss_can
    if on is None:
        on = os.path.splitext(out)[1].lower() in GNSS_DEFAULT_SUFFIXES
    if not on:
        return None
    try:
        return GnssCan(base_id=args.gnss_id, channel=args.gnss_channel)
    except ValueError as e:
        raise UnusableInput(str(e)) from None

"""Vectorised DBC decoding (``dunelog.decode``).

Databases are loaded by cantools (DBC, ARXML, KCD, SYM), compiled into plain per-signal
descriptions (:mod:`.compiled`) and whole columns of frames per message are decoded with
NumPy (:mod:`.vector`).  Values equal ``cantools`` ``Database.decode_message``.
:mod:`.sink` decodes a whole source into Parquet/CSV files (``dunelog decode``);
:mod:`.window` keeps the frames of a time window; :mod:`.result` keeps the decoded tables in
memory (:class:`~.result.Decoded`: pandas, Polars, pyarrow; what ``dunelog.open(x).decode``
returns).

>>> from dunelog.decode import Decoder
>>> dec = Decoder(["dbc/recce.dbc"])
>>> for msg in dec.decode(chunk.classic, timebase): msg.to_arrow()
>>> dec.report.lines()
"""

from .compiled import (
                       CompiledDatabase,
                       CompiledMessage,
                       CompiledSignal,
                       compile_database,
                       compile_message,
                       j1939_pgn,
                       load_compiled,
                       load_database,
)
from .decoder import DecodedMessage, Decoder, DecodeReport
from .result import Decoded, decode_frames
from .sink import TableSink, decode_dump, with_timebase
from .vector import MessageColumns, decode_columns
from .window import parse_time, window

__all__ = ["Decoder", "DecodedMessage", "DecodeReport", "CompiledMessage", "CompiledSignal",
           "compile_database", "compile_message", "load_database", "load_compiled",
           "CompiledDatabase", "j1939_pgn",
           "decode_columns", "MessageColumns", "decode_dump", "TableSink", "with_timebase",
           "parse_time", "window", "Decoded", "decode_frames"]

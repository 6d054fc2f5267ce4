"""The on-card format and reading it: the lowest layer of the host package.

* :mod:`.format` - the normative block and record layout (construct), record and flag
  constants, and builders used by tests and benchmarks;
* :mod:`.blocks` - segment scanning, CRC checks and resync; :mod:`.bulk` - NumPy views of
  whole blocks (CAN frames as structured arrays); :mod:`.records` - typed records;
* :mod:`.dump` - :class:`~.dump.Dump`: a segment, a directory or a dump tree, read in
  chunks; :mod:`.problems` - integrity problems; :mod:`.timebase` - boot time -> UTC;
* :mod:`.info` - the ``dunelog info`` summary; :mod:`.reference` - the slow, construct-only
  reader the fast one is tested against.

Nothing here imports from the rest of :mod:`dunelog`.
"""

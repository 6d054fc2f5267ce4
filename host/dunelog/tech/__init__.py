"""Technician tools that talk to a board or an archive (docs/TECHNICIAN.md).

* :mod:`.board` - mpremote raw REPL connection and the console status query;
* :mod:`.deploy` - build, stage, verify, swap and confirm the firmware;
* :mod:`.config` - board configs: templates, the firmware's own validator, diffs;
* :mod:`.status` - a running logger's status with rates;
* :mod:`.ingest` - a card's segments into the archive, verified; :mod:`.pull` - the same
  over USB.
"""

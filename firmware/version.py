# The firmware version. `dunelog deploy` replaces this file on the board with one stamped
# from git (e.g. "0.2.0+g1a2b3c4" or "0.2.0+g1a2b3c4.dirty"); the session-start record,
# segment headers and the console status line carry it.
VERSION = "0.2.0"

# Board entry point: start logging with no host attached. On the Unix port the same file
# runs the firmware against vcan0 (DUNELOG_CARD names the directory that plays the card;
# DUNELOG_SECONDS stops it after that many seconds). Ctrl-C / SIGINT closes the log
# cleanly (on a board: then the REPL).
try:                        # a staged update left by a killed deploy (boot.py does this
    import swap             # on a board; the Unix port runs main.py only): finish it first
    swap.apply()
except Exception as e:      # noqa: BLE001 - never stop logging over it
    print("dunelog: swap:", e)
import app

try:
    import os
    _s = os.getenv("DUNELOG_SECONDS")
except (ImportError, AttributeError):
    _s = None
try:
    app.main(float(_s) if _s else None)
except KeyboardInterrupt:
    print("dunelog: stopped")

# PYTHON_ARGCOMPLETE_OK
"""``python -m dunelog.cli`` (as ``python -m dunelog``)."""

import sys

from . import main

sys.exit(main())

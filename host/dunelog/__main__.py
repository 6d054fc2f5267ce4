# PYTHON_ARGCOMPLETE_OK
"""``python -m dunelog``."""

import sys

from .cli import main

sys.exit(main())

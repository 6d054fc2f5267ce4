"""Environment faults of the HIL: the rig could not run here (no vcan, no guest kernel, a
guest that would not boot). They are not test failures: they end in one line that names
what is missing and how to install it, and in their own exit status."""
from __future__ import annotations

#: exit status of `dunelog hil run` / `python -m hil.vcan` when the HIL could not run
#: (distinct from 1, "ran and a check failed"; 77 is the automake/meson "skipped" code,
#: but here it is an error that CI reports as one)
EXIT_CANNOT_RUN = 77


class EnvFault(Exception):
    """The HIL could not run here. ``str(e)`` is one line: what is missing, and the
    command that installs it."""

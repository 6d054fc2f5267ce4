"""``dunelog completion bash|zsh|fish``: the shell completion script (argcomplete).

``eval "$(dunelog completion bash)"`` in ~/.bashrc (or ``eval "$(register-python-argcomplete
dunelog)"``, argcomplete's own command) completes commands, options, files and the serial
devices of ``--port``.  Needs the ``completion`` extra: ``pip install 'dunelog[completion]'``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import EXIT_OK, UnusableInput, add_command

__all__ = ["register", "cmd_completion", "autocomplete"]

SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request, if this run is one (argcomplete exits then);
    a no-op without argcomplete or outside completion."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the completion script of ``args.shell``."""
    try:
        import argcomplete
    except ImportError:
        raise UnusableInput("shell completion needs argcomplete: "
                            "pip install 'dunelog[completion]'") from None
    sys.stdout.write(argcomplete.shellcode(["dunelog"], shell=args.shell))
    return EXIT_OK


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the ``completion`` subcommand to the subparsers action ``sub``."""
    p = add_command(sub, "completion", help="print the shell completion script (argcomplete)",
                    examples="""\
  eval "$(dunelog completion bash)"          # in ~/.bashrc
  dunelog completion zsh > ~/.zfunc/_dunelog
  dunelog completion fish > ~/.config/fish/completions/dunelog.fish
""")
    p.add_argument("shell", nargs="?", choices=SHELLS, default="bash",
                   help="the shell (default bash)")
    p.set_defaults(func=cmd_completion)
    return p

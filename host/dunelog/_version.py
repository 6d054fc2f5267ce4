"""The installed distribution's version, in a module of its own so that the package's
modules can read it without importing the :mod:`dunelog` facade (tests/test_layout.py)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    #: the installed distribution's version (pyproject.toml ``[project] version``)
    __version__ = version("dunelog")
except PackageNotFoundError:  # pragma: no cover - a source tree on sys.path, not installed
    __version__ = "0+unknown"

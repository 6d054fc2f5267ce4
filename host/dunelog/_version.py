"""The package's version, in a module of its own so that the package's modules can read it
without importing the :mod:`dunelog` facade (tests/test_layout.py), and that pyproject.toml
reads for the distribution's (``[tool.setuptools.dynamic]``)."""

__all__ = ["__version__"]

#: the version of dunelog (and of its distribution)
__version__ = "0.1.0"

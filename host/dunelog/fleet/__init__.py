"""A rally's archive as one dataset (``dunelog decode ARCHIVE --dataset OUT``,
``dunelog query``): Hive-partitioned Parquet, one task per segment file, run in this
process, in processes forked from it or on ``dask.distributed``, queried with DuckDB.
See docs/FLEET.md.

==================  ==================================================================
:mod:`.plan`        a segment file's context and its task (what its output depends on)
:mod:`.task`        one task: one segment file into its parts
:mod:`.tables`      the ``gnss``, ``events``, ``status`` and ``integrity`` tables
:mod:`.store`       parts written whole or not at all; ``_dataset.json``
:mod:`.engine`      where tasks run: this process, forked processes, Dask workers
:mod:`.build`       the whole decode, incremental
:mod:`.query`       DuckDB views over the dataset
==================  ==================================================================
"""

from __future__ import annotations

from .build import BuildReport, DatasetError, build_dataset
from .engine import (
    DaskEngine,
    Engine,
    EngineError,
    ProcessEngine,
    SerialEngine,
    make_engine,
)
from .plan import DecodeSpec

__all__ = ["build_dataset", "BuildReport", "DatasetError", "DecodeSpec", "Engine",
           "SerialEngine", "ProcessEngine", "DaskEngine", "EngineError", "make_engine"]

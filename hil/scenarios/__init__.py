"""HIL scenarios, versioned with the firmware: each states its stimulus and what the log
must show (its docstring and ``summary``), and is a function ``run(rig, result)`` that
drives the rig and records failed checks in the result.

    dunelog hil list            # names and summaries
    dunelog hil run [NAME ...]  # run them on vcan0 (here or in user-mode Linux)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from hil.rig import Result, Rig

MODULES = ("nominal", "bus", "gnss", "power", "config", "mcp2515")


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: Callable[[Rig, Result], None]
    minutes: float              # rough wall time at scale 1 (for planning a CI budget)
    needs_root: bool = False    # mounts a small tmpfs card
    unix_only: bool = False     # kills the process / mounts its card: not on a real board


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, summary: str, minutes: float, needs_root: bool = False,
             unix_only: bool = False):
    """Register the decorated ``run(rig, result)`` function as scenario ``name``."""
    def deco(fn: Callable[[Rig, Result], None]) -> Callable[[Rig, Result], None]:
        SCENARIOS[name] = Scenario(name, summary, fn, minutes, needs_root, unix_only)
        return fn
    return deco


def all_scenarios() -> dict[str, Scenario]:
    for m in MODULES:
        importlib.import_module(f"hil.scenarios.{m}")
    return SCENARIOS

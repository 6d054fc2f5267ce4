"""``dunelog plot``: chosen DBC signals of a dump in one image (matplotlib).

One subplot per signal, sharing the x axis (UTC when the dump has a time sync, else
seconds with the boots laid end to end); y labelled with the signal's unit from the DBC.
Each signal is drawn from a min/max envelope (:class:`~dunelog.report.envelope.Envelope`,
``points`` buckets), so a 12-hour dump plots as fast as a short one and keeps every spike.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Sequence

import numpy as np

from .gather import ReportData, gather

__all__ = ["plot_signals", "write_plot", "PLOT_FORMATS"]

#: output suffixes matplotlib writes for us
PLOT_FORMATS = (".png", ".svg", ".pdf")


def plot_signals(data: ReportData, *, width: float = 11.0, row_height: float = 2.4,
                 title: str | None = None):
    """A matplotlib ``Figure`` with one subplot per signal of ``data``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    sigs = data.signals
    if not sigs:
        raise ValueError("no signal to plot (none of the names is in the dump)")
    fig = Figure(figsize=(width, 0.9 + row_height * len(sigs)), layout="constrained")
    axes = fig.subplots(len(sigs), 1, sharex=True, squeeze=False)[:, 0]
    utc = data.axis.utc
    for ax, s in zip(axes, sigs):
        env = s.by_time
        m = env.count > 0
        fx, lo, hi, mean = env.centres()[m], env.lo[m], env.hi[m], env.mean[m]
        if fx.size > 2:                        # break the line across long silences
            step = np.diff(fx)
            brk = np.flatnonzero(step > 3 * np.median(step)) + 1
            fx = np.insert(fx, brk, np.nan)
            lo, hi, mean = (np.insert(a, brk, np.nan) for a in (lo, hi, mean))
        if utc:
            fx = np.array([np.datetime64("NaT") if np.isnan(v) else
                           np.datetime64(int(round(v * 1e6)), "us") for v in fx.tolist()],
                          dtype="datetime64[us]")
        ax.fill_between(fx, lo, hi, alpha=0.25, linewidth=0)
        ax.plot(fx, mean, linewidth=0.9)
        unit = s.unit or "-"
        ax.set_ylabel(f"{s.name}\n({unit})")
        ax.grid(True, alpha=0.3)
        ax.set_title(f"{s.name} [{unit}] - {s.message}, {s.by_time.samples:,} samples",
                     fontsize=9, loc="left")
    last = axes[-1]
    if utc:
        loc = mdates.AutoDateLocator()
        last.xaxis.set_major_locator(loc)
        last.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        day = datetime.fromtimestamp(data.axis.x0, timezone.utc).strftime("%Y-%m-%d")
        last.set_xlabel(f"time (UTC, {day})")
    else:
        last.set_xlabel("time (s; no UTC sync: boots laid end to end)")
    fig.suptitle(title or f"dunelog: {os.path.basename(os.path.normpath(data.path))}",
                 fontsize=11)
    return fig


def write_plot(path: str | os.PathLike[str], dump, *, dbc: Sequence[str],
               signals: Sequence[str], points: int = 2000, dpi: int = 120) -> ReportData:
    """Plot ``signals`` of ``dump`` decoded with ``dbc`` to ``path`` (.png, .svg, .pdf)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in PLOT_FORMATS:
        raise ValueError(f"unknown plot format {suffix!r}: use one of {', '.join(PLOT_FORMATS)}")
    data = gather(dump, dbc=dbc, signals=list(signals), buckets=points)
    fig = plot_signals(data)
    fig.savefig(path, dpi=dpi, metadata={"Software": "dunelog"} if suffix == ".png" else None)
    return data

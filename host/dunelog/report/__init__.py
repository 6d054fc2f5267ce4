"""The day's report (``dunelog report``) and one-off signal plots (``dunelog plot``).

>>> import dunelog
>>> from dunelog.report import build_report, write_report
>>> html = build_report(dunelog.open("out/demo/card"), dbc=["dbc/recce.dbc"])
>>> write_report("report.html", dunelog.open("out/demo/card"), dbc=["dbc/recce.dbc"])

* :mod:`.gather` - one :class:`~.gather.ReportData` from a dump (reuses
  :func:`dunelog.card.info.dump_info`, :func:`dunelog.track.track_from_records` and
  :class:`dunelog.decode.Decoder`);
* :mod:`.envelope` - min/max/mean buckets that keep a 12-hour dump's plots small;
* :mod:`.render` - the self-contained HTML page (inline SVG, CSS and script);
* :mod:`.plot` - ``dunelog plot`` with matplotlib (PNG, SVG, PDF).
"""

from __future__ import annotations

import os
from typing import Sequence

from .envelope import Envelope
from .gather import DEFAULT_SIGNALS, ReportData, gather
from .render import render_html

__all__ = ["build_report", "write_report", "gather", "render_html", "ReportData", "Envelope",
           "DEFAULT_SIGNALS"]


def build_report(dump, *, dbc: Sequence[str] = (), signals: Sequence[str] | None = None,
                 command: Sequence[str] | str | None = None, **kw) -> str:
    """The report of ``dump`` as one HTML string (keywords as :func:`.gather.gather`)."""
    return render_html(gather(dump, dbc=dbc, signals=signals, **kw), command=command)


def write_report(path: str | os.PathLike[str], dump, **kw) -> ReportData:
    """Write the report of ``dump`` to ``path``; returns the gathered data."""
    command = kw.pop("command", None)
    data = gather(dump, **kw)
    text = render_html(data, command=command)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return data

"""The dataset's tables that are not DBC messages: ``gnss``, ``events``, ``status`` and
``integrity``, built from the records and problems of one segment file.

Every table has ``time_us`` and ``boot`` (the logger's clock), ``utc`` (the same instant
on the UTC time base every CAN table uses, null before the boot's first time sync) and
``logger_id``; ``vehicle`` and ``date`` are the partition columns.  Units are in each
table's :data:`UNITS` (written to the Parquet schema metadata).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..card import format as F
from ..card.bulk import GNSS_DTYPE
from ..card.problems import Problem
from ..card.records import Event, GnssFix, Overflow, Status
from ..card.timebase import TimeBase
from ..decode.arrow import from_numpy, strings

__all__ = ["RecordTables", "UNITS", "EVENT_KINDS", "RECORD_TABLES", "empty_tables"]

RECORD_TABLES = ("gnss", "events", "status", "integrity")

EVENT_KINDS = {F.EVENT_BUTTON: "button", F.EVENT_MARK: "mark", F.EVENT_ERROR: "error",
               F.EVENT_CONFIG: "config", F.EVENT_INFO: "info"}

UNITS: dict[str, dict[str, str]] = {
    "gnss": {"lat": "deg", "lon": "deg", "alt": "m", "speed": "m/s", "course": "deg",
             "hdop": "", "sats": "", "fix_type": ""},
    "status": {"supply": "V", "temperature": "degC", "ring_fill": "%", "drops": "",
               "write_ms_max": "ms", "free": "KiB", "uptime": "s"},
    "events": {},
    "integrity": {"offset": "byte", "missing_blocks": "blocks", "dropped": "records"},
}

_NA16, _NA32 = 0xFFFF, 0xFFFFFFFF
_MISSING = ("seq_gap", "cut_in_rotation")      # problems with a range of missing blocks
_EPOCH_DAY_US = 86_400_000_000


class RecordTables:
    """Collects the non-CAN records of one segment file and makes their Arrow tables."""

    def __init__(self, logger_id: int | None, timebase: TimeBase, source: str) -> None:
        self.logger_id = logger_id
        self.tb = timebase
        self.source = source
        self.gnss: list[np.ndarray] = []          # GNSS_DTYPE arrays
        self.events: list[Event] = []
        self.status: list[Status] = []
        self.overflow: list[Overflow] = []

    def add(self, records: list[Any], fixes: np.ndarray | None = None) -> None:
        """Collect ``records`` (typed records) and ``fixes`` (a
        :data:`~dunelog.card.bulk.GNSS_DTYPE` array)."""
        if fixes is not None and fixes.size:
            self.gnss.append(fixes)
        for r in records:
            t = type(r)
            if t is GnssFix:            # not read in bulk: one by one
                self.gnss.append(_fix_array([r]))
            elif t is Event:
                self.events.append(r)
            elif t is Status:
                self.status.append(r)
            elif t is Overflow:
                self.overflow.append(r)

    # ---------------------------------------------------------------- helpers
    def _utc(self, boot: np.ndarray, time_us: np.ndarray) -> np.ndarray:
        """int64 UTC microseconds, -1 where the boot has no time sync."""
        out = np.full(time_us.shape[0], -1, np.int64)
        for b in np.unique(boot).tolist():
            m = boot == b
            u = self.tb.utc_us_array(int(b), time_us[m])
            if u is not None:
                out[m] = u
        return out

    def _base(self, time_us: Any, boot: Any) -> tuple[dict[str, Any], np.ndarray]:
        import pyarrow as pa
        t = np.asarray(time_us, np.int64)
        b = np.asarray(boot, np.uint16)
        utc = self._utc(b, t)
        lg = pa.nulls(len(t), pa.uint32()) if self.logger_id is None \
            else from_numpy(np.full(len(t), self.logger_id, np.uint32))
        return {"time_us": from_numpy(t), "boot": from_numpy(b),
                "utc": _ts(utc), "logger_id": lg}, utc

    # ---------------------------------------------------------------- tables
    def tables(self, problems: list[Problem], cuts: dict[int, int],
               boot_of_file: int | None) -> dict[str, tuple[Any, np.ndarray]]:
        """``{table: (arrow table, utc int64 array)}`` of the non-empty record tables."""
        import pyarrow as pa
        out: dict[str, tuple[Any, np.ndarray]] = {}
        if self.gnss:
            g = np.concatenate(self.gnss)
            cols, utc = self._base(g["time_us"], g["boot"])
            nofix = g["fix_type"] == 0
            known = (g["utc_ms"] != _NA32) & (g["utc_days"] != _NA16)
            fix_utc = np.where(known, g["utc_days"].astype(np.int64) * _EPOCH_DAY_US
                               + g["utc_ms"].astype(np.int64) * 1000, -1)
            cols.update({
                "fix_utc": _ts(fix_utc),
                "lat": _f(g["lat"] * 1e-7, nofix),
                "lon": _f(g["lon"] * 1e-7, nofix),
                "alt": _f(g["alt_mm"] / 1000.0, nofix),
                "speed": _f(g["speed_cms"] / 100.0, g["speed_cms"] == _NA16),
                "course": _f(g["course_cdeg"] / 100.0, g["course_cdeg"] == _NA16),
                "fix_type": from_numpy(g["fix_type"]),
                "sats": from_numpy(g["sats"]),
                "hdop": _f(g["hdop_c"] / 100.0, g["hdop_c"] == _NA16),
            })
            out["gnss"] = (pa.table(cols), utc)
        if self.events:
            e = self.events
            cols, utc = self._base([r.time_us for r in e], [r.boot for r in e])
            cols.update({
                "kind": strings([EVENT_KINDS.get(r.kind, f"kind{r.kind}") for r in e]),
                "code": from_numpy(np.array([r.code for r in e], np.uint16)),
                "text": strings([r.text for r in e]),
            })
            out["events"] = (pa.table(cols), utc)
        if self.status:
            s = self.status
            cols, utc = self._base([r.time_us for r in s], [r.boot for r in s])
            cols.update({
                "supply": from_numpy(np.array([r.supply_mv / 1000.0 for r in s])),
                "temperature": from_numpy(np.array([r.temp_dc / 10.0 for r in s])),
                "ring_fill": from_numpy(np.array([r.ring_hw_permille / 10.0 for r in s])),
                "drops": from_numpy(np.array([r.drops for r in s], np.uint32)),
                "write_ms_max": from_numpy(np.array([r.write_ms_max for r in s], np.uint32)),
                "free": from_numpy(np.array([r.free_kib for r in s], np.uint32)),
                "uptime": from_numpy(np.array([r.uptime_s for r in s], np.uint32)),
            })
            out["status"] = (pa.table(cols), utc)
        rows = self._integrity_rows(problems, cuts, boot_of_file)
        if rows:
            cols, utc = self._base([r[0] for r in rows], [r[1] for r in rows])
            known = np.array([r[0] >= 0 for r in rows])
            utc = np.where(known, utc, -1)
            cols["time_us"] = from_numpy(np.array([r[0] for r in rows], np.int64),
                                         mask=~known)
            cols["utc"] = _ts(utc)
            cols.update({
                "kind": strings([r[2] for r in rows]),
                "file": strings([self.source] * len(rows)),
                "offset": _ints([r[3] for r in rows]),
                "seq": _ints([r[4] for r in rows]),
                "missing_blocks": _ints([r[5] if r[2] in _MISSING else None
                                         for r in rows]),
                "dropped": _ints([r[5] if r[2] == "overflow" else None for r in rows]),
                "detail": strings([r[6] for r in rows]),
            })
            out["integrity"] = (pa.table(cols), utc)
        return out

    def _integrity_rows(self, problems: list[Problem], cuts: dict[int, int],
                        boot_of_file: int | None) -> list[tuple]:
        """``(time_us or -1, boot, kind, offset, seq, count, detail)``: the reader's
        problems (gaps, CRC faults, torn tails, ...), the logger's overflow windows and
        power cuts (a boot whose last block is not marked as the last)."""
        rows: list[tuple] = []
        dflt = boot_of_file if boot_of_file is not None else 0
        for p in problems:
            dropped = None
            if p.kind in _MISSING and p.missing is not None:
                dropped = p.missing[1] - p.missing[0] + 1       # blocks
            rows.append((-1, p.boot if p.boot is not None else dflt, p.kind, p.offset,
                         p.seq, dropped, p.message))
        for o in self.overflow:
            n = sum(o.counts.values())
            what = ", ".join(f"{F.RECORD_NAMES.get(t, hex(t))} {c}"
                             for t, c in sorted(o.counts.items()))
            rows.append((o.time_us - o.first_ago_us, o.boot, "overflow", None, None, n,
                         f"records dropped over {(o.first_ago_us - o.last_ago_us) / 1e6:.3f}"
                         f" s: {what}"))
        for bt, last_us in sorted(cuts.items()):
            rows.append((last_us, bt, "power_cut", None, None, None,
                         "the boot's last block is not marked last: the logger lost power "
                         "(what it had not written is lost)"))
        return rows


def empty_tables() -> dict[str, Any]:
    """The record tables with no rows (their columns and types), for a dataset without any
    row of one (a clean rally has no ``integrity`` row)."""
    rt = RecordTables(0, TimeBase(), "")
    rt.gnss = [_fix_array([GnssFix(0, 0, 0, 0, 0, 0, 0, _NA32, _NA16, _NA16, _NA16,
                                   _NA16)])]
    rt.events = [Event(0, 0, F.EVENT_MARK, 0, "")]
    rt.status = [Status(0, 0, 0, 0, 0, 0, 0, 0, 0)]
    rt.overflow = [Overflow(0, 0, 0, 0, {})]
    out = {}
    for name, (tab, _) in rt.tables([], {}, 0).items():
        tab = tab.slice(0, 0)
        out[name] = tab.append_column("date", strings([])) \
                       .append_column("vehicle", strings([]))
    return out


def _fix_array(fixes: list[GnssFix]) -> np.ndarray:
    """Typed fixes as a :data:`~dunelog.card.bulk.GNSS_DTYPE` array."""
    out = np.empty(len(fixes), GNSS_DTYPE)
    for name in GNSS_DTYPE.names or ():
        out[name] = [getattr(f, name) for f in fixes]
    return out


def _ts(utc: np.ndarray) -> Any:
    import pyarrow as pa
    return from_numpy(utc, pa.timestamp("us", tz="UTC"), mask=utc < 0)


def _f(values: Any, null: Any) -> Any:
    return from_numpy(np.asarray(values, np.float64), mask=np.asarray(null, bool))


def _ints(values: list[int | None]) -> Any:
    """An int64 array of ``values`` (None: null)."""
    return from_numpy(np.array([0 if v is None else v for v in values], np.int64),
                      mask=np.array([v is None for v in values], bool))


"""``dunelog info``: a summary of a dump, as a dict (for ``--json``) or a text report."""

from __future__ import annotations

from typing import Any, Sequence

from .dump import Dump
from .format import RECORD_NAMES
from .records import utc_datetime

__all__ = ["dump_info", "format_info", "type_name"]


def type_name(t: int) -> str:
    """Name of a record type code (``0xNN`` for unknown types)."""
    return RECORD_NAMES.get(t, f"0x{t:02x}")


def _iso(us: int | None) -> str | None:
    t = None if us is None else utc_datetime(us)
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def dump_info(dump: Dump) -> dict[str, Any]:
    """Scan ``dump`` and summarise it as a JSON-friendly dict."""
    stats = dump.scan(can_ids=True)
    segments = []
    for s in dump.segments:
        h = s.header
        segments.append({
            "file": s.path, "size": s.size, "logger_id": s.logger_id, "boot": s.boot,
            "segment": s.segment, "first_seq": s.first_seq,
            "block_size": h.block_size if h else None, "header_ok": h is not None,
            "header_error": s.header_error, "blocks": s.n_blocks, "records": s.n_records,
            "firmware": h.firmware if h else None, "vehicle": h.vehicle if h else None,
            "config_hash": h.config_hash if h else None, "duplicate_of": s.duplicate_of,
            "cut_at_open": s.cut_at_open,
        })
    boots = []
    can_ids = []
    agg: dict[tuple[int, int], list] = {}
    prev_end: dict[int, int | None] = {}
    for (lg, bt), b in sorted(stats.boots.items()):
        tb = stats.timebases.get(lg)
        utc0 = tb.utc_us(bt, b.first_us) if tb and b.first_us is not None else None
        utc1 = tb.utc_us(bt, b.last_us) if tb and b.last_us is not None else None
        dur = None if b.first_us is None or b.last_us is None \
            else (b.last_us - b.first_us) / 1e6
        # Not logged between the previous boot's last record and this one's first (UTC
        # needed on both sides): the power-cut and restart window.
        pe = prev_end.get(lg)
        gap = (utc0 - pe) / 1e6 if pe is not None and utc0 is not None else None
        prev_end[lg] = utc1
        boots.append({
            "end": "closed" if b.clean_end else "cut",
            "unlogged_before_s": gap,
            "logger_id": lg, "boot": bt, "segments": len(b.segments), "blocks": b.blocks,
            "records": b.records, "first_us": b.first_us, "last_us": b.last_us,
            "duration_s": dur, "utc_start": _iso(utc0), "utc_end": _iso(utc1),
            "time_synced": bool(tb and bt in tb),
            "overflow": {type_name(t): c for t, c in sorted(b.overflow.items())},
        })
        for key, (n, first, last) in b.can_ids.items():
            a = agg.setdefault((lg, key), [0, 0, 0])
            a[0] += n
            if n >= 2:
                a[1] += n - 1
                a[2] += last - first
    for (lg, key), (n, intervals, span_us) in sorted(agg.items()):
        channel, ext, can_id = key >> 40, (key >> 32) & 1, key & 0xFFFFFFFF
        can_ids.append({
            "logger_id": lg, "channel": channel, "id": can_id,
            "id_hex": f"0x{can_id:08X}" if ext else f"0x{can_id:03X}",
            "extended": bool(ext), "count": n,
            "rate_hz": intervals * 1e6 / span_us if span_us > 0 else None,
        })
    ovf = stats.overflow_totals
    problems = dump.problems
    kinds: dict[str, int] = {}
    for p in problems:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    return {
        "path": dump.path,
        "segments": segments,
        "total_bytes": dump.total_bytes,
        "loggers": sorted({b["logger_id"] for b in boots}),
        "boots": boots,
        "records": int(stats.type_counts.sum()),
        "records_by_type": {type_name(t): c for t, c in stats.records_by_type.items()},
        "can_ids": can_ids,
        "overflow": {"total": sum(ovf.values()),
                     "by_type": {type_name(t): c for t, c in ovf.items()}},
        "problem_counts": kinds,
        "problems": [p.to_dict() for p in problems],
    }


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: set[int] | None = None
           ) -> list[str]:
    right = right or set()
    cells = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(r: Sequence[str]) -> str:
        return "  ".join((c.rjust(w) if i in right else c.ljust(w))
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    return ["  " + fmt(headers), "  " + fmt(["-" * w for w in widths])] + \
        ["  " + fmt(r) for r in cells]


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _dur(s: float | None) -> str:
    if s is None:
        return ""
    ms = int(round(s * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    return f"{h}:{m:02d}:{rem / 1000:06.3f}"


def format_info(info: dict[str, Any]) -> str:
    """Render :func:`dump_info` output as a text report."""
    out: list[str] = []
    segs = info["segments"]
    out.append(f"dump {info['path']}: {len(segs)} segment file(s), "
               f"{_size(info['total_bytes'])}, {info['records']} records, "
               f"logger(s) {', '.join(map(str, info['loggers'])) or '-'}")
    out.append("")
    out.append("Segments")
    out += _table(["file", "logger", "boot", "seg", "first_seq", "bs", "size", "blocks",
                   "records", "header"],
                  [[s["file"], s["logger_id"], s["boot"], s["segment"], s["first_seq"],
                    s["block_size"], _size(s["size"]), s["blocks"], s["records"],
                    "ok" if s["header_ok"] else "cut" if s.get("cut_at_open") else "BAD"]
                   for s in segs],
                  right={1, 2, 3, 4, 5, 6, 7, 8})
    out.append("")
    out.append("Boots")
    out += _table(["logger", "boot", "segs", "blocks", "records", "first_us", "last_us",
                   "duration", "utc_start", "utc_end", "end", "unlogged_before"],
                  [[b["logger_id"], b["boot"], b["segments"], b["blocks"], b["records"],
                    b["first_us"], b["last_us"], _dur(b["duration_s"]),
                    b["utc_start"] or "-", b["utc_end"] or "-", b["end"],
                    "-" if b["unlogged_before_s"] is None else _dur(b["unlogged_before_s"])]
                   for b in info["boots"]],
                  right={0, 1, 2, 3, 4, 5, 6, 7})
    out.append("")
    out.append("Records by type")
    out += _table(["type", "count"], [[k, v] for k, v in info["records_by_type"].items()],
                  right={1})
    out.append("")
    out.append(f"CAN ids ({len(info['can_ids'])})")
    out += _table(["logger", "ch", "id", "ext", "count", "rate_hz"],
                  [[c["logger_id"], c["channel"], c["id_hex"], "x" if c["extended"] else "",
                    c["count"], "" if c["rate_hz"] is None else f"{c['rate_hz']:.2f}"]
                   for c in info["can_ids"]], right={0, 1, 4, 5})
    out.append("")
    ovf = info["overflow"]
    if ovf["total"]:
        out.append(f"Overflow: {ovf['total']} record(s) dropped: "
                   + ", ".join(f"{k} {v}" for k, v in ovf["by_type"].items()))
    else:
        out.append("Overflow: none")
    out.append("")
    probs = info["problems"]
    if not probs:
        out.append("Integrity: no problems")
    else:
        out.append(f"Integrity: {len(probs)} problem(s) ("
                   + ", ".join(f"{k} {v}" for k, v in info["problem_counts"].items()) + ")")
        out += _table(["kind", "file", "offset", "seq", "message"],
                      [[p["kind"], p["file"], p["offset"], p["seq"], p["message"]]
                       for p in probs], right={2, 3})
    return "\n".join(out) + "\n"


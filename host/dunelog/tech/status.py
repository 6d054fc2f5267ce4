"""``dunelog status``: what a running logger is doing, from its console status line
(firmware/app.py ``status()``), with frames/s from two samples."""

from __future__ import annotations

import time
from typing import Any

from .board import query_status

__all__ = ["sample", "with_rates", "format_status"]


def sample(port: str, timeout: float = 3.0) -> dict[str, Any] | None:
    """One status reading, stamped with the host's monotonic time (``_t``)."""
    st = query_status(port, timeout)
    if st is not None:
        st["_t"] = time.monotonic()
    return st


def with_rates(prev: dict[str, Any] | None, cur: dict[str, Any]) -> dict[str, Any]:
    """cur plus ``fps`` (all channels) and ``fps_channels`` ({channel: fps}) from the
    difference with prev (None when there is no earlier sample or the board rebooted)."""
    out = {k: v for k, v in cur.items() if k != "_t"}
    out["fps"] = None
    out["fps_channels"] = None
    if prev is not None and prev.get("boot") == cur.get("boot"):
        dt = cur["_t"] - prev["_t"]
        if dt > 0:
            out["fps"] = round(((cur["rx"] - prev["rx"]) & 0x3FFFFFFF) / dt, 1)
            pc = dict((c, n) for c, n in (prev.get("rx_channels") or []))
            if cur.get("rx_channels") is not None:
                out["fps_channels"] = {str(c): round((n - pc.get(c, 0)) / dt, 1)
                                       for c, n in cur["rx_channels"]}
    return out


def _hms(s: int | None) -> str:
    if s is None:
        return "?"
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def format_status(st: dict[str, Any], port: str) -> str:
    """A screenful of status text."""
    fix = {None: "no receiver data", 0: "no fix", 1: "2D fix", 2: "3D fix", 3: "3D fix"}
    ft = st.get("fix_type")
    chans = st.get("fps_channels")
    ch_text = ", ".join(f"ch{c} {v:g}/s" for c, v in sorted(chans.items())) if chans else \
        "per-channel counts not available on this board" if st.get("rx_channels") is None \
        else "-"
    hw = st.get("ring_high_water", 0) * 100 // max(1, st.get("ring_size", 1))
    free = st.get("free_kib")
    le = (st.get("last_error") or "").strip().splitlines()
    last = "-" if not le else le[0] if len(le) == 1 else \
        f"{le[0].split(':')[0]}: {le[-1]}"      # where: ExceptionType: message
    lines = [
        f"dunelog status  {port}  logger {st.get('logger_id')} {st.get('vehicle')!r}",
        f"  firmware     {st.get('firmware')}   config crc {st.get('config_hash')}",
        f"  uptime       {_hms(st.get('uptime_s'))}   boot {st.get('boot')}   "
        f"segment {st.get('segment')}   blocks {st.get('blocks')}",
        f"  CAN          {st.get('fps') if st.get('fps') is not None else '?'} frames/s "
        f"({ch_text}); rx {st.get('rx')}, filtered {st.get('rejected')}",
        f"  drops        {st.get('drops')}   ring high-water {hw}% of "
        f"{st.get('ring_size', 0) // 1024} KiB",
        f"  GNSS         {fix.get(ft, f'fix type {ft}')}, sats {st.get('sats')}, "
        f"HDOP {st.get('hdop')}",
        f"  SD free      {'?' if free in (None, 0xFFFFFFFF) else f'{free / 1048576:.2f} GiB'}"
        + ("   CARD FULL: not logging" if st.get("stopped") else ""),
        f"  errors       {st.get('errors')}   last: {last}",
    ]
    return "\n".join(lines) + "\n"

"""Synthetic dunelog data for the host tests: random records, blocks, segments, and
hypothesis strategies.  Everything is built with the construct builders of
``dunelog.card.format``."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from dunelog.card.format import (
    CAN_BRS,
    CAN_ESI,
    CAN_EXT,
    CAN_RTR,
    CAN_TX,
    build_segment_header,
    pack_blocks,
    rec_can,
    rec_event,
    rec_gnss,
    rec_overflow,
    rec_raw,
    rec_session,
    rec_status,
    rec_timesync,
)

FD_LENS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]


def random_record(rng: random.Random, *, can_share: float = 0.85) -> dict[str, Any]:
    """One random record builder dict (dt_us 0)."""
    r = rng.random()
    if r < can_share * 0.85:
        ext = rng.random() < 0.3
        n = rng.randint(0, 8)
        flags = (CAN_EXT if ext else 0) | (CAN_TX if rng.random() < 0.05 else 0)
        if rng.random() < 0.03:
            flags |= CAN_RTR
            n = 0
        return rec_can(0, rng.getrandbits(29 if ext else 11), rng.randbytes(n),
                       channel=rng.randint(0, 2), flags=flags,
                       dlc=rng.randint(0, 15) if flags & CAN_RTR else None)
    if r < can_share:
        n = rng.choice(FD_LENS)
        flags = CAN_BRS * (rng.random() < 0.5) | CAN_ESI * (rng.random() < 0.1) \
            | CAN_EXT * (rng.random() < 0.3)
        return rec_can(0, rng.getrandbits(11), rng.randbytes(n), channel=rng.randint(0, 1),
                       flags=flags, fd=True)
    k = rng.randrange(8)
    if k == 0:
        return rec_gnss(0, fix_type=rng.randint(0, 6), sats=rng.randint(0, 30),
                        lat=rng.randint(-900000000, 900000000),
                        lon=rng.randint(-1800000000, 1800000000),
                        alt_mm=rng.randint(-400000, 9000000),
                        utc_ms=rng.choice([0xFFFFFFFF, rng.randrange(86400000)]),
                        utc_days=rng.choice([0xFFFF, 19000 + rng.randrange(3000)]),
                        speed_cms=rng.randrange(65536), course_cdeg=rng.randrange(36000),
                        hdop_c=rng.randrange(65536))
    if k == 1:
        return rec_timesync(0, utc_days=19000 + rng.randrange(3000),
                            utc_ms=rng.randrange(86400000), utc_us=rng.randrange(1000),
                            source=rng.randint(1, 5), flags=rng.randint(0, 1))
    if k == 2:
        return rec_event(0, kind=rng.randint(1, 5), code=rng.getrandbits(32),
                         text="".join(rng.choice("abcé€ xyz") for _ in range(rng.randint(0, 40))))
    if k == 3:
        return rec_status(0, drops=rng.getrandbits(32), ring_hw_permille=rng.randint(0, 1000),
                          write_ms_max=rng.randrange(65536), supply_mv=rng.randrange(65536),
                          temp_dc=rng.randint(-32768, 32767), free_kib=rng.getrandbits(32),
                          uptime_s=rng.getrandbits(32))
    if k == 4:
        return rec_overflow(0, [(rng.choice([1, 2, 16, 32]), rng.getrandbits(32))
                                for _ in range(rng.randint(0, 5))],
                            first_ago_us=rng.getrandbits(32), last_ago_us=rng.getrandbits(32))
    if k == 5:
        return rec_session(0, firmware=f"v{rng.randint(0, 99)}.{rng.randint(0, 99)}",
                           vehicle=rng.choice(["", "car 204", "camión", "T1+"]),
                           config_hash=rng.getrandbits(32), logger_id=rng.getrandbits(32))
    # unknown types (reserved codes), raw payload
    return rec_raw(0, rng.choice([0x00, 0x03, 0x12, 0x40, 0x7F, 0xFE]),
                   rng.randbytes(rng.randrange(0, 40)), aux=rng.randbytes(2))


def random_timed(rng: random.Random, n: int, *, t0: int = 0, max_step: int = 2000,
                 can_share: float = 0.85, session: bool = True) -> list[tuple[int, dict]]:
    """``n`` random ``(time_us, record)`` pairs with non-decreasing times."""
    out: list[tuple[int, dict]] = []
    t = t0
    if session:
        out.append((t, rec_session(0, firmware="1.0.0", vehicle="test", logger_id=1)))
    for _ in range(n):
        t += rng.randint(0, max_step)
        out.append((t, random_record(rng, can_share=can_share)))
    return out


@dataclass
class Seg:
    """A synthetic segment file."""

    data: bytes
    header_size: int
    blocks: list[bytes]
    block_size: int
    first_seq: int
    timed: list[tuple[int, dict]]

    def block_offset(self, i: int) -> int:
        """Byte offset of the i-th block."""
        return self.header_size + i * self.block_size

    @property
    def seqs(self) -> list[int]:
        return list(range(self.first_seq, self.first_seq + len(self.blocks)))


def make_segment(n_records: int = 200, *, seed: int = 0, block_size: int = 512,
                 logger_id: int = 1, boot: int = 1, segment: int = 0, first_seq: int = 0,
                 t0: int = 0, max_step: int = 2000, can_share: float = 0.85,
                 timed: list | None = None) -> Seg:
    """Build a whole valid segment with random records."""
    rng = random.Random(seed)
    if timed is None:
        timed = random_timed(rng, n_records, t0=t0, max_step=max_step, can_share=can_share,
                             session=first_seq == 0)
    blocks = list(pack_blocks(timed, first_seq=first_seq, boot=boot, logger_id=logger_id,
                              block_size=block_size))
    hdr = build_segment_header(logger_id=logger_id, boot=boot, segment=segment,
                               first_seq=first_seq, created_us=t0, config_hash=0xC0FFEE,
                               firmware="1.0.0", vehicle="test", block_size=block_size)
    return Seg(hdr + b"".join(blocks), len(hdr), blocks, block_size, first_seq, timed)


def write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (creating directories)."""
    os.makedirs(path.parent, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ hypothesis strategies

#: settings for the host property tests (DUNELOG_HYPOTHESIS_EXAMPLES raises the count)
HSET = settings(
    deadline=None, max_examples=int(os.environ.get("DUNELOG_HYPOTHESIS_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])


@st.composite
def st_record(draw) -> dict[str, Any]:
    """A random record builder dict, including unknown types."""
    kind = draw(st.sampled_from(["can", "can", "can", "fd", "gnss", "sync", "event",
                                 "status", "overflow", "session", "raw"]))
    u32 = st.integers(0, 2**32 - 1)
    u16 = st.integers(0, 2**16 - 1)
    if kind == "can":
        data = draw(st.binary(max_size=8))
        return rec_can(0, draw(st.integers(0, 2**29 - 1)), data,
                       channel=draw(st.integers(0, 255)), flags=draw(st.integers(0, 255)),
                       dlc=draw(st.integers(0, 15)))
    if kind == "fd":
        data = draw(st.sampled_from(FD_LENS).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
        return rec_can(0, draw(st.integers(0, 2**29 - 1)), data, fd=True,
                       channel=draw(st.integers(0, 255)), flags=draw(st.integers(0, 255)))
    if kind == "gnss":
        i32 = st.integers(-2**31, 2**31 - 1)
        return rec_gnss(0, fix_type=draw(st.integers(0, 255)), sats=draw(st.integers(0, 255)),
                        lat=draw(i32), lon=draw(i32), alt_mm=draw(i32), utc_ms=draw(u32),
                        utc_days=draw(u16), speed_cms=draw(u16), course_cdeg=draw(u16),
                        hdop_c=draw(u16))
    if kind == "sync":
        return rec_timesync(0, utc_days=draw(u16), utc_ms=draw(u32), utc_us=draw(u16),
                            source=draw(st.integers(0, 255)), flags=draw(st.integers(0, 255)))
    if kind == "event":
        return rec_event(0, kind=draw(st.integers(0, 255)), code=draw(u32),
                         text=draw(st.text(max_size=30)).encode("utf-8")[:60])
    if kind == "status":
        return rec_status(0, drops=draw(u32), ring_hw_permille=draw(u16),
                          write_ms_max=draw(u16), supply_mv=draw(u16),
                          temp_dc=draw(st.integers(-2**15, 2**15 - 1)), free_kib=draw(u32),
                          uptime_s=draw(u32))
    if kind == "overflow":
        entries = draw(st.lists(st.tuples(st.integers(0, 255), u32), max_size=6))
        return rec_overflow(0, entries, first_ago_us=draw(u32), last_ago_us=draw(u32))
    if kind == "session":
        return rec_session(0, firmware=draw(st.text("0123456789.v-abc", max_size=20)),
                           vehicle=draw(st.text(max_size=15)).encode("utf-8")[:40],
                           config_hash=draw(u32), logger_id=draw(u32))
    known = {0x01, 0x02, 0x10, 0x11, 0x20, 0x21, 0x22, 0x30}
    t = draw(st.integers(0, 255).filter(lambda x: x not in known))
    return rec_raw(0, t, draw(st.binary(max_size=60)), aux=draw(st.binary(min_size=2, max_size=2)))


@st.composite
def st_timed(draw, max_records: int = 60) -> list[tuple[int, dict]]:
    """A list of ``(time_us, record)`` with non-decreasing times."""
    recs = draw(st.lists(st_record(), max_size=max_records))
    steps = draw(st.lists(st.integers(0, 100000), min_size=len(recs), max_size=len(recs)))
    t = draw(st.integers(0, 2**40))
    out = []
    for s, r in zip(steps, recs):
        t += s
        out.append((t, r))
    return out

"""Firmware-written test vectors (tests/vectors/<name>/*.dlg, written by the firmware under
MicroPython; see tests/vectors/make_vectors.py): they read without problems, the bulk
path agrees with the construct reference, and what was fed is what was logged (or counted
as dropped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dunelog
from dunelog.card.format import REC_CAN, REC_CANFD
from dunelog.card.reference import reference_segment_records

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DIRS = sorted({p.parent for p in VECTORS.glob("**/*.dlg")})


@pytest.mark.skipif(not DIRS, reason="no firmware test vectors in tests/vectors yet")
@pytest.mark.parametrize("vdir", DIRS, ids=[d.name for d in DIRS])
def test_vector_dump(vdir):
    d = dunelog.open(vdir)
    recs = list(d.records())
    assert d.problems == []
    assert recs and isinstance(recs[0], dunelog.SessionStart)
    # bulk/typed path == construct reference, file by file (segments in header order)
    ref = [r for s in d.segments for r in reference_segment_records(Path(s.path).read_bytes())]
    assert recs == ref
    expected = vdir / "expected.json"
    if not expected.exists():
        return
    exp = json.loads(expected.read_text())["boots"]
    boots = sorted({r.boot for r in recs})
    assert len(boots) == len(exp)
    for boot, e in zip(boots, exp):
        frames = [r for r in recs if isinstance(r, dunelog.CanFrame) and r.boot == boot]
        dropped = sum(c for r in recs if isinstance(r, dunelog.Overflow) and r.boot == boot
                      for t, c in r.counts.items() if t in (REC_CAN, REC_CANFD))
        assert len(frames) + dropped == e["can_frames"]
        for frame, want in ((frames[0], e["first_can"]), (frames[-1], e["last_can"])):
            got = {"t_us": frame.time_us, "channel": frame.channel, "id": frame.id,
                   "flags": frame.flags, "dlc": frame.dlc, "data": frame.data.hex(),
                   "fd": frame.fd}
            assert got == want

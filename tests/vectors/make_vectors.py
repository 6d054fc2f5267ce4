"""Regenerate the format test vectors: cards written by the firmware under the real
MicroPython Unix port from deterministic synthetic feeds.

    python tests/vectors/make_vectors.py

Writes drive/ (two boots of a short drive across a ticks wrap) and overflow/ (a small ring
forced to overflow), each with expected.json: what was fed, summarised, so host tests can
check the vectors without MicroPython.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from hil.synth import TICKS_WRAP, overflow_drive, recce_drive  # noqa: E402


def summary(feeds) -> dict:
    out = {"boots": []}
    for feed in feeds:
        frames = [f for f in feed.fed if f.kind == "can"]
        out["boots"].append({
            "inputs_by_kind": dict(Counter(f.kind for f in feed.fed)),
            "can_frames": len(frames),
            "first_can": {"t_us": frames[0].t_us, **{k: (v.hex() if isinstance(v, bytes) else v)
                                                      for k, v in frames[0].fields.items()}},
            "last_can": {"t_us": frames[-1].t_us, **{k: (v.hex() if isinstance(v, bytes) else v)
                                                     for k, v in frames[-1].fields.items()}},
        })
    return out


def log(feeds, card: Path) -> None:
    if card.exists():
        shutil.rmtree(card)
    card.mkdir(parents=True)
    for n, feed in enumerate(feeds):
        path = card / f"boot{n + 1}.feed"
        feed.write(str(path))
        subprocess.run(["micropython", str(ROOT / "hil" / "feed.py"), str(path), str(card)],
                       check=True)
        path.unlink()
    (card / "expected.json").write_text(json.dumps(summary(feeds), indent=1) + "\n")


if __name__ == "__main__":
    log([recce_drive(12, seed=10, start_ticks=TICKS_WRAP - 6_000_000, seg_blocks=8),
         recce_drive(4, seed=11)], HERE / "drive")
    log([overflow_drive(bursts=6, seed=12)], HERE / "overflow")
    print("vectors written under", HERE)

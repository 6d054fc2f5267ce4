"""Frames/s through vcan0 where this runs (a HIL runner's kernel): python-can socketcan,
one Bus sends a classic 8-byte frame, another receives it, N send-then-recv pairs in one
thread (the rate a CPython sender and receiver can share). Prints one JSON line.

    python bench/vcan_rate.py [N]     # needs vcan0: python -m hil.vcan -- python bench/vcan_rate.py
"""
from __future__ import annotations

import json
import os
import sys
import time

import can


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    tx = can.Bus(interface="socketcan", channel="vcan0")
    rx = can.Bus(interface="socketcan", channel="vcan0")
    msg = can.Message(arbitration_id=0x123, data=bytes(8), is_extended_id=False)
    try:
        t = time.perf_counter()
        for _ in range(n):
            tx.send(msg)
            if rx.recv(1.0) is None:
                raise SystemExit("vcan_rate: a frame did not come back within 1 s")
        dt = time.perf_counter() - t
    finally:
        tx.shutdown()
        rx.shutdown()
    print(json.dumps({"runner": os.environ.get("DUNELOG_GUEST", "native"), "pairs": n,
                      "pairs_per_s": round(n / dt)}))


if __name__ == "__main__":
    main()

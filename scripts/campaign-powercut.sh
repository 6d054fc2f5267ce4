#!/usr/bin/env bash
# Power cuts on the board's own file system (docs/RELIABILITY.md, "Power cuts on the card"):
# the full campaign, 1,000 cuts with torn multi-sector writes on os.VfsFat, each followed by
# the next boot and the host's checks; prints the figures, exits 1 if any cut failed.
# (pytest runs a fixed-seed slice of it: tests/fw/test_powercut_fat.py.)
#   bash scripts/campaign-powercut.sh                          # 1,000 cuts, seed 1, 2 workers
#   bash scripts/campaign-powercut.sh --cuts 5000 --seed 7 --keep /tmp/failed-cuts
# The micropython first on PATH runs the firmware; for the boards' i386 build:
#   PATH=$(bash scripts/build-micropython-i386.sh)/bin:$PATH bash scripts/campaign-powercut.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec nice -n 19 python3 tests/fw/powercut.py "$@"

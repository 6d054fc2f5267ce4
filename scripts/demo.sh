#!/usr/bin/env bash
# The main job on a fresh machine: install, let the firmware (real MicroPython) log a
# synthetic 10-minute recce drive onto a "card" directory, and summarise it.
#   bash scripts/demo.sh [OUTDIR] [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/demo}
minutes=${2:-10}
python3 -m pip install -q -e '.[test]' 2>&1 | grep -v "Running pip as the 'root'" || true
rm -rf "$out" && mkdir -p "$out"
python3 hil/synth.py "$out/drive.feed" --minutes "$minutes"
micropython hil/feed.py "$out/drive.feed" "$out/card"
dunelog info "$out/card"

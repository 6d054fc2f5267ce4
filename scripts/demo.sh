#!/usr/bin/env bash
# The main job on a fresh machine: install, let the firmware (real MicroPython) log a
# synthetic 10-minute recce drive onto a "card" directory, summarise it, decode its
# signals with dbc/recce.dbc, export the frames for other tools, write the route and
# finish with the day's report (out/demo/report.html: one self-contained page).
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
dunelog decode "$out/card" --dbc dbc/recce.dbc -o "$out/signals.parquet" --no-progress
dunelog decode "$out/card" --dbc dbc/recce.dbc -o "$out/signals.csv" --no-progress
for fmt in blf asc trc log mf4; do
    dunelog convert "$out/card" -o "$out/frames.$fmt" --no-progress
done
dunelog track "$out/card" -o "$out/route.gpx" --no-progress
dunelog track "$out/card" -o "$out/route.geojson" --no-progress
dunelog report "$out/card" --dbc dbc/recce.dbc -o "$out/report.html"
echo "demo output in $out:"
ls -1 "$out"

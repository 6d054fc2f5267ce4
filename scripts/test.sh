#!/usr/bin/env bash
# Set up and run every check: lint (ruff) and types (mypy) of the host package and the HIL
# rig, then every test: host, firmware under MicroPython, end-to-end, and HIL on a real
# vcan0 (the host's, or inside a guest kernel): the x64 lane. Then the board lane
# (scripts/board-lane.sh): the firmware tests again under the i386 MicroPython, the
# boards' numeric model (docs/TESTING.md). A failing lane is named on the last lines.
#   bash scripts/test.sh [PYTEST ARGS]    # PYTEST ARGS: the x64 lane's; the board lane then
#                                         # runs only with DUNELOG_BOARD_LANE=1
# DUNELOG_BOARD_LANE=0 skips the board lane.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
python3 -m pip install -q -e '.[test]' 2>&1 | grep -v "Running pip as the 'root'" || true
python3 -m ruff check host hil tests bench
python3 -m mypy host/dunelog hil
rc=0
t0=$SECONDS
python3 -m pytest -q "$@" || { rc=$?; echo "x64 lane failed (pytest exit status $rc)" >&2; }
echo "x64 lane: $((SECONDS - t0)) s"
if [ "${DUNELOG_BOARD_LANE:-$([ $# -eq 0 ] && echo 1 || echo 0)}" = 1 ]; then
    bash scripts/board-lane.sh || { echo "board lane (i386) failed" >&2; rc=1; }
fi
[ "$rc" = 0 ] || echo "test.sh: FAILED (the lane(s) named above)" >&2
exit "$rc"

#!/usr/bin/env bash
# The board lane (docs/TESTING.md, "Test lanes"): the firmware suite again, under the boards'
# numeric model. Builds (once; cached) the i386 MicroPython Unix port
# (scripts/build-micropython-i386.sh), puts it first on PATH, and runs tests/fw, tests/e2e
# (the pty-board deploy/status/pull tests too) and HIL scenarios with the DUT under it; the
# board-model properties (tests/fw/test_board_model.py) run only here.
#   bash scripts/board-lane.sh                 # the lane's selection
#   bash scripts/board-lane.sh tests/fw -x     # other pytest arguments instead
# Environment: DUNELOG_MP_SRC (the MicroPython source, see the build script), HIL_SCALE
# (scenario durations, default 0.25 here), BOARD_LANE_HIL (the scenarios, space-separated),
# BOARD_LANE_PART (fw, hil or all: the part of the selection to run).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
if ! dir=$(bash scripts/build-micropython-i386.sh); then
    echo "board lane (i386) failed: no i386 interpreter (the line above says how to provide its source)" >&2
    exit 1
fi
# The interpreter itself, not a pyenv shim: a shim puts its own bin/ (with the x64
# micropython) first on PATH again.
py=$(python3 -c 'import sys; print(sys.executable)')
export PATH="$dir/bin:$PATH" DUNELOG_MP_LANE=board DUNELOG_MPY_ARCH=x86
export HIL_SCALE=${HIL_SCALE:-0.25}
# Classic-CAN scenarios: in the user-mode Linux guest the i386 DUT runs through qemu-i386,
# which does not pass SocketCAN's CAN_RAW_FD_FRAMES option (fd, overflow, card_full_* and
# tests/hil/test_capture.py use FD frames; they run in the x64 lane).
read -r -a hil <<< "${BOARD_LANE_HIL:-nominal gnss_outage gnss_ubx_25hz power_cut nominal_mcp2515}"
# BOARD_LANE_PART: fw (tests/fw, tests/e2e: no guest), hil (the scenarios, in a guest), or
# both (default); scripts/test.sh runs the first beside the x64 lane's HIL guest
part=${BOARD_LANE_PART:-all}
label=$([ "$part" = all ] || echo ", $part part")
sel=()
[ "$part" = hil ] || sel+=(tests/fw tests/e2e)
if [ "$part" != fw ]; then
    for s in "${hil[@]}"; do
        sel+=("tests/hil/test_scenarios.py::test_scenario[$s]")
    done
fi
[ $# -eq 0 ] || sel=("$@")
echo "board lane (i386): $("$dir/bin/micropython" -c 'import sys; print(sys.implementation._machine, "maxsize", sys.maxsize)') from $dir"
rc=0
"$py" -m pytest -q -o cache_dir=.pytest_cache/board-lane "${sel[@]}" || rc=$?
echo "board lane (i386$label): $((SECONDS - t0)) s, pytest exit status $rc"
exit $rc

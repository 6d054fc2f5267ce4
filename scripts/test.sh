#!/usr/bin/env bash
# Set up and run every check: lint (ruff) and types (mypy) of the host package and the HIL
# rig, then every test: host, firmware under MicroPython, end-to-end, and HIL on a real
# vcan0 (the host's, or inside a guest kernel): the x64 lane. Then the board lane
# (scripts/board-lane.sh): the firmware tests again under the i386 MicroPython, the
# boards' numeric model (docs/TESTING.md). A failing lane is named on the last lines.
#   bash scripts/test.sh [PYTEST ARGS]    # PYTEST ARGS: the x64 lane's; the board lane then
#                                         # runs only with DUNELOG_BOARD_LANE=1
# DUNELOG_BOARD_LANE=0 skips the board lane.
#
# Without arguments, where the HIL runs in a guest (no vcan0 here), the lanes overlap: the
# guest is one CPU running scenarios in real time (~25 min), so the tests that boot no
# guest (the x64 lane's, then the board lane's firmware tests) run beside it, their output
# shown when the guest is done; the tests that boot a guest (tests/vm, the board lane's
# scenarios) follow it, one guest at a time. The replay timing test, which needs a quiet
# machine, waits for the tests beside it to end (DUNELOG_QUIET_LOCK).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
python3 -m pip install -q -e '.[test]' 2>&1 | grep -v "Running pip as the 'root'" || true
python3 -m ruff check host hil tests bench
python3 -m mypy host/dunelog hil
rc=0
t0=$SECONDS
board=${DUNELOG_BOARD_LANE:-$([ $# -eq 0 ] && echo 1 || echo 0)}
if [ $# -gt 0 ] || [ -e /sys/class/net/vcan0 ]; then
    python3 -m pytest -q "$@" || { rc=$?; echo "x64 lane failed (pytest exit status $rc)" >&2; }
    echo "x64 lane: $((SECONDS - t0)) s"
    if [ "$board" = 1 ]; then
        bash scripts/board-lane.sh || { echo "board lane (i386) failed" >&2; rc=1; }
    fi
else
    side=$(mktemp -d)
    export DUNELOG_QUIET_LOCK=$side/quiet.lock
    exec 9>"$DUNELOG_QUIET_LOCK"
    flock 9                                  # held by the side job (fd 9) until it ends
    (
        s=0
        python3 -m pytest -q -o cache_dir=.pytest_cache/side --basetemp="$side/tmp" \
            -m "not hil and not vm" > "$side/x64.log" 2>&1 9>&- || s=$?
        echo "$s" > "$side/x64.rc"
        if [ "$board" = 1 ]; then
            s=0
            BOARD_LANE_PART=fw bash scripts/board-lane.sh > "$side/board.log" 2>&1 9>&- || s=$?
            echo "$s" > "$side/board.rc"
        fi
    ) &
    pid=$!
    exec 9>&-
    x64=0
    python3 -m pytest -q -m hil || x64=$?
    wait "$pid" || true
    cat "$side/x64.log"
    s=$(cat "$side/x64.rc" 2>/dev/null || echo 1); [ "$s" = 0 ] || x64=$s
    python3 -m pytest -q -m vm || x64=$?
    if [ "$x64" != 0 ]; then rc=$x64; echo "x64 lane failed (pytest exit status $x64)" >&2; fi
    echo "x64 lane: $((SECONDS - t0)) s (its HIL guest beside the tests that boot no guest)"
    if [ "$board" = 1 ]; then
        cat "$side/board.log"
        b=$(cat "$side/board.rc" 2>/dev/null || echo 1)
        BOARD_LANE_PART=hil bash scripts/board-lane.sh || b=1
        [ "$b" = 0 ] || { echo "board lane (i386) failed" >&2; rc=1; }
    fi
    rm -rf "$side"
fi
[ "$rc" = 0 ] || echo "test.sh: FAILED (the lane(s) named above)" >&2
echo "test.sh: $((SECONDS - t0)) s of tests"
exit "$rc"

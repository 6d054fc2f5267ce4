#!/usr/bin/env bash
# The soak campaign (docs/RELIABILITY.md): tests/fw/test_soak.py for a whole vehicle-day
# (24 h: ~80 ticks wraps, segment rotation, card-full overwrite), under the x64 MicroPython
# on PATH, then (unless DUNELOG_SOAK_I386=0) under the i386 build (the boards' 31-bit ints).
#   bash scripts/campaign-soak.sh            # 24 vehicle-hours, both interpreters
#   bash scripts/campaign-soak.sh 6          # 6 vehicle-hours
# Prints one line per interpreter: counts, wraps, segments, gc.mem_free() per minute.
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:-24}
py=$(python3 -c 'import sys; print(sys.executable)')
rc=0
run() {   # $1: lane name
    local t0=$SECONDS r=0
    DUNELOG_SOAK_HOURS=$hours nice -n 19 "$py" -m pytest -q -s -p no:cacheprovider \
        tests/fw/test_soak.py | grep -E '^soak |passed|failed|Error' || r=$?   # pipefail
    echo "soak campaign ($1): $((SECONDS - t0)) s, $( [ $r -eq 0 ] && echo passed || echo FAILED)"
    [ $r -eq 0 ] || rc=1
}
run "x64 $(micropython -c 'import sys; print(sys.maxsize)')"
if [ "${DUNELOG_SOAK_I386:-1}" != 0 ]; then
    dir=$(bash scripts/build-micropython-i386.sh)
    PATH="$dir/bin:$PATH" DUNELOG_MP_LANE=board DUNELOG_MPY_ARCH=x86 run "i386 (board lane)"
fi
exit $rc

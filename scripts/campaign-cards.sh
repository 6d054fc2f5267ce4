#!/usr/bin/env bash
# The untrusted-card campaign (docs/RELIABILITY.md): tests/host/test_hostile_cards.py with
# 100,000 segment files instead of CI's 2,000 (hostile names, links, FIFOs and devices,
# absurd headers, a full archive disk by EFBIG and, where `unshare -rm` can mount a tmpfs,
# by ENOSPC), printing the figures: peak RSS, bytes written, the full-disk line.
#   bash scripts/campaign-cards.sh            # 100,000 files
#   bash scripts/campaign-cards.sh 20000      # another count
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(python3 -c 'import sys; print(sys.executable)')
t0=$SECONDS
rc=0
DUNELOG_CARD_FILES=${1:-100000} nice -n 19 "$py" -m pytest -q -s -p no:cacheprovider \
    --durations=0 tests/host/test_hostile_cards.py || rc=$?
echo "cards campaign: $((SECONDS - t0)) s, $( [ $rc -eq 0 ] && echo passed || echo FAILED)"
exit $rc

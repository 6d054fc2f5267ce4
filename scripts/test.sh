#!/usr/bin/env bash
# Set up and run every test: host, firmware under MicroPython, end-to-end, and HIL on a
# real vcan0 (the host's, or inside a user-mode Linux kernel).
#   bash scripts/test.sh [PYTEST ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
python3 -m pip install -q -e '.[test]' 2>&1 | grep -v "Running pip as the 'root'" || true
python3 -m pytest -q "$@"

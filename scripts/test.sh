#!/usr/bin/env bash
# Set up and run every check: lint (ruff) and types (mypy) of the host package and the HIL
# rig, then every test: host, firmware under MicroPython, end-to-end, and HIL on a real
# vcan0 (the host's, or inside a guest kernel).
#   bash scripts/test.sh [PYTEST ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
python3 -m pip install -q -e '.[test]' 2>&1 | grep -v "Running pip as the 'root'" || true
python3 -m ruff check host hil tests bench
python3 -m mypy host/dunelog hil
python3 -m pytest -q "$@"

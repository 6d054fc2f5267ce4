#!/usr/bin/env bash
# System packages the tests need: for the HIL where the kernel has no vcan, Debian's
# user-mode Linux kernel (a real SocketCAN vcan0 inside it), kmod (insmod) and iproute2
# (ip link); for the report test, chromium (headless, renders the HTML report); socat,
# which gives the MicroPython Unix port the pty that plays a board's USB serial
# (tests/e2e/test_deploy.py).
# Installs them when missing and we are root with apt-get; otherwise says what is missing
# (the tests that need them then skip, naming it).
set -euo pipefail
need=()
command -v linux.uml >/dev/null || need+=(user-mode-linux)
command -v insmod >/dev/null || need+=(kmod)
command -v ip >/dev/null || need+=(iproute2)
command -v chromium >/dev/null || need+=(chromium)
command -v socat >/dev/null || need+=(socat)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
    echo "tests need: ${need[*]} (apt-get install as root); HIL / report-in-browser / pty-board tests will be skipped" >&2
fi

#!/usr/bin/env bash
# System packages the tests need. For the HIL where this kernel has no vcan, the guests
# that have one (docs/HIL.md, "Where vcan0 comes from"): Debian's user-mode Linux kernel
# with kmod (insmod) and iproute2 (ip link), a C compiler for its FPU-state preload; qemu
# and busybox-static for the KVM guest (its kernel is fetched on first use by
# scripts/fetch-guest-kernel.sh). For the report test, chromium (headless, renders the
# HTML report); socat, which gives the MicroPython Unix port the pty that plays a board's
# USB serial (tests/e2e/test_deploy.py). For the board lane (docs/TESTING.md): make and
# gcc-multilib (gcc -m32) build the i386 MicroPython Unix port; qemu-user runs that i386
# binary inside the user-mode Linux guest (UML has no 32-bit system calls).
# Installs them when missing and we are root with apt-get; otherwise says what is missing
# (the report / pty-board tests then skip, naming it; the HIL fails, naming it).
set -euo pipefail
need=()
command -v linux.uml >/dev/null || need+=(user-mode-linux)
command -v insmod >/dev/null || need+=(kmod)
command -v ip >/dev/null || need+=(iproute2)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v chromium >/dev/null || need+=(chromium)
command -v socat >/dev/null || need+=(socat)
command -v make >/dev/null || need+=(make)
dpkg-query -W -f='${Status}' gcc-multilib 2>/dev/null | grep -q 'ok installed' || need+=(gcc-multilib)
lean=()     # without recommends: qemu's pull in a desktop's worth otherwise
command -v qemu-system-x86_64 >/dev/null || lean+=(qemu-system-x86)
command -v qemu-i386 >/dev/null || lean+=(qemu-user)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || lean+=(busybox-static)
[ ${#need[@]} -eq 0 ] && [ ${#lean[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    export DEBIAN_FRONTEND=noninteractive
    [ ${#need[@]} -eq 0 ] || apt-get install -y -qq "${need[@]}" >/dev/null
    [ ${#lean[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
else
    echo "tests need: ${need[*]} ${lean[*]} (apt-get install as root); report-in-browser / pty-board tests will be skipped, the HIL and the board lane will fail saying what is missing" >&2
fi

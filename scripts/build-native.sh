#!/usr/bin/env bash
# Build the HIL's native helpers (hil/xstate/*.c) with the system cc into a cache directory
# named by the sources' hash, and print that directory. Idempotent: an existing build is
# reused. Needs only cc (gcc) and glibc's headers.
#   xstate_preload.so  LD_PRELOAD for linux.uml (short NT_X86_XSTATE buffers, per task)
#   vecstate           cross-thread AVX-512 state test, run inside the guest
#   setregset_check    host-side check of the preload; `setregset_check --size` prints
#                      CPUID(0xD,0).EBX, the host's XSAVE size
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/hil/xstate"
cc="${CC:-cc}"
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "build-native: no C compiler ($cc) to build hil/xstate: apt-get install gcc" >&2
    exit 1
fi
hash="$(cat "$src"/xstate_preload.c "$src"/vecstate.c "$src"/setregset_check.c "$0" \
        | sha256sum | cut -c1-16)"
cache="${DUNELOG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dunelog}"
out="$cache/native/$hash"
if [ -f "$out/.complete" ]; then
    echo "$out"
    exit 0
fi
mkdir -p "$cache/native"
tmp="$(mktemp -d "$cache/native/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if ! { "$cc" -O2 -Wall -shared -fPIC -o "$tmp/xstate_preload.so" "$src/xstate_preload.c" -ldl &&
       "$cc" -O1 -Wall -pthread -o "$tmp/vecstate" "$src/vecstate.c" &&
       "$cc" -O1 -Wall -o "$tmp/setregset_check" "$src/setregset_check.c"; } >"$tmp/build.log" 2>&1; then
    echo "build-native: $cc failed on hil/xstate: $(grep -m1 -E 'error|fatal' "$tmp/build.log" || head -1 "$tmp/build.log")" >&2
    exit 1
fi
chmod 755 "$tmp"
touch "$tmp/.complete"
# publish atomically; a concurrent build of the same sources may have won the race
mv -T "$tmp" "$out" 2>/dev/null || true
[ -f "$out/.complete" ] || { echo "build-native: could not create $out" >&2; exit 1; }
echo "$out"

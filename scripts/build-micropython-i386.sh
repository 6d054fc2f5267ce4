#!/usr/bin/env bash
# The boards' numeric model on this machine: MicroPython's Unix port built as an i386
# binary (31-bit small ints, ticks_us wrapping at 2**30 us, 32-bit viper words; its .mpy
# arch is x86). Builds it once and caches it by commit and flags; prints the directory
# whose bin/micropython it is (put that bin/ first on PATH: docs/TESTING.md).
#   bash scripts/build-micropython-i386.sh          # -> .../micropython-i386/<commit>-<flags>
# Source, first found:
#   DUNELOG_MP_SRC      a source tarball (micropython-<commit>-unix-src.tar.gz: py/, extmod/,
#                       shared/, ports/unix/, mpy-cross/, tools/, lib/...) or a checkout
#   the cache           $DUNELOG_CACHE/micropython-i386/micropython-<commit12>-unix-src.tar.gz
#   git clone           upstream micropython/micropython at the pinned commit (network)
# Cache: $DUNELOG_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/dunelog)/micropython-i386/.
# Needs gcc -m32 (Debian: apt-get install gcc-multilib make; scripts/system-deps.sh).
set -euo pipefail

COMMIT=1c3c201149f37fe8d81246191b3127bb198d6306
UPSTREAM=https://github.com/micropython/micropython
SHORT=${COMMIT:0:12}
# The build: no FFI/btree/SSL (no submodules), no GNU readline, no frozen manifest (the
# firmware tests put firmware/ on sys.path themselves). MICROPY_USE_READLINE=1 is
# MicroPython's own line editor (shared/readline, no library): the REPL's raw mode, which
# mpremote drives (the pty-board tests), exists only with it.
FLAGS=(VARIANT=standard BUILD=build-32 "CC=gcc -m32" "LD=gcc -m32" MICROPY_PY_FFI=0
       MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_USE_READLINE=1 FROZEN_MANIFEST=)

cache=${DUNELOG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dunelog}/micropython-i386
key=$SHORT-$(printf '%s\n' "${FLAGS[@]}" | sha256sum | cut -c1-8)
out=$cache/$key
fail() { echo "board lane (i386): $*" >&2; exit 1; }

model_ok() {    # the binary has the boards' model: sys.maxsize 2**31-1, ticks period 2**30
    [ "$("$1" -c 'import sys, time; print(sys.maxsize, time.ticks_add(0, -1) + 1)' 2>/dev/null)" \
      = "2147483647 1073741824" ]
}

if [ -x "$out/bin/micropython" ] && model_ok "$out/bin/micropython"; then
    echo "$out"
    exit 0
fi

command -v make >/dev/null || fail "make not found: apt-get install make gcc-multilib (scripts/system-deps.sh)"
echo 'int main(void){return 0;}' > "${TMPDIR:-/tmp}/dunelog-m32-$$.c"
if ! gcc -m32 -o "${TMPDIR:-/tmp}/dunelog-m32-$$" "${TMPDIR:-/tmp}/dunelog-m32-$$.c" 2>/dev/null; then
    rm -f "${TMPDIR:-/tmp}/dunelog-m32-$$"*
    fail "gcc -m32 cannot build: apt-get install gcc-multilib (scripts/system-deps.sh)"
fi
rm -f "${TMPDIR:-/tmp}/dunelog-m32-$$"*

mkdir -p "$cache"
work=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$SECONDS

src=${DUNELOG_MP_SRC:-}
cached_tar=$cache/micropython-$SHORT-unix-src.tar.gz
if [ -z "$src" ] && [ -f "$cached_tar" ]; then
    src=$cached_tar
fi
if [ -n "$src" ]; then
    if [ -d "$src" ]; then
        [ -d "$src/ports/unix" ] || fail "DUNELOG_MP_SRC=$src is a directory without ports/unix: not a MicroPython source tree"
        if head=$(git -C "$src" rev-parse HEAD 2>/dev/null) && [ "$head" != "$COMMIT" ]; then
            echo "board lane (i386): note: $src is at $head, not the pinned $COMMIT" >&2
        fi
        cp -a "$src" "$work/micropython"
    elif [ -f "$src" ]; then
        tar xzf "$src" -C "$work" || fail "DUNELOG_MP_SRC=$src: not a readable .tar.gz"
        [ -d "$work/micropython/ports/unix" ] \
            || fail "$src has no micropython/ports/unix: not a MicroPython source tarball"
        case "$(basename "$src")" in
            *"$SHORT"*) ;;
            *) echo "board lane (i386): note: $src does not name the pinned commit $SHORT" >&2 ;;
        esac
        [ "$src" = "$cached_tar" ] || cp "$src" "$cached_tar"     # the next run finds it
    else
        fail "DUNELOG_MP_SRC=$src does not exist"
    fi
else
    echo "board lane (i386): no source tarball; git clone $UPSTREAM at $SHORT" >&2
    if ! { git init -q "$work/micropython" \
           && GIT_TERMINAL_PROMPT=0 timeout 600 git -C "$work/micropython" fetch -q --depth 1 \
                  "$UPSTREAM" "$COMMIT" \
           && git -C "$work/micropython" checkout -q FETCH_HEAD; } >/dev/null 2>&1; then
        fail "no MicroPython source: set DUNELOG_MP_SRC to micropython-$SHORT-unix-src.tar.gz (or a checkout of $UPSTREAM at $COMMIT), or put that tarball in $cache/; git clone of $UPSTREAM failed (no network?)"
    fi
fi

mp=$work/micropython
jobs=$(nproc 2>/dev/null || echo 2)
log=$work/build.log
if ! make -C "$mp/ports/unix" -j"$jobs" "${FLAGS[@]}" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    fail "make of the i386 Unix port failed (last lines above)"
fi
bin=$mp/ports/unix/build-32/micropython
model_ok "$bin" || fail "the built $bin does not have the boards' model (sys.maxsize 2**31-1, ticks period 2**30)"

rm -rf "$work/out"
mkdir -p "$work/out/bin"
cp "$bin" "$work/out/bin/micropython"
{
    echo "commit $COMMIT"
    echo "source ${src:-git clone $UPSTREAM}"
    printf 'make -C ports/unix'; printf ' %q' "${FLAGS[@]}"; echo
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - t0)) s"
} > "$work/out/BUILD"
rm -rf "$out"
mv "$work/out" "$out"
echo "board lane (i386): built $out/bin/micropython in $((SECONDS - t0)) s" >&2
echo "$out"

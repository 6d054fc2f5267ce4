#!/bin/sh
# Fetch Debian's own amd64 kernel (the version linux-image-amd64 depends on) and build a
# busybox-static initramfs for the qemu guest of hil/kvm.py.
#
#   scripts/fetch-guest-kernel.sh          # prints the cache dir on its last line
#
# Cache: ${DUNELOG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dunelog}/guest-kernel/<version>/
#   vmlinuz, initramfs.gz, modules.order, pkg/ (the unpacked .deb), complete (stamp)
# Idempotent: a complete cache dir is reused. DUNELOG_GUEST_KERNEL=<version> pins the
# version (e.g. 6.1.0-56-amd64); without apt package lists, the newest cached one is used.
# On failure: one line on stderr naming what is missing, exit status 1.
set -eu

die() { echo "fetch-guest-kernel: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")/.." && pwd)
init_src="$here/hil/guest_init/init"
cache="${DUNELOG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dunelog}/guest-kernel"

# modules the guest needs, by name; dependencies come from modules.dep
MODULES="virtio_pci 9pnet_virtio 9p can can-raw can-dev vcan"

ver=${DUNELOG_GUEST_KERNEL:-}
if [ -z "$ver" ] && command -v apt-cache >/dev/null 2>&1; then
  ver=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -1)
fi
if [ -z "$ver" ]; then
  # offline / no package lists: fall back to the newest complete cache
  ver=$(ls -1 "$cache" 2>/dev/null | sort -V | while read -r v; do
          [ -f "$cache/$v/complete" ] && echo "$v"; done | tail -1)
  [ -n "$ver" ] || die "cannot tell the kernel version (apt-cache depends linux-image-amd64 is empty): apt-get update"
fi
dir="$cache/$ver"
if [ -f "$dir/complete" ] && [ "$dir/initramfs.gz" -nt "$init_src" ] && [ "$dir/initramfs.gz" -nt "$0" ]; then
  echo "$dir"; exit 0
fi

[ -f "$init_src" ] || die "$init_src missing (checkout incomplete)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: needs a Debian/Ubuntu host"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found: apt-get install dpkg"
command -v gzip >/dev/null 2>&1 || die "gzip not found: apt-get install gzip"
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || die "$bb not found: apt-get install busybox-static"
if ldd "$bb" >/dev/null 2>&1; then
  die "$bb is dynamically linked (package busybox): apt-get install busybox-static"
fi
if command -v depmod >/dev/null 2>&1; then depmod=depmod; else depmod="$bb depmod"; fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ ! -f "$dir/pkg/boot/vmlinuz-$ver" ]; then
  ( cd "$tmp" && apt-get download "linux-image-$ver" >"$tmp/apt.log" 2>&1 ) \
    || die "apt-get download linux-image-$ver failed: $(grep -E '^E:' "$tmp/apt.log" | head -1) (apt-get update?)"
  rm -rf "$dir/pkg"
  dpkg-deb -x "$tmp"/linux-image-"$ver"_*.deb "$tmp/pkg" || die "dpkg-deb -x of linux-image-$ver failed"
  mv "$tmp/pkg" "$dir/pkg"
  rm -f "$tmp"/*.deb
fi
mods="$dir/pkg/lib/modules/$ver"
[ -f "$mods/modules.dep" ] || $depmod -b "$dir/pkg" "$ver" || die "depmod failed: apt-get install kmod"

# dependency order: each module after what it needs (depth-first over modules.dep)
order="$tmp/order"; : >"$order"
add() {   # $1: module path relative to $mods, e.g. kernel/net/can/vcan.ko
  grep -qxF "$1" "$order" && return 0
  for d in $(sed -n "s|^$1: *||p" "$mods/modules.dep"); do add "$d"; done
  echo "$1" >>"$order"
}
for m in $MODULES; do
  f=$(grep -E "^[^:]*/$m\.ko(\.xz|\.zst|\.gz)?:" "$mods/modules.dep" | cut -d: -f1 | head -1)
  if [ -z "$f" ]; then
    if grep -qE "/$m\.ko" "$mods/modules.builtin" 2>/dev/null; then continue; fi
    die "module $m is neither a module nor built into linux-image-$ver"
  fi
  add "$f"
done

rd="$tmp/rd"
mkdir -p "$rd/bin" "$rd/lib/modules" "$rd/proc" "$rd/sys" "$rd/dev" "$rd/host"
cp "$bb" "$rd/bin/busybox"; ln -s busybox "$rd/bin/sh"
cp "$init_src" "$rd/init"; chmod 755 "$rd/init"
while read -r f; do
  case "$f" in *.ko) cp "$mods/$f" "$rd/lib/modules/" ;;
               *) die "compressed module $f: not supported (busybox insmod)" ;; esac
  basename "$f" >>"$rd/lib/modules/order"
done <"$order"
( cd "$rd" && find . | sort | "$bb" cpio -o -H newc 2>/dev/null ) | gzip -9 >"$tmp/initramfs.gz"
cp "$dir/pkg/boot/vmlinuz-$ver" "$tmp/vmlinuz"
cp "$rd/lib/modules/order" "$tmp/modules.order"
mv "$tmp/vmlinuz" "$tmp/initramfs.gz" "$tmp/modules.order" "$dir/"
touch "$dir/complete"
echo "$dir"

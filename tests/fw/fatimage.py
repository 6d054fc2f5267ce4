"""A small read-only FAT12/16/32 reader for card images (host side of the power-cut
campaign), written from the FAT specification, independent of MicroPython's FatFs.

Besides listing and reading files it checks what a power cut may break in the file system
itself: every chain ends, stays in range, crosses no free cluster, no cluster belongs to
two files (a cross-link), and every chain is long enough for its file's size. Clusters
allocated but owned by no file (lost clusters: space leaked, no data at risk) are counted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["FatEntry", "FatImage", "load_sectors"]


@dataclass
class FatEntry:
    """One directory entry: path from the root ("dunelog/B00001_S0000.dlg")."""

    path: str
    size: int
    cluster: int
    is_dir: bool
    chain: list[int] = field(default_factory=list)


class SparseImage:
    """A card image as the sectors written to it (the rest reads as zeros)."""

    def __init__(self, n_sectors: int, sectors: dict[int, bytes]) -> None:
        self.n = n_sectors
        self.sectors = sectors

    def read(self, off: int, size: int) -> bytes:
        """size bytes at byte offset off."""
        out = bytearray()
        zero = bytes(512)
        while size > 0:
            k, o = divmod(off, 512)
            take = min(size, 512 - o)
            out += self.sectors.get(k, zero)[o:o + take]
            off += take
            size -= take
        return bytes(out)


def load_sectors(path: str) -> SparseImage:
    """Read the sector file mp_sdcard.SdCard.save() writes."""
    with open(path, "rb") as f:
        raw = f.read()
    n, count = struct.unpack_from("<II", raw, 0)
    sectors = {}
    off = 8
    for _ in range(count):
        (k,) = struct.unpack_from("<I", raw, off)
        sectors[k] = raw[off + 4:off + 516]
        off += 516
    return SparseImage(n, sectors)


class FatImage:
    """A FAT volume (no partition table: the card as os.VfsFat formats it), from a whole
    image or a SparseImage."""

    def __init__(self, img: bytes | SparseImage) -> None:
        self._rd = img.read if isinstance(img, SparseImage) else \
            (lambda o, n: bytes(img[o:o + n]))
        boot = self._rd(0, 512)
        (self.bps, self.spc, rsvd, self.nfats, root_ent, tot16, _media, fsz16) = \
            struct.unpack_from("<HBHBHHBH", boot, 11)
        tot32, fsz32 = struct.unpack_from("<II", boot, 32)
        tot = tot16 or tot32
        fsz = fsz16 or fsz32
        self.fat_off = rsvd * self.bps
        root_secs = (root_ent * 32 + self.bps - 1) // self.bps
        self.root_off = (rsvd + self.nfats * fsz) * self.bps
        self.data_sec = rsvd + self.nfats * fsz + root_secs
        self.nclus = (tot - self.data_sec) // self.spc
        self.kind = 12 if self.nclus < 4085 else 16 if self.nclus < 65525 else 32
        self.root_ent = root_ent
        self.root_clus = struct.unpack_from("<I", boot, 44)[0] if self.kind == 32 else 0
        self.fat_bytes = self._rd(self.fat_off, fsz * self.bps) + bytes(4)
        self.csize = self.spc * self.bps
        self.eoc = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}[self.kind]
        self.problems: list[str] = []
        self.entries: list[FatEntry] = []
        self._walk()

    # ---- FAT and clusters

    def fat(self, c: int) -> int:
        """The FAT entry of cluster c (first FAT copy)."""
        f = self.fat_bytes
        if self.kind == 12:
            v = struct.unpack_from("<H", f, c + c // 2)[0]
            return v >> 4 if c & 1 else v & 0xFFF
        if self.kind == 16:
            return int(struct.unpack_from("<H", f, 2 * c)[0])
        return int(struct.unpack_from("<I", f, 4 * c)[0]) & 0x0FFFFFFF

    def _cluster(self, c: int) -> bytes:
        return self._rd((self.data_sec + (c - 2) * self.spc) * self.bps, self.csize)

    def chain(self, first: int, what: str) -> list[int]:
        """Clusters of a chain; a problem is noted where it breaks."""
        out: list[int] = []
        c = first
        seen: set[int] = set()
        while True:
            if c < 2 or c >= self.nclus + 2:
                self.problems.append(f"{what}: chain reaches cluster {c:#x} (out of range)")
                return out
            if c in seen:
                self.problems.append(f"{what}: chain loops at cluster {c}")
                return out
            seen.add(c)
            out.append(c)
            nxt = self.fat(c)
            if nxt >= self.eoc:
                return out
            if nxt == 0:
                self.problems.append(f"{what}: chain runs into free cluster after {c}")
                return out
            c = nxt

    # ---- directories

    def _dir_bytes(self, e: FatEntry | None) -> bytes:
        if e is None and self.kind != 32:
            return self._rd(self.root_off, self.root_ent * 32)
        first = self.root_clus if e is None else e.cluster
        chain = self.chain(first, e.path if e else "/")
        if e is not None:
            e.chain = chain
        return b"".join(self._cluster(c) for c in chain)

    def _walk(self, d: FatEntry | None = None) -> None:
        raw = self._dir_bytes(d)
        prefix = "" if d is None else d.path + "/"
        lfn: dict[int, str] = {}
        lfn_sum = -1
        for o in range(0, len(raw), 32):
            ent = raw[o:o + 32]
            if ent[0] == 0:
                break
            if ent[0] == 0xE5:
                lfn = {}
                continue
            attr = ent[11]
            if attr == 0x0F:                      # a long-name part
                seq = ent[0] & 0x1F
                if ent[0] & 0x40:
                    lfn = {}
                    lfn_sum = ent[13]
                part = ent[1:11] + ent[14:26] + ent[28:32]
                lfn[seq] = part.decode("utf-16-le", "replace").split("\x00")[0]
                continue
            if attr & 0x08:                       # volume label
                lfn = {}
                continue
            name = self._short(ent)
            if lfn and lfn_sum == self._lfn_sum(ent[0:11]):
                name = "".join(lfn[k] for k in sorted(lfn))
            lfn = {}
            if name in (".", ".."):
                continue
            hi, lo = struct.unpack_from("<H", ent, 20)[0], struct.unpack_from("<H", ent, 26)[0]
            clus = (hi << 16 | lo) if self.kind == 32 else lo
            size = struct.unpack_from("<I", ent, 28)[0]
            e = FatEntry(prefix + name, size, clus, bool(attr & 0x10))
            self.entries.append(e)
            if e.is_dir:
                self._walk(e)
            elif clus:
                e.chain = self.chain(clus, e.path)
                if len(e.chain) * self.csize < size:
                    self.problems.append(f"{e.path}: {size} bytes but {len(e.chain)} "
                                         f"cluster(s) of {self.csize}")
            elif size:
                self.problems.append(f"{e.path}: {size} bytes and no cluster")

    @staticmethod
    def _short(ent: bytes) -> str:
        base = ent[0:8].decode("latin-1").rstrip()
        ext = ent[8:11].decode("latin-1").rstrip()
        if ent[12] & 0x08:
            base = base.lower()
        if ent[12] & 0x10:
            ext = ext.lower()
        if base.startswith("\x05"):
            base = "\xe5" + base[1:]
        return base + ("." + ext if ext else "")

    @staticmethod
    def _lfn_sum(short: bytes) -> int:
        s = 0
        for b in short:
            s = (((s & 1) << 7) | (s >> 1)) + b & 0xFF
        return s

    # ---- results

    def check(self) -> list[str]:
        """File-system problems: broken chains (noted while walking) and cross-links."""
        owner: dict[int, str] = {}
        out = list(self.problems)
        for e in self.entries:
            for c in e.chain:
                if c in owner:
                    out.append(f"cluster {c} cross-linked: {owner[c]} and {e.path}")
                else:
                    owner[c] = e.path
        return out

    def lost_clusters(self) -> int:
        """Clusters allocated in the FAT that no file or directory owns."""
        owned = {c for e in self.entries for c in e.chain}
        if self.kind == 32:
            owned.update(self.chain(self.root_clus, "/"))
        return sum(1 for c in range(2, self.nclus + 2)
                   if self.fat(c) != 0 and c not in owned)

    def files(self) -> dict[str, FatEntry]:
        """Every file (not directory) by path."""
        return {e.path: e for e in self.entries if not e.is_dir}

    def read(self, e: FatEntry) -> bytes:
        """A file's contents (as far as its chain reaches)."""
        return b"".join(self._cluster(c) for c in e.chain)[:e.size]

# Segment files on the card (FORMAT.md sections 1-2): boot counter, segment header,
# whole-block appends, rotation by size and age, and the flush that bounds power-cut loss.
import os
import struct
import binascii

from fmt import seg_name


def _mkdirs(path):
    cur = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if part:
            cur = cur + part if cur in ("", "/") else cur + "/" + part
            try:
                os.mkdir(cur)
            except OSError:
                pass            # exists


def next_boot(root):
    """Increment and persist the boot counter. Never reuses a boot number that a segment
    in root already carries, so a lost counter file cannot overwrite old data."""
    _mkdirs(root)
    n = 0
    try:
        with open(root + "/BOOTCNT") as f:
            n = int(f.read().strip())
    except (OSError, ValueError):
        pass
    for name in os.listdir(root):
        if name.startswith("B") and name.endswith(".dlg"):
            try:
                n = max(n, int(name[1:6]))
            except ValueError:
                pass
    n += 1
    # Rewritten in place (one sector; same length), never through a renamed temporary: a
    # FAT rename cut halfway leaves two names on one cluster chain (swap.py's header), and
    # a torn counter costs nothing here (the segment names above still carry the count).
    path = root + "/BOOTCNT"
    try:
        try:
            f = open(path, "r+b")
        except OSError:
            f = open(path, "wb")
        with f:
            f.write(b"%010d\n" % n)
    except OSError:
        pass            # card full or read-only: the segment names still carry the count
    return n


class SegmentWriter:
    def __init__(self, root, logger_id, boot, block_shift, seg_blocks, seg_us,
                 firmware, vehicle, config_hash, ticks_fn=None, free_fn=None,
                 reserve_kib=0, card_full="stop"):
        self.root = root
        self.logger_id = logger_id
        self.boot = boot
        self.shift = block_shift
        self.bs = 1 << block_shift
        self.seg_blocks = seg_blocks      # data blocks per segment (rotation by size)
        self.seg_us = seg_us              # segment age limit in us (rotation by time)
        self.firmware = firmware
        self.vehicle = vehicle
        self.config_hash = config_hash
        self.ticks = ticks_fn
        self.seg = -1
        self.f = None
        self.blocks = 0
        self.created_us = 0
        self.write_us_max = 0             # longest block write, for status records
        self.bytes_written = 0
        self.free = free_fn               # free space in KiB, or None: not checked
        self.reserve_kib = reserve_kib    # keep this much free on the card
        self.card_full = card_full        # "stop" or "overwrite" (oldest segments first)
        self.stopped = False              # card full under "stop": nothing more is written
        self.blocks_lost = 0              # blocks not written since the card filled
        self.deleted = 0                  # old segments removed under "overwrite"
        self.room = None                  # bytes the open segment may still take (None: unknown)

    def _header(self, first_seq, now_us):
        h = bytearray(self.bs)
        h[0:4] = b"DLGS"
        struct.pack_into("<BBHIIIIQII", h, 4, 1, self.shift, 0, self.logger_id, self.boot,
                         self.seg, first_seq, now_us, self.config_hash, 0)
        fw = self.firmware.encode()[:24]
        h[40:40 + len(fw)] = fw
        vh = self.vehicle.encode()[:32]
        h[64:64 + len(vh)] = vh
        struct.pack_into("<I", h, self.bs - 4, binascii.crc32(memoryview(h)[0:self.bs - 4]))
        return h

    def _oldest(self):
        # Oldest segment on the card by (boot, segment), never the one being written.
        best = None
        for name in os.listdir(self.root):
            if len(name) == 16 and name[0] == "B" and name.endswith(".dlg"):
                try:
                    key = (int(name[1:6]), int(name[8:12]))
                except ValueError:
                    continue
                if key != (self.boot, self.seg) and (best is None or key < best[0]):
                    best = (key, name)
        return best[1] if best else None

    def _low(self):
        """Free space known and below the reserve plus a few blocks."""
        return self.free is not None and self.free() < self.reserve_kib + (self.bs >> 10) * 4

    def _short(self):
        """Free space known and short of the reserve plus a few blocks plus the room the
        next segment should have: a whole segment, or 32 blocks if a segment is longer.
        Deleting only back to _low() left room for one block, so the next segment held
        one block and its deletion freed one block: a card of one-block files (the soak
        showed 2,581 of 2,760), a header per block and a FAT create/delete each."""
        want = self.seg_blocks if self.seg_blocks < 32 else 32
        return self.free is not None and (
            self.free() < self.reserve_kib + (self.bs >> 10) * (4 + want))

    def _make_room(self):
        """Card (nearly) full: apply the policy. True if writing may go on."""
        if self.card_full == "overwrite":
            while True:
                name = self._oldest()
                if name is None:
                    break
                os.remove(self.root + "/" + name)
                self.deleted += 1
                if self.free is None or not self._short():
                    return True          # free space unknown: one segment per full card
            if not self._low():
                return True              # nothing older left, but room for a few blocks
        self.stopped = True
        return False

    def open(self, first_seq, now_us):
        # overwrite: make room for a real segment before opening one; stop: only when low
        short = self._short() if self.card_full == "overwrite" else self._low()
        if short and not self._make_room():
            return False
        # Free space is measured here only (statvfs can scan a whole FAT on a board); the
        # segment then counts what it writes so the card never goes below the reserve.
        self.room = None if self.free is None else (
            (self.free() - self.reserve_kib - (self.bs >> 10) * 4) << 10)
        self.seg += 1
        self.f = open(self.root + "/" + seg_name(self.boot, self.seg), "wb")
        self.f.write(self._header(first_seq, now_us))
        if self.room is not None:
            self.room -= self.bs
        self.f.flush()
        self.blocks = 0
        self.created_us = now_us
        return True

    def last_due(self, now_us):
        """True if the next block written should close the segment."""
        if self.f is None:                 # that block will open a new segment
            return self.seg_blocks <= 1
        return (self.blocks + 1 >= self.seg_blocks
                or now_us - self.created_us >= self.seg_us)

    def write(self, block, seq, now_us, last, flush, rotate=False):
        """Append one block. On a full card the policy decides: "overwrite" removes the
        oldest segments and continues in a new file; "stop" stops writing (counted).
        ``last``: the block carries LAST and closes the segment; ``rotate``: and the boot
        goes on in the next segment, whose file is created first (see _rotate)."""
        for attempt in range(3):
            if self.stopped:
                self.blocks_lost += 1
                return False
            if self.f is not None and self.room is not None and self.room < self.bs:
                self.close()               # reserve reached: policy applies on reopening
            if self.f is None and not self.open(seq, now_us):
                self.blocks_lost += 1
                return False
            t0 = self.ticks() if self.ticks else 0
            try:
                if rotate:
                    self._rotate(block, (seq + 1) & 0xFFFFFFFF, now_us)
                else:
                    self.f.write(block)
                    if flush or last:
                        self.f.flush()
            except OSError:
                # ENOSPC (or a card error): this file may end in a torn block, which the
                # reader reports; continue in a fresh segment if the policy allows.
                self.close()
                self._make_room()          # sets stopped when no room can be made
            if self.ticks:
                d = (self.ticks() - t0) & 0x3FFFFFFF
                if d > self.write_us_max:
                    self.write_us_max = d
            self.bytes_written += self.bs
            if rotate:                     # the block went to the segment now closed
                return True
            self.blocks += 1
            if self.room is not None:
                self.room -= self.bs
            if last:
                self.close()
            return True
        self.blocks_lost += 1
        return False

    def _rotate(self, block, next_seq, now_us):
        """Write ``block`` (LAST) to the open segment and close it, the next segment's file
        created first: a cut after LAST then leaves that file, empty or header-only, which
        the host reads as a cut boot. Opened after LAST (as before), a cut between the two
        left no trace and the boot read as closed (46 of 1,000 power cuts)."""
        old = self.f
        self.f = None
        self.open(next_seq, now_us)        # False on a full card under "stop": boot ends
        if self.room is not None:
            self.room -= self.bs           # the LAST block, measured before it
        try:
            old.write(block)
            old.flush()
        finally:
            try:
                old.close()
            except OSError:
                pass

    def close(self):
        if self.f is not None:
            try:
                self.f.close()
            except OSError:
                pass
            self.f = None

# An SD card as os.VfsFat sees it (MicroPython): 512-byte sectors behind the block
# protocol (readblocks / writeblocks / ioctl), and a power cut at a chosen write.
#
# A sector is written whole or not at all (the card's own unit); a multi-sector write is
# not atomic: the cut persists a prefix of its sectors (0 .. all) and nothing after, then
# raises PowerCut out of the file system call, so the code in flight stops there as the
# CPU would. Sectors live in a dict (index -> bytes; absent: zeros), so the state of a
# card is a cheap snapshot (dict(card.sectors)) to start many cuts from.
SECTOR = 512
_ZERO = bytes(SECTOR)


class PowerCut(BaseException):
    """The supply went away (not an Exception: no firmware handler may catch it)."""


class SdCard:
    def __init__(self, n_sectors, sectors=None):
        self.n = n_sectors
        self.sectors = {} if sectors is None else sectors
        self.writes = 0              # writeblocks calls so far (the cut counts these)
        self.cut_at = -1             # cut during this write (-1: never)
        self.keep = 0                # the cut write persists keep % (sectors + 1) sectors
        self.cut_info = None         # (sectors persisted, sectors in the write) once cut
        self.dead = False
        self.on_write = None         # called with the write index before each write

    def readblocks(self, block, buf, offset=0):
        mv = memoryview(buf)
        s = self.sectors
        for i in range(len(buf) // SECTOR):
            mv[i * SECTOR:(i + 1) * SECTOR] = s.get(block + i, _ZERO)

    def writeblocks(self, block, buf, offset=0):
        if self.dead:
            raise PowerCut()         # nothing runs after the cut
        w = self.writes
        self.writes = w + 1
        if self.on_write is not None:
            self.on_write(w)
        n = len(buf) // SECTOR
        keep = n
        if w == self.cut_at:
            keep = self.keep % (n + 1)
        s = self.sectors
        for i in range(keep):
            s[block + i] = bytes(buf[i * SECTOR:(i + 1) * SECTOR])
        if w == self.cut_at:
            self.dead = True
            self.cut_info = (keep, n)
            raise PowerCut()

    def ioctl(self, op, arg):
        if op == 4:                  # sector count
            return self.n
        if op == 5:                  # sector size
            return SECTOR
        return 0                     # init, deinit, sync (writes are durable on return)

    def save(self, path):
        """Write the written sectors (index, data; sorted) for the host to rebuild."""
        import struct
        with open(path, "wb") as f:
            f.write(struct.pack("<II", self.n, len(self.sectors)))
            for k in sorted(self.sectors):
                f.write(struct.pack("<I", k))
                f.write(self.sectors[k])

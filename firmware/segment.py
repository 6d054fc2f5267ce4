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
    tmp = root + "/BOOTCNT.tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % n)
    os.rename(tmp, root + "/BOOTCNT")
    return n


class SegmentWriter:
    def __init__(self, root, logger_id, boot, block_shift, seg_blocks, seg_us,
                 firmware, vehicle, config_hash, ticks_fn=None):
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

    def open(self, first_seq, now_us):
        self.seg += 1
        self.f = open(self.root + "/" + seg_name(self.boot, self.seg), "wb")
        self.f.write(self._header(first_seq, now_us))
        self.f.flush()
        self.blocks = 0
        self.created_us = now_us

    def last_due(self, now_us):
        """True if the next block written should close the segment."""
        if self.f is None:                 # that block will open a new segment
            return self.seg_blocks <= 1
        return (self.blocks + 1 >= self.seg_blocks
                or now_us - self.created_us >= self.seg_us)

    def write(self, block, seq, now_us, last, flush):
        if self.f is None:
            self.open(seq, now_us)
        t0 = self.ticks() if self.ticks else 0
        self.f.write(block)
        if flush or last:
            self.f.flush()
        if self.ticks:
            d = (self.ticks() - t0) & 0x3FFFFFFF
            if d > self.write_us_max:
                self.write_us_max = d
        self.blocks += 1
        self.bytes_written += self.bs
        if last:
            self.close()

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None

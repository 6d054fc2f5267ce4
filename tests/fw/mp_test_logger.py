# Logger core writing segment files: boot counter, segment rotation, flush cadence.
import os
import struct
from logger import Logger
from clock import MASK

D8 = memoryview(bytearray(8))
TMP = "/tmp"                                   # set by the runner


class Ticks:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t & MASK


def files(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".dlg"))


def test_boot_counter_never_reuses_a_boot_number():
    d = TMP + "/boot"
    a = Logger(d, Ticks(0))
    a.close()
    os.remove(d + "/BOOTCNT")                  # counter lost: segments still protect it
    b = Logger(d, Ticks(0))
    b.close()
    c = Logger(d, Ticks(0))
    c.close()
    assert (a.boot, b.boot, c.boot) == (1, 2, 3)
    assert files(d) == ["B00001_S0000.dlg", "B00002_S0000.dlg", "B00003_S0000.dlg"]


def test_rotation_by_size_and_time_and_flush_cadence():
    d = TMP + "/rot"
    src = Ticks(1000)
    log = Logger(d, src, block_shift=9, seg_blocks=4, seg_s=2, flush_ms=100)
    for i in range(400):                       # 400 frames at 1 kHz
        src.t += 1000
        log.ring.push_can(src(), 0, 0, i, 8, D8, 8, False)
        if i % 10 == 0:
            log.service()
    log.close()
    names = files(d)
    assert len(names) > 1
    total = 0
    last_flags = []
    for n in names:
        data = open(d + "/" + n, "rb").read()
        assert len(data) % 512 == 0
        nblk = len(data) // 512 - 1
        assert 1 <= nblk <= 4                  # rotation by size
        flags = [struct.unpack_from("<H", data, 512 * k + 10)[0] for k in range(1, nblk + 1)]
        last_flags.append(flags[-1] & 2)
        total += sum(struct.unpack_from("<H", data, 512 * k + 6)[0] for k in range(1, nblk + 1))
    assert total == 401                        # session start + 400 frames
    assert all(last_flags)                     # each segment's last block says LAST
    # flush cadence: no block covers more than ~100 ms + one service interval
    assert log.blocks_written >= 4


def test_rotation_by_time():
    d = TMP + "/age"
    src = Ticks(0)
    log = Logger(d, src, seg_blocks=1000, seg_s=2, flush_ms=500)
    for i in range(800):                       # 8 s at 100 Hz
        src.t += 10000
        log.ring.push_can(src(), 0, 0, i, 8, D8, 8, False)
        log.service()
    log.close()
    spans = []
    for n in files(d):
        data = open(d + "/" + n, "rb").read()
        bases = [struct.unpack_from("<Q", data, k + 24)[0] for k in range(4096, len(data), 4096)]
        spans.append(bases[-1] - bases[0])
    assert len(spans) >= 3, str(spans)
    # a segment holds at most seg_s of data plus one flush interval
    assert all(s <= 2500000 for s in spans), str(spans)

# The soak (tests/fw/test_soak.py, scripts/campaign-soak.sh): the board-model feed of
# board_model_run.py (the real App.step() main loop, CAN frames and UBX fixes produced under
# heap_lock, 30-bit ticks) for a vehicle-day on a small card: segments rotate by size and
# age, and the card fills, so the firmware's "overwrite" policy deletes the oldest segments.
#
#   micropython -X heapsize=N tests/fw/soak_run.py FIRMWARE CONFIG CARD HOURS FPS PASS_MS CARD_KIB
#
# Each segment file is read back once it is closed (outside the timed pass) and its
# records counted: a file the firmware later deletes is thus still accounted for. Every
# vehicle-minute, after gc.collect(), gc.mem_free() is sampled. Prints the samples, an
# hour a line ("@@m N N ..."), then the counts ("@@{json}").
import gc
import json
import sys
from array import array

MIN_US = 60000000
MAXSEG = 256                            # segment files on the card at once, at most
W = 5                                   # ints per segment in that table


def count_segment(path, bs, buf, tab, i):
    """CAN frames, GNSS fixes, other records, the highest frame number and the data blocks
    of one segment file, from its blocks' slot tables (FORMAT.md 3.2), into
    tab[W * i:W * i + W]."""
    blocks = 0
    can = 0
    fixes = 0
    other = 0
    kmax = -1
    with open(path, "rb") as f:
        f.readinto(buf)                 # the segment header
        while f.readinto(buf) == bs:
            if buf[0] != 0x44 or buf[3] != 0x42:
                raise ValueError("not a data block in " + path)
            blocks += 1
            for j in range(buf[6] | buf[7] << 8):
                p = bs - 6 - 2 * j
                o = buf[p] | buf[p + 1] << 8
                t = buf[o]
                if t == 1:
                    can += 1
                    kmax = buf[o + 16] | buf[o + 17] << 8 | buf[o + 18] << 16 | \
                        buf[o + 19] << 24
                elif t == 0x10:
                    fixes += 1
                else:
                    other += 1
    i *= W
    tab[i] = can
    tab[i + 1] = fixes
    tab[i + 2] = other
    tab[i + 3] = kmax
    tab[i + 4] = blocks


class Tally:
    """The records of every closed segment file: counted when it closes (its row of a
    table made up front, reused round-robin), added to the overwritten totals when the
    firmware has deleted it (oldest first, so only the oldest still tallied is checked)."""

    def __init__(self, card):
        self.tab = array("i", bytes(4 * W * MAXSEG))    # first: the heap is still whole
        self.card = card
        self.boot = 0
        self.bs = 0
        self.buf = None
        self.done = 0                   # segments counted: 0 .. done - 1
        self.oldest = 0                 # segments oldest .. done - 1 are still on the card
        self.gone = [0, 0, 0, 0]        # CAN, fixes, other records, data blocks
        self.gone_kmax = -1
        self.files = 0
        self.tiny = 0                   # segment files of one data block

    def start(self, boot, bs):
        """The logger's boot and block size, once it runs."""
        self.boot = boot
        self.bs = bs
        self.buf = bytearray(bs)

    def path(self, i):
        from fmt import seg_name
        return self.card + "/" + seg_name(self.boot, i)

    def closed(self, upto):
        """Segments below upto are closed: count the new ones, collect the deleted ones."""
        import os
        while self.done < upto:
            if self.done - self.oldest >= MAXSEG:
                raise ValueError("more than %d segment files on the card" % MAXSEG)
            j = self.done % MAXSEG
            count_segment(self.path(self.done), self.bs, self.buf, self.tab, j)
            if self.tab[W * j + 4] == 1:
                self.tiny += 1
            self.done += 1
        while self.oldest < self.done:
            try:
                os.stat(self.path(self.oldest))
                return
            except OSError:
                pass                    # deleted by the card-full policy
            j = W * (self.oldest % MAXSEG)
            g = self.gone
            g[0] += self.tab[j]
            g[1] += self.tab[j + 1]
            g[2] += self.tab[j + 2]
            g[3] += self.tab[j + 4]
            if self.tab[j + 3] > self.gone_kmax:
                self.gone_kmax = self.tab[j + 3]
            self.files += 1
            self.oldest += 1


def main():
    fw, cfg_path, card, hours, fps, pass_ms, card_kib = sys.argv[1:8]
    sys.path.insert(0, fw)
    import board_model_run as bm

    minutes = int(float(hours) * 60)
    mem = array("i", bytes(4 * minutes))    # gc.mem_free() per vehicle-minute; no growth
    tally = Tally(card)
    pass_us = int(pass_ms) * 1000
    feed = bm.Feed(cfg_path, card, int(fps), pass_us, int(card_kib))
    log = feed.app.log
    seg = log.seg
    tally.start(log.boot, seg.bs)
    per_min = MIN_US // pass_us
    gc.collect()
    for n in range(int(float(hours) * 3600000) // int(pass_ms)):
        feed.step()
        # a segment is complete once the next one is open: count it before it can go
        if tally.done < seg.seg:
            tally.closed(seg.seg)
        if n % per_min == per_min - 1:
            gc.collect()
            mem[n // per_min] = gc.mem_free()
    feed.app.close()
    tally.closed(seg.seg)               # the files deleted by the last segment's opening
    import os
    on_card = [x for x in os.listdir(card) if x.endswith(".dlg")]
    r = feed.result()
    g = tally.gone
    r.update({"segments": seg.seg + 1,
              "one_block_segments": tally.tiny, "deleted": seg.deleted,
              "blocks_lost": seg.blocks_lost, "stopped": seg.stopped,
              "overwritten": {"can": g[0], "fixes": g[1], "other": g[2], "blocks": g[3],
                              "files": tally.files, "kmax": tally.gone_kmax},
              "on_card": len(on_card), "card_kib": int(card_kib),
              "free_kib_end": feed.hal.free_kib()})
    gc.collect()
    for i in range(0, minutes, 60):     # the samples an hour a line: no list of them
        print("@@m", *mem[i:i + 60])
    print("@@" + json.dumps(r))


main()

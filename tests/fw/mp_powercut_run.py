# Power cuts on the board's own file system (MicroPython): the firmware (swap.apply, then
# app.App on a simulated CAN + GNSS feed) logs onto os.VfsFat over mp_sdcard.SdCard, and
# the card loses power at one chosen sector write. Then, as at the next ignition, the
# image is mounted again, checked, and the firmware boots and logs on it; the image goes
# to the host (tests/fw/powercut.py) for its own FAT reader and dunelog.
#
#   micropython -X heapsize=96M mp_powercut_run.py FW_DIR OUT_DIR SEED FIRST COUNT [PHASES]
#
# Prints one "@@{json}" line per scenario (its pre-cut image) and per cut. Each scenario's
# pre-cut card state is built once; a dry run labels every sector write with the firmware
# step in flight (the phase); cut i picks a phase in turn and a random write of it, runs
# from the saved state to that write, persists a random prefix of its sectors and stops.
# "Acknowledged": every byte written to a segment file before a SegmentWriter.write with
# flush (or last) returned - what logger.py promises a power cut cannot take.
import sys
import os
import json
import struct
import hashlib
import binascii

FW, OUT = sys.argv[1], sys.argv[2]
SEED, FIRST, COUNT = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ONLY = sys.argv[6].split(",") if len(sys.argv) > 6 and sys.argv[6] else None   # phases
sys.path.insert(0, FW)
sys.path.insert(0, __file__.rsplit("/", 1)[0] if "/" in __file__ else ".")

import vfs                                           # noqa: E402
import builtins                                      # noqa: E402
from mp_sdcard import SdCard, PowerCut               # noqa: E402
import segment                                       # noqa: E402
import logger                                        # noqa: E402
import config                                        # noqa: E402
import swap                                          # noqa: E402
import app                                           # noqa: E402
from hal_unix import UnixHal                         # noqa: E402

MP = "/sd"
ROOT = "/sd/dunelog"
STEP_US = 5000               # main-loop pass of the simulation
CAN_HZ = 800
RUN_S = 24                   # the boot that is cut: > 2 rotations by age (segment_s 10)
NEXT_S = 4                   # the next boot

# ---------------------------------------------------------------- deterministic random


class Rnd:
    def __init__(self, s):
        self.x = (s * 7919 + 12345) % 2147483647 or 1

    def below(self, n):
        self.x = self.x * 48271 % 2147483647
        return self.x % n


# ---------------------------------------------------------------- phases, acknowledgement

PH = ["idle"]                 # the firmware step in flight (innermost last)
CLOSING = [False]
FILES = []                    # FileProxy of every segment file this boot opened
_open = builtins.open


STEPS = ("swap", "config", "bootcnt", "open", "rotate", "close", "delete")


def phase():
    """The innermost firmware step in flight, else the file write or flush."""
    for lb in reversed(PH):
        if lb in STEPS:
            return lb
    return PH[-1]


def _in(label, fn, *a):
    PH.append(label)
    try:
        return fn(*a)
    finally:
        PH.pop()


class FileProxy:
    """A file segment.py opened: the real VfsFat file, plus a copy of what was written
    to it and how much of that is acknowledged."""

    def __init__(self, path, mode="r"):
        self.f = _open(path, mode)
        self.name = path.rsplit("/", 1)[-1]
        self.seg = path.endswith(".dlg")
        self.data = bytearray()
        self.recs = []            # records per block written (the header: 0)
        self.acked = 0
        self.acked_recs = 0
        if self.seg:
            FILES.append(self)

    def write(self, b):
        n = _in("write", self.f.write, b)
        if self.seg:
            self.recs.append(struct.unpack_from("<H", b, 6)[0] if self.data else 0)
            self.data += b
        return n

    def flush(self):
        return _in("flush", self.f.flush)

    def read(self, *a):
        return self.f.read(*a)

    def close(self):
        return self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def ack(self):
        self.acked = len(self.data)
        self.acked_recs = sum(self.recs)


segment.open = FileProxy      # segment.py's files (segments, BOOTCNT) go through the proxy
SW = segment.SegmentWriter
_sw_open, _sw_close, _sw_room, _sw_write = SW.open, SW.close, SW._make_room, SW.write


def _w_open(self, first_seq, now_us):
    return _in("open" if self.seg < 0 else "rotate", _sw_open, self, first_seq, now_us)


def _w_close(self):
    return _in("close" if CLOSING[0] else "rotate", _sw_close, self)


def _w_room(self):
    return _in("delete", _sw_room, self)


def _w_write(self, *args):
    # (block, seq, now_us, last, flush[, rotate]): earlier firmware has no rotate
    r = _sw_write(self, *args)
    if r and (args[4] or args[3]):
        for p in FILES:       # a completed flush: everything written so far is promised
            p.ack()
    return r


SW.open, SW.close, SW._make_room, SW.write = _w_open, _w_close, _w_room, _w_write
_next_boot = logger.next_boot
logger.next_boot = lambda root: _in("bootcnt", _next_boot, root)
_save = config._save
SAVED = [False]               # the cut boot's last-good save returned before the cut


def _w_save(path, data):
    r = _in("config", _save, path, data)
    SAVED[0] = True
    return r


config._save = _w_save

# ---------------------------------------------------------------- the simulated vehicle


def _nmea(body):
    x = 0
    for c in body:
        x ^= ord(c)
    return "$%s*%02X\r\n" % (body, x)


class SimHal(UnixHal):
    """UnixHal with the card at /sd (the VfsFat mount) and a simulated clock and feed:
    classic CAN frames at CAN_HZ carrying their own counter, RMC + GGA once a second."""

    def __init__(self, wall_s):
        self.t = 1000
        UnixHal.__init__(self, MP, MP, self._ticks)
        self.k = 0
        self.sec = 0
        self.wall = wall_s
        self.gq = bytearray()
        self.pl = bytearray(8)

    def _ticks(self):
        return self.t & 0x3FFFFFFF

    def can_open(self, ch_cfg, cap):
        self.chans.append(ch_cfg["channel"])

    def can_poll(self, cap, budget=512):
        n = 0
        while n < budget and (self.k * 1000000) // CAN_HZ + 1000 <= self.t:
            k = self.k
            struct.pack_into("<II", self.pl, 0, k, (~k) & 0xFFFFFFFF)
            cap.frame(self._ticks(), 0, 0x100 + k % 8, 0, 8, memoryview(self.pl), 8, False)
            self.k = k + 1
            n += 1
        return n

    def gnss_open(self, g_cfg):
        self.gnss = True

    def gnss_read(self, buf):
        while self.sec * 1000000 + 1000 <= self.t:
            s = self.wall + self.sec
            hms = "%02d%02d%02d.00" % (s // 3600 % 24, s // 60 % 60, s % 60)
            lat = "4807.%03d" % (self.sec % 1000)
            self.gq += _nmea("GPRMC,%s,A,%s,N,01131.000,E,22.4,84.4,010326,,,A" % (hms, lat))
            self.gq += _nmea("GPGGA,%s,%s,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,," % (hms, lat))
            self.sec += 1
        n = min(len(buf), len(self.gq))
        buf[0:n] = self.gq[0:n]
        self.gq = self.gq[n:]
        return n

    def led(self, on):
        self.led_state = on

    def button(self):
        return False


# ---------------------------------------------------------------- card and boots

def mount(card):
    vfs.mount(os.VfsFat(card), MP)
    os.chdir(MP)


def unmount():
    os.chdir("/")
    try:
        vfs.umount(MP)
    except (OSError, PowerCut):
        pass


def put(path, text):
    with _open(path, "w") as f:
        f.write(text)


def cfg_text(card_full, vehicle):
    return json.dumps({
        "logger": {"id": 7, "vehicle": vehicle},
        "can": [{"channel": 0}], "gnss": {"enabled": True, "port": "sim"},
        "storage": {"root": ROOT, "block_size": 4096, "segment_mb": 1, "segment_s": 10,
                    "flush_ms": 200, "card_full": card_full, "reserve_mb": 1},
        "status_s": 2})


def boot(seconds, wall_s, close=True):
    """One ignition: finish a staged swap (boot.py), then the app logs for `seconds` of
    simulated time and closes (ignition off). Returns the App."""
    del FILES[:]
    CLOSING[0] = False
    SAVED[0] = False
    try:
        _in("swap", swap.apply)
    except Exception as e:        # noqa: BLE001 - as boot.py: logging goes on
        print("swap:", e)
    hal = SimHal(wall_s)
    a = app.App(hal)
    end = seconds * 1000000
    while hal.t < end:
        hal.t += STEP_US
        a.step()
    if close:
        CLOSING[0] = True
        a.close()
    return a


def seg_files():
    try:
        return sorted(n for n in os.listdir(ROOT) if n.endswith(".dlg"))
    except OSError:
        return []


# Scenarios: (name, sectors, card_full). "fresh": a FAT16 card with two earlier boots (one
# closed, one cut); "full": a FAT12 card filled to just above the reserve, so the cut
# boot deletes the oldest segments ("overwrite"); "fat32": as "fresh" on FAT32 with two
# FATs, as SD cards come formatted (os.VfsFat.mkfs makes FAT12/16 only; 265 MB, sparse).
# All carry a staged config update (the cut boot's swap.apply).
SCEN = (("fresh", 32768, "stop"), ("full", 8192, "overwrite"), ("fat32", 530000, "stop"))
OLD, NEW = "old", "new"


def mkfs32(card):
    """FAT32: 4 KiB clusters, two FATs, FSInfo (free count unknown), root at 2."""
    n = card.n
    rsvd = 32
    fsz = 1
    while True:
        need = ((n - rsvd - 2 * fsz) // 8 + 2) * 4 // 512 + 1
        if need <= fsz:
            break
        fsz = need
    b = bytearray(512)
    b[0:11] = b"\xebX\x90MSWIN4.1"
    struct.pack_into("<HBHBHHBHHHII", b, 11, 512, 8, rsvd, 2, 0, 0, 0xF8, 0, 63, 255, 0, n)
    struct.pack_into("<IHHIHH", b, 36, fsz, 0, 0, 2, 1, 6)
    b[64] = 0x80
    b[66] = 0x29
    b[71:82] = b"NO NAME    "
    b[82:90] = b"FAT32   "
    b[510:512] = b"\x55\xaa"
    fsi = bytearray(512)
    struct.pack_into("<I", fsi, 0, 0x41615252)
    struct.pack_into("<IIII", fsi, 484, 0x61417272, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    struct.pack_into("<I", fsi, 508, 0xAA550000)
    fat = bytearray(512)
    struct.pack_into("<III", fat, 0, 0x0FFFFFF8, 0x0FFFFFFF, 0x0FFFFFFF)
    for k, v in ((0, b), (1, fsi), (6, b), (7, fsi), (rsvd, fat), (rsvd + fsz, fat)):
        card.sectors[k] = bytes(v)


def build(name, n, card_full):
    card = SdCard(n)
    if name == "fat32":
        mkfs32(card)
    else:
        os.VfsFat.mkfs(card)
    mount(card)
    # the firmware's own files beside the config, as on a board's flash (a root directory
    # of several sectors: renames there can cross sectors)
    for fn in sorted(os.listdir(FW)):
        if fn.endswith(".py"):
            with _open(FW + "/" + fn, "rb") as f:
                data = f.read()
            with _open(fn, "wb") as f:
                f.write(data)
    put("config.json", cfg_text(card_full, OLD))
    wall = 0
    if name != "full":
        boot(12, wall)
        wall += 100
        boot(6, wall, close=False)
        card.dead = True          # the second earlier boot ends in a cut (its files stay
        unmount()                 # open on this dead card object, which stays dead)
        card = SdCard(n, card.sectors)
        mount(card)
        wall += 100
    else:
        # fill until the cut boot crosses the reserve after about a third of its run
        while True:
            free = os.statvfs(MP)
            free_kib = free[0] * free[4] // 1024
            if free_kib < 1024 + 16 + 20 * RUN_S // 3 + 200:
                break
            boot(10, wall)
            wall += 100
    os.mkdir(".stage")
    put(".stage/config.json", cfg_text(card_full, NEW))
    put(".stage/MANIFEST.tmp", json.dumps({"put": ["config.json"], "version": "cfg-2"}))
    os.rename(".stage/MANIFEST.tmp", ".stage/MANIFEST")
    unmount()
    return card, wall


def hexsha(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()


def run_cut(n, state, wall, cut_at, keep):
    """Boot from `state` and cut at write cut_at. Returns (card, phase at the cut)."""
    card = SdCard(n, dict(state))
    card.cut_at = cut_at
    card.keep = keep
    seen = []
    card.on_write = lambda w: seen.append(phase()) if w == cut_at else None
    mount(card)
    try:
        boot(RUN_S, wall)
    except PowerCut:
        pass
    unmount()
    return card, (seen[0] if seen else None)


def last_good_vehicle():
    """The vehicle of the config a boot runs when config.json is rejected (here: a
    directory where the file should be), i.e. of the newest valid last good copy; None
    when that is the defaults (no valid copy)."""
    cfg, h, err = config.load_config(ROOT, app.LAST_GOOD)
    return cfg["logger"]["vehicle"] if "using last good" in err else None


def check_and_boot_again(card, wall):
    """Mount the cut image again: acknowledged bytes must read back; then the next boot
    logs on it. Returns the report's fields."""
    acked = [(p.name, p.acked, p.acked_recs, p.data, p.recs) for p in FILES if p.acked]
    tail = 0
    for p in FILES:
        tail += sum(p.recs) - p.acked_recs
    card2 = SdCard(card.n, card.sectors)
    mount(card2)
    lost = 0
    ack = {}
    for name, n, recs, data, per in acked:
        try:
            with _open(ROOT + "/" + name, "rb") as f:
                got = f.read()
        except OSError:
            got = b""
        # records lost: those of each acknowledged block that does not read back whole
        bs = 4096
        for i in range(n // bs):
            if got[i * bs:(i + 1) * bs] != data[i * bs:(i + 1) * bs]:
                lost += per[i]
        ack[name] = [n, recs, hexsha(memoryview(data)[0:n])]
    saved = SAVED[0]
    lg_cut = last_good_vehicle()
    a = boot(NEXT_S, wall + 100)
    nxt = {"boot": a.log.boot, "blocks": a.log.blocks_written, "rx": a.cap.rx,
           "errors": a.errors, "cfg_error": a.cfg_error, "stopped": a.log.seg.stopped,
           "vehicle": a.cfg["logger"]["vehicle"], "lg_saved": saved, "lg_cut": lg_cut,
           "lg_next": last_good_vehicle()}
    unmount()
    return ack, lost, tail, nxt


def out(rec):
    print("@@" + json.dumps(rec))


def main():
    scen = []
    for name, n, card_full in SCEN:
        card, wall = build(name, n, card_full)
        state = dict(card.sectors)
        img = OUT + "/pre_%s.img" % name
        card.save(img)
        # dry run: the phase of every write of the boot to be cut
        labels = []
        dry = SdCard(n, dict(state))
        dry.on_write = lambda w: labels.append(phase())
        mount(dry)
        boot(RUN_S, wall)
        unmount()
        by = {}
        for i, lb in enumerate(labels):
            by.setdefault(lb, []).append(i)
        phases = sorted(p for p in by if ONLY is None or p in ONLY)
        scen.append((name, n, state, wall, by, phases))
        out({"pre": name, "image": img, "writes": len(labels), "wall": wall,
             "phases": dict((p, len(by[p])) for p in phases)})
    for i in range(FIRST, FIRST + COUNT):
        name, n, state, wall, by, phases = scen[i % len(scen)]
        want = phases[(i // len(scen)) % len(phases)]
        r = Rnd(SEED * 100003 + i)
        cut_at = by[want][r.below(len(by[want]))]
        card, ph = run_cut(n, state, wall, cut_at, r.below(1 << 20))
        if card.cut_info is None:
            out({"cut": i, "scen": name, "error": "no cut at write %d" % cut_at})
            continue
        ack, lost, tail, nxt = check_and_boot_again(card, wall)
        img = OUT + "/cut_%d.img" % i
        card.save(img)
        out({"cut": i, "scen": name, "phase": ph, "want": want, "write": cut_at,
             "torn": list(card.cut_info), "ack": ack, "mp_lost": lost, "tail": tail, "next": nxt,
             "image": img})
    out({"done": COUNT})


main()

# Fuzzing the firmware's GNSS parser and config validator under the real MicroPython.
#   micropython -X heapsize=8M tests/fuzz/mp_fuzz.py gnss|config FIRMWARE_DIR SEED COUNT
# Runs COUNT cases from a deterministic PRNG (same seed, same cases, in either lane) and
# prints one line "@@{json}" with the figures; a failure prints "@@{json}" with "fail"
# (the case number, what went wrong and the input as hex) and stops.
#
# gnss: random bytes, mutated slices of the receiver captures, captured NMEA sentences
# with mutated fields and a recomputed checksum, captured UBX NAV-PVT / NAV-DOP with
# mutated payload (or length) and a recomputed checksum; fed in random read sizes to a
# GnssParser kept for 50 cases (a stream). A case fails when feed() raises, when the
# parser counts an internal error (errors counter: a caught exception is a parser bug),
# when a fix does not fit its record (FORMAT.md 3.5), or when it allocates more than
# ALLOC_PER_MSG bytes per completed sentence or message (the per-byte path allocates
# nothing: gnss.py).
# config: mutated bytes of the example config (through check_file, as boot reads it) and
# mutated JSON trees (through validate); a case fails when either raises or hangs, when an error
# is not a string, or when a config that validates does not validate again, unchanged,
# from its canonical bytes.
import gc
import json
import os
import sys
import time

MODE, FW = sys.argv[1], sys.argv[2]
SEED, COUNT = int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, FW)
ROOT = FW.rstrip("/")[:-len("firmware")]
CAPS = ROOT + "tests/fw/gnss_captures/"
ALLOC_PER_MSG = 512         # bytes per completed sentence / UBX message (gnss.py header)
CASE_MS = 10000             # a case taking longer is a hang (a case takes ~2 ms)


class Rng:
    """xorshift32: the same cases in both lanes."""

    def __init__(self, seed):
        self.x = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def u32(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n):
        return self.u32() % n

    def pick(self, seq):
        return seq[self.u32() % len(seq)]


R = Rng(SEED)
EDGE = (0, 1, 0x7F, 0x80, 0xFF, 0x2C, 0x2A, 0x24, 0x2E, 0x2D, 0x0D, 0x0A, 0x30, 0x39, 0xB5)


def mutate_bytes(b, k):
    """k flips / overwrites / drops / inserts / duplications on bytearray b."""
    for _ in range(k):
        n = len(b)
        if n == 0:
            b.append(R.below(256))
            continue
        i = R.below(n)
        op = R.below(6)
        if op == 0:
            b[i] ^= 1 << R.below(8)
        elif op == 1:
            b[i] = R.pick(EDGE) if R.below(2) else R.below(256)
        elif op == 2:
            b[i:i + 1 + R.below(8)] = b""
        elif op == 3:
            b[i:i] = bytes((R.pick(EDGE),))
        elif op == 4:
            j = R.below(n)
            b[i:i] = b[j:j + 1 + R.below(20)]
        else:
            b[i:i] = b"0123456789"[:1 + R.below(10)]
    return b


# ---------------------------------------------------------------- GNSS

def read(name):
    with open(CAPS + name, "rb") as f:
        return f.read()


def nmea_lines(data):
    return [ln for ln in data.split(b"\n") if ln.startswith(b"$") and b"*" in ln]


def ubx_messages(data):
    out = []
    i = data.find(b"\xb5\x62")
    while i >= 0 and i + 8 <= len(data):
        ml = data[i + 4] | (data[i + 5] << 8)
        if i + 8 + ml <= len(data):
            out.append(data[i + 2:i + 6 + ml])     # class, id, len, payload (no sync, ck)
        i = data.find(b"\xb5\x62", i + 2)
    return out


def nmea(body):
    x = 0
    for c in body:
        x ^= c
    return b"$" + body + (b"*%02X\r\n" % x)


def ubx(body):
    a = b = 0
    for c in body:
        a = (a + c) & 0xFF
        b = (b + a) & 0xFF
    return b"\xb5\x62" + body + bytes((a, b))


def gnss_case(caps, lines, msgs):
    kind = R.below(5)
    if kind == 0:                                   # random bytes, plain or NMEA-ish
        n = 1 + R.below(300)
        alpha = b"$GPNMEAGGARMCVTGZDAGSA0123456789.,*\r\nNSEW-\xb5\x62" if R.below(2) else None
        return bytes(R.pick(alpha) if alpha else R.below(256) for _ in range(n))
    if kind == 1:                                   # a mutated slice of a capture
        c = R.pick(caps)
        i = R.below(len(c))
        return bytes(mutate_bytes(bytearray(c[i:i + 1 + R.below(600)]), 1 + R.below(12)))
    if kind in (2, 3):                              # sentences, fields mutated, checksum ok
        out = b""
        for _ in range(1 + R.below(6)):
            ln = R.pick(lines)
            body = ln[1:ln.index(b"*")]
            if R.below(4):
                body = bytes(mutate_bytes(bytearray(body), 1 + R.below(4)))
            out += nmea(body)
        return out
    out = b""                                       # UBX, payload mutated, checksum ok
    for _ in range(1 + R.below(4)):
        m = bytearray(R.pick(msgs))
        for _ in range(R.below(6)):
            i = 4 + R.below(len(m) - 4) if len(m) > 4 else R.below(len(m))
            m[i] = R.pick(EDGE) if R.below(2) else R.below(256)
        if R.below(10) == 0:                        # the length field itself
            m[2 + R.below(2)] = R.below(256)
        out += ubx(bytes(m))
    return out


class Sink:
    """Callbacks that check a fix fits its record without allocating."""

    def __init__(self):
        self.bad = 0
        self.n = 0

    def fix(self, tk, ft, sats, lat, lon, alt, ms, days, sp, co, hd):
        self.n += 1
        if not (0 <= ft <= 0xFF and 0 <= sats <= 0xFF and 0 <= tk <= 0xFFFFFFFF
                and -0x80000000 <= lat <= 0x7FFFFFFF and -0x80000000 <= lon <= 0x7FFFFFFF
                and -0x80000000 <= alt <= 0x7FFFFFFF and 0 <= ms <= 0xFFFFFFFF
                and 0 <= days <= 0xFFFF and 0 <= sp <= 0xFFFF and 0 <= co <= 0xFFFF
                and 0 <= hd <= 0xFFFF):
            self.bad += 1

    def sync(self, tk, src, flags, days, ms, us):
        if not (0 <= days <= 0xFFFF and 0 <= ms < 86400000 and 0 <= us < 1000):
            self.bad += 1


def units(p):
    return (p.good + p.bad_checksum + p.no_checksum + p.malformed + p.overlong
            + p.unknown_type + p.ubx_good + p.ubx_bad_checksum + p.ubx_skipped + p.late)


def run_gnss():
    from gnss import GnssParser
    names = ("ublox_m8_gn.nmea", "quectel_l76_gp.nmea", "rtk_8dec.nmea", "midnight_gga_zda.nmea",
             "garbage_restart.nmea", "ublox_mixed_nmea_ubx.bin", "ubx_f9p_nav_pvt.ubx",
             "ubx_epochs_5_25hz.ubx")
    caps = [read(n) for n in names]
    lines = []
    msgs = []
    for c in caps:
        lines += nmea_lines(c)
        msgs += [m for m in ubx_messages(c) if m[0] == 1 and m[1] in (4, 7)]
    uart = bytearray(512)
    mv = memoryview(uart)
    fig = {"mode": "gnss", "seed": SEED, "cases": 0, "bytes": 0, "fixes": 0, "units": 0,
           "alloc": 0, "max_alloc_case": 0, "max_alloc_per_unit": 0, "max_case_bytes": 0,
           "max_case_ms": 0}
    sink = p = None
    ticks = 0
    gc.disable()
    for case in range(COUNT):
        if case % 50 == 0:
            sink = Sink()
            p = GnssParser(sink.fix, sink.sync, R.below(2) == 0)
            gc.collect()
        data = gnss_case(caps, lines, msgs)
        u0 = units(p)
        why = None
        used = 0
        t0 = time.ticks_ms()
        try:
            i = 0
            while i < len(data):
                n = min(1 + R.below(300), len(data) - i)
                uart[:n] = data[i:i + n]
                ticks = (ticks + R.below(200000)) & 0x3FFFFFFF
                a = gc.mem_alloc()               # the copy above is the harness's
                p.feed(mv, n, ticks)
                used += gc.mem_alloc() - a
                i += n
        except Exception as e:  # noqa: BLE001 - any exception out of feed() is the bug
            why = "feed raised %r" % (e,)
            used = 0
        ms = time.ticks_diff(time.ticks_ms(), t0)
        du = units(p) - u0
        if why is None and ms > CASE_MS:
            why = "hang: %d ms" % ms
        if why is None and p.errors:
            why = "parser error counted: %r" % (p.last_error,)
        if why is None and sink.bad:
            why = "fix or sync out of its record's range"
        if why is None and used > ALLOC_PER_MSG * du:
            why = "allocated %d bytes for %d sentences/messages" % (used, du)
        if why is not None:
            fig["fail"] = {"case": case, "why": why, "input": data.hex()}
            break
        fig["cases"] += 1
        fig["bytes"] += len(data)
        fig["units"] += du
        fig["alloc"] += used
        fig["max_case_bytes"] = max(fig["max_case_bytes"], len(data))
        fig["max_alloc_case"] = max(fig["max_alloc_case"], used)
        fig["max_case_ms"] = max(fig["max_case_ms"], ms)
        if du:
            fig["max_alloc_per_unit"] = max(fig["max_alloc_per_unit"], used // du)
        if case % 50 == 49:
            fig["fixes"] += sink.n
    gc.enable()
    return fig


# ---------------------------------------------------------------- config

def rand_value(depth):
    k = R.below(12)
    if k == 0:
        return None
    if k == 1:
        return R.below(2) == 1
    if k == 2:
        return R.pick((0, 1, -1, 3, 4, 255, 256, 0x7FF, 0x800, 0x1FFFFFFF, 0x20000000,
                       0xFFFFFFFF, 0x100000000, 2 ** 63, -2 ** 63, 10 ** 30))
    if k == 3:
        return R.below(100000) - 50000
    if k == 4:
        return R.pick((0.5, -1.5, 1e300, 3.0))
    if k == 5:
        return R.pick(("", "0x", "0x7DF", "0X1fffffff", "0x100000000", "0xg", "accept",
                       "reject", "nmea", "ubx", "auto", "stop", "overwrite", "P1", "\u00e9",
                       "x" * 70, "\x00", "\ud7ff\U0001f600"))
    if k == 6 and depth < 4:
        return [rand_value(depth + 1) for _ in range(R.below(5))]
    if k == 7 and depth < 4:
        return {R.pick(KEYS): rand_value(depth + 1) for _ in range(R.below(5))}
    return R.below(70)


KEYS = ("version", "logger", "id", "vehicle", "can", "channel", "port", "bitrate", "fd",
        "data_bitrate", "listen_only", "filters", "prescale", "obd", "mcp2515", "action",
        "ext", "mask", "from", "to", "min_interval_ms", "enabled", "pids", "interval_ms",
        "spi", "sck", "mosi", "miso", "cs", "int", "osc_mhz", "spi_hz", "gnss", "baud",
        "protocol", "rate_hz", "pps_pin", "storage", "root", "block_size", "segment_mb",
        "segment_s", "flush_ms", "card_full", "reserve_mb", "ring_kib", "status_s", "pins",
        "led", "button", "watchdog_ms", "_comment", "unknown")


def mutate_tree(v, depth=0):
    """A copy of the JSON tree v with a few nodes replaced, deleted or added."""
    t = type(v)
    if t is dict:
        out = {}
        for k in v:
            r = R.below(RATE[0])
            if r == 0:
                continue                             # drop the key
            out[k] = rand_value(depth) if r == 1 else mutate_tree(v[k], depth + 1)
        if R.below(6) == 0:
            out[R.pick(KEYS)] = rand_value(depth)
        if R.below(40) == 0:                         # MicroPython's json reads {1: 2}
            out[R.pick((1, None, -7))] = rand_value(depth)
        return out
    if t is list:
        out = [mutate_tree(x, depth + 1) for x in v if R.below(8)]
        if R.below(5) == 0 and out:
            out.append(R.pick(out))                  # one more (a duplicate channel...)
        if R.below(8) == 0:
            out.append(rand_value(depth))
        if R.below(20) == 0:
            out = out * (1 + R.below(20))            # past the list's max_items
        return out
    return rand_value(depth) if R.below(RATE[0] // 2) == 0 else v


RATE = [12]            # 1 in RATE[0] nodes mutated: dense, or sparse (mostly valid trees)


LAST = [""]            # the case's input: JSON text of a tree, or the file's bytes as hex


def config_case(cfg_mod, text, tree, path):
    """One case: (why it failed, else "" if the input was rejected, None if it was
    valid; the bytes or the tree)."""
    if R.below(3) == 0:                              # bytes, as boot reads the file
        b = bytearray(text)
        mutate_bytes(b, 1 + R.below(8))
        if R.below(10) == 0:
            b = bytearray(b"\xef\xbb\xbf") + b
        data = bytes(b)
        LAST[0] = data.hex()
        with open(path, "wb") as f:
            f.write(data)
        cfg, why, errs = cfg_mod.check_file(path)
        raw = None
    else:
        RATE[0] = R.pick((12, 80, 400))
        raw = mutate_tree(tree)
        LAST[0] = json.dumps(raw)
        cfg, errs = cfg_mod.validate(raw)
        data = None
    for e in errs:
        if type(e) is not str:
            return "error not a string: %r" % (e,), data, raw
    if errs or cfg is None:                          # rejected (why, or errors, say so)
        return "", data, raw
    b1 = cfg_mod.canonical(cfg)
    cfg2, errs2 = cfg_mod.validate(json.loads(b1))
    if errs2 or cfg_mod.canonical(cfg2) != b1:
        return "valid config not stable through its canonical bytes: %r" % (errs2,), data, raw
    return None, data, raw


def run_config(tmp):
    import config as cfg_mod
    with open(FW + "/config.example.json", "rb") as f:
        text = f.read()
    tree = json.loads(text)
    path = tmp + "/config.json"
    fig = {"mode": "config", "seed": SEED, "cases": 0, "valid": 0, "rejected": 0,
           "from_bytes": 0, "regressions": 0, "max_case_ms": 0}
    reg = ROOT + "tests/fuzz/regressions/"
    for name in sorted(os.listdir(reg)):            # found by earlier campaigns: never raise
        if name.startswith("config-"):
            try:
                cfg_mod.check_file(reg + name)
            except Exception as e:  # noqa: BLE001 - any exception is the bug
                fig["fail"] = {"case": -1, "why": "raised %r" % (e,), "input": name}
                return fig
            fig["regressions"] += 1
    for case in range(COUNT):
        t0 = time.ticks_ms()
        try:
            why, data, raw = config_case(cfg_mod, text, tree, path)
        except Exception as e:  # noqa: BLE001 - any exception is the bug
            why = "raised %r" % (e,)
        ms = time.ticks_diff(time.ticks_ms(), t0)
        if not why and ms > CASE_MS:
            why = "hang: %d ms" % ms
        fig["max_case_ms"] = max(fig["max_case_ms"], ms)
        if why:
            fig["fail"] = {"case": case, "why": why, "input": LAST[0]}
            break
        fig["cases"] += 1
        fig["rejected" if why == "" else "valid"] += 1
        if data is not None:
            fig["from_bytes"] += 1
        if case % 100 == 0:
            gc.collect()
    return fig


def main():
    if MODE == "gnss":
        fig = run_gnss()
    else:
        tmp = sys.argv[5] if len(sys.argv) > 5 else "/tmp"
        fig = run_config(tmp)
    print("@@" + json.dumps(fig))


main()

# Board configuration (docs/CONFIG.md): one JSON file, validated at boot against SCHEMA,
# which is defined once below and used both to check values and to fill in defaults.
#
# A bad config never stops logging: load_config() falls back to the last good config
# (a copy the firmware keeps of the last file that validated), or to the defaults, and
# returns the reason as text for the caller to record (event record + LED pattern).
#
# The CAN filters and prescalers the config describes run in the capture path: rxfilter.py
# (frame_filters() below builds them). This module imports nothing of the firmware, so
# host tools can load it alone into CPython (docs/CONFIG.md, `dunelog config check`).
import os
import json
import errno
import binascii
from micropython import const

_STD = const(0x7FF)           # largest 11-bit id
_XID = const(0x1FFFFFFF)      # largest 29-bit id
MAX_BYTES = const(16384)      # largest config file read
MAX_SHOWN = const(32)         # errors listed in the error text (all are counted)

# ---- schema nodes -----------------------------------------------------------------
# leaf:  (kind, default, a, b[, c])      dict: (DICT, ((key, node), ...), check)
# list:  (LIST, item, max_items, default_items, check)
# check(out, raw, path, errs) adds cross-field errors once the fields are validated.
INT = const(0)      # (INT, default, lo, hi)             integer lo..hi
ONE = const(1)      # (ONE, default, choices)            one of the choices (same type)
BOOL = const(2)     # (BOOL, default)                    true / false
STR = const(3)      # (STR, default, lo, hi)             string of lo..hi UTF-8 bytes
CANID = const(4)    # (CANID, default, lo, hi)           integer or "0x..." hex string
NAME = const(5)     # (NAME, default, lo, hi, maxlen)    null, integer lo..hi or name
DICT = const(6)
LIST = const(7)


class _Mark:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


ABSENT = _Mark("ABSENT")        # optional key: left out of the config when not given
REQUIRED = _Mark("REQUIRED")    # no default: the key must be given
INDEX = _Mark("INDEX")          # default: the item's position in its list
_BAD = _Mark("BAD")             # a value that failed validation


def _check_filter(f, raw, path, errs):
    has_id = "id" in raw
    has_range = "from" in raw or "to" in raw
    if has_id and has_range:
        errs.append("%s: give either id (and mask) or from and to, not both" % path)
        return
    if not has_id and not has_range:
        errs.append("%s: needs id (and mask) or from and to" % path)
        return
    if has_range:
        for k in ("from", "to"):
            if k not in raw:
                errs.append("%s.%s: missing (from and to go together)" % (path, k))
        if "mask" in raw:
            errs.append("%s.mask: only with id, not with from and to" % path)
    if "ext" not in f:                      # invalid ext: widths unknown, said already
        return
    w = _XID if f["ext"] else _STD
    if has_id and "mask" not in raw:
        f["mask"] = w                       # exact match
    _check_width(f, ("id", "mask", "from", "to"), w, path, errs)
    if "from" in f and "to" in f and f["from"] > f["to"]:
        errs.append("%s: from 0x%X greater than to 0x%X" % (path, f["from"], f["to"]))


def _check_width(d, keys, w, path, errs):
    for k in keys:
        if k in d and d[k] > w:
            errs.append("%s.%s: 0x%X out of range 0x0..0x%X for %s id (ext %s)"
                        % (path, k, d[k], w, "an extended" if w == _XID else "a standard",
                           "true" if w == _XID else "false"))
            del d[k]


def _check_prescale(p, raw, path, errs):
    if "ext" in p:
        _check_width(p, ("id",), _XID if p["ext"] else _STD, path, errs)


def _check_obd(o, raw, path, errs):
    if o.get("enabled") and "pids" in o and not o["pids"]:
        errs.append("%s.pids: empty; polling needs at least one PID" % path)


def _check_mcp2515(c, path, errs):
    # the crystal must make the bit rate within 0.5 % (mcp2515.bit_timing: 4..20 quanta,
    # prescaler 1..64); the chip is classic CAN only
    mc = c["mcp2515"]
    if c.get("fd"):
        errs.append("%s.fd: true, but the MCP2515 is classic CAN only" % path)
    osc = mc.get("osc_mhz", 8) * 1000000
    rate = c.get("bitrate")
    if rate is None:
        return
    for n in range(4, 21):
        brp = (osc + n * rate) // (2 * n * rate)
        if 1 <= brp <= 64 and abs(osc // (2 * brp * n) - rate) * 200 <= rate:
            return
    errs.append("%s.bitrate: %d cannot be made by the MCP2515's %d MHz crystal"
                % (path, rate, osc // 1000000))


def _check_channel(c, raw, path, errs):
    if "mcp2515" in c:
        _check_mcp2515(c, path, errs)
    obd = c.get("obd")
    if obd and obd.get("enabled") and c.get("listen_only") is True:
        errs.append("%s.obd.enabled: true needs %s.listen_only false (listen-only never "
                    "transmits)" % (path, path))
    seen = {}
    for i, p in enumerate(c.get("prescale", ())):
        if "id" in p and "ext" in p:
            key = (p["id"], p["ext"])
            if key in seen:
                errs.append("%s.prescale[%d]: id 0x%X (ext %s) repeats %s.prescale[%d]"
                            % (path, i, p["id"], _show(p["ext"]), path, seen[key]))
            else:
                seen[key] = i


def _check_channels(chans, raw, path, errs):
    seen = {}
    for i, c in enumerate(chans):
        n = c.get("channel")
        if n is None:
            continue
        if n in seen:
            errs.append("%s[%d].channel: %d already used by %s[%d]" % (path, i, n, path, seen[n]))
        else:
            seen[n] = i


_FILTER = (DICT, (
    ("action", (ONE, "accept", ("accept", "reject"))),
    ("ext", (BOOL, False)),
    ("id", (CANID, ABSENT, 0, _XID)),
    ("mask", (CANID, ABSENT, 0, _XID)),
    ("from", (CANID, ABSENT, 0, _XID)),
    ("to", (CANID, ABSENT, 0, _XID)),
), _check_filter)

_PRESCALE = (DICT, (
    ("id", (CANID, REQUIRED, 0, _XID)),
    ("ext", (BOOL, False)),
    ("min_interval_ms", (INT, REQUIRED, 1, 60000)),
), _check_prescale)

_OBD = (DICT, (
    ("enabled", (BOOL, False)),
    ("pids", (LIST, (INT, REQUIRED, 0, 255), 16, [], None)),
    ("interval_ms", (INT, 1000, 100, 60000)),
    ("ext", (BOOL, False)),
), _check_obd)

# An MCP2515 on SPI carries the channel (ESP32 HAL): absent = the board's own controller.
# Pins and SPI bus null = the board HAL's defaults (docs/BOARDS.md); int -1 = not wired
# (polled from the main loop).
_MCP2515 = (DICT, (
    ("spi", (NAME, None, 0, 3, 15)),
    ("sck", (NAME, None, 0, 255, 16)),
    ("mosi", (NAME, None, 0, 255, 16)),
    ("miso", (NAME, None, 0, 255, 16)),
    ("cs", (NAME, None, 0, 255, 16)),
    ("int", (NAME, None, -1, 255, 16)),
    ("osc_mhz", (ONE, 8, (8, 16, 20))),
    ("spi_hz", (ONE, 10000000, (1000000, 2000000, 4000000, 5000000, 8000000, 10000000))),
), None, ABSENT)

_CHANNEL = (DICT, (
    ("channel", (INT, INDEX, 0, 3)),
    ("port", (NAME, None, 0, 3, 15)),
    ("bitrate", (ONE, 500000, (10000, 20000, 33333, 50000, 83333, 100000, 125000, 250000,
                               500000, 800000, 1000000))),
    ("fd", (BOOL, False)),
    ("data_bitrate", (ONE, 2000000, (1000000, 2000000, 4000000, 5000000, 8000000))),
    ("listen_only", (BOOL, True)),
    ("filters", (LIST, _FILTER, 32, [], None)),
    ("prescale", (LIST, _PRESCALE, 64, [], None)),
    ("obd", _OBD),
    ("mcp2515", _MCP2515),
), _check_channel)

SCHEMA = (DICT, (
    ("version", (ONE, 1, (1,))),
    ("logger", (DICT, (
        ("id", (INT, 0, 0, 0xFFFFFFFF)),
        ("vehicle", (STR, "", 0, 32)),
    ), None)),
    ("can", (LIST, _CHANNEL, 4, [{}], _check_channels)),
    ("gnss", (DICT, (
        ("enabled", (BOOL, True)),
        ("port", (NAME, None, 0, 9, 64)),
        ("baud", (ONE, 9600, (4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800,
                              921600))),
        ("protocol", (ONE, "nmea", ("nmea", "ubx", "auto"))),
        ("rate_hz", (ONE, 1, (1, 2, 4, 5, 8, 10, 20, 25))),
        ("pps_pin", (NAME, None, -1, 255, 16)),
    ), None)),
    ("storage", (DICT, (
        ("root", (STR, "/sd/dunelog", 1, 64)),
        ("block_size", (ONE, 4096, (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536))),
        ("segment_mb", (INT, 16, 1, 4095)),
        ("segment_s", (INT, 3600, 10, 86400)),
        ("flush_ms", (INT, 1000, 100, 60000)),
        ("card_full", (ONE, "stop", ("stop", "overwrite"))),
        ("reserve_mb", (INT, 16, 1, 4096)),
        ("ring_kib", (INT, 32, 4, 4096)),
    ), None)),
    ("status_s", (INT, 10, 1, 3600)),
    ("pins", (DICT, (
        ("led", (NAME, None, -1, 255, 16)),
        ("button", (NAME, None, -1, 255, 16)),
    ), None)),
    ("watchdog_ms", (INT, 8000, 1000, 32000)),
), None)


# ---- validation ---------------------------------------------------------------------

def _show(v):
    """A value as it appears in an error message (JSON-like, short)."""
    t = type(v)
    if t is dict:
        return "{...}"
    if t is list or t is tuple:
        return "[...]"
    out = []
    if t is str:
        _quote(v, out, False)           # messages keep non-ASCII text readable
    else:
        _dump(v, out)
    s = "".join(out)
    return s if len(s) <= 40 else s[:37] + "..."


def _bad(errs, path, v, rule):
    errs.append("%s: %s %s" % (path or "config", _show(v), rule))
    return _BAD


def _hex(s):
    # "0x7DF" -> 2015; anything else -> None
    if len(s) < 3 or len(s) > 10 or s[:2] not in ("0x", "0X"):
        return None
    n = 0
    for c in s[2:]:
        d = "0123456789abcdef".find(c.lower())
        if d < 0:
            return None
        n = n * 16 + d
    return n


def _default(node, path, errs, idx):
    k = node[0]
    if k == DICT:
        if len(node) > 3 and node[3] is ABSENT:     # an optional section: absent unless given
            return ABSENT
        return _val(node, {}, path, errs, idx)
    if k == LIST:
        return _val(node, node[3], path, errs, idx)
    d = node[1]
    if d is REQUIRED:
        errs.append("%s: missing (required)" % path)
        return _BAD
    if d is INDEX:
        return _val(node, idx, path, errs, idx)
    return d


def _val(node, v, path, errs, idx):
    k = node[0]
    t = type(v)
    if k == DICT:
        if t is not dict:
            return _bad(errs, path, v, "not an object")
        out = {}
        fields = node[1]
        for key, sub in fields:
            p = path + "." + key if path else key
            x = _val(sub, v[key], p, errs, idx) if key in v else _default(sub, p, errs, idx)
            if x is not _BAD and x is not ABSENT:
                out[key] = x
        names = []
        for key in v:
            if type(key) is str:
                names.append(key)
            else:                               # MicroPython's json reads {1: 2}
                errs.append("%s: key %s is not a string" % (path or "config", _show(key)))
        for key in sorted(names):
            if key[:1] != "_":                  # "_comment" etc.: ignored
                for f in fields:
                    if f[0] == key:
                        break
                else:
                    errs.append("%s: unknown key" % (path + "." + key if path else key))
        if node[2] is not None:
            node[2](out, v, path or "config", errs)
        return out
    if k == LIST:
        if t is not list:
            return _bad(errs, path, v, "not a list")
        if len(v) > node[2]:
            errs.append("%s: %d items, at most %d" % (path, len(v), node[2]))
        out = []
        for i in range(len(v)):
            x = _val(node[1], v[i], "%s[%d]" % (path, i), errs, i)
            if x is not _BAD:
                out.append(x)
        if node[4] is not None:
            node[4](out, v, path, errs)
        return out
    if k == INT:
        if t is not int:
            return _bad(errs, path, v, "not an integer")
        if v < node[2] or v > node[3]:
            return _bad(errs, path, v, "out of range %d..%d" % (node[2], node[3]))
        return v
    if k == ONE:
        c = node[2]
        if t is type(c[0]) and v in c:
            return v
        return _bad(errs, path, v, "not one of " + ", ".join([_show(x) for x in c]))
    if k == BOOL:
        if t is bool:
            return v
        return _bad(errs, path, v, "not true or false")
    if k == STR:
        if t is not str:
            return _bad(errs, path, v, "not a string")
        n = len(v.encode())
        if n < node[2] or n > node[3]:
            return _bad(errs, path, v, "is %d bytes, allowed %d..%d" % (n, node[2], node[3]))
        return v
    if k == CANID:
        x = _hex(v) if t is str else v
        if type(x) is not int:
            return _bad(errs, path, v, 'not an integer or a "0x..." hex string')
        if x < node[2] or x > node[3]:
            errs.append("%s: 0x%X out of range 0x%X..0x%X" % (path, x, node[2], node[3])
                        if x >= 0 else "%s: %d out of range 0x%X..0x%X"
                        % (path, x, node[2], node[3]))
            return _BAD
        return x
    if k == NAME:
        if v is None:
            return v
        if t is int:
            if v < node[2] or v > node[3]:
                return _bad(errs, path, v, "out of range %d..%d" % (node[2], node[3]))
            return v
        if t is str:
            n = len(v.encode())
            if n < 1 or n > node[4]:
                return _bad(errs, path, v, "is %d bytes, allowed 1..%d" % (n, node[4]))
            return v
        return _bad(errs, path, v, "not an integer, a name or null")
    return _bad(errs, path, v, "has no schema")


def validate(raw):
    """Check a parsed JSON value against SCHEMA. Returns (cfg, errors): cfg has every
    default filled in; errors lists every problem as "path: value rule" (empty if valid).
    When errors is not empty, cfg is incomplete and must not be used."""
    errs = []
    cfg = _val(SCHEMA, raw, "", errs, 0)
    return (cfg if cfg is not _BAD else {}), errs


def defaults():
    """The config in force when there is no config file at all."""
    return validate({})[0]


# ---- canonical form and hash ----------------------------------------------------------
# Canonical bytes = CPython json.dumps(cfg, sort_keys=True, separators=(",", ":")) with
# its default ensure_ascii=True, so host tools can compute the same hash.

_ESC = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r",
        0x09: "\\t"}


def _quote(s, out, ascii=True):
    out.append('"')
    for c in s:
        o = ord(c)
        if (0x20 <= o < 0x7F or (o > 0x9F and not ascii)) and o != 0x22 and o != 0x5C:
            out.append(c)
        elif o in _ESC:
            out.append(_ESC[o])
        elif o > 0xFFFF:
            o -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | (o >> 10), 0xDC00 | (o & 0x3FF)))
        else:
            out.append("\\u%04x" % o)
    out.append('"')


def _dump(v, out):
    t = type(v)
    if v is None:
        out.append("null")
    elif t is bool:
        out.append("true" if v else "false")
    elif t is int:
        out.append(str(v))
    elif t is str:
        _quote(v, out)
    elif t is dict:
        out.append("{")
        first = True
        for k in sorted(v):
            if not first:
                out.append(",")
            first = False
            _quote(k, out)
            out.append(":")
            _dump(v[k], out)
        out.append("}")
    elif t is list or t is tuple:
        out.append("[")
        for i in range(len(v)):
            if i:
                out.append(",")
            _dump(v[i], out)
        out.append("]")
    else:
        out.append(repr(v))          # floats etc.: only ever shown in error messages


def canonical(cfg):
    """The config as canonical JSON bytes (sorted keys, no spaces, ASCII)."""
    out = []
    _dump(cfg, out)
    return "".join(out).encode()


def config_hash(cfg):
    """CRC-32 of the canonical bytes: the config_hash of segment headers and sessions."""
    return binascii.crc32(canonical(cfg)) & 0xFFFFFFFF


# ---- loading ---------------------------------------------------------------------------

last_note = None        # what the last load_config() did, in words (also when all is well)
_MISSING = "missing"


def _absent(path, e):
    # ENOENT, or (ports whose OSError codes differ from errno's) not in its directory
    if e.args and e.args[0] == errno.ENOENT:
        return True
    i = path.rfind("/")
    try:
        return path[i + 1:] not in os.listdir(path[:i] if i > 0 else ("/" if i == 0 else "."))
    except OSError:
        return False


def _read(path):
    """-> (cfg, None, ()) if valid; else (None, reason, errors). reason _MISSING: no file."""
    try:
        st = os.stat(path)
    except OSError as e:
        if _absent(path, e):
            return None, _MISSING, ()
        return None, "unreadable (%s)" % e, ()
    if st[0] & 0x4000:
        return None, "unreadable (a directory)", ()
    if st[6] > MAX_BYTES:
        return None, "too large (%d bytes, at most %d)" % (st[6], MAX_BYTES), ()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, "unreadable (%s)" % e, ()
    if data[:3] == b"\xef\xbb\xbf":         # UTF-8 BOM from a Windows editor
        data = data[3:]
    try:
        text = data.decode()
    except UnicodeError:
        return None, "not UTF-8 text", ()
    try:
        raw = json.loads(text)
    except ValueError as e:
        return None, "invalid JSON (%s)" % e, ()
    cfg, errs = validate(raw)
    if errs:
        return None, "%d error%s" % (len(errs), "" if len(errs) == 1 else "s"), errs
    return cfg, None, ()


# ---- the last good config: two slots, no rename ---------------------------------------
# A FAT rename writes the new directory entry before it removes the old one: a power cut
# between leaves two names on one cluster chain (docs/RELIABILITY.md). So the last good
# config lives in two slots, <path> and <path>.b, written alternately in place: each slot
# is the canonical form with a leading '"_slot":[generation,crc32],' (still a config
# file: "_" keys are ignored) and counts only if the CRC-32 of the canonical bytes
# matches. A save overwrites the slot NOT holding the newest valid copy, so a torn write
# leaves that copy whole; boot takes the valid slot of the highest generation. A file
# without the prefix (older firmware's tmp + rename copy) is generation 0.
_SLOT = b'{"_slot":['


def slot_paths(path):
    """The two slot files of the last good config at path."""
    return path, path + ".b"


def slot_bytes(gen, data):
    """The bytes of a slot holding canonical config bytes data, generation gen."""
    return b'{"_slot":[%d,%d],' % (gen, binascii.crc32(data) & 0xFFFFFFFF) + data[1:]


def _read_slot(path):
    """-> (cfg, gen, canonical bytes, None, ()) if the slot is whole and valid, else
    (None, None, None, reason, errors); reason _MISSING: no file."""
    try:
        st = os.stat(path)
    except OSError as e:
        if _absent(path, e):
            return None, None, None, _MISSING, ()
        return None, None, None, "unreadable (%s)" % e, ()
    if st[0] & 0x4000:
        return None, None, None, "unreadable (a directory)", ()
    if st[6] > MAX_BYTES + 64:
        return None, None, None, "too large (%d bytes)" % st[6], ()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, None, None, "unreadable (%s)" % e, ()
    gen = 0
    if data[:len(_SLOT)] == _SLOT:
        j = data.find(b"],", len(_SLOT))
        try:
            gen, crc = [int(x) for x in data[len(_SLOT):j].split(b",")]
        except ValueError:
            j = -1
        if j < 0:
            return None, None, None, "torn (no slot header)", ()
        data = b"{" + data[j + 2:]
        if binascii.crc32(data) & 0xFFFFFFFF != crc:
            return None, None, None, "torn (CRC mismatch)", ()
    try:
        raw = json.loads(data.decode())
    except (ValueError, UnicodeError) as e:
        return None, None, None, "invalid JSON (%s)" % e, ()
    cfg, errs = validate(raw)
    if errs:
        return None, None, None, "%d error%s" % (len(errs), "" if len(errs) == 1 else "s"), errs
    return cfg, gen, data, None, ()


def _newest(path):
    """-> (cfg, gen, canonical bytes, slot index, reason, errors) of the newest valid slot;
    cfg None if neither is (reason and errors then those of the first slot that exists)."""
    best = None
    why, errs = _MISSING, ()
    for i, p in enumerate(slot_paths(path)):
        cfg, gen, data, w, e = _read_slot(p)
        if cfg is not None:
            if best is None or gen > best[1]:
                best = (cfg, gen, data, i)
        elif why is _MISSING:
            why, errs = w, e
    if best is None:
        return None, None, None, None, why, errs
    return best + (None, ())


def last_good(path):
    """The newest valid last good config at path (either slot): (cfg, None, ()) or
    (None, reason, errors); reason "missing": neither slot exists. `dunelog pull` runs
    this on the board."""
    cfg, _, _, _, why, errs = _newest(path)
    return cfg, why, errs


def _save(path, data):
    """Keep canonical config bytes data as the last good config at path unless its newest
    valid slot already holds them. Returns a note."""
    cfg, gen, old, i, _, _ = _newest(path)
    if cfg is not None and old == data:
        return "last good unchanged"
    target = slot_paths(path)[1 if i == 0 else 0]     # never the newest valid copy
    try:
        with open(target, "wb") as f:
            f.write(slot_bytes(1 if gen is None else gen + 1, data))
        if hasattr(os, "sync"):
            os.sync()
    except OSError as e:
        return "could not save last good %s (%s)" % (target, e)
    return "saved as last good %s" % target


def _lines(errs):
    s = "".join(["\n" + e for e in errs[:MAX_SHOWN]])
    if len(errs) > MAX_SHOWN:
        s += "\n... and %d more" % (len(errs) - MAX_SHOWN)
    return s


def _load(path, last_good_path):
    global last_note
    cfg, why, errs = _read(path)
    if cfg is not None:
        b = canonical(cfg)
        h = binascii.crc32(b) & 0xFFFFFFFF
        last_note = "config %s ok (crc 0x%08x); %s" % (path, h, _save(last_good_path, b))
        return cfg, h, None
    if why is _MISSING:
        cfg = defaults()
        h = config_hash(cfg)
        last_note = "no config file %s: using defaults (crc 0x%08x)" % (path, h)
        return cfg, h, None
    head = "config %s rejected: %s" % (path, why)
    detail = _lines(errs)
    cfg, why2, errs2 = last_good(last_good_path)
    if cfg is not None:
        h = config_hash(cfg)
        use = "using last good %s (crc 0x%08x)" % (last_good_path, h)
    else:
        cfg = defaults()
        h = config_hash(cfg)
        if why2 is _MISSING:
            use = "using defaults (crc 0x%08x), no last good config" % h
        else:
            use = "using defaults (crc 0x%08x), last good %s rejected too: %s" % (
                h, last_good_path, why2)
            detail += _lines(["last good: " + e for e in errs2])
    text = head + "; " + use + detail
    last_note = text
    return cfg, h, text


def check_file(path):
    """Validate a config file exactly as boot does, without using or saving it:
    (cfg, None, ()) if valid, else (None, reason, errors); reason "missing": no file.
    `dunelog config check` runs this (under MicroPython, or on the board)."""
    return _read(path)


def load_config(path, last_good_path):
    """Load and validate the config file. Returns (cfg, hash, error_text or None).

    Valid file: it is used and saved (canonical form) as the last good config.
    No file: the defaults, no error (see last_note). Unreadable or invalid file: the last
    good config (if it validates) or the defaults, and error_text says why: a first line
    naming the file, the reason and what is used instead, then one line per error.
    Never raises."""
    global last_note
    try:
        return _load(path, last_good_path)
    except Exception as e:  # noqa: BLE001 - a config problem must never stop logging
        cfg = defaults()
        h = config_hash(cfg)
        last_note = "config %s: internal error %r; using defaults (crc 0x%08x)" % (path, e, h)
        return cfg, h, last_note


# ---- what the rest of the firmware needs -------------------------------------------------

def logger_kwargs(cfg, config_hash=0):
    """Keyword arguments for logger.Logger (except ticks_fn and firmware)."""
    st = cfg["storage"]
    bs = st["block_size"]
    shift = 9
    while (1 << shift) < bs:
        shift += 1
    return {
        "root": st["root"],
        "logger_id": cfg["logger"]["id"],
        "vehicle": cfg["logger"]["vehicle"],
        "config_hash": config_hash,
        "ring_size": st["ring_kib"] * 1024,
        "block_shift": shift,
        # segment_mb is the whole file: the segment header takes one block
        "seg_blocks": max(1, st["segment_mb"] * 1048576 // bs - 1),
        "seg_s": st["segment_s"],
        "flush_ms": st["flush_ms"],
    }


def tx_allowed(chan):
    """True only if this channel's config explicitly asks the logger to transmit."""
    return not chan["listen_only"] and chan["obd"]["enabled"]


def frame_filters(cfg):
    """One rxfilter.FrameFilter per channel number (list index = channel, as Capture
    indexes it); a channel number without a config entry gets a pass-everything filter."""
    from rxfilter import FrameFilter    # here, not at the top: see the header
    chans = cfg["can"]
    n = 0
    for c in chans:
        n = max(n, c["channel"] + 1)
    out = [None] * n
    for c in chans:
        out[c["channel"]] = FrameFilter(c)
    if None in out:
        open_ = FrameFilter({"filters": [], "prescale": []})
        for i in range(n):
            if out[i] is None:
                out[i] = open_
    return out

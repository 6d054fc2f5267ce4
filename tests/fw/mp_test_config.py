# Config: schema defaults, validation messages, load/fallback/last-good, canonical hash,
# docs and example in step with code (the filters it describes: mp_test_rxfilter.py).
import os
import sys
import json
import binascii

import config
from config import (load_config, validate, defaults, canonical, config_hash, logger_kwargs,
                    tx_allowed, SCHEMA)

TMP = "/tmp"                                   # set by the runner
MASK = 0x3FFFFFFF
FW = [p for p in sys.path if p.rstrip("/").endswith("firmware")][0]
ROOT = FW.rstrip("/")[:-len("firmware")]


def put(path, text):
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def errs(raw):
    return validate(raw)[1]


def only(raw, message):
    e = errs(raw)
    assert e == [message], e


def chan(**kw):
    return {"can": [kw]}


# ---- defaults ---------------------------------------------------------------------------

def test_defaults_are_complete_and_valid():
    cfg, e = validate({})
    assert e == []
    assert cfg == defaults()
    assert cfg["version"] == 1
    assert cfg["logger"] == {"id": 0, "vehicle": ""}
    assert cfg["can"] == [{"channel": 0, "port": None, "bitrate": 500000, "fd": False,
                           "data_bitrate": 2000000, "listen_only": True, "filters": [],
                           "prescale": [],
                           "obd": {"enabled": False, "pids": [], "interval_ms": 1000,
                                   "ext": False}}]
    assert cfg["gnss"] == {"enabled": True, "port": None, "baud": 9600, "protocol": "nmea",
                           "rate_hz": 1, "pps_pin": None}
    assert cfg["storage"] == {"root": "/sd/dunelog", "block_size": 4096, "segment_mb": 16,
                              "segment_s": 3600, "flush_ms": 1000, "card_full": "stop",
                              "reserve_mb": 16, "ring_kib": 32}
    assert cfg["status_s"] == 10 and cfg["watchdog_ms"] == 8000
    assert cfg["pins"] == {"led": None, "button": None}
    assert len(cfg) == 8


def test_transmit_is_off_unless_explicitly_enabled():
    assert not tx_allowed(defaults()["can"][0])
    cfg, e = validate(chan(listen_only=False))
    assert e == [] and not tx_allowed(cfg["can"][0])    # ACKs, but never sends
    cfg, e = validate(chan(listen_only=False, obd={"enabled": True, "pids": [12, 13]}))
    assert e == [] and tx_allowed(cfg["can"][0])
    only(chan(obd={"enabled": True, "pids": [12]}),
         "can[0].obd.enabled: true needs can[0].listen_only false (listen-only never transmits)")


def test_partial_config_fills_defaults_per_item():
    cfg, e = validate({"can": [{"bitrate": 250000}, {"fd": True, "filters": [{"id": 5}]}],
                       "storage": {"flush_ms": 250}})
    assert e == []
    a, b = cfg["can"]
    assert (a["channel"], a["bitrate"], a["listen_only"]) == (0, 250000, True)
    assert (b["channel"], b["bitrate"], b["fd"]) == (1, 500000, True)   # channel = position
    assert b["filters"] == [{"action": "accept", "ext": False, "id": 5, "mask": 0x7FF}]
    assert cfg["storage"]["flush_ms"] == 250 and cfg["storage"]["segment_s"] == 3600
    cfg, e = validate({"can": []})                      # GNSS-only logger
    assert e == [] and cfg["can"] == []


# ---- every rule, with its exact message --------------------------------------------------

def test_messages_for_each_rule():
    only(chan(bitrate=300000), "can[0].bitrate: 300000 not one of 10000, 20000, 33333, 50000, "
         "83333, 100000, 125000, 250000, 500000, 800000, 1000000")
    only({"storage": {"flush_ms": 50}}, "storage.flush_ms: 50 out of range 100..60000")
    only({"storage": {"flush_ms": "1000"}}, 'storage.flush_ms: "1000" not an integer')
    only({"storage": {"flush_ms": 1000.0}}, "storage.flush_ms: 1000.0 not an integer")
    only({"status_s": True}, "status_s: true not an integer")
    only({"storage": {"card_full": "wrap"}},
         'storage.card_full: "wrap" not one of "stop", "overwrite"')
    only({"gnss": {"rate_hz": "5"}}, 'gnss.rate_hz: "5" not one of 1, 2, 4, 5, 8, 10, 20, 25')
    only(chan(listen_only=1), "can[0].listen_only: 1 not true or false")
    only(chan(fd="yes"), 'can[0].fd: "yes" not true or false')
    only({"logger": {"vehicle": 204}}, "logger.vehicle: 204 not a string")
    only({"logger": {"vehicle": "\u00e9" * 17}},
         'logger.vehicle: "' + "\u00e9" * 17 + '" is 34 bytes, allowed 0..32')
    only({"storage": {"root": ""}}, 'storage.root: "" is 0 bytes, allowed 1..64')
    only({"logger": {"id": 4294967296}}, "logger.id: 4294967296 out of range 0..4294967295")
    only({"logger": []}, "logger: [...] not an object")
    only({"can": {}}, "can: {...} not a list")
    only([1, 2], "config: [...] not an object")
    only({"pins": {"led": True}}, "pins.led: true not an integer, a name or null")
    only({"pins": {"led": 256}}, "pins.led: 256 out of range -1..255")
    only({"pins": {"button": "PA0-PA15-PB0-PB1+"}},
         'pins.button: "PA0-PA15-PB0-PB1+" is 17 bytes, allowed 1..16')
    only({"gnss": {"port": 10}}, "gnss.port: 10 out of range 0..9")
    only(chan(port="vcan0-with-a-long-name"),
         'can[0].port: "vcan0-with-a-long-name" is 22 bytes, allowed 1..15')
    only({"version": 2}, "version: 2 not one of 1")
    only({"stauts_s": 5}, "stauts_s: unknown key")
    only(chan(bitrat=500000), "can[0].bitrat: unknown key")
    e = errs({"can": [{}, {}, {}, {}, {}]})
    assert e == ["can: 5 items, at most 4", "can[4].channel: 4 out of range 0..3"], e


def test_messages_for_can_ids_filters_prescalers():
    f = lambda *fl: chan(filters=list(fl))           # noqa: E731
    only(f({"id": 0x800}), "can[0].filters[0].id: 0x800 out of range 0x0..0x7FF for a "
         "standard id (ext false)")
    assert errs(f({"id": 0x800, "ext": True})) == []
    only(f({"id": 0x20000000, "ext": True}),
         "can[0].filters[0].id: 0x20000000 out of range 0x0..0x1FFFFFFF")
    only(f({"id": -1}), "can[0].filters[0].id: -1 out of range 0x0..0x1FFFFFFF")
    only(f({"id": "7DF"}), 'can[0].filters[0].id: "7DF" not an integer or a "0x..." hex string')
    only(f({"id": "0x7DG"}),
         'can[0].filters[0].id: "0x7DG" not an integer or a "0x..." hex string')
    only(f({"id": 1, "mask": 0xFFF}), "can[0].filters[0].mask: 0xFFF out of range 0x0..0x7FF "
         "for a standard id (ext false)")
    only(f({"action": "drop", "id": 1}),
         'can[0].filters[0].action: "drop" not one of "accept", "reject"')
    only(f({"action": "reject"}), "can[0].filters[0]: needs id (and mask) or from and to")
    only(f({"mask": 0x700}), "can[0].filters[0]: needs id (and mask) or from and to")
    only(f({"id": 1, "from": 1, "to": 2}),
         "can[0].filters[0]: give either id (and mask) or from and to, not both")
    only(f({"from": 1}), "can[0].filters[0].to: missing (from and to go together)")
    only(f({"from": 1, "to": 2, "mask": 3}),
         "can[0].filters[0].mask: only with id, not with from and to")
    only(f({"from": 0x300, "to": 0x200}), "can[0].filters[0]: from 0x300 greater than to 0x200")
    only(f({"from": 0, "to": 0x800}), "can[0].filters[0].to: 0x800 out of range 0x0..0x7FF "
         "for a standard id (ext false)")
    only(f({"id": 1, "colour": "red"}), "can[0].filters[0].colour: unknown key")
    only(f({"id": 0x800, "ext": "yes"}), 'can[0].filters[0].ext: "yes" not true or false')
    only(f(*([{"id": 1}] * 33)), "can[0].filters: 33 items, at most 32")
    p = lambda *pl: chan(prescale=list(pl))          # noqa: E731
    only(p({"id": 0x100}), "can[0].prescale[0].min_interval_ms: missing (required)")
    only(p({"min_interval_ms": 10}), "can[0].prescale[0].id: missing (required)")
    only(p({"id": 0x100, "min_interval_ms": 0}),
         "can[0].prescale[0].min_interval_ms: 0 out of range 1..60000")
    only(p({"id": 0x1000, "min_interval_ms": 10}), "can[0].prescale[0].id: 0x1000 out of range "
         "0x0..0x7FF for a standard id (ext false)")
    only(p({"id": 0x100, "min_interval_ms": 10}, {"id": "0x100", "min_interval_ms": 20}),
         "can[0].prescale[1]: id 0x100 (ext false) repeats can[0].prescale[0]")
    assert errs(p({"id": 0x100, "min_interval_ms": 10},
                  {"id": 0x100, "ext": True, "min_interval_ms": 10})) == []
    only({"can": [{"channel": 1}, {"channel": 1}]}, "can[1].channel: 1 already used by can[0]")
    only({"can": [{"channel": 1}, {}]}, "can[1].channel: 1 already used by can[0]")
    only(chan(listen_only=False, obd={"enabled": True}),
         "can[0].obd.pids: empty; polling needs at least one PID")
    only(chan(obd={"pids": [12, 256]}), "can[0].obd.pids[1]: 256 out of range 0..255")


def _leaves(node, path, out):
    k = node[0]
    if k == config.DICT:
        for key, sub in node[1]:
            _leaves(sub, path + "." + key if path else key, out)
    elif k == config.LIST:
        out.append((path, node))
        if node[1][0] == config.DICT:
            _leaves(node[1], path + "[]", out)
        else:
            out.append((path + "[]", node[1]))
    else:
        out.append((path, node))
    return out


BASE_ITEM = {"can[].filters[]": {"id": 1}, "can[].prescale[]": {"id": 1, "min_interval_ms": 5}}


def _build(path, value):
    """A config that sets the leaf at a schema path ("can[].filters[].id") to value,
    with whatever siblings a valid item needs."""
    parts = path.replace("[]", ".[]").split(".")
    root = {}
    cur = root
    sofar = ""
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        if p == "[]":
            sofar += "[]"
            if last:
                cur.append(value)
            else:
                item = dict(BASE_ITEM.get(sofar, {}))
                if sofar == "can[].filters[]" and parts[-1] in ("from", "to", "mask"):
                    item = {"from": 1, "to": 2} if parts[-1] != "mask" else {"id": 1}
                cur.append(item)
                cur = item
            continue
        sofar = sofar + "." + p if sofar else p
        if last:
            cur[p] = value
        else:
            nxt = [] if parts[i + 1] == "[]" else {}
            cur[p] = nxt
            cur = nxt
    return root


def _bad_values(node):
    k = node[0]
    if k == config.INT:
        return [("x", "not an integer"), (node[2] - 1, "out of range"),
                (node[3] + 1, "out of range")]
    if k == config.ONE:
        c = node[2]
        return [(-7 if type(c[0]) is int else "nope", "not one of"), (None, "not one of")]
    if k == config.BOOL:
        return [(1, "not true or false"), ("true", "not true or false")]
    if k == config.STR:
        r = [(5, "not a string"), ("x" * (node[3] + 1), "bytes, allowed")]
        if node[2] > 0:
            r.append(("", "bytes, allowed"))
        return r
    if k == config.CANID:
        return [("0xZ", "hex string"), (True, "hex string"), (node[3] + 1, "out of range"),
                (-1, "out of range")]
    if k == config.NAME:
        return [(True, "a name or null"), (node[3] + 1, "out of range"),
                (node[2] - 1, "out of range"), ("x" * (node[4] + 1), "bytes, allowed")]
    if k == config.LIST:
        return [({}, "not a list")]
    raise AssertionError(node)


def test_every_schema_rule_rejects_a_bad_value_with_its_path():
    n = 0
    for path, node in _leaves(SCHEMA, "", []):
        where = path.replace("[]", "[0]")
        assert errs(_build(path, node[1] if node[1] not in (config.ABSENT, config.REQUIRED,
                                                             config.INDEX) else 1)) == [] \
            or node[0] == config.LIST, path
        for bad, rule in _bad_values(node):
            e = errs(_build(path, bad))
            assert len(e) == 1 and e[0].startswith(where + ": ") and rule in e[0], (path, bad, e)
            n += 1
    assert n > 100, n


def test_all_errors_are_collected_in_order():
    raw = {"logger": {"id": -1, "vehicle": 3},
           "can": [{"bitrate": 300000, "filters": [{"id": 0x800}, {"from": 9, "to": 1}]},
                   {"channel": 9, "listen_only": "no"}],
           "gnss": {"protocol": "sirf"}, "storage": {"ring_kib": 1}, "extra": 1}
    assert errs(raw) == [
        "logger.id: -1 out of range 0..4294967295",
        "logger.vehicle: 3 not a string",
        "can[0].bitrate: 300000 not one of 10000, 20000, 33333, 50000, 83333, 100000, 125000, "
        "250000, 500000, 800000, 1000000",
        "can[0].filters[0].id: 0x800 out of range 0x0..0x7FF for a standard id (ext false)",
        "can[0].filters[1]: from 0x9 greater than to 0x1",
        "can[1].channel: 9 out of range 0..3",
        'can[1].listen_only: "no" not true or false',
        'gnss.protocol: "sirf" not one of "nmea", "ubx", "auto"',
        "storage.ring_kib: 1 out of range 4..4096",
        "extra: unknown key",
    ]


def test_comment_keys_and_hex_ids_are_accepted():
    cfg, e = validate({"_comment": "T1 #204", "can": [{"_note": "OBD port", "filters": [
        {"id": "0x18FEF100", "mask": "0x00FFFF00", "ext": True}]}]})
    assert e == []
    assert "_comment" not in cfg and "_note" not in cfg["can"][0]
    assert cfg["can"][0]["filters"][0] == {"action": "accept", "ext": True, "id": 0x18FEF100,
                                           "mask": 0x00FFFF00}


# ---- load_config ----------------------------------------------------------------------

GOOD = '{"logger": {"id": 7, "vehicle": "T1 #204"}, "can": [{"bitrate": 250000}]}'


def paths(name):
    d = TMP + "/" + name
    try:
        os.mkdir(d)
    except OSError:
        pass
    return d + "/config.json", d + "/config.good.json"


def test_missing_file_gives_defaults_with_a_note():
    p, lg = paths("missing")
    cfg, h, err = load_config(p, lg)
    assert err is None
    assert cfg == defaults() and h == config_hash(defaults())
    assert config.last_note.startswith("no config file " + p + ": using defaults")
    assert not exists(lg)                    # defaults are not a "last good" file


def test_valid_file_is_used_and_saved_as_last_good():
    p, lg = paths("valid")
    put(p, GOOD)
    cfg, h, err = load_config(p, lg)
    assert err is None
    assert cfg["logger"] == {"id": 7, "vehicle": "T1 #204"}
    assert cfg["can"][0]["bitrate"] == 250000
    assert get(lg) == config.slot_bytes(1, canonical(cfg))   # slot A, generation 1
    assert h == binascii.crc32(canonical(cfg)) == config_hash(cfg)
    assert config.last_good(lg) == (cfg, None, ())
    assert not exists(lg + ".tmp") and not exists(lg + ".b")
    assert config.last_note == "config %s ok (crc 0x%08x); saved as last good %s" % (p, h, lg)


def test_invalid_json_keeps_last_good():
    p, lg = paths("badjson")
    put(p, GOOD)
    good, h0, _ = load_config(p, lg)
    put(p, '{"logger": {"id": 8,}')
    cfg, h, err = load_config(p, lg)
    assert cfg == good and h == h0
    assert err == ("config %s rejected: invalid JSON (syntax error in JSON); using last good "
                   "%s (crc 0x%08x)" % (p, lg, h0)), err
    assert get(lg) == config.slot_bytes(1, canonical(good))  # last good untouched
    assert not exists(lg + ".b")
    assert config.last_note == err


def test_invalid_values_keep_last_good_and_list_every_error():
    p, lg = paths("badval")
    put(p, GOOD)
    good, h0, _ = load_config(p, lg)
    put(p, '{"logger": {"id": 8}, "can": [{"bitrate": 300000}], "storage": {"flush_ms": 5}}')
    cfg, h, err = load_config(p, lg)
    assert cfg == good and h == h0
    lines = err.split("\n")
    assert lines[0] == "config %s rejected: 2 errors; using last good %s (crc 0x%08x)" % (
        p, lg, h0)
    assert lines[1].startswith("can[0].bitrate: 300000 not one of ")
    assert lines[2] == "storage.flush_ms: 5 out of range 100..60000"
    assert len(lines) == 3
    put(p, GOOD.replace("250000", "125000"))  # fixed: the new file becomes the last good
    cfg, h, err = load_config(p, lg)
    assert err is None and cfg["can"][0]["bitrate"] == 125000 and h != h0
    assert get(lg + ".b") == config.slot_bytes(2, canonical(cfg))   # the other slot
    assert get(lg) == config.slot_bytes(1, canonical(good))         # kept whole
    assert config_hash(config.last_good(lg)[0]) == h


def test_invalid_without_last_good_uses_defaults():
    p, lg = paths("nolast")
    put(p, '{"status_s": 0}')
    cfg, h, err = load_config(p, lg)
    assert cfg == defaults() and h == config_hash(cfg)
    assert err == ("config %s rejected: 1 error; using defaults (crc 0x%08x), no last good "
                   "config\nstatus_s: 0 out of range 1..3600" % (p, h)), err
    assert not exists(lg)


def test_invalid_last_good_is_not_trusted_either():
    p, lg = paths("badlast")
    put(p, "not json")
    put(lg, '{"watchdog_ms": 10}')
    cfg, h, err = load_config(p, lg)
    assert cfg == defaults()
    assert err == ("config %s rejected: invalid JSON (syntax error in JSON); using defaults "
                   "(crc 0x%08x), last good %s rejected too: 1 error\nlast good: watchdog_ms: "
                   "10 out of range 1000..32000" % (p, h, lg)), err


def test_unreadable_files_never_raise():
    p, lg = paths("unreadable")
    put(lg, GOOD)
    good = validate(json.loads(GOOD))[0]
    os.mkdir(p)                                     # a directory where the file should be
    cfg, h, err = load_config(p, lg)
    assert cfg == good and "rejected: unreadable (a directory); using last good" in err, err
    os.rmdir(p)
    put(p, b'{"logger": {"vehicle": "\xff\xfe"}}')
    cfg, h, err = load_config(p, lg)
    assert cfg == good and "rejected: not UTF-8 text;" in err, err
    put(p, " " * 16385)
    cfg, h, err = load_config(p, lg)
    assert cfg == good and "rejected: too large (16385 bytes, at most 16384);" in err, err
    put(p, "")
    cfg, h, err = load_config(p, lg)
    assert cfg == good and "rejected: invalid JSON" in err, err
    put(p, "[]")
    cfg, h, err = load_config(p, lg)
    assert cfg == good and err.endswith("\nconfig: [...] not an object"), err
    cfg, h, err = load_config(None, None)           # a caller bug: still a config, no raise
    assert cfg == defaults() and h == config_hash(cfg) and "internal error" in err, err


def test_utf8_bom_is_accepted():
    p, lg = paths("bom")
    put(p, b"\xef\xbb\xbf" + GOOD.encode())
    cfg, h, err = load_config(p, lg)
    assert err is None and cfg["logger"]["id"] == 7


def test_long_error_lists_are_capped():
    p, lg = paths("many")
    put(p, json.dumps({"k%d" % i: i for i in range(40)}))
    cfg, h, err = load_config(p, lg)
    lines = err.split("\n")
    assert lines[0].startswith("config %s rejected: 40 errors; using defaults" % p)
    assert len(lines) == 1 + 32 + 1 and lines[-1] == "... and 8 more", lines[-3:]


class FsSpy:
    """Stands in for config's os module and open(): records the file operations."""

    def __init__(self, fail_write=False):
        self.log = []
        self.fail_write = fail_write

    def stat(self, p):
        return os.stat(p)

    def rename(self, a, b):
        self.log.append(("rename", a, b))
        os.rename(a, b)

    def remove(self, p):
        self.log.append(("remove", p))
        os.remove(p)

    def open(self, p, mode="r"):
        self.log.append(("open", p, mode))
        if self.fail_write and "w" in mode:
            raise OSError(5)                         # EIO: power gone as the slot opens
        return open(p, mode)


def spy_load(spy, p, lg):
    config.os = spy
    config.open = spy.open
    try:
        return load_config(p, lg)
    finally:
        config.os = os
        del config.open


def test_last_good_slots_alternate_and_nothing_is_renamed():
    p, lg = paths("slots")
    b = lg + ".b"
    written = []
    for i, vid in enumerate((7, 8, 9, 10, 10)):
        put(p, GOOD.replace('"id": 7', '"id": %d' % vid))
        spy = FsSpy()
        cfg, h, err = spy_load(spy, p, lg)
        assert err is None and cfg["logger"]["id"] == vid
        assert [x for x in spy.log if x[0] != "open" or x[2] != "rb"] == (
            [] if i == 4 else [("open", (lg, b)[i % 2], "wb")]), spy.log   # no rename ever
        if i < 4:
            written.append(get((lg, b)[i % 2]))
            assert written[-1] == config.slot_bytes(i + 1, canonical(cfg))
            assert config.last_note.endswith("saved as last good " + (lg, b)[i % 2])
        else:                                        # same config: nothing rewritten
            assert config.last_note.endswith("last good unchanged")
        assert config.last_good(lg)[0] == cfg
    assert get(lg) == written[2] and get(b) == written[3]


def torn_variants(data, old):
    """What a cut while rewriting a slot in place can leave: nothing, a prefix, the new
    length with 512-byte sectors of the old content or of zeros in it."""
    out = [b""]
    for k in (1, 9, 10, 11, 20, len(data) // 2, len(data) - 2, len(data) - 1):
        out.append(data[:k])
    for cut in range(512, len(data), 512):
        out.append(data[:cut] + (old + bytes(len(data)))[cut:len(data)])
        out.append(data[:cut] + bytes(len(data) - cut))
    out.append(bytes(len(data)))
    return [t for t in out if t != data]       # old sectors may equal the new ones


def test_torn_slot_leaves_the_other_and_boot_takes_it():
    p, lg = paths("torn")
    b = lg + ".b"
    long = json.loads(GOOD)
    long["can"][0]["filters"] = [{"id": 0x100 + i} for i in range(32)]
    put(p, json.dumps(long))
    old, h_old, err = load_config(p, lg)             # slot A, generation 1
    assert err is None and len(get(lg)) > 1024, err
    put(p, json.dumps(long).replace('"id": 7', '"id": 9'))
    new, h_new, err = load_config(p, lg)             # slot B, generation 2
    assert err is None and new["logger"]["id"] == 9
    whole_b = get(b)
    # the next save overwrites A (B holds the newest): every torn A leaves B in force
    nxt = config.slot_bytes(3, canonical(validate(json.loads(json.dumps(long).replace(
        '"id": 7', '"id": 11')))[0]))
    for torn in torn_variants(nxt, get(lg)):
        put(lg, torn)
        assert config.last_good(lg)[0] == new, len(torn)
        put(p, "{broken")                            # a boot on a bad config.json
        cfg, h, err = load_config(p, lg)
        assert cfg == new and h == h_new and "using last good" in err
    assert get(b) == whole_b
    # and a torn B (A whole) gives A
    put(lg, config.slot_bytes(1, canonical(old)))
    for torn in torn_variants(whole_b, get(lg)):
        put(b, torn)
        assert config.last_good(lg)[0] == old, len(torn)


def test_newest_valid_slot_wins_and_older_firmware_copy_is_generation_0():
    p, lg = paths("newest")
    b = lg + ".b"
    c7 = validate(json.loads(GOOD))[0]
    c8 = validate(json.loads(GOOD.replace('"id": 7', '"id": 8')))[0]
    put(lg, config.slot_bytes(5, canonical(c7)))
    put(b, config.slot_bytes(4, canonical(c8)))
    assert config.last_good(lg)[0] == c7
    put(b, config.slot_bytes(6, canonical(c8)))
    assert config.last_good(lg)[0] == c8
    # a copy saved by older firmware (canonical, no slot header) is generation 0
    put(lg, canonical(c7))
    os.remove(b)
    assert config.last_good(lg)[0] == c7
    put(p, GOOD.replace('"id": 7', '"id": 8'))
    cfg, h, err = load_config(p, lg)                 # saved to B: A stays as it was
    assert get(b) == config.slot_bytes(1, canonical(c8)) and get(lg) == canonical(c7)
    # a slot whose bytes were changed is not trusted (CRC), the other is used
    bad = bytearray(get(b))
    bad[-5] ^= 1
    put(b, bytes(bad))
    assert config.last_good(lg)[0] == c7
    assert config.last_good(TMP + "/nowhere.json") == (None, "missing", ())


def test_failed_save_leaves_old_last_good_intact():
    p, lg = paths("powercut")
    put(p, GOOD)
    old, h0, _ = load_config(p, lg)
    put(p, GOOD.replace('"id": 7', '"id": 9'))
    cfg, h, err = spy_load(FsSpy(fail_write=True), p, lg)
    assert err is None and cfg["logger"]["id"] == 9  # the valid file is still used
    assert "could not save last good" in config.last_note, config.last_note
    assert get(lg) == config.slot_bytes(1, canonical(old))  # the old last good whole
    put(p, "{broken")                                 # next boot, broken file: old last good
    cfg, h, err = load_config(p, lg)
    assert cfg == old and h == h0


# ---- canonical form and hash -----------------------------------------------------------

def test_hash_is_stable_across_formatting():
    a = validate(json.loads(GOOD))[0]
    b = validate(json.loads("""{
        "_comment": "same config, other order, spacing, explicit defaults, hex ids",
        "can": [ {"listen_only": true, "bitrate": 250000, "channel": 0, "filters": []} ],
        "logger": {"vehicle": "T1 #204", "id": 7}, "status_s": 10,
        "storage": {"root": "/sd/dunelog"} }"""))[0]
    assert config_hash(a) == config_hash(b)
    assert config_hash(defaults()) == config_hash(validate(json.loads(
        canonical(defaults())))[0])
    c = validate(json.loads(GOOD.replace("T1 #204", "T1 #205")))[0]
    assert config_hash(c) != config_hash(a)
    assert config_hash(a) == binascii.crc32(canonical(a))


def test_canonical_bytes_match_cpython_json_dumps():
    v = {"s": "a\"b\\c\n\t\x01\x7f \u00e9\u20ac\U0001F600 \u2028",
         "k": [1, -2, True, False, None, {"z": 1, "a": "x", "\u00e9": 2}], "big": 4294967295}
    # CPython: json.dumps(v, sort_keys=True, separators=(",", ":"))
    assert canonical(v) == (b'{"big":4294967295,"k":[1,-2,true,false,null,{"a":"x","z":1,'
                            b'"\\u00e9":2}],"s":"a\\"b\\\\c\\n\\t\\u0001\\u007f \\u00e9\\u20ac'
                            b'\\ud83d\\ude00 \\u2028"}')


# ---- helpers for the logger -------------------------------------------------------------

class Ticks:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t & MASK


def test_logger_kwargs_build_a_logger():
    from logger import Logger
    import struct
    cfg, e = validate({"logger": {"id": 7, "vehicle": "T1"},
                       "storage": {"root": TMP + "/lk", "block_size": 512, "segment_mb": 1,
                                   "segment_s": 60, "flush_ms": 200, "ring_kib": 8}})
    assert e == []
    kw = logger_kwargs(cfg, config_hash(cfg))
    assert kw == {"root": TMP + "/lk", "logger_id": 7, "vehicle": "T1",
                  "config_hash": config_hash(cfg), "ring_size": 8192, "block_shift": 9,
                  "seg_blocks": 2047, "seg_s": 60, "flush_ms": 200}
    log = Logger(ticks_fn=Ticks(0), **kw)
    log.close()
    data = get(TMP + "/lk/B00001_S0000.dlg")
    assert data[5] == 9
    assert struct.unpack_from("<I", data, 8)[0] == 7
    assert struct.unpack_from("<I", data, 32)[0] == config_hash(cfg)
    assert logger_kwargs(defaults())["seg_blocks"] == 4095
    assert logger_kwargs(validate({"storage": {"block_size": 65536}})[0])["block_shift"] == 16


# ---- docs and example stay in step with the schema ---------------------------------------

def _doc_default(node):
    d = node[3] if node[0] == config.LIST else node[1]
    if d is config.ABSENT:
        return "(none)"
    if d is config.REQUIRED:
        return "required"
    if d is config.INDEX:
        return "list position"
    return "`" + canonical(d).decode() + "`"


def _doc_range(node):
    k = node[0]
    if k == config.INT:
        return "%d..%d" % (node[2], node[3])
    if k == config.ONE:
        return ", ".join([canonical(c).decode() for c in node[2]])
    if k == config.BOOL:
        return "true, false"
    if k == config.STR:
        return "%d..%d bytes" % (node[2], node[3])
    if k == config.CANID:
        return "0x%X..0x%X" % (node[2], node[3])
    if k == config.NAME:
        return "null, %d..%d or a name of 1..%d bytes" % (node[2], node[3], node[4])
    if k == config.LIST:
        s = "0..%d items" % node[2]
        if node[1][0] != config.DICT:
            s += ", each " + _doc_range(node[1])
        return s
    raise AssertionError(node)


def test_docs_list_every_key_with_default_and_range():
    doc = get(ROOT + "docs/CONFIG.md").decode()
    rows = {}
    for line in doc.split("\n"):
        if line.startswith("| `"):
            rows[line[3:line.index("`", 3)]] = line
    missing = []
    for path, node in _leaves(SCHEMA, "", []):
        if path.endswith("[]") and node[0] != config.DICT and path[:-2] in rows:
            continue                                  # a list of scalars: its own row says it
        row = rows.get(path)
        if row is None:
            missing.append(path + ": no row")
            continue
        cells = [c.strip() for c in row.split(" | ")]
        if _doc_default(node) != cells[2]:
            missing.append("%s: default %s, docs say %s" % (path, _doc_default(node), cells[2]))
        if _doc_range(node) != cells[3]:
            missing.append("%s: range %s, docs say %s" % (path, _doc_range(node), cells[3]))
    extra = [r for r in rows if r not in [p for p, _ in _leaves(SCHEMA, "", [])]]
    assert missing == [] and extra == [], (missing, extra)


def test_example_config_is_valid_and_documented():
    text = get(FW + "/config.example.json")
    raw = json.loads(text)
    cfg, e = validate(raw)
    assert e == [], e
    assert cfg["can"][0]["listen_only"] is True
    doc = get(ROOT + "docs/CONFIG.md").decode()
    assert text.decode().strip() in doc              # the docs show the example verbatim

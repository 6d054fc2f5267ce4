# The shared config cases (tests/shared/config_cases.json) under MicroPython, through the
# validator boot uses (config.check_file): accepted exactly when the table says, and each
# rejection names the key. tests/host/test_configtool.py runs the same table through
# `dunelog config check`.
import sys
import json
import binascii

import config

TMP = "/tmp"
FW = [p for p in sys.path if p.rstrip("/").endswith("firmware")][0]
ROOT = FW.rstrip("/")[:-len("firmware")]


def _cases():
    with open(ROOT + "tests/shared/config_cases.json") as f:
        return json.loads(f.read())["cases"]


def _data(c):
    if "hex" in c:
        return binascii.unhexlify(c["hex"])
    if "text" in c:
        return c["text"].encode()
    return json.dumps(c["config"]).encode()


def test_every_shared_case_under_micropython():
    bad = []
    for c in _cases():
        p = TMP + "/case.json"
        with open(p, "wb") as f:
            f.write(_data(c))
        cfg, why, errs = config.check_file(p)
        out = (why or "") + "\n" + "\n".join(errs)
        if (cfg is not None) != c["ok"]:
            bad.append("%s: accepted %s, table says %s (%s)" % (c["name"], cfg is not None,
                                                              c["ok"], out))
        elif not c["ok"] and c["expect"] not in out:
            bad.append("%s: %r not in %r" % (c["name"], c["expect"], out))
    assert not bad, bad


def test_the_table_covers_every_error_class():
    names = [c["name"] for c in _cases()]
    assert len(names) == len(set(names))
    assert sum(1 for c in _cases() if not c["ok"]) >= 25

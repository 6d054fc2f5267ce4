"""The vectorised decoder equals cantools decode_message (``Message.decode``, what
``Database.decode_message`` calls), message by message."""

from __future__ import annotations

import glob
import math
import os

import cantools
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunelog.decode import compile_message, decode_columns, load_database

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CM = os.path.join(os.path.dirname(cantools.__file__), os.pardir, "canmatrix")
REAL_WORLD = [os.path.normpath(os.path.join(_CM, p)) for p in (
    "j1939.dbc", "tests/aa.dbc", "tests/test_frame_decoding.dbc", "tests/asdf_aa.dbc",
    "tests/MyECU.ecuc.arxml")]
DBS = sorted(glob.glob(os.path.join(ROOT, "dbc", "*"))) + [p for p in REAL_WORLD
                                                          if os.path.exists(p)]
_DB_CACHE: dict = {}


def _db(path):
    if path not in _DB_CACHE:
        _DB_CACHE[path] = load_database(path)
    return _DB_CACHE[path]


def _cases():
    for path in DBS:
        db = _db(path)
        for m in db.messages:
            yield pytest.param(path, m.name, id=f"{os.path.basename(path)}:{m.name}")


def _same(a, b):
    if isinstance(b, float) or isinstance(a, float):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return int(a) == int(b)


def check_message(db, msg, payloads):
    cm = compile_message(msg)
    data = np.frombuffer(b"".join(p.ljust(max(8, msg.length), b"\0") for p in payloads),
                         np.uint8).reshape(len(payloads), -1)
    if cm.unsupported:
        for p in payloads:
            with pytest.raises(Exception):
                msg.decode(p, decode_choices=False)
        return
    cols = decode_columns(cm, data)
    unknown_mux = 0
    for i, p in enumerate(payloads):
        try:
            ref = msg.decode(p, decode_choices=False)
            ref_l = msg.decode(p, decode_choices=True)
        except cantools.database.DecodeError as e:
            if "multiplexer" in str(e):
                unknown_mux += 1
            # else cantools cannot unpack the layout at all (overlapping signals in a
            # real-world DBC): nothing to compare with
            continue
        last = {s.name: s for s in cm.signals}   # duplicate names: compiled keeps cantools' one
        for s in last.values():
            present = cols.present[s.name]
            ok = present is None or bool(present[i])
            assert ok == (s.name in ref), (s.name, i)
            if not ok:
                continue
            assert _same(cols.values[s.name][i], ref[s.name]), (s.name, p.hex(),
                                                                 cols.values[s.name][i],
                                                                 ref[s.name])
            if s.name in cols.label_codes:
                code = int(cols.label_codes[s.name][i])
                lab = ref_l[s.name]
                if isinstance(lab, (int, float)):
                    assert code == -1, (s.name, lab)
                else:
                    assert code >= 0 and s.choice_labels[code] == str(lab), (s.name, lab)
    assert cols.unknown_mux == unknown_mux


@pytest.mark.parametrize("path,name", list(_cases()))
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_equal_cantools(path, name, data):
    db = _db(path)
    msg = db.get_message_by_name(name)
    n = msg.length
    payloads = data.draw(st.lists(st.binary(min_size=n, max_size=n), min_size=1, max_size=24))
    # corner payloads: all zeros, all ones, alternating
    payloads += [bytes(n), b"\xff" * n, b"\xaa" * n, b"\x55" * n]
    # make multiplexed branches likely: set each multiplexer to each of its ids
    muxes = [s for s in msg.signals if s.is_multiplexer]
    if muxes:
        base = bytearray(payloads[0])
        for s in muxes:
            ids = sorted({i for t in msg.signals if t.multiplexer_signal == s.name
                          for i in (t.multiplexer_ids or [])})
            for v in ids:
                try:
                    b = bytearray(base)
                    _set_bits(b, s, v)
                    payloads.append(bytes(b))
                except Exception:  # noqa: BLE001 - cantools rejects some values
                    pass
    check_message(db, msg, payloads)


def _set_bits(buf: bytearray, s, value: int) -> None:
    """Write raw ``value`` into signal ``s`` of ``buf`` (either byte order)."""
    L = s.length  # noqa: N806 - the bit length
    v = value & ((1 << L) - 1)
    nbits = len(buf) * 8
    if s.byte_order == "little_endian":
        x = int.from_bytes(buf, "little")
        x &= ~(((1 << L) - 1) << s.start)
        x |= v << s.start
        buf[:] = x.to_bytes(len(buf), "little")
    else:
        msb = (s.start // 8) * 8 + 7 - s.start % 8
        sh = nbits - (msb + L)
        x = int.from_bytes(buf, "big")
        x &= ~(((1 << L) - 1) << sh)
        x |= v << sh
        buf[:] = x.to_bytes(len(buf), "big")

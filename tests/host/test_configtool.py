"""`dunelog config check/new` against the shared cases (tests/shared/config_cases.json),
which tests/fw/mp_test_config_cases.py runs through the firmware's validator under
MicroPython: the host command accepts exactly what the firmware accepts, and names the key.
The CPython-shim fallback gives the same answers as MicroPython."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dunelog.cli import main
from dunelog.tech.config import check_config, check_text

ROOT = Path(__file__).resolve().parents[2]
CASES = json.loads((ROOT / "tests/shared/config_cases.json").read_text())["cases"]


def data(c: dict) -> bytes:
    if "hex" in c:
        return bytes.fromhex(c["hex"])
    if "text" in c:
        return c["text"].encode()
    return json.dumps(c["config"]).encode()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_config_check_cli(case: dict, tmp_path: Path, capsys) -> None:
    if shutil.which("micropython") is None:
        pytest.skip("micropython not installed")
    p = tmp_path / "vehicle.json"
    p.write_bytes(data(case))
    code = main(["config", "check", str(p)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if case["ok"]:
        assert code == 0 and "ok (crc" in out and "micropython" in out, err
    else:
        assert code == 3, out
        assert case["expect"] in err and f"{p}: " in err


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cpython_shim_agrees_with_micropython(case: dict) -> None:
    if shutil.which("micropython") is None:
        pytest.skip("micropython not installed")
    mp = check_text(data(case), engine="micropython")
    cp = check_text(data(case), engine="cpython")
    assert (mp.ok, mp.hash, mp.config) == (cp.ok, cp.hash, cp.config)
    if not (mp.reason or "").startswith("invalid JSON"):    # parser messages differ
        assert (mp.reason, mp.errors) == (cp.reason, cp.errors)


def test_config_new_makes_a_valid_config_for_the_vehicle(tmp_path: Path, capsys) -> None:
    out = tmp_path / "car204.json"
    assert main(["config", "new", "--logger-id", "204", "--vehicle", "T1 #204",
                 "-o", str(out)]) == 0
    r = check_config(out)
    assert r.ok and r.config["logger"] == {"id": 204, "vehicle": "T1 #204"}
    assert main(["config", "new", "--logger-id", "205", "--vehicle", "x", "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["config", "new", "--logger-id", "5", "--vehicle", "x", "--template", "nope",
                 "-o", str(tmp_path / "y.json")]) == 2


def test_config_check_missing_file_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["config", "check", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err

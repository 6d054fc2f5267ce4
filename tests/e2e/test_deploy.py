"""deploy, status, config push/pull/diff and pull against the real MicroPython Unix port
running our firmware behind a pty (tests/e2e/ptyboard.py), driven by mpremote."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ptyboard import PtyBoard

import dunelog
from dunelog.card.records import SessionStart
from dunelog.tech.deploy import build_firmware

pytestmark = pytest.mark.micropython
ROOT = Path(__file__).resolve().parents[2]
HOST = ROOT / "host"
CFG = {"logger": {"id": 31, "vehicle": "T1 #231"}, "can": [], "gnss": {"enabled": False},
       "status_s": 1, "storage": {"flush_ms": 200}}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(HOST))
    return subprocess.run([sys.executable, "-m", "dunelog.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def flash_hashes(flash: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in flash.iterdir() if p.is_file() and p.suffix in (".py", ".mpy", ".json")
            and p.name != "config.last.json"}


def status(port: str) -> dict:
    r = cli("status", "--port", port, "--once", "--json", "--interval", "0.5")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def write_cfg(path: Path, cfg: dict) -> Path:
    path.write_text(json.dumps(cfg))
    return path


def test_deploy_verifies_starts_logging_and_status_shows_it(ptyboard: PtyBoard,
                                                            tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "car31.json", CFG)
    t0 = time.monotonic()
    r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
            "--stamp", "test1")
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert "deployed 0.2.0+test1" in r.stdout and "verified by sha256" in r.stdout
    print(f"fresh deploy: {took:.1f} s; {r.stdout.strip()}")
    # every file on the board is the build's, byte for byte
    build = build_firmware("unix", stamp="test1")
    want = build.hashes()
    want["config.json"] = hashlib.sha256(cfg.read_bytes()).hexdigest()
    have = flash_hashes(ptyboard.flash)
    assert have == want
    assert not (ptyboard.flash / ".stage").exists()
    st = status(ptyboard.port)
    assert st["firmware"] == "0.2.0+test1" and st["logger_id"] == 31
    assert st["segment"] and st["drops"] == 0 and st["errors"] == 0, st
    # the live view refreshes until Ctrl-C, and the logger goes on logging
    env = dict(os.environ, PYTHONPATH=str(HOST))
    live = subprocess.Popen([sys.executable, "-m", "dunelog.cli", "status", "--port",
                             ptyboard.port, "--interval", "0.5"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(7)                                   # CLI start-up (~1.5 s) + readings
    live.send_signal(signal.SIGINT)
    out, _ = live.communicate(timeout=10)
    assert out.count("dunelog status") >= 3 and "firmware     0.2.0+test1" in out, out
    assert "no answer" not in out
    assert status(ptyboard.port)["boot"] == st["boot"]          # not restarted by it
    chk = cli("config", "check", str(cfg))
    assert chk.returncode == 0 and st["config_hash"] in chk.stdout
    # the card says so too: the session-start record of the running boot
    dump = dunelog.open(ptyboard.flash / "sd")
    sess = [x for x in dump.records() if isinstance(x, SessionStart)]
    assert sess and sess[-1].firmware == "0.2.0+test1" and sess[-1].logger_id == 31
    # a second deploy of the same build copies nothing and still verifies everything
    r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
            "--stamp", "test1")
    assert r.returncode == 0, r.stderr
    assert "0 file(s) copied" in r.stdout and f"{len(want)} verified" in r.stdout


def _variant(tmp: Path, tag: str) -> Path:
    """A copy of the firmware whose every module differs (so a deploy copies them all)."""
    fw = tmp / f"fw-{tag}"
    shutil.copytree(ROOT / "firmware", fw)
    for p in fw.glob("*.py"):
        p.write_text(p.read_text() + f"\n# variant {tag}\n" + "#" * 2000 + "\n")
    return fw


def test_killed_deploy_leaves_the_previous_firmware_booting(ptyboard: PtyBoard,
                                                            tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "c.json", CFG)
    r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
            "--stamp", "A")
    assert r.returncode == 0, r.stderr
    fw_b = _variant(tmp_path, "B")
    env = dict(os.environ, PYTHONPATH=str(HOST))
    stage = ptyboard.flash / ".stage"
    # the kill must land mid-copy: the deploy runs at the lowest priority so that this
    # poller sees the staging directory grow; on a loaded machine it may still win the
    # race, so a deploy that completed is undone (A again) and tried again
    for _attempt in range(3):
        before = flash_hashes(ptyboard.flash)
        p = subprocess.Popen([sys.executable, "-m", "dunelog.cli", "deploy", "--port",
                              ptyboard.port, "--board", "unix", "--firmware", str(fw_b),
                              "--stamp", "B", "--config", str(cfg)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: os.nice(19))
        end = time.monotonic() + 60
        staged = 0
        while time.monotonic() < end and p.poll() is None:
            staged = len(list(stage.glob("*.py"))) if stage.exists() else 0
            if staged >= 3:
                break
            time.sleep(0.002)
        if p.poll() is None:
            break
        p.communicate()
        r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
                "--stamp", "A")
        assert r.returncode == 0, r.stderr
    assert p.poll() is None, "deploy finished before it could be killed (3 tries)"
    p.send_signal(signal.SIGKILL)                  # the technician yanks it mid-copy
    p.communicate()
    assert staged >= 3 and not (stage / "MANIFEST").exists()
    ptyboard.reboot()                              # power cycle: boot from flash
    st = status(ptyboard.port)
    assert st["firmware"] == "0.2.0+A"             # the previous firmware boots
    assert flash_hashes(ptyboard.flash) == before  # nothing in place was touched
    # the next deploy clears the stale staging and completes
    r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--firmware", str(fw_b),
            "--stamp", "B", "--config", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert status(ptyboard.port)["firmware"] == "0.2.0+B"
    assert not stage.exists()


def test_swap_interrupted_after_the_manifest_finishes_at_boot(ptyboard: PtyBoard,
                                                              tmp_path: Path) -> None:
    """A kill after MANIFEST (mid-swap) leaves a swap the next boot completes."""
    cfg = write_cfg(tmp_path / "c.json", CFG)
    assert cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
               "--stamp", "A").returncode == 0
    ptyboard.power_off()
    # what a killed swap leaves: version.py and app.py staged, app.py already moved
    flash = ptyboard.flash
    stage = flash / ".stage"
    stage.mkdir()
    (stage / "version.py").write_text('VERSION = "0.2.0+C"\n')
    shutil.copy(flash / "app.py", flash / "app.py.bak")
    (flash / "app.py").write_text((flash / "app.py").read_text() + "\n# C\n")
    (stage / "MANIFEST").write_text(json.dumps({"version": "0.2.0+C",
                                                "put": ["app.py", "version.py"], "del": []}))
    ptyboard.power_on()
    assert status(ptyboard.port)["firmware"] == "0.2.0+C"
    assert not stage.exists()


def test_firmware_that_does_not_start_is_rolled_back(ptyboard: PtyBoard,
                                                     tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "c.json", CFG)
    assert cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
               "--stamp", "A").returncode == 0
    before = flash_hashes(ptyboard.flash)
    broken = _variant(tmp_path, "X")
    app = broken / "app.py"
    app.write_text('raise RuntimeError("broken build")\n' + app.read_text())
    r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--firmware", str(broken),
            "--stamp", "X", "--config", str(cfg), "--timeout", "6")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "0.2.0+X was verified on the board but did not report logging" in r.stderr
    assert "rolled back: the board runs 0.2.0+A again and is logging" in r.stderr
    assert "Traceback" not in r.stderr
    assert flash_hashes(ptyboard.flash) == before
    assert status(ptyboard.port)["firmware"] == "0.2.0+A"
    # a good deploy, then the technician's own rollback
    r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
            "--stamp", "B")
    assert r.returncode == 0, r.stderr
    r = cli("deploy", "--rollback", "--port", ptyboard.port)
    assert r.returncode == 0 and "firmware 0.2.0+A" in r.stdout, r.stdout + r.stderr
    assert status(ptyboard.port)["firmware"] == "0.2.0+A"
    r = cli("deploy", "--rollback", "--port", ptyboard.port)
    assert r.returncode == 2 and "nothing to roll back to" in r.stderr


def test_config_push_pull_diff(ptyboard: PtyBoard, tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "c.json", CFG)
    assert cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
               "--stamp", "A").returncode == 0
    r = cli("config", "diff", str(cfg), "--port", ptyboard.port)
    assert r.returncode == 0 and "same config" in r.stdout, r.stdout + r.stderr
    new = dict(CFG, logger={"id": 32, "vehicle": "T1 #232"})
    cfg2 = write_cfg(tmp_path / "c2.json", new)
    r = cli("config", "diff", str(cfg2), "--port", ptyboard.port)
    assert r.returncode == 1 and '-    "id": 31' in r.stdout and '+    "id": 32' in r.stdout
    bad = write_cfg(tmp_path / "bad.json", dict(CFG, status_s=0))
    r = cli("config", "push", str(bad), "--port", ptyboard.port)
    assert r.returncode == 3 and "status_s: 0 out of range 1..3600" in r.stderr
    assert status(ptyboard.port)["logger_id"] == 31           # untouched, still logging
    r = cli("config", "push", str(cfg2), "--port", ptyboard.port)
    assert r.returncode == 0, r.stdout + r.stderr
    st = status(ptyboard.port)
    assert st["logger_id"] == 32 and st["config_hash"] in r.stdout
    out = tmp_path / "pulled.json"
    r = cli("config", "pull", "--port", ptyboard.port, "-o", str(out))
    assert r.returncode == 0 and out.read_bytes() == cfg2.read_bytes()


def test_pull_over_usb_archives_the_card_once(ptyboard: PtyBoard, tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "c.json", CFG)
    assert cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
               "--stamp", "A").returncode == 0
    time.sleep(1.5)
    # another logger's 3 MB segment on the same card: binary-exact over the console
    big = b"".join(p.read_bytes() for p in sorted((ROOT / "tests/vectors/drive").glob("*.dlg")))
    big = (big * 20)[:3_000_000]
    (ptyboard.flash / "sd" / "dunelog" / "B09000_S0000.dlg").write_bytes(big)
    arch = tmp_path / "archive"
    t0 = time.monotonic()
    r = cli("pull", "--port", ptyboard.port, "--archive", str(arch), "--json")
    print(f"pull incl. 3 MB: {time.monotonic() - t0:.1f} s")
    rep = json.loads(r.stdout)
    # 3: archived, but a card file is damaged (archived as is; here a boot cut mid-block)
    assert r.returncode == (3 if any(f["torn"] for f in rep["files"]) else 0), r.stderr
    assert [p.read_bytes() == big for p in arch.rglob("B09000_S0000.dlg")] == [True]
    v = rep["vehicles"]["T1-231"]
    assert v["copied"] >= 1 and v["failed"] == 0
    files = list((arch / "T1-231").rglob("*.dlg"))
    assert len(files) == v["copied"]
    status(ptyboard.port)                                  # logging again after the pull
    r = cli("pull", "--port", ptyboard.port, "--archive", str(arch), "--json")
    rep2 = json.loads(r.stdout)
    assert r.returncode == (3 if any(f["torn"] for f in rep2["files"]) else 0), r.stderr
    # the earlier files are not copied again; only the boots since (closed by the pull)
    assert all(f["action"] == "copied" for f in rep2["files"])
    assert {Path(f["source"]).name for f in rep2["files"]}.isdisjoint(
        {p.name for p in files} | {"B09000_S0000.dlg"})


def test_deploy_for_the_wrong_board_changes_nothing(ptyboard: PtyBoard,
                                                   tmp_path: Path) -> None:
    cfg = write_cfg(tmp_path / "c.json", CFG)
    assert cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
               "--stamp", "A").returncode == 0
    before = flash_hashes(ptyboard.flash)
    r = cli("deploy", "--port", ptyboard.port, "--board", "esp32", "--stamp", "E")
    assert r.returncode == 2 and "not --board esp32" in r.stderr, r.stderr
    assert flash_hashes(ptyboard.flash) == before
    assert status(ptyboard.port)["firmware"] == "0.2.0+A"       # and it logs again


def test_status_shows_gnss_fix_and_check_runs_on_the_board(ptyboard: PtyBoard,
                                                            tmp_path: Path) -> None:
    """A 10 Hz NMEA receiver on a pty: status reports the fix; `config check --board`
    runs the validator on the board, which then logs again."""
    import pty
    import threading
    import tty
    from datetime import datetime, timedelta, timezone

    from hil.nmea import epoch

    master, slave = pty.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def receiver() -> None:
        t0 = datetime(2026, 1, 6, 7, 0, tzinfo=timezone.utc)
        k = 0
        while not stop.is_set():
            os.write(master, epoch(t0 + timedelta(milliseconds=100 * k), 275114000, 416908000))
            k += 1
            time.sleep(0.1)

    th = threading.Thread(target=receiver, daemon=True)
    th.start()
    try:
        cfg = write_cfg(tmp_path / "g.json", dict(CFG, gnss={
            "port": os.ttyname(slave), "baud": 115200, "rate_hz": 10, "protocol": "nmea"}))
        r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
                "--stamp", "G")
        assert r.returncode == 0, r.stdout + r.stderr
        time.sleep(1.0)
        st = status(ptyboard.port)
        assert (st["fix_type"], st["sats"], st["hdop"]) == (2, 11, 0.9), st
        assert st["errors"] == 0 and st["uptime_s"] >= 1
        bad = write_cfg(tmp_path / "bad.json", {"gnss": {"baud": 1234}})
        r = cli("config", "check", str(bad), "--port", ptyboard.port)
        assert r.returncode == 3 and "gnss.baud: 1234 not one of" in r.stderr
        assert "checked by board" in r.stderr
        assert status(ptyboard.port)["fix_type"] == 2                # logging again
    finally:
        stop.set()
        th.join()
        os.close(master)
        os.close(slave)


def test_deploy_mpy_to_the_unix_board(ptyboard: PtyBoard, tmp_path: Path) -> None:
    """x64 .mpy (viper code included) checked against the board's sys.implementation._mpy,
    loaded and logging; source files they replace are removed."""
    cfg = write_cfg(tmp_path / "c.json", CFG)
    assert cli("deploy", "--port", ptyboard.port, "--board", "unix", "--config", str(cfg),
               "--stamp", "S").returncode == 0
    r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--mpy", "--config",
            str(cfg), "--stamp", "M")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (ptyboard.flash / "ring.mpy").exists() and not (ptyboard.flash / "ring.py").exists()
    assert status(ptyboard.port)["firmware"] == "0.2.0+M"


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    r = cli("status", "--port", str(tmp_path / "nope"), "--once")
    assert r.returncode == 2 and "no such device" in r.stderr and "Traceback" not in r.stderr
    r = cli("deploy", "--port", str(tmp_path / "nope"), "--board", "unix")
    assert r.returncode == 2 and "no such device" in r.stderr and "Traceback" not in r.stderr
    master, slave = os.openpty()                   # a device that never answers
    try:
        r = cli("config", "pull", "--port", os.ttyname(slave), timeout=60)
        assert r.returncode == 2 and "not responding" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""
        r = cli("status", "--port", os.ttyname(slave), "--once", timeout=60)
        assert r.returncode == 2 and "no status" in r.stderr
    finally:
        os.close(master)
        os.close(slave)


def test_deploy_runs_the_swap_of_the_firmware_it_deploys(ptyboard: PtyBoard,
                                                         tmp_path: Path) -> None:
    """deploy --firmware DIR stages and swaps with DIR's swap.py, not the checkout's (it
    read the checkout's once, at import time: outside a checkout that ran an empty script
    on the board)."""
    fw = tmp_path / "fw-swap"
    shutil.copytree(ROOT / "firmware", fw)
    swap = fw / "swap.py"
    swap.write_text(swap.read_text().replace(
        "def apply(", "def _marked():\n    with open('swap-from-firmware-dir', 'w') as f:\n"
        "        f.write('yes')\n\n\n"
        "if __name__ == '__main__':   # run by deploy at the REPL, not imported at boot\n"
        "    _marked()\n\n\ndef apply(", 1))
    cfg = write_cfg(tmp_path / "c.json", CFG)
    r = cli("deploy", "--port", ptyboard.port, "--board", "unix", "--firmware", str(fw),
            "--stamp", "S", "--config", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (ptyboard.flash / "swap-from-firmware-dir").read_text() == "yes"
    assert status(ptyboard.port)["firmware"] == "0.2.0+S"

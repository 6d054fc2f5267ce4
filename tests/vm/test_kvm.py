"""hil/kvm.py: the qemu guest with a real kernel vcan0 (docs/HIL.md).

The first tests need no guest. Those marked ``vm`` boot one (TCG, pure emulation, is
used where KVM cannot run guests; a CPython import of python-can alone takes ~20 s
there)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hil import kvm
from hil.fault import EnvFault

ROOT = Path(__file__).resolve().parents[2]


def _one_line(s: str | None) -> str:
    assert s is not None
    assert "\n" not in s and s.strip() == s and s
    return s


@pytest.mark.parametrize("accel", ["kvm", "tcg"])
def test_unavailable_names_qemu_and_its_install_command(accel, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))          # an empty dir: no qemu on PATH
    why = _one_line(kvm.unavailable(accel))
    assert "qemu-system-x86_64" in why
    assert "apt-get install --no-install-recommends qemu-system-x86" in why


def test_unavailable_names_an_explicit_missing_qemu(tmp_path):
    why = _one_line(kvm.unavailable("tcg", qemu=str(tmp_path / "no-qemu")))
    assert str(tmp_path / "no-qemu") in why and "qemu-system-x86" in why


@pytest.mark.skipif(os.geteuid() != 0, reason="unavailable() says 'needs root' first")
def test_unavailable_names_a_missing_kvm_device(tmp_path):
    dev = tmp_path / "kvm"
    why = _one_line(kvm.unavailable("kvm", qemu="/bin/true", kvm_device=str(dev)))
    assert str(dev) in why and "missing" in why and "tcg" in why


@pytest.mark.skipif(os.geteuid() != 0, reason="unavailable() says 'needs root' first")
def test_unavailable_names_a_kvm_device_that_does_not_open(tmp_path):
    dev = tmp_path / "kvm"
    dev.mkdir()                                          # open(O_RDWR) -> EISDIR
    why = _one_line(kvm.unavailable("kvm", qemu="/bin/true", kvm_device=str(dev)))
    assert str(dev) in why and "does not open" in why


@pytest.mark.skipif(os.geteuid() != 0, reason="unavailable() says 'needs root' first")
def test_kvm_probe_boots_once_per_host_boot_and_says_why(tmp_path, monkeypatch):
    dev = tmp_path / "kvm"
    dev.write_text("")                                   # opens read-write
    monkeypatch.setenv("DUNELOG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(kvm, "guest_kernel", lambda fetch=True: tmp_path)
    boots = []

    def hang(cmd, cwd, **kw):
        boots.append((cmd, kw["accel"], kw["timeout"]))
        e = EnvFault("KVM probe guest did not start within 20 s; console log: /x.log")
        e.why, e.log = "did not start within 20 s", "/x.log"
        raise e

    monkeypatch.setattr(kvm, "_boot", hang)
    first = _one_line(kvm.unavailable("kvm", qemu="/bin/true", kvm_device=str(dev)))
    again = kvm.unavailable("kvm", qemu="/bin/true", kvm_device=str(dev))
    assert boots == [(["true"], "kvm", kvm.PROBE_TIMEOUT)]
    assert again == first
    assert "did not start within" in first and "nested virtualisation" in first
    assert "/x.log" in first and "tcg" in first
    # TCG needs no probe
    assert kvm.unavailable("tcg", qemu="/bin/true") is None
    assert len(boots) == 1


def _skip_unless(accel: str) -> None:
    why = kvm.unavailable(accel)
    if why:
        pytest.skip(f"{accel} guest cannot run here: {why}")


SEND_RECV = """
import os, can
a = can.Bus(interface="socketcan", channel="vcan0")
b = can.Bus(interface="socketcan", channel="vcan0")
a.send(can.Message(arbitration_id=0x1AB, data=b"dune", is_extended_id=False))
m = b.recv(10)
print("got", hex(m.arbitration_id), m.data.hex())
print("guest", os.environ["DUNELOG_GUEST"], os.environ["DUNELOG_T"], os.getcwd())
print("mtu", open("/sys/class/net/vcan1/mtu").read().strip())
raise SystemExit(3)
"""


@pytest.mark.vm
@pytest.mark.parametrize("accel", ["tcg", "kvm"])
def test_guest_sends_and_receives_a_frame_on_vcan0(accel, tmp_path):
    _skip_unless(accel)
    kvm.last_boot_seconds = None
    rc, out = kvm.run(["python3", "-c", SEND_RECV], tmp_path, accel=accel,
                      env={"DUNELOG_T": "it's $x"}, timeout=300)
    assert rc == 3, out
    assert "got 0x1ab 64756e65" in out
    assert f"guest {accel} it's $x {tmp_path}" in out
    assert "mtu 72" in out
    assert kvm.last_boot_seconds is not None and 0 < kvm.last_boot_seconds < 120


@pytest.mark.vm
def test_guest_panic_is_one_line_env_fault_with_its_log(tmp_path):
    _skip_unless("tcg")
    with pytest.raises(EnvFault) as e:
        kvm.run(["sh", "-c", "echo c > /proc/sysrq-trigger"], tmp_path, accel="tcg",
                timeout=120)
    msg = _one_line(str(e.value))
    assert "Kernel panic" in msg and "console log: " in msg
    log = Path(msg.rsplit("console log: ", 1)[1])
    assert "sysrq" in log.read_text()


@pytest.mark.vm
def test_guest_past_its_timeout_is_one_line_env_fault(tmp_path):
    _skip_unless("tcg")
    with pytest.raises(EnvFault) as e:
        kvm.run(["sh", "-c", "echo slept; sleep 600"], tmp_path, accel="tcg", timeout=10)
    msg = _one_line(str(e.value))
    assert "console log: " in msg
    log = Path(msg.rsplit("console log: ", 1)[1]).read_text()
    if "did not start within" not in msg:            # a host too loaded to boot in 10 s
        assert "ran past the 10 s timeout without a result" in msg
        assert "slept" in log

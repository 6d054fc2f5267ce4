"""The HIL runner's choice and its environment faults (hil/vcan.py): with nothing to run a
guest on, `dunelog hil run` and `python -m hil.vcan` end in one line that names what is
missing and what installs it, with the "could not run" exit status, never a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hil import vcan
from hil.fault import EXIT_CANNOT_RUN, EnvFault

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment with an empty PATH (no ip, modprobe, linux.uml, qemu, cc) and no
    /dev/kvm (the KVM device pointed at a file that does not exist)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {"PATH": str(empty), "DUNELOG_KVM_DEVICE": str(tmp_path / "no-kvm"),
           "DUNELOG_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(vcan.ENV_VAR, raising=False)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _one_line(p: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    return lines[0]


@pytest.mark.skipif(Path("/sys/class/net/vcan0").exists(), reason="this kernel has a vcan0")
def test_dunelog_hil_run_without_any_runner_is_one_line_could_not_run(bare) -> None:
    p = _run(["-c", "import sys; from dunelog.cli import main; sys.exit(main())",
              "hil", "run", "nominal", "--scale", "0.01"], bare)
    line = _one_line(p)
    assert p.returncode == EXIT_CANNOT_RUN, (p.returncode, p.stderr)
    assert "could not run" in line
    for name, fix in (("kvm", "apt-get install"), ("uml", "linux.uml"),
                      ("uml", "apt-get install user-mode-linux")):
        assert name in line and fix in line, line


@pytest.mark.parametrize("vm,missing,install", [
    ("uml", "linux.uml", "apt-get install user-mode-linux"),
    ("kvm", "qemu-system-x86_64", "apt-get install"),
    ("tcg", "qemu-system-x86_64", "apt-get install"),
])
def test_asked_for_runner_missing_names_it_and_the_install(bare, vm, missing, install) -> None:
    p = _run(["-m", "hil.vcan", "--vm", vm, "--", "true"], bare)
    line = _one_line(p)
    assert p.returncode == EXIT_CANNOT_RUN
    assert f"HIL runner {vm} cannot run here" in line and missing in line and install in line


def test_kvm_without_device_names_dev_kvm(bare, tmp_path: Path) -> None:
    # qemu "present" (an executable stub is enough for the check that comes first: the device)
    fake = Path(bare["PATH"]) / "qemu-system-x86_64"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    why = vcan.unavailable("kvm")
    assert why and bare["DUNELOG_KVM_DEVICE"] in why


def test_unknown_runner_is_refused(bare) -> None:
    with pytest.raises(EnvFault, match="unknown HIL runner 'vbox'"):
        vcan.pick("vbox")
    p = _run(["-m", "hil.vcan", "--", "true"], {**bare, vcan.ENV_VAR: "vbox"})
    assert p.returncode == EXIT_CANNOT_RUN and "unknown HIL runner" in _one_line(p)


@pytest.mark.skipif(Path("/sys/class/net/vcan0").exists(), reason="this kernel has a vcan0")
def test_choice_names_why_the_others_were_not_used(monkeypatch) -> None:
    """With a runner that can run, the choice says why the ones before it were not used."""
    reasons = {"native": "this kernel has no vcan module", "kvm": "no /dev/kvm", "uml": None}
    monkeypatch.setattr(vcan, "unavailable", lambda kind: reasons[kind])
    c = vcan.pick()
    assert c.kind == "uml"
    assert c.not_used == {"native": "this kernel has no vcan module", "kvm": "no /dev/kvm"}
    assert "HIL runner: uml" in c.line() and "kvm: no /dev/kvm" in c.line()
    monkeypatch.setenv(vcan.ENV_VAR, "uml")
    assert vcan.pick().why == f"asked for by {vcan.ENV_VAR}"

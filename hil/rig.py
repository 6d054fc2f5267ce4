"""The rig one scenario runs on: a work directory, the DUT, vcan0, the simulators, and
the run report (numbers and errors) that ends up in ``report.json`` / ``report.txt``."""
from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import can

import dunelog
from dunelog.card.info import dump_info
from hil.check import FrameReport, GnssReport
from hil.dut import FIRMWARE, ROOT, BoardDut, UnixDut
from hil.gnss_sim import GnssSim
from hil.sender import Frame, SendLog, send_plan

DBC = ROOT / "dbc" / "recce.dbc"


@dataclass
class Result:
    """One scenario's outcome: passed when no check failed."""
    name: str
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.errors

    def fail(self, msg: str) -> None:
        self.errors.append(msg)

    def expect(self, cond: bool, msg: str) -> None:
        if not cond:
            self.errors.append(msg)

    def frames(self, rep: FrameReport, label: str = "can") -> None:
        """Fold a frame check into the result."""
        self.numbers[label] = {k: v for k, v in vars(rep).items() if k != "errors"}
        self.errors += [f"{label}: {e}" for e in rep.errors]

    def gnss(self, rep: GnssReport, label: str = "gnss") -> None:
        self.numbers[label] = {k: v for k, v in vars(rep).items() if k != "errors"}
        self.errors += [f"{label}: {e}" for e in rep.errors]

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.name, "passed": self.passed, "summary": self.summary,
                "seconds": round(self.seconds, 1), "numbers": self.numbers,
                "errors": self.errors}

    def text(self) -> str:
        lines = [f"{self.name}: {'PASS' if self.passed else 'FAIL'} ({self.seconds:.0f} s) "
                 f"- {self.summary}"]
        for label in ("can", "gnss"):
            n = self.numbers.get(label)
            if isinstance(n, dict) and label == "can":
                lat = n.get("latency_ms") or {}
                lines.append(f"  frames sent {n['sent']}, expected {n['expected']}, logged "
                             f"{n['logged']}, dropped (counted by overflow records) "
                             f"{n['dropped_counted']}, missing {n['missing']}, corrupted "
                             f"{n['corrupted']}; timestamp latency p50 {lat.get('p50', 0):.2f} "
                             f"p99 {lat.get('p99', 0):.2f} max {lat.get('max', 0):.2f} ms "
                             f"(tolerance {lat.get('tolerance') or 'none'} ms)")
            elif isinstance(n, dict):
                lines.append(f"  GNSS fix epochs sent {n['sent_fix']}, matched {n['matched']}, "
                             f"no-fix {n['sent_nofix']}, silent {n['silent']}, gaps "
                             f"{[round(g, 1) for g in n['gaps_s']]} s")
        for k, v in self.numbers.items():
            if k not in ("can", "gnss"):
                lines.append(f"  {k}: {v}")
        lines += [f"  ERROR {e}" for e in self.errors]
        return "\n".join(lines) + "\n"


class Rig:
    """Everything one scenario run needs. ``firmware``: the firmware directory to test
    (a deliberately broken copy, in the rig's own tests)."""

    def __init__(self, workdir: Path, *, firmware: Path = FIRMWARE, iface: str = "vcan0",
                 scale: float = 1.0, board: BoardDut | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.board_dir = self.workdir / "board"
        self.board_dir.mkdir(exist_ok=True)
        self.card = self.board_dir / "sd"
        self.firmware = Path(firmware)
        self.iface = iface
        self.scale = scale
        self.board = board            # a real logger (docs/HIL.md), else the Unix-port DUT
        if board is not None:
            self.card = board.card

    def seconds(self, s: float, least: float = 5.0) -> float:
        """A scenario duration under the run's scale factor (HIL_SCALE, for quick runs)."""
        return max(least, s * self.scale)

    def config(self, **over: Any) -> dict[str, Any]:
        """A config for the DUT on this rig; keyword sections replace the defaults'
        (on a real board, the defaults are its own config with the rig's test settings)."""
        cfg: dict[str, Any] = {
            "logger": {"id": 42, "vehicle": "HIL"},
            "can": [self.channel()],
            "gnss": {"enabled": False},
            "storage": {"flush_ms": 500},
            "status_s": 5,
        }
        if self.board is not None:
            base = copy.deepcopy(self.board.config)
            base.update({k: v for k, v in cfg.items() if k not in ("can", "gnss")},
                        can=[self.channel()], gnss=dict(base.get("gnss", {}), enabled=False))
            storage = dict(self.board.config.get("storage", {}), flush_ms=500)
            cfg = dict(base, storage=storage)
        cfg.update(over)
        return cfg

    def channel(self, **kw: Any) -> dict[str, Any]:
        """CAN channel 0 of the DUT's config, listening where the rig sends, with ``kw``."""
        if self.board is not None:
            return dict(self.board.config["can"][0], **kw)
        return {"channel": 0, "port": self.iface, **kw}

    def gnss_sim(self, **kw: Any) -> GnssSim:
        """The GNSS simulator on a pty (Unix-port DUT) or on the serial adapter wired to
        the real board's GNSS input."""
        dev = self.board.gnss_serial if self.board is not None else None
        return GnssSim(device=dev, **kw)

    def gnss_config(self, sim: GnssSim, protocol: str = "nmea") -> dict[str, Any]:
        if self.board is not None:
            return dict(self.board.config.get("gnss", {}), enabled=True, rate_hz=sim.rate_hz,
                        protocol=protocol)
        return {"enabled": True, "port": sim.port, "rate_hz": sim.rate_hz, "protocol": protocol}

    def dut(self, config: dict[str, Any] | str, seconds: float | None = None
            ) -> UnixDut | BoardDut:
        if self.board is not None:
            self.board.configure(config)
            return self.board
        d = UnixDut(self.board_dir, seconds, self.firmware)
        d.configure(config)
        return d

    def bus(self, fd: bool = False) -> can.BusABC:
        return can.Bus(interface="socketcan", channel=self.iface, fd=fd)

    def drive(self, plan: list[Frame], *, fd: bool = False, dut: UnixDut | BoardDut | None = None,
              gnss: GnssSim | None = None, settle: float = 0.0) -> tuple[SendLog, str]:
        """Start the DUT (if given), send ``plan`` onto the bus, stop the DUT cleanly;
        returns the send log and the firmware's last words."""
        if dut is not None:
            dut.start()
            dut.wait_logging()
        if gnss is not None:
            gnss.start()
        if settle:
            time.sleep(settle)
        with self.bus(fd) as bus:
            log = send_plan(bus, plan)
        if gnss is not None:
            gnss.stop()
        out = dut.stop() if dut is not None else ""
        return log, out

    @staticmethod
    def firmware_summary(out: str) -> str:
        """The firmware's closing line (rx/rejected/drops/blocks counters)."""
        return next((ln for ln in out.splitlines() if " rx " in ln), out.strip()[-200:])

    def open(self) -> dunelog.Dump:
        return dunelog.open(self.card)

    def integrity(self, res: Result, dump: dunelog.Dump, allow: tuple[str, ...] = ()) -> None:
        """No integrity problems on the card other than the ``allow``-ed kinds."""
        bad = [p for p in dump.problems if p.kind not in allow]
        for p in bad[:10]:
            res.fail(f"card integrity: {p}")
        res.numbers["boots"] = [b["end"] for b in dump_info(dump)["boots"]]


def write_report(res: Result, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "report.json").write_text(json.dumps(res.to_json(), indent=2, default=str) + "\n")
    (outdir / "report.txt").write_text(res.text())


def sender_thread(bus: can.BusABC, plan: list[Frame], stop: threading.Event) -> tuple[
        threading.Thread, SendLog]:
    """Send ``plan`` in the background (for scenarios that power-cut the DUT meanwhile)."""
    log = SendLog()
    th = threading.Thread(target=send_plan, args=(bus, plan), kwargs={"stop": stop, "log": log},
                          daemon=True)
    th.start()
    return th, log

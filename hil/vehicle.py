"""Vehicle simulator: the periodic messages of a DBC at their cycle times, with signal
values from a drive profile, encoded by cantools, at a bus-load target.

The plan is computed up front (:meth:`VehicleSim.plan`, deterministic for a seed) and
sent by :func:`hil.sender.send_plan`, which keeps the sender's own log of what went on
the bus. Bus load is counted with the worst-case bit-stuffed frame lengths of
:func:`frame_bits`, so a "100 %" plan really fills the bitrate.

    python -m hil.vehicle dbc/recce.dbc --seconds 10 --load 30 --interface socketcan --channel vcan0
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import can
import cantools

from hil.sender import Frame, send_plan

DEFAULT_CYCLE_MS = 100          # messages without GenMsgCycleTime (e.g. multiplexed pages)


def frame_bits(length: int, ext: bool, fd: bool, brs: bool, bitrate: int,
               data_bitrate: int | None = None) -> float:
    """Seconds one frame occupies the bus (worst-case bit stuffing), incl. the 3-bit
    interframe space. Classic: Davis et al. 2007, 8n + 47 (+20 for 29-bit ids) +
    floor((34 + 8n - 1) / 4) stuff bits. FD: arbitration and control at the nominal rate,
    data and CRC at the data rate when BRS is set (stuffing estimated at 1 in 5 bits)."""
    n = length
    if not fd:
        base = 8 * n + (67 if ext else 47)
        stuff = (54 + 8 * n - 1) // 4 if ext else (34 + 8 * n - 1) // 4
        return (base + stuff) / bitrate
    arb = 32 if ext else 13                     # SOF, id, RRS/SRR/IDE, FDF, res, BRS
    tail = 12                                   # CRC delim, ACK, ACK delim, EOF, IFS
    crc = 21 if n > 16 else 17
    data = 5 + 8 * n + 4 + crc                  # ESI, DLC, data, stuff count, CRC
    nominal = (arb + tail) * 1.2
    fast = data * 1.2
    rate = data_bitrate if brs and data_bitrate else bitrate
    return nominal / bitrate + fast / rate


# ---- drive profiles -------------------------------------------------------------------

@dataclass(frozen=True)
class Phase:
    """One stretch of driving: target speed (km/h), engine speed (rpm) and how much the
    wheels spin (0 = none, 0.3 = rear wheels 30 % faster than the ground)."""
    name: str
    speed: float
    rpm: float
    wheelspin: float = 0.0
    brake: float = 0.0
    terrain: int = 0


PHASES = {
    "idle": Phase("idle", 0, 800),
    "road": Phase("road", 95, 2300, terrain=0),
    "dunes": Phase("dunes", 45, 3600, wheelspin=0.35, terrain=3),
    "stop": Phase("stop", 0, 850, brake=60),
}
PROFILES = {
    "recce": ("idle", "road", "dunes", "road", "stop"),
    "idle": ("idle",),
    "road": ("road",),
    "dunes": ("dunes",),
}


class DriveProfile:
    """Physical state of the vehicle against time: the named phases share the duration
    equally; speed follows its target through a first-order lag, dune driving adds
    oscillation and wheelspin."""

    def __init__(self, phases: tuple[str, ...], seconds: float, seed: int = 1) -> None:
        self.phases = [PHASES[p] for p in phases]
        self.span = max(seconds, 1e-3) / len(self.phases)
        self.rnd = random.Random(seed)
        self._t = 0.0
        self._speed = 0.0
        self.distance_m = 0.0

    def phase(self, t: float) -> Phase:
        return self.phases[min(int(t / self.span), len(self.phases) - 1)]

    def state(self, t: float) -> dict[str, float]:
        """Signal values (by cantools signal name) at time t (seconds, non-decreasing)."""
        ph = self.phase(t)
        dt = max(0.0, t - self._t)
        self._t = t
        target = ph.speed
        if ph.name == "dunes":
            target += 18 * math.sin(t / 3.1)
        self._speed += (target - self._speed) * min(1.0, dt / 4.0)
        v = max(0.0, self._speed)
        self.distance_m += v / 3.6 * dt
        spin = ph.wheelspin * abs(math.sin(t / 1.7))
        rpm = ph.rpm + (400 * math.sin(t / 0.9) if ph.name == "dunes" else 50 * math.sin(t))
        warm = min(1.0, t / 600.0)
        s = {
            "EngineSpeed": max(0.0, rpm), "ThrottlePosition": min(100.0, rpm / 50),
            "EngineTorque": rpm / 10 - 60, "EngineState": 2 if rpm > 0 else 0,
            "CoolantTemp": 40 + 50 * warm + (10 if ph.name == "dunes" else 0),
            "OilPressure": 150 + rpm / 10,
            "WheelSpeedFL": v, "WheelSpeedFR": v,
            "WheelSpeedRL": v * (1 + spin), "WheelSpeedRR": v * (1 + spin * 0.9),
            "SteeringAngle": 30 * math.sin(t / 5) * (3 if ph.name == "dunes" else 1),
            "SteeringRate": 6 * math.cos(t / 5), "BrakePressure": ph.brake,
            "AbsActive": 0, "HandbrakeOn": 1 if ph.name == "stop" else 0,
            "BrakePedalPressed": 1 if ph.brake else 0, "EscOff": 1 if ph.terrain else 0,
            "BrakeTempFront": 60 + 200 * warm,
            "TerrainMode": ph.terrain, "TransferRange": 1 if ph.terrain else 0,
            "CentreDiffLock": 1 if ph.terrain else 0, "RearDiffLock": 1 if ph.wheelspin else 0,
            "GearSelected": 0 if v < 1 else min(6, 1 + int(v / 20)),
            "TransOilTemp": 40 + 45 * warm, "TransferCaseTemp": 35 + 40 * warm,
            "WheelBasedVehicleSpeed": min(250.0, v), "Odometer24": self.distance_m / 1000,
            "AccelLongitudinal": (target - v) / 10, "AccelLateral": 2 * math.sin(t / 5),
            "AccelVertical": 9.81 + (4 * math.sin(t * 7) if ph.name == "dunes" else 0),
            "YawRate": 5 * math.sin(t / 5), "HeadingTrue": (t * 3) % 360,
            "FuelLevel": max(0.0, 95 - t / 120), "BatteryVoltage": 13.9,
            "AmbientTemp": 32, "FuelRate": rpm / 200, "IntakeAirTemp": 45,
            "BatteryCurrent": 20, "CabinTemp": 28, "FuelTankTemp": 40,
            "ExhaustGasTemp": 300 + rpm / 10, "BatteryStateOfCharge": 90,
            "TyrePressure": 180 if ph.terrain else 240, "TyreTemp": 45, "TpmsSensorBattery": 3,
        }
        return s


# ---- the plan -------------------------------------------------------------------------

@dataclass
class _Periodic:
    msg: cantools.database.Message
    period: float
    pages: list[dict[str, int]] = field(default_factory=list)   # mux selector values
    k: int = 0


def _pages(tree: Sequence[Any], sel: dict[str, int] | None = None) -> Iterator[dict[str, int]]:
    """Every combination of multiplexer values in a cantools signal tree (extended
    multiplexing nests dicts)."""
    sel = dict(sel or {})
    muxes = [n for n in tree if isinstance(n, dict)]
    if not muxes:
        yield sel
        return
    # one multiplexer per level in practice; nested trees recurse per branch
    for mux in muxes:
        for name, branches in mux.items():
            for value, sub in sorted(branches.items()):
                yield from _pages(sub, {**sel, name: value})


class VehicleSim:
    """The periodic messages of one DBC, their values from a drive profile.

    load_pct: target bus load at ``bitrate`` (and ``data_bitrate`` for FD messages with
    BRS); every cycle time is scaled by one factor to reach it. None keeps the DBC's cycle
    times. fd: also send the DBC's CAN FD messages (skipped otherwise: a classic bus
    cannot carry them)."""

    def __init__(self, dbc: str, *, profile: str = "recce", bitrate: int = 500_000,
                 data_bitrate: int | None = None, load_pct: float | None = None,
                 fd: bool = False, seed: int = 1,
                 only: Callable[[cantools.database.Message], bool] | None = None) -> None:
        db = cantools.database.load_file(dbc, strict=False)
        if not isinstance(db, cantools.database.can.Database):
            raise ValueError(f"{dbc}: not a CAN database")
        self.db = db
        self.profile_name = profile
        self.bitrate = bitrate
        self.data_bitrate = data_bitrate
        self.fd = fd
        self.seed = seed
        self.msgs: list[_Periodic] = []
        for m in self.db.messages:
            if m.is_fd and not fd:
                continue
            if only is not None and not only(m):
                continue
            p = _Periodic(m, (m.cycle_time or DEFAULT_CYCLE_MS) / 1000.0,
                          list(_pages(m.signal_tree)))
            self.msgs.append(p)
        if not self.msgs:
            raise ValueError(f"{dbc}: no messages to send")
        base = self.load_pct()
        self.scale = 1.0
        if load_pct is not None:
            self.scale = base / load_pct
            for p in self.msgs:
                p.period *= self.scale

    def _bits(self, m: cantools.database.Message) -> float:
        return frame_bits(m.length, m.is_extended_frame, m.is_fd, m.is_fd, self.bitrate,
                          self.data_bitrate)

    def load_pct(self) -> float:
        """Bus load of the current cycle times, in percent of the bitrate."""
        return 100 * sum(self._bits(p.msg) / p.period for p in self.msgs)

    def frames_per_s(self) -> float:
        return sum(1 / p.period for p in self.msgs)

    def _encode(self, p: _Periodic, values: dict[str, float]) -> bytes:
        m = p.msg
        page = p.pages[p.k % len(p.pages)]
        data = {}
        for s in m.signals:
            v = page.get(s.name, values.get(s.name, 0))
            lo = s.minimum if s.minimum is not None else None
            hi = s.maximum if s.maximum is not None else None
            if lo is not None and v < lo:
                v = lo
            if hi is not None and v > hi:
                v = hi
            if s.is_float:
                data[s.name] = float(v)
            elif s.scale == 1 and s.offset == 0:
                data[s.name] = int(v)
            else:
                data[s.name] = v
        if "EngineAlive" in data:
            data["EngineAlive"] = p.k % 16
        if "SampleCounter" in data:
            data["SampleCounter"] = p.k
        return m.encode(data, scaling=True, strict=False)

    def plan(self, seconds: float) -> list[Frame]:
        """Every frame of a ``seconds``-long drive, in send order."""
        prof = DriveProfile(PROFILES[self.profile_name], seconds, self.seed)
        rnd = random.Random(self.seed)
        heap: list[tuple[float, int]] = []
        for i, p in enumerate(self.msgs):
            p.k = 0
            heapq.heappush(heap, (rnd.uniform(0, p.period), i))   # phases spread the load
        out: list[Frame] = []
        while heap:
            t, i = heapq.heappop(heap)
            if t >= seconds:
                continue
            p = self.msgs[i]
            m = p.msg
            out.append(Frame(t, m.frame_id, m.is_extended_frame, m.is_fd, m.is_fd,
                             self._encode(p, prof.state(t)), m.name))
            p.k += 1
            heapq.heappush(heap, (t + p.period, i))
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.vehicle", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dbc")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="recce")
    ap.add_argument("--bitrate", type=int, default=500_000)
    ap.add_argument("--data-bitrate", type=int, default=None)
    ap.add_argument("--load", type=float, default=None, help="bus-load target, percent")
    ap.add_argument("--fd", action="store_true")
    ap.add_argument("--interface", default="socketcan")
    ap.add_argument("--channel", default="vcan0")
    a = ap.parse_args(argv)
    sim = VehicleSim(a.dbc, profile=a.profile, bitrate=a.bitrate, data_bitrate=a.data_bitrate,
                     load_pct=a.load, fd=a.fd)
    plan = sim.plan(a.seconds)
    print(f"{len(plan)} frames, {sim.frames_per_s():.0f} frames/s, load {sim.load_pct():.1f} %")
    with can.Bus(interface=a.interface, channel=a.channel, fd=a.fd) as bus:
        log = send_plan(bus, plan)
    print(f"sent {len(log.t)} frames in {log.t[-1] - log.t[0]:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""GNSS fixes as CAN frames, with the DBC that describes them (``dbc/dunelog_gnss.dbc``).

CAN loggers that carry a GNSS receiver (CSS Electronics' CANedge puts its fixes on an
internal CAN channel, ids 0x065-0x06F, with a DBC; Racelogic VBOX units send theirs as
CAN ids 0x301...) hand the position to CAN tools as ordinary frames plus a DBC, so that
CANalyzer/CANoe, asammdf, PCAN-Explorer and python-can read it like any other signal.
dunelog does the same on export: every GNSS fix record of a dump becomes four classic
frames with the fix record's timestamp, on a channel of their own (no board logs it):

========= ======================== === ==================================================
id        message                  len signals (Intel byte order, physical = raw * factor)
========= ======================== === ==================================================
base + 0  ``DunelogGnssStatus``    4   ``GnssFixType`` u8 (value table), ``GnssSatellites``
                                       u8, ``GnssHDOP`` u16 x 0.01
base + 1  ``DunelogGnssPosition``  8   ``GnssLatitude``, ``GnssLongitude`` i32 x 1e-7 deg
base + 2  ``DunelogGnssMotion``    8   ``GnssAltitude`` i32 x 0.001 m, ``GnssSpeed`` u16 x
                                       0.01 m/s, ``GnssCourse`` u16 x 0.01 deg
base + 3  ``DunelogGnssTime``      6   ``GnssUtcTimeOfDay`` u32 x 0.001 s, ``GnssUtcDays``
                                       u16 (days since 1970-01-01)
========= ======================== === ==================================================

The raw values are the fix record's fields unchanged (docs/FORMAT.md 3.5), so nothing is
rounded: all-ones (``0xFFFF``, ``0xFFFFFFFF``) still means "not available" and has a
value-table entry saying so.  Default base id :data:`DEFAULT_BASE_ID` (0x6D0, standard
11-bit) on channel :data:`DEFAULT_CHANNEL` (8); both are set with :class:`GnssCan`, and a
base id whose four ids do not fit 11 bits gives extended (29-bit) frames.

:func:`gnss_can_chunks` is the CAN frame pass of a dump with these frames merged in time
order; :func:`dbc_text` / :func:`gnss_database` give the DBC for any :class:`GnssCan`
(the shipped file is ``dbc_text(GnssCan())``).  See docs/EXPORT.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np

from ..card.bulk import CAN_DTYPE
from ..card.dump import CanChunk, Dump
from ..card.format import CAN_EXT
from ..card.records import GnssFix

if TYPE_CHECKING:
    from cantools.database import Database

__all__ = ["GnssCan", "DEFAULT_BASE_ID", "DEFAULT_CHANNEL", "FIX_DTYPE", "MESSAGES",
           "fixes_array", "fix_frames", "merge_frames", "gnss_can_chunks", "dbc_text",
           "gnss_database", "count_gnss_frames"]

#: first CAN id of the four GNSS messages (standard 11-bit): clear of the CANopen
#: predefined set, of the 0x7xx diagnostic ids (OBD-II 0x7DF/0x7E0-0x7EF), of
#: dbc/recce.dbc, of CANedge's 0x065-0x06F and of the VBOX 0x301-0x32B defaults
DEFAULT_BASE_ID = 0x6D0
#: dunelog channel (0-based) of the GNSS frames: the firmware logs channels 0-3 only;
#: BLF/ASC show it 1-based, as CAN 9
DEFAULT_CHANNEL = 8

_STD_MAX, _EXT_MAX = 0x7FF, 0x1FFFFFFF

#: the fields of a GNSS fix record, one row per fix (the record's time and boot first)
FIX_DTYPE = np.dtype([
    ("time_us", "<u8"), ("boot", "<u4"), ("fix_type", "u1"), ("sats", "u1"),
    ("lat", "<i4"), ("lon", "<i4"), ("alt_mm", "<i4"), ("utc_ms", "<u4"),
    ("utc_days", "<u2"), ("speed_cms", "<u2"), ("course_cdeg", "<u2"), ("hdop_c", "<u2"),
])

# payload layouts (packed little-endian = the DBC's Intel signals at these byte offsets)
_STATUS = np.dtype([("fix_type", "u1"), ("sats", "u1"), ("hdop_c", "<u2")])
_POSITION = np.dtype([("lat", "<i4"), ("lon", "<i4")])
_MOTION = np.dtype([("alt_mm", "<i4"), ("speed_cms", "<u2"), ("course_cdeg", "<u2")])
_TIME = np.dtype([("utc_ms", "<u4"), ("utc_days", "<u2")])
_LAYOUTS = (_STATUS, _POSITION, _MOTION, _TIME)

_NA = "Not available"
FIX_TYPES = {0: "No fix", 1: "2D", 2: "3D", 3: "DGNSS", 4: "RTK fixed", 5: "RTK float",
             6: "Dead reckoning"}


@dataclass(frozen=True)
class _Signal:
    name: str
    start: int
    length: int
    signed: bool
    factor: str          # as written in the DBC (exact decimal)
    minimum: str
    maximum: str
    unit: str
    field: str           # the GnssFix / FIX_DTYPE field it carries
    comment: str
    choices: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class _Message:
    offset: int          # id = base + offset
    name: str
    length: int
    comment: str
    signals: tuple[_Signal, ...]


#: the four messages, in id order (their payloads are :data:`_LAYOUTS`)
MESSAGES: tuple[_Message, ...] = (
    _Message(0, "DunelogGnssStatus", 4, "GNSS fix status, one frame per fix record", (
        _Signal("GnssFixType", 0, 8, False, "1", "0", "6", "", "fix_type",
                "Fix type; ignore the position when 0 (No fix)",
                tuple(sorted(FIX_TYPES.items()))),
        _Signal("GnssSatellites", 8, 8, False, "1", "0", "255", "", "sats",
                "Satellites used in the fix"),
        _Signal("GnssHDOP", 16, 16, False, "0.01", "0", "655.34", "", "hdop_c",
                "Horizontal dilution of precision; 655.35 (raw 0xFFFF) = not available",
                ((0xFFFF, _NA),)),
    )),
    _Message(1, "DunelogGnssPosition", 8, "GNSS position (WGS 84), one frame per fix record", (
        _Signal("GnssLatitude", 0, 32, True, "1e-07", "-90", "90", "deg", "lat",
                "Latitude, north positive"),
        _Signal("GnssLongitude", 32, 32, True, "1e-07", "-180", "180", "deg", "lon",
                "Longitude, east positive"),
    )),
    _Message(2, "DunelogGnssMotion", 8, "GNSS altitude, ground speed and course, one frame "
             "per fix record", (
        _Signal("GnssAltitude", 0, 32, True, "0.001", "-2147483.648", "2147483.647", "m",
                "alt_mm", "Altitude above mean sea level"),
        _Signal("GnssSpeed", 32, 16, False, "0.01", "0", "655.34", "m/s", "speed_cms",
                "Ground speed (x 3.6 = km/h); 655.35 (raw 0xFFFF) = not available",
                ((0xFFFF, _NA),)),
        _Signal("GnssCourse", 48, 16, False, "0.01", "0", "359.99", "deg", "course_cdeg",
                "Course over ground, clockwise from true north; 655.35 (raw 0xFFFF) = not "
                "available", ((0xFFFF, _NA),)),
    )),
    _Message(3, "DunelogGnssTime", 6, "UTC time of the fix epoch (the receiver's), one frame "
             "per fix record", (
        _Signal("GnssUtcTimeOfDay", 0, 32, False, "0.001", "0", "86400", "s", "utc_ms",
                "UTC seconds of day; raw 0xFFFFFFFF = not available",
                ((0xFFFFFFFF, _NA),)),
        _Signal("GnssUtcDays", 32, 16, False, "1", "0", "65534", "d", "utc_days",
                "UTC days since 1970-01-01 (epoch s = days x 86400 + time of day); "
                "raw 0xFFFF = not available", ((0xFFFF, _NA),)),
    )),
)
for _m, _dt in zip(MESSAGES, _LAYOUTS):
    assert _dt.itemsize == _m.length and all(
        _dt.fields is not None and _dt.fields[s.field][1] * 8 == s.start
        and _dt.fields[s.field][0].itemsize * 8 == s.length for s in _m.signals)


@dataclass(frozen=True)
class GnssCan:
    """Where GNSS fixes go as CAN frames: ids ``base_id`` .. ``base_id + 3`` on
    ``channel`` (dunelog's 0-based channel number).

    ``extended`` None (default): 11-bit ids when ``base_id + 3 <= 0x7FF``, else 29-bit.
    :class:`ValueError` for ids or a channel out of range.
    """

    base_id: int = DEFAULT_BASE_ID
    channel: int = DEFAULT_CHANNEL
    extended: bool | None = None

    def __post_init__(self) -> None:
        last = self.base_id + len(MESSAGES) - 1
        if self.base_id < 0 or last > _EXT_MAX:
            raise ValueError(f"GNSS base id 0x{self.base_id:X}: the ids 0x{self.base_id:X}-"
                             f"0x{last:X} must fit 29 bits")
        if self.extended is False and last > _STD_MAX:
            raise ValueError(f"GNSS base id 0x{self.base_id:X}: the ids up to 0x{last:X} "
                             "do not fit 11 bits")
        if not 0 <= self.channel <= 255:
            raise ValueError(f"GNSS channel {self.channel}: must be 0..255")

    @property
    def is_extended(self) -> bool:
        """29-bit ids."""
        if self.extended is not None:
            return self.extended
        return self.base_id + len(MESSAGES) - 1 > _STD_MAX

    @property
    def ids(self) -> dict[str, int]:
        """Message name -> CAN id."""
        return {m.name: self.base_id + m.offset for m in MESSAGES}

    def describe(self) -> str:
        """E.g. ``ids 0x6D0-0x6D3 on channel 8``."""
        w = 8 if self.is_extended else 3
        return (f"ids 0x{self.base_id:0{w}X}-0x{self.base_id + len(MESSAGES) - 1:0{w}X}"
                f"{' (extended)' if self.is_extended else ''} on channel {self.channel}")


# ------------------------------------------------------------------------- packing
def fixes_array(records: Iterable[Any]) -> np.ndarray:
    """The :class:`~dunelog.card.records.GnssFix` records among ``records`` as a
    :data:`FIX_DTYPE` array (other record types are skipped)."""
    rows = [(r.time_us, r.boot, r.fix_type, r.sats, r.lat, r.lon, r.alt_mm, r.utc_ms,
             r.utc_days, r.speed_cms, r.course_cdeg, r.hdop_c)
            for r in records if type(r) is GnssFix]
    return np.array(rows, FIX_DTYPE) if rows else np.empty(0, FIX_DTYPE)


def fix_frames(fixes: np.ndarray, cfg: GnssCan | None = None) -> np.ndarray:
    """The CAN frames of ``fixes`` (:data:`FIX_DTYPE`): a
    :data:`~dunelog.card.bulk.CAN_DTYPE` array of 4 frames per fix (status, position,
    motion, time; each with the fix's ``time_us`` and ``boot``), in fix order."""
    cfg = cfg or GnssCan()
    n = len(fixes)
    k = len(MESSAGES)
    out = np.zeros(n * k, CAN_DTYPE)
    if not n:
        return out
    out["time_us"] = np.repeat(fixes["time_us"], k)
    out["boot"] = np.repeat(fixes["boot"], k)
    out["channel"] = cfg.channel
    out["flags"] = CAN_EXT if cfg.is_extended else 0
    data = out["data"]
    for j, (m, dt) in enumerate(zip(MESSAGES, _LAYOUTS)):
        out["id"][j::k] = cfg.base_id + m.offset
        out["dlc"][j::k] = m.length
        out["data_len"][j::k] = m.length
        p = np.empty(n, dt)
        for f in dt.names or ():
            p[f] = fixes[f]
        data[j::k, :m.length] = p.view(np.uint8).reshape(n, m.length)
    return out


def merge_frames(classic: np.ndarray, gnss: np.ndarray) -> np.ndarray:
    """``classic`` with the ``gnss`` frames merged in by (boot, time_us); frames at the
    same time keep CAN frames first, and the order of each input is kept (a stable
    sort; when ``classic`` is already sorted, which dumps are, it is an insertion)."""
    if not len(gnss):
        return classic
    if not len(classic):
        return gnss
    cb, ct = classic["boot"], classic["time_us"]
    if _one_boot_sorted(classic, int(cb[0])) and _one_boot_sorted(gnss, int(cb[0])):
        # the usual case: one boot, times in order: insert after equal times, O(n)
        return np.insert(classic, np.searchsorted(ct, gnss["time_us"], side="right"), gnss)
    both = np.concatenate([classic, gnss])
    return both[np.lexsort((both["time_us"], both["boot"]))]


def _one_boot_sorted(a: np.ndarray, boot: int) -> bool:
    t = a["time_us"]
    return bool((a["boot"] == boot).all() and (t[1:] >= t[:-1]).all())


def gnss_can_chunks(dump: Dump, cfg: GnssCan | None = None) -> Iterator[CanChunk]:
    """As :meth:`Dump.can_chunks <dunelog.card.dump.Dump.can_chunks>`, with the GNSS fixes
    of each chunk merged into its classic frames (:func:`fix_frames`,
    :func:`merge_frames`); chunks holding fixes but no CAN frames are yielded too."""
    cfg = cfg or GnssCan()
    for chunk, dec, others in dump._pass():
        g = fix_frames(fixes_array(others), cfg)
        classic = merge_frames(dec.classic, g)
        if classic.size or dec.fd.size:
            yield CanChunk(chunk.file, int(chunk.headers["logger_id"][0]), classic, dec.fd)


def count_gnss_frames(classic: np.ndarray, cfg: GnssCan) -> int:
    """How many frames of a CAN_DTYPE array are GNSS frames of ``cfg`` (channel, id and
    id format)."""
    if not len(classic):
        return 0
    ext = (classic["flags"] & CAN_EXT) != 0
    ids = classic["id"].astype(np.int64) - cfg.base_id
    return int(np.count_nonzero((classic["channel"] == cfg.channel) & (ids >= 0)
                                & (ids < len(MESSAGES)) & (ext == cfg.is_extended)))


# ------------------------------------------------------------------------- the DBC
def dbc_text(cfg: GnssCan | None = None) -> str:
    """The DBC of the GNSS messages with the ids of ``cfg`` (``dbc/dunelog_gnss.dbc`` is
    ``dbc_text(GnssCan())``)."""
    cfg = cfg or GnssCan()
    ext = cfg.is_extended

    def fid(m: _Message) -> int:           # DBC ids carry bit 31 for 29-bit frames
        return (cfg.base_id + m.offset) | (0x80000000 if ext else 0)

    out = [
        'VERSION "dunelog-gnss 1"', "", "",
        "NS_ :", "\tNS_DESC_", "\tCM_", "\tBA_DEF_", "\tBA_", "\tVAL_", "\tBA_DEF_DEF_", "",
        "BS_:", "", "BU_: dunelog", "", "",
    ]
    for m in MESSAGES:
        out.append(f"BO_ {fid(m)} {m.name}: {m.length} dunelog")
        for s in m.signals:
            out.append(f" SG_ {s.name} : {s.start}|{s.length}@1{'-' if s.signed else '+'} "
                       f"({s.factor},0) [{s.minimum}|{s.maximum}] \"{s.unit}\" Vector__XXX")
        out.append("")
    out += ["",
            'CM_ "GNSS fixes of a dunelog logger as CAN frames (dunelog convert/decode '
            f'exports): one frame of each message per fix record, with its timestamp; '
            f'default {GnssCan().describe()}. docs/EXPORT.md";']
    for m in MESSAGES:
        out.append(f'CM_ BO_ {fid(m)} "{m.comment}";')
        for s in m.signals:
            out.append(f'CM_ SG_ {fid(m)} {s.name} "{s.comment}";')
    out += ['BA_DEF_ "BusType" STRING ;',
            'BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN";',
            'BA_DEF_DEF_ "BusType" "CAN";',
            'BA_DEF_DEF_ "VFrameFormat" "StandardCAN";',
            'BA_ "BusType" "CAN";']
    for m in MESSAGES:
        out.append(f'BA_ "VFrameFormat" BO_ {fid(m)} {1 if ext else 0};')
    for m in MESSAGES:
        for s in m.signals:
            if s.choices:
                vals = " ".join(f'{k} "{v}"' for k, v in sorted(s.choices, reverse=True))
                out.append(f"VAL_ {fid(m)} {s.name} {vals} ;")
    return "\n".join(out) + "\n"


def gnss_database(cfg: GnssCan | None = None) -> Database:
    """The GNSS messages with the ids of ``cfg`` as a cantools database."""
    import cantools
    db = cantools.database.load_string(dbc_text(cfg), "dbc")
    assert isinstance(db, cantools.database.can.Database)
    return db

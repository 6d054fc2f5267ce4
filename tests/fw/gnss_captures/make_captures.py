"""Writes the GNSS receiver captures used by tests/fw/mp_test_gnss.py (CPython, run once:
``python3 tests/fw/gnss_captures/make_captures.py``; the output files are committed).

The sentences below are written out literally, in the order and number formats of the
receivers named (only the checksums are computed here, by the rig's NMEA and UBX framing
in hil/nmea.py and hil/ubx.py); the UBX messages are packed from the field values listed,
which the test repeats as its expected values. Nothing here is used to compute expected
fixes: mp_test_gnss.py states them by hand.
"""
from __future__ import annotations

import struct
import sys
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[2]) not in sys.path:         # run as a script: the checkout's hil/
    sys.path.insert(0, str(HERE.parents[2]))

from hil.nmea import sentence as nmea  # noqa: E402
from hil.ubx import frame as ubx  # noqa: E402


def lines(*bodies: str) -> bytes:
    return b"".join(nmea(b) for b in bodies)


# ---------------------------------------------------------------- u-blox NEO-M8N, NMEA 4.10
# 1 Hz, GN talker, default message set (RMC VTG GGA GSA GSV GLL), power-up banner first.
# Erfoud, Morocco: north / west.
UBLOX_M8 = lines(
    "GNTXT,01,01,02,u-blox AG - www.u-blox.com",
    "GNTXT,01,01,02,HW UBX-M8030 00080000",
    "GNTXT,01,01,02,ROM CORE 3.01 (107888)",
    "GNTXT,01,01,02,FWVER=SPG 3.01",
    "GNTXT,01,01,02,PROTVER=18.00",
    "GNTXT,01,01,02,GPS;GLO;GAL;BDS",
    "GNTXT,01,01,02,SBAS;IMES;QZSS",
    "GNTXT,01,01,02,GNSS OTP=GPS;GLO",
    "GNTXT,01,01,02,LLC=FFFFFFFF-FFFFFFED-FFFFFFFF-FFFFFFFF-FFFFFF69",
    "GNTXT,01,01,02,ANTSUPERV=AC SD PDoS SR",
    "GNTXT,01,01,02,ANTSTATUS=OK",
    "GNTXT,01,01,02,PF=3FF",
    # epoch 0: no time, no fix
    "GNRMC,,V,,,,,,,,,,N,V",
    "GNVTG,,,,,,,,,N",
    "GNGGA,,,,,,0,00,99.99,,,,,,",
    "GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,1",
    "GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,2",
    "GPGSV,1,1,00,1",
    "GLGSV,1,1,00,1",
    "GNGLL,,,,,,V,N",
    # epoch 1: time and date known, no fix yet
    "GNRMC,081835.00,V,,,,,,,251126,,,N,V",
    "GNVTG,,,,,,,,,N",
    "GNGGA,081835.00,,,,,0,03,99.99,,,,,,",
    "GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,1",
    "GNGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99,2",
    "GPGSV,1,1,03,10,45,120,28,23,30,250,25,16,12,040,19,1",
    "GLGSV,1,1,00,1",
    "GNGLL,,,,,081835.00,V,N",
    # epoch 2: first 3D fix, standing
    "GNRMC,081836.00,A,3128.12345,N,00413.54321,W,0.012,,251126,,,A,V",
    "GNVTG,,T,,M,0.012,N,0.022,K,A",
    "GNGGA,081836.00,3128.12345,N,00413.54321,W,1,09,1.01,812.4,M,-0.9,M,,",
    "GNGSA,A,3,10,23,16,26,27,08,,,,,,,1.85,1.01,1.55,1",
    "GNGSA,A,3,76,67,77,,,,,,,,,,1.85,1.01,1.55,2",
    "GPGSV,2,1,07,08,22,310,30,10,45,120,38,16,12,040,33,23,30,250,36,1",
    "GPGSV,2,2,07,26,61,075,41,27,17,183,29,20,05,330,,1",
    "GLGSV,1,1,03,67,33,012,31,76,58,201,35,77,24,274,30,1",
    "GNGLL,3128.12345,N,00413.54321,W,081836.00,A,A",
    # epoch 3: moving
    "GNRMC,081837.00,A,3128.12911,N,00413.53110,W,23.456,61.27,251126,,,A,V",
    "GNVTG,61.27,T,,M,23.456,N,43.440,K,A",
    "GNGGA,081837.00,3128.12911,N,00413.53110,W,1,10,0.95,812.9,M,-0.9,M,,",
    "GNGSA,A,3,10,23,16,26,27,08,20,,,,,,1.71,0.95,1.42,1",
    "GNGSA,A,3,76,67,77,,,,,,,,,,1.71,0.95,1.42,2",
    "GPGSV,2,1,07,08,22,310,31,10,45,120,39,16,12,040,33,23,30,250,36,1",
    "GPGSV,2,2,07,26,61,075,41,27,17,183,30,20,05,330,22,1",
    "GLGSV,1,1,03,67,33,012,31,76,58,201,35,77,24,274,30,1",
    "GNGLL,3128.12911,N,00413.53110,W,081837.00,A,A",
    # epoch 4: SBAS differential
    "GNRMC,081838.00,A,3128.13477,N,00413.51899,W,23.501,61.30,251126,,,D,V",
    "GNVTG,61.30,T,,M,23.501,N,43.524,K,D",
    "GNGGA,081838.00,3128.13477,N,00413.51899,W,2,11,0.88,813.3,M,-0.9,M,,0133",
    "GNGSA,A,3,10,23,16,26,27,08,20,21,,,,,1.62,0.88,1.36,1",
    "GNGSA,A,3,76,67,77,,,,,,,,,,1.62,0.88,1.36,2",
    "GPGSV,3,1,09,08,22,310,31,10,45,120,39,16,12,040,33,21,08,150,25,1",
    "GPGSV,3,2,09,23,30,250,36,26,61,075,41,27,17,183,30,20,05,330,22,1",
    "GPGSV,3,3,09,44,33,190,40,1",
    "GLGSV,1,1,03,67,33,012,31,76,58,201,35,77,24,274,30,1",
    "GNGLL,3128.13477,N,00413.51899,W,081838.00,A,D",
    # epoch 5: down to a 2D fix in a wadi
    "GNRMC,081839.00,A,3128.14040,N,00413.50690,W,23.390,61.31,251126,,,A,V",
    "GNVTG,61.31,T,,M,23.390,N,43.318,K,A",
    "GNGGA,081839.00,3128.14040,N,00413.50690,W,1,04,2.54,813.3,M,-0.9,M,,",
    "GNGSA,A,2,10,23,16,,,,,,,,,,2.72,2.54,1.00,1",
    "GNGSA,A,2,76,,,,,,,,,,,,2.72,2.54,1.00,2",
    "GPGSV,1,1,03,10,45,120,30,16,12,040,27,23,30,250,29,1",
    "GLGSV,1,1,01,76,58,201,28,1",
    "GNGLL,3128.14040,N,00413.50690,W,081839.00,A,A",
)

# ---------------------------------------------------------------- Quectel L76 (MediaTek)
# 1 Hz, GP talker, NMEA 3.01 formats (ms in times, 4 decimals, zero-padded altitude),
# PMTK start-up messages, ZDA enabled. Namib desert: south / east. Fix lost in epoch 3.
QUECTEL = lines(
    "PMTK011,MTKGPS",
    "PMTK010,001",
    "GPRMC,100459.000,A,2444.1234,S,01517.5678,E,12.31,245.77,141025,,,A",
    "GPVTG,245.77,T,,M,12.31,N,22.80,K,A",
    "GPGGA,100459.000,2444.1234,S,01517.5678,E,1,07,1.18,0412.7,M,13.1,M,,",
    "GPGSA,A,3,14,06,16,31,23,03,26,,,,,,2.01,1.18,1.63",
    "GPGSV,2,1,08,14,65,317,43,06,52,105,40,16,41,211,38,31,36,077,39",
    "GPGSV,2,2,08,23,21,297,31,03,17,145,28,26,10,023,25,22,02,330,",
    "GPGLL,2444.1234,S,01517.5678,E,100459.000,A,A",
    "GPZDA,100459.000,14,10,2025,,",
    "GPRMC,100500.000,A,2444.1298,S,01517.5531,E,12.45,246.01,141025,,,A",
    "GPVTG,246.01,T,,M,12.45,N,23.06,K,A",
    "GPGGA,100500.000,2444.1298,S,01517.5531,E,1,07,1.17,0413.0,M,13.1,M,,",
    "GPGSA,A,3,14,06,16,31,23,03,26,,,,,,2.00,1.17,1.62",
    "GPGSV,2,1,08,14,65,317,43,06,52,105,40,16,41,211,38,31,36,077,39",
    "GPGSV,2,2,08,23,21,297,31,03,17,145,28,26,10,023,25,22,02,330,",
    "GPGLL,2444.1298,S,01517.5531,E,100500.000,A,A",
    "GPZDA,100500.000,14,10,2025,,",
    "GPRMC,100501.000,A,2444.1362,S,01517.5384,E,12.52,246.10,141025,,,A",
    "GPVTG,246.10,T,,M,12.52,N,23.19,K,A",
    "GPGGA,100501.000,2444.1362,S,01517.5384,E,1,06,1.35,0413.4,M,13.1,M,,",
    "GPGSA,A,3,14,06,16,31,23,03,,,,,,,2.24,1.35,1.79",
    "GPGSV,2,1,08,14,65,317,42,06,52,105,39,16,41,211,37,31,36,077,38",
    "GPGSV,2,2,08,23,21,297,30,03,17,145,26,26,10,023,,22,02,330,",
    "GPGLL,2444.1362,S,01517.5384,E,100501.000,A,A",
    "GPZDA,100501.000,14,10,2025,,",
    # epoch 3: in a gorge, fix lost: time and date still come, position fields empty
    "GPRMC,100502.000,V,,,,,0.00,0.00,141025,,,N",
    "GPVTG,0.00,T,,M,0.00,N,0.00,K,N",
    "GPGGA,100502.000,,,,,0,02,,,M,,M,,",
    "GPGSA,A,1,,,,,,,,,,,,,,,",
    "GPGSV,1,1,02,14,65,317,21,06,52,105,18",
    "GPGLL,,,,,100502.000,V,N",
    "GPZDA,100502.000,14,10,2025,,",
)

# ---------------------------------------------------------------- RTK receiver, 10 Hz
# GGA, RMC (NMEA 4.1 mode letters R / F), GST; minutes with 8 decimals; Lac Rose, Senegal.
RTK = lines(
    "GNGGA,143215.00,1450.39876700,N,01714.23456789,W,4,24,0.52,12.6130,M,28.7440,M,1.0,0007",
    "GNRMC,143215.00,A,1450.39876700,N,01714.23456789,W,0.021,173.40,080326,,,R,V",
    "GNGST,143215.00,0.012,0.009,0.007,83.4,0.008,0.010,0.019",
    "GNGGA,143215.10,1450.39868912,N,01714.23467401,W,4,24,0.52,12.6150,M,28.7440,M,1.1,0007",
    "GNRMC,143215.10,A,1450.39868912,N,01714.23467401,W,9.876,173.52,080326,,,R,V",
    "GNGST,143215.10,0.012,0.009,0.007,83.4,0.008,0.010,0.019",
    "GNGGA,143215.20,1450.39841234,N,01759.99999999,W,5,23,0.55,12.6400,M,28.7440,M,1.2,0007",
    "GNRMC,143215.20,A,1450.39841234,N,01759.99999999,W,9.880,173.49,080326,,,F,V",
    "GNGST,143215.20,0.058,0.040,0.031,83.4,0.041,0.047,0.090",
    "GNGGA,143215.30,0000.00000300,N,00000.00000299,E,2,21,0.61,12.7000,M,28.7440,M,1.3,0007",
    "GNRMC,143215.30,A,0000.00000300,N,00000.00000299,E,9.870,173.47,080326,,,D,V",
    "GNGST,143215.30,0.350,0.260,0.200,83.4,0.270,0.300,0.520",
)

# ---------------------------------------------------------------- GGA + ZDA across midnight
# A survey receiver sending GGA then ZDA at 1 Hz; leap day 2024-02-28 -> 2024-02-29.
MIDNIGHT = lines(
    "GPGGA,235957.00,5232.10000,N,01324.20000,E,1,08,1.0,35.0,M,39.6,M,,",
    "GPZDA,235957.00,28,02,2024,00,00",
    "GPGGA,235958.00,5232.10000,N,01324.20000,E,1,08,1.0,35.0,M,39.6,M,,",
    "GPZDA,235958.00,28,02,2024,00,00",
    "GPGGA,235959.00,5232.10000,N,01324.20000,E,1,08,1.0,35.0,M,39.6,M,,",
    "GPZDA,235959.00,28,02,2024,00,00",
    "GPGGA,000000.00,5232.10000,N,01324.20000,E,1,08,1.0,35.0,M,39.6,M,,",
    "GPZDA,000000.00,29,02,2024,00,00",
    "GPGGA,000001.00,5232.10000,N,01324.20000,E,1,08,1.0,35.0,M,39.6,M,,",
    "GPZDA,000001.00,29,02,2024,00,00",
)

# ---------------------------------------------------------------- garbage and restarts
GOOD_GGA_1 = nmea("GPGGA,101500.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,")
GOOD_RMC_1 = nmea("GPRMC,101500.00,A,4717.11399,N,00833.91590,E,0.004,77.52,091202,,,A")
GOOD_GGA_2 = nmea("GPGGA,101502.00,4717.11437,N,00833.91522,E,1,08,1.01,499.7,M,48.0,M,,")
GOOD_RMC_2 = nmea("GPRMC,101502.00,A,4717.11437,N,00833.91522,E,0.013,77.52,091202,,,A")
_b = "GPGGA,101501.00,4717.11420,N,00833.91550,E,1,08,1.01,499.6,M,48.0,M,,"
BAD_CK = nmea(_b)[:-4] + b"%02X\r\n" % (nmea(_b)[-4:-2] == b"00" and 1 or 0)   # wrong checksum
GARBAGE = (
    bytes([0x00, 0xFF, 0xFE, 0x80, 0x1E, 0x7F, 0xE0, 0xB5, 0x00, 0xF8, 0xC0])    # 11: wrong baud
    + b"GA,0,00,99.99,,,,,,*48\r\n"       # tail of a line whose '$' was lost: 22 garbage + CRLF
    + GOOD_GGA_1 + GOOD_RMC_1
    + b"$GPGGA,101501.00,4717.1"          # cut by a receiver restart, then its banner:
    + nmea("GPTXT,01,01,02,ANTSTATUS=INIT")
    + BAD_CK
    + b"$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1\r\n"          # no checksum
    + b"$GPGSV," + b"1" * 140 + b"*00\r\n"                           # over-long
    + b"$GPRMC,101501.00,A,4717.1,N*G1\r\n"                          # bad checksum digits
    + b"$GPGGA,1015\x0001.00,4717.1*00\r\n"                          # NUL inside a line
    + nmea("GPGGA,101501.00,47A7.11420,N,00833.91550,E,1,08,1.01,499.6,M,48.0,M,,")  # bad digit
    + b"\xb5\x62\x01\x07\xff\xff"        # false UBX sync with an impossible length: 6 garbage
    + b"\n\r\n"
    + GOOD_GGA_2.replace(b"\r\n", b"\n") + GOOD_RMC_2.replace(b"\r\n", b"\n")
    + nmea("GPGLL,4717.11437,N,00833.91522,E,101502.00,A,A")
)


# ---------------------------------------------------------------- UBX
def nav_pvt(itow, y, mo, d, h, mi, s, valid, nano, fix, flags, nsv, lon, lat, hmsl, gspeed,
            headmot):
    return ubx(0x01, 0x07, struct.pack(
        "<IHBBBBBBIiBBBBiiiiIIiiiiiIIHH4xihH", itow, y, mo, d, h, mi, s, valid, 25, nano,
        fix, flags, 0xEA, nsv, lon, lat, hmsl + 28744, hmsl, 14, 10, 0, 0, 0, gspeed, headmot,
        80, 120000, 98, 0, 0, 0, 0))


def nav_dop(itow, hdop):
    return ubx(0x01, 0x04, struct.pack("<IHHHHHHH", itow, 150, 132, 71, 110, hdop, 60, 70))


# Field values (also in mp_test_gnss.py): u-blox ZED-F9P, 5 Hz, Saudi Arabia, 2026-01-10.
# valid: bit0 date, bit1 time, bit2 fully resolved. flags: bit0 gnssFixOK, bit1 diffSoln,
# bits 6-7 carrSoln.
PVT = [
    # itow,     y,  mo, d,  h,  mi, s,  valid, nano,   fix, flags, nsv, lon,       lat,       hmsl,   gspeed, headmot
    (459912000, 2026, 1, 10, 7, 45, 12, 0x00, 0, 0, 0x00, 0, 0, 0, 0, 0, 0),
    (459912200, 2026, 1, 10, 7, 45, 12, 0x07, 200000123, 3, 0x01, 17, 451234567, 239876543, 612345, 12345, 9012345),
    (459912400, 2026, 1, 10, 7, 45, 12, 0x07, 399999500, 3, 0x03, 18, 451234678, 239876600, 612350, 12346, 9012400),
    (459912600, 2026, 1, 10, 7, 45, 12, 0x07, 600000000, 3, 0x43, 19, 451234789, 239876657, 612355, 12344, -1200),
    (459912800, 2026, 1, 10, 7, 45, 12, 0x07, 800000000, 3, 0x83, 21, 451234900, 239876714, 612360, 12350, 35999960),
    (459913000, 2026, 1, 10, 7, 45, 13, 0x07, -1500, 4, 0x01, 21, 451235011, 239876771, 612365, 12351, 9012500),
    (459913200, 2026, 1, 10, 7, 45, 13, 0x07, 200000000, 1, 0x00, 0, 451235122, 239876828, 612370, 1400, 9012500),
    (459913400, 2026, 1, 10, 7, 45, 13, 0x03, 400000000, 2, 0x01, 4, 451235233, 239876885, 612375, 1399, 9012600),
    # the receiver jumps to 2026-01-11 00:00:00.000 UTC (Sunday 00:00:18 GPS: iTOW 18000),
    # 0.2 ms early: hh:mm:ss rounded up into the new day, nano negative
    (18000, 2026, 1, 11, 0, 0, 0, 0x07, -200000, 3, 0x01, 12, 451235344, 239876942, 612380, 0, 0),
]
DOP_FOR = {459912200: 87, 459912400: 86, 459912600: 85, 459912800: 84, 459913000: 83,
           459913400: 250, 18000: 90}


def ubx_stream() -> bytes:
    out = b""
    for i, p in enumerate(PVT):
        itow = p[0]
        if itow in DOP_FOR:
            out += nav_dop(itow, DOP_FOR[itow])
        elif i == 6:
            out += nav_dop(itow - 200, 77)                 # DOP of another epoch: not used
        msg = nav_pvt(*p)
        if i == 3:
            # a NAV-SAT (skipped by length) and a corrupted copy of this PVT first
            out += ubx(0x01, 0x35, bytes(8 + 12 * 20))
            bad = bytearray(msg)
            bad[30] ^= 0x40
            out += bytes(bad)
        if i == 5:
            out += ubx(0x0A, 0x09, bytes(60))             # MON-HW: skipped
            out += ubx(0x01, 0x07, bytes(84))             # NAV-PVT of another length: skipped
        out += msg
    out += ubx(0x05, 0x01, b"\x06\x8a")                   # ACK-ACK: skipped
    return out


# ---------------------------------------------------------------- UBX epochs at 5-25 Hz
# NAV-PVT as a u-blox receiver names its epochs (docs/GNSS.md, "UBX time"): the epoch is on
# the receiver's navigation grid (iTOW, ms of the GPS week, ends in the epoch's ms), the
# UTC time of the solution is a little off it (the residual, here -5 ms .. +5 ms), and
# year..sec are that UTC time rounded to the nearest 10 ms with nano the rest, so nano is
# negative when the rounding carried into the next second (minute, hour, day, year).
# EPOCH_RUNS is repeated in mp_test_gnss.py (test_ubx_epochs_5_to_25_hz_capture).
GPS_UTC_S = 18                                   # GPS - UTC since 2017
GPS_EPOCH = datetime(1980, 1, 6)
EPOCH_RUNS = [
    # rate Hz, first epoch (UTC), residual of each epoch in ns; each run crosses the
    # boundary named at its epoch .000. The two of issue 14: -100,313 at 08:50:00.800
    # (nano 799,899,687) and -100,231 at 08:50:01.000 (nano -100,231). The accepted
    # range's ends (-5 ms, +5 ms - 1 ns) and +-1 ns are at epochs .000 too.
    (5, datetime(2026, 1, 10, 8, 50, 0, 600000),                # a second
     [-87654, -100313, -100231, 212345, 4999999]),
    (5, datetime(2024, 2, 28, 23, 59, 59, 600000),              # midnight into a leap day
     [0, 1, -5000000, -1, 87654]),
    (10, datetime(2026, 3, 8, 14, 32, 59, 700000),              # a minute
     [-100231, -100313, 3999999, -1, 212345, -4999999]),
    (10, datetime(2024, 2, 29, 23, 59, 59, 800000),             # midnight, a month
     [-100313, 4999999, -100231, 1]),
    (20, datetime(2026, 6, 1, 9, 59, 59, 850000),               # an hour, nano > 0 at .000
     [212345, -212345, -3999999, 4999999, -100231, 0]),
    (20, datetime(2025, 12, 31, 23, 59, 59, 900000),            # midnight, a year
     [-1, -100313, -100231, 87654]),
    (25, datetime(2026, 6, 1, 10, 0, 59, 920000),               # a minute, nano > 0 at .000
     [87654, -100313, 212345, -5000000, 1]),
    (25, datetime(2026, 6, 30, 23, 59, 59, 880000),             # midnight, a month
     [-4999999, 1, -100313, -3999999, 4999999, -100231]),
]


def utc_fields(t_ns_since_1970: int):
    """year..sec and nano of a UTC time as u-blox writes them: rounded to 10 ms, half up."""
    r = (t_ns_since_1970 + 5000000) // 10000000 * 10000000
    sec_ns = r // 1000000000 * 1000000000
    d = datetime(1970, 1, 1) + timedelta(seconds=sec_ns // 1000000000)
    return d.year, d.month, d.day, d.hour, d.minute, d.second, t_ns_since_1970 - sec_ns


def epoch_stream() -> bytes:
    out = b""
    k = 0
    for rate, first, residuals in EPOCH_RUNS:
        for i, res in enumerate(residuals):
            ep = first + timedelta(microseconds=i * 1000000 // rate)
            gps = ep + timedelta(seconds=GPS_UTC_S) - GPS_EPOCH
            itow = (gps.days % 7 * 86400 + gps.seconds) * 1000 + gps.microseconds // 1000
            ep_ns = (ep - datetime(1970, 1, 1)) // timedelta(microseconds=1) * 1000
            y, mo, d, h, mi, s, nano = utc_fields(ep_ns + res)
            k += 1
            out += nav_pvt(itow, y, mo, d, h, mi, s, 0x07, nano, 3, 0x01, 20 + rate,
                           -137000000 + k, 243000000 + rate, 700000, 5000, 9000000)
    return out


# u-blox M8 with NMEA and NAV-PVT both enabled: two NMEA-only epochs, then per epoch PVT
# followed by the same epoch in NMEA.
def mixed_stream() -> bytes:
    out = b""
    out += lines(
        "GNRMC,120000.00,A,4843.61730,N,00219.11120,E,0.050,,010626,,,A,V",
        "GNGGA,120000.00,4843.61730,N,00219.11120,E,1,12,0.70,95.1,M,47.0,M,,",
        "GNGSA,A,3,01,03,04,08,09,11,14,17,19,22,,,1.20,0.70,0.97,1",
        "GNGLL,4843.61730,N,00219.11120,E,120000.00,A,A",
        "GNRMC,120001.00,A,4843.61735,N,00219.11121,E,0.040,,010626,,,A,V",
        "GNGGA,120001.00,4843.61735,N,00219.11121,E,1,12,0.70,95.1,M,47.0,M,,",
        "GNGSA,A,3,01,03,04,08,09,11,14,17,19,22,,,1.20,0.70,0.97,1",
        "GNGLL,4843.61735,N,00219.11121,E,120001.00,A,A",
    )
    for k in range(3):
        s = 2 + k
        out += nav_pvt(129618000 + 1000 * s, 2026, 6, 1, 12, 0, s, 0x07, 0, 3, 0x01, 12,
                       23185200 + k, 487269550 + k, 95100, 20, 0)
        out += lines(
            "GNRMC,12000%d.00,A,4843.61740,N,00219.11122,E,0.030,,010626,,,A,V" % s,
            "GNGGA,12000%d.00,4843.61740,N,00219.11122,E,1,12,0.70,95.1,M,47.0,M,," % s,
            "GNGSA,A,3,01,03,04,08,09,11,14,17,19,22,,,1.20,0.70,0.97,1",
            "GNGLL,4843.61740,N,00219.11122,E,12000%d.00,A,A" % s,
        )
    return out


def main() -> None:
    files = {
        "ublox_m8_gn.nmea": UBLOX_M8,
        "quectel_l76_gp.nmea": QUECTEL,
        "rtk_8dec.nmea": RTK,
        "midnight_gga_zda.nmea": MIDNIGHT,
        "garbage_restart.nmea": GARBAGE,
        "ubx_f9p_nav_pvt.ubx": ubx_stream(),
        "ublox_mixed_nmea_ubx.bin": mixed_stream(),
        "ubx_epochs_5_25hz.ubx": epoch_stream(),
    }
    for name, data in files.items():
        (HERE / name).write_bytes(data)
        print(name, len(data))


if __name__ == "__main__":
    main()

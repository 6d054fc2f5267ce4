# GNSS parser throughput under MicroPython (docs/GNSS.md quotes the numbers printed here:
#   micropython tests/fw/mprunner.py firmware tests/fw/mp_test_gnss_bench.py /tmp).
# The load: 10 Hz epochs of all five sentences (RMC, VTG, GGA, 2 x GSA, ZDA) in u-blox
# GN format with RTK-length coordinates, plus a second run with a NAV-PVT per epoch.
import time
import struct
from gnss import GnssParser

TMP = "/tmp"
LINK_BPS = 11520                     # 115200 baud, 8N1: 10 bits a byte


def nmea(body):
    x = 0
    for ch in body.encode():
        x ^= ch
    return b"$" + body.encode() + (b"*%02X\r\n" % x)


def ubx_pvt(itow, s):
    p = struct.pack("<IHBBBBBBIiBBBBiiiiIIiiiiiIIHH4xihH", itow, 2026, 1, 10, 7, 45, s % 60,
                    7, 25, 0, 3, 0x83, 24, 1234567890, 234567890, 500000, 450000, 14, 10, 0,
                    0, 0, 1234, 9012345, 80, 120000, 98, 0, 0, 0, 0)
    body = b"\x01\x07" + struct.pack("<H", len(p)) + p
    a = b = 0
    for c in body:
        a = (a + c) & 0xFF
        b = (b + a) & 0xFF
    return b"\xb5\x62" + body + bytes((a, b))


def stream(seconds, with_ubx=False):
    out = []
    for k in range(seconds * 10):
        s = k // 10
        t = "0745%02d.%d0" % (s % 60, k % 10)
        ep = (
            nmea("GNRMC,%s,A,2351.23456789,N,12345.67890123,E,23.456,61.27,100126,,,R,V" % t),
            nmea("GNVTG,61.27,T,,M,23.456,N,43.440,K,D"),
            nmea("GNGGA,%s,2351.23456789,N,12345.67890123,E,4,24,0.52,512.345,M,-12.3,M,1.0,0007" % t),
            nmea("GNGSA,A,3,10,23,16,26,27,08,20,21,02,05,13,15,1.01,0.52,0.87,1"),
            nmea("GNGSA,A,3,76,67,77,68,85,,,,,,,,1.01,0.52,0.87,2"),
            nmea("GNZDA,%s,10,01,2026,00,00" % t),
        )
        if with_ubx:
            out.append(ubx_pvt(459912000 + 100 * k, s))
        out.extend(ep)
    return b"".join(out)


def measure(data, chunk=64):
    n_fix = [0]

    def fix(*a):
        n_fix[0] += 1

    def sync(*a):
        pass

    p = GnssParser(fix, sync, ubx_wins=False)
    buf = bytearray(chunk)
    mv = memoryview(buf)
    L = len(data)
    best = None
    for rep in range(3):
        t0 = time.ticks_us()
        o = 0
        while o < L:
            n = min(chunk, L - o)
            buf[:n] = data[o:o + n]
            p.feed(mv, n, o & 0x3FFFFFFF)
            o += n
        dt = time.ticks_diff(time.ticks_us(), t0)
        if best is None or dt < best:
            best = dt
    assert p.errors == 0, repr(p.last_error)
    return L * 1000000 // best, n_fix[0] // 3, p


def test_throughput_keeps_up_with_115200_baud():
    data = stream(10)
    rate, fixes, p = measure(data)
    need = len(data) // 10                      # bytes per second of this 10 Hz load
    print("nmea: %d bytes for 10 s at 10 Hz = %d B/s needed; parsed %d B/s = %.1fx the load,"
          " %.1fx a saturated 115200 link" % (len(data), need, rate, rate / need,
                                              rate / LINK_BPS))
    assert fixes == 100, fixes
    assert p.good == 3 * 600 and p.bad_checksum == 0, p.counters()     # 3 timed runs
    assert rate > LINK_BPS, "only %d B/s" % rate
    data = stream(10, True)
    rate, fixes, p = measure(data)
    print("nmea+ubx: %d B/s needed; parsed %d B/s" % (len(data) // 10, rate))
    assert fixes == 200 and p.ubx_good == 3 * 100, (fixes, p.counters())
    assert rate > LINK_BPS, "only %d B/s" % rate


def test_throughput_of_the_byte_path_alone():
    # bytes that never complete a sentence: the floor of the per-byte cost
    junk = b"$GPTXT," + b"x" * 113               # 120 bytes: fills the line buffer
    data = junk * 300
    rate, _, p = measure(data)
    print("line accumulation only: %d B/s" % rate)
    assert p.malformed == 3 * 300 - 1 and p.overlong == 0, p.counters()   # each cut by the next

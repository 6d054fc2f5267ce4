# GNSS parser (firmware/gnss.py) under MicroPython: receiver captures -> exact fixes and
# time syncs; bad input counted, never fatal; no allocation on the per-byte path.
#
# Expected values are written out by hand (checked with exact rational arithmetic when the
# captures were made) and cross-checked here against ref_coord(), an independent big-int
# conversion of the NMEA text, and against a few conversions known from elsewhere.
import struct
import micropython
from gnss import GnssParser, days_from_civil, LINE_MAX

TMP = "/tmp"                                    # set by the runner
_d = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
CAPS = _d + "/gnss_captures/"
NA16 = 0xFFFF
NA32 = 0xFFFFFFFF


def cap(name):
    with open(CAPS + name, "rb") as f:
        return f.read()


class Sink:
    def __init__(self, ubx_wins=True):
        self.fixes = []
        self.syncs = []
        self.p = GnssParser(self.fix, self.sync, ubx_wins)

    def fix(self, *a):
        assert len(a) == 11, "on_fix arity %d" % len(a)
        self.fixes.append(a)
        return True

    def sync(self, *a):
        assert len(a) == 6, "on_sync arity %d" % len(a)
        self.syncs.append(a)
        return True


def lines_of(data):
    """Split after each LF, keeping the bytes (CR LF included)."""
    out = []
    s = 0
    while s < len(data):
        e = data.find(b"\n", s)
        e = len(data) if e < 0 else e + 1
        out.append(data[s:e])
        s = e
    return out


def feed_lines(sink, data, step=1000):
    """One UART read per line, at ticks = step * line index (what the fix ticks refer to)."""
    uart = bytearray(256)
    for i, ln in enumerate(lines_of(data)):
        n = len(ln)
        uart[:n] = ln
        sink.p.feed(uart, n, (i * step) & 0x3FFFFFFF)


def feed_chunks(sink, data, sizes, ticks=7):
    """UART reads of the given sizes (cycled) into one preallocated buffer."""
    uart = bytearray(max(sizes))
    mv = memoryview(uart)
    p = 0
    k = 0
    while p < len(data):
        n = min(sizes[k % len(sizes)], len(data) - p)
        uart[:n] = data[p:p + n]
        sink.p.feed(mv, n, ticks)
        p += n
        k += 1


def lcg_sizes(seed, count, lo, hi):
    out = []
    x = seed
    for _ in range(count):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(lo + x % (hi - lo + 1))
    return out


def line_ticks(data, prefix, step=1000):
    """ticks (as fed by feed_lines) of every line starting with prefix."""
    return [i * step for i, ln in enumerate(lines_of(data)) if ln.startswith(prefix)]


def ref_coord(text, hemi):
    """Independent reference: NMEA [d]ddmm.m... -> 1e-7 deg, round half up, big ints."""
    s = text
    k = 0
    if "." in s:
        k = len(s) - s.index(".") - 1
        s = s.replace(".", "")
    n = int(s)
    unit = 10 ** k
    deg = n // (100 * unit)
    rem = n - deg * 100 * unit                  # minutes * 10^k
    v = deg * 10 ** 7 + (2 * rem * 10 ** 7 + 60 * unit) // (120 * unit)
    return -v if hemi in "SW" else v


def eq(a, b, what=""):
    assert a == b, "%s: %r != %r" % (what, a, b)


def counters_ok(p, **want):
    c = p.counters()
    for k in want:
        assert c[k] == want[k], "counter %s: %r != %r (%r)" % (k, c[k], want[k], c)
    assert p.errors == 0, "internal error: %r" % (p.last_error,)


# ---------------------------------------------------------------- conversions

def test_days_from_civil_known_dates():
    eq(days_from_civil(1970, 1, 1), 0)
    eq(days_from_civil(2000, 3, 1), 11017)
    eq(days_from_civil(2024, 2, 29), 19782)
    eq(days_from_civil(2026, 1, 10), 20463)
    eq(days_from_civil(1980, 1, 6), 3657)       # GPS epoch


def test_coordinates_exact_for_0_to_10_decimals():
    # known: 4807.038' N = 48.1173 deg exactly; 01131.000' E = 11.51666..; half up at .5
    s = Sink()
    cases = [
        ("4807.038", "N", "01131.000", "E", 481173000, 115166667),
        ("4807", "N", "01131", "E", 481166667, 115166667),
        ("4807.0", "S", "01131.0", "W", -481166667, -115166667),
        ("3723.46587704", "N", "12202.26957864", "W", 373910980, -1220378263),
        ("0000.00000300", "N", "00000.00000299", "E", 1, 0),        # exact tie -> up
        ("0000.0000030", "S", "00000.0000029", "W", -1, 0),
        ("0000.000003", "N", "00000.0000002", "E", 1, 0),
        ("8959.99999999", "N", "17959.99999999", "E", 900000000, 1800000000),
        ("0130.123456789", "N", "00001.9999999999", "W", 15020576, -333333),
        ("9000.00000000", "S", "18000.0000000", "W", -900000000, -1800000000),
    ]
    for i, (la, ha, lo, ho, elat, elon) in enumerate(cases):
        eq(ref_coord(la, ha), elat, "ref lat " + la)
        eq(ref_coord(lo, ho), elon, "ref lon " + lo)
        line = gga("%06d.00,%s,%s,%s,%s,1,08,0.9,10.0,M,0.0,M,," % (120000 + i, la, ha, lo, ho))
        s.p.feed(line, len(line), i)
    s.p.flush()
    eq(len(s.fixes), len(cases), "fixes")
    for f, c in zip(s.fixes, cases):
        eq((f[3], f[4]), (c[4], c[5]), "coord " + c[0] + " " + c[2])
    # every decimal count 0..10 against the reference, awkward digits
    s = Sink()
    want = []
    for k in range(11):
        frac = "9876543210"[:k]
        la = "4759" + ("." + frac if k else "")
        lo = "17959" + ("." + "".join(reversed(frac)) if k else "")
        want.append((ref_coord(la, "S"), ref_coord(lo, "W")))
        line = gga("%06d.00,%s,S,%s,W,1,08,0.9,10.0,M,0.0,M,," % (130000 + k, la, lo))
        s.p.feed(line, len(line), k)
    s.p.flush()
    eq([(f[3], f[4]) for f in s.fixes], want, "decimals 0..10")
    counters_ok(s.p, good=11, malformed=0)


def test_field_scaling_speed_course_alt_hdop():
    s = Sink()
    feed_all(s, [
        rmc("010203.45,A,0100.000,N,00100.000,E,1.000,359.995,010125,,,A"),
        gga("010203.45,0100.000,N,00100.000,E,1,12,12.345,-12.3456,M,0.0,M,,"),
        vtg("359.995,T,,M,1.000,N,1.852,K,A"),
        gll(),
    ])
    f = s.fixes[0]
    # 1 kn = 51.444.. cm/s; 359.995 deg -> 36000 (half up) -> wraps to 0; -12.3456 m ->
    # -12346 mm (half away from zero); HDOP 12.345 -> 1235; 01:02:03.45 -> 3723450 ms
    eq(f[1:], (2, 12, 10000000, 10000000, -12346, 3723450, 20089, 51, 0, 1235), "scaled")
    # VTG only (no RMC): km/h preferred over knots
    s = Sink()
    feed_all(s, [gga("020000.00,0100.000,N,00100.000,E,1,05,1.0,1.0,M,0.0,M,,"),
                 vtg("12.34,T,,M,10.000,N,18.520,K,A"), gll(),
                 gga("020001.00,0100.000,N,00100.000,E,1,05,1.0,1.0,M,0.0,M,,")])
    eq((s.fixes[0][8], s.fixes[0][9]), (514, 1234), "VTG speed/course")
    eq(s.fixes[0][7], NA16, "no date seen yet")


# ---------------------------------------------------------------- receiver captures

def test_ublox_m8_gn_capture():
    data = cap("ublox_m8_gn.nmea")
    s = Sink()
    feed_lines(s, data)
    tk = line_ticks(data, b"$GNRMC")
    eq(len(tk), 6, "epochs in capture")
    d = 20782                                   # 2026-11-25
    want = [
        # ticks, fix, sats, lat, lon, alt_mm, utc_ms, days, speed, course, hdop
        (tk[0], 0, 0, 0, 0, 0, NA32, NA16, NA16, NA16, 9999),
        (tk[1], 0, 3, 0, 0, 0, 29915000, d, NA16, NA16, 9999),
        (tk[2], 2, 9, 314687242, -42257202, 812400, 29916000, d, 1, NA16, 101),
        (tk[3], 2, 10, 314688185, -42255183, 812900, 29917000, d, 1207, 6127, 95),
        (tk[4], 3, 11, 314689128, -42253165, 813300, 29918000, d, 1209, 6130, 88),
        (tk[5], 1, 4, 314690067, -42251150, 813300, 29919000, d, 1203, 6131, 254),
    ]
    eq(len(s.fixes), len(want), "fix count")
    for i in range(len(want)):
        eq(s.fixes[i], want[i], "epoch %d" % i)
    eq(ref_coord("3128.12345", "N"), 314687242, "ref")
    eq(ref_coord("00413.54321", "W"), -42257202, "ref")
    eq(ref_coord("00413.50690", "W"), -42251150, "ref")
    # 08:18:35 = (8 * 3600 + 18 * 60 + 35) s
    eq(29915000, (8 * 3600 + 18 * 60 + 35) * 1000, "utc")
    eq(s.syncs, [(tk[i], 1, 0, d, 29914000 + 1000 * i, 0) for i in range(2, 6)], "syncs")
    n_other = len([l for l in lines_of(data) if l[3:6] not in (b"GGA", b"RMC", b"VTG", b"GSA")])
    counters_ok(s.p, good=30, unknown_type=n_other, bad_checksum=0, malformed=0,
                garbage_bytes=0, late=0, fixes=6, syncs=4)


def test_quectel_l76_gp_capture_south_east_and_fix_lost():
    data = cap("quectel_l76_gp.nmea")
    s = Sink()
    feed_lines(s, data)
    tk = line_ticks(data, b"$GPRMC")
    d = 20375                                   # 2025-10-14
    want = [
        (tk[0], 2, 7, -247353900, 152927967, 412700, 36299000, d, 633, 24577, 118),
        (tk[1], 2, 7, -247354967, 152925517, 413000, 36300000, d, 640, 24601, 117),
        (tk[2], 2, 6, -247356033, 152923067, 413400, 36301000, d, 644, 24610, 135),
        # fix lost: empty position -> fix_type 0, lat = lon = alt = 0, time/date kept
        (tk[3], 0, 2, 0, 0, 0, 36302000, d, 0, 0, NA16),
    ]
    eq(len(s.fixes), 4, "fix count")
    for i in range(4):
        eq(s.fixes[i], want[i], "epoch %d" % i)
    for la, lo, i in (("2444.1234", "01517.5678", 0), ("2444.1362", "01517.5384", 2)):
        eq((ref_coord(la, "S"), ref_coord(lo, "E")), want[i][3:5], "ref " + la)
    # one sync a second, from RMC (ZDA of the same second adds none); none without a fix
    eq(s.syncs, [(tk[i], 1, 0, d, 36299000 + 1000 * i, 0) for i in range(3)], "syncs")
    counters_ok(s.p, good=20, unknown_type=13, malformed=0, fixes=4, syncs=3)


def test_rtk_capture_8_decimal_minutes():
    data = cap("rtk_8dec.nmea")
    s = Sink()
    feed_lines(s, data, step=25000)
    tk = line_ticks(data, b"$GNGGA", step=25000)
    d = 20520                                   # 2026-03-08
    want = [
        (tk[0], 4, 24, 148399795, -172372428, 12613, 52335000, d, 1, 17340, 52),
        (tk[1], 4, 24, 148399782, -172372446, 12615, 52335100, d, 508, 17352, 52),
        (tk[2], 5, 23, 148399735, -180000000, 12640, 52335200, d, 508, 17349, 55),
        (tk[3], 3, 21, 1, 0, 12700, 52335300, d, 508, 17347, 61),
    ]
    eq(len(s.fixes), 4, "fix count")
    for i in range(4):
        eq(s.fixes[i], want[i], "epoch %d" % i)
    # 1450.39876700' = 14.83997945 deg exactly: a tie at 1e-7, rounded up
    eq(ref_coord("1450.39876700", "N"), 148399795, "tie")
    eq(ref_coord("01759.99999999", "W"), -180000000, "carry into degrees")
    eq(ref_coord("01714.23467401", "W"), -172372446, "ref")
    eq(s.syncs, [(tk[0], 1, 0, d, 52335000, 0)], "one sync in the second")
    counters_ok(s.p, good=8, unknown_type=4, fixes=4)


def test_midnight_rollover_gga_then_zda():
    # GGA opens each epoch; once the epoch shape (GGA alone) is learned the fix is emitted
    # at GGA, before that epoch's ZDA: the date comes from tracking across midnight.
    data = cap("midnight_gga_zda.nmea")
    s = Sink()
    feed_lines(s, data)
    tk = line_ticks(data, b"$GPGGA")
    lat, lon = ref_coord("5232.10000", "N"), ref_coord("01324.20000", "E")
    eq((lat, lon), (525350000, 134033333), "ref")
    d28 = days_from_civil(2024, 2, 28)
    eq(d28, 19781, "days")
    times = [86397000, 86398000, 86399000, 0, 1000]
    days = [d28, d28, d28, d28 + 1, d28 + 1]
    want = [(tk[i], 2, 8, lat, lon, 35000, times[i], days[i], NA16, NA16, 100) for i in range(5)]
    eq(s.fixes, want, "fixes")
    eq(s.syncs, [(tk[i], 1, 0, days[i], times[i], 0) for i in range(5)], "syncs")
    counters_ok(s.p, good=10, late=0, fixes=5, syncs=5)


def test_rmc_date_rollover_then_gga_only_epochs_track_date():
    s = Sink()
    sent = []
    # RMC + GGA over new year 2025 -> 2026
    for t, dt in (("235959.00", "311225"), ("000000.00", "010126")):
        sent += [rmc("%s,A,2300.000,N,04500.000,E,1.0,90.0,%s,,,A" % (t, dt)),
                 gga("%s,2300.000,N,04500.000,E,1,10,0.8,500.0,M,0.0,M,," % t), gsv()]
    # then RMC disappears: GGA only, through the next midnight (2026-01-01 -> 01-02)
    for t in ("000001.00", "120000.00", "235959.90", "000000.10", "000000.20"):
        sent += [gga("%s,2300.000,N,04500.000,E,1,10,0.8,500.0,M,0.0,M,," % t), gsv()]
    feed_all(s, sent)
    s.p.flush()
    d = days_from_civil(2026, 1, 1)
    got = [(f[6], f[7]) for f in s.fixes]
    eq(got, [(86399000, d - 1), (0, d), (1000, d), (43200000, d), (86399900, d),
             (100, d + 1), (200, d + 1)], "date tracking")
    eq([(y[3], y[4]) for y in s.syncs], [(d - 1, 86399000), (d, 0)], "syncs from RMC only")


def test_garbage_cut_lines_restart_counted_not_fatal():
    data = cap("garbage_restart.nmea")
    want_fix = [
        (2, 8, 472852332, 85652650, 499600, 36900000, 12030, 0, 7752, 101),
        (2, 8, 472852395, 85652537, 499700, 36902000, 12030, 1, 7752, 101),
    ]
    eq((ref_coord("4717.11399", "N"), ref_coord("00833.91590", "E")), want_fix[0][2:4], "ref")
    for sizes in ([len(data)], [1], [7, 1, 64, 3, 19], lcg_sizes(5, 50, 1, 40)):
        s = Sink()
        feed_chunks(s, data, sizes)
        eq([f[1:] for f in s.fixes], want_fix, "fixes with reads %r" % sizes[:5])
        eq(len(s.syncs), 2, "syncs")
        counters_ok(s.p, good=4, bad_checksum=1, no_checksum=1, overlong=1, malformed=4,
                    unknown_type=2, garbage_bytes=11 + 22 + 6, bytes=len(data))


def test_receiver_restart_mid_epoch_and_lost_bytes():
    s = Sink()
    a = rmc("101000.00,A,4000.000,N,00300.000,W,0.0,,150626,,,A")
    b = gga("101000.00,4000.000,N,00300.000,W,1,07,1.2,100.0,M,0.0,M,,")
    c = gga("101001.00,4000.000,N,00300.000,W,1,07,1.2,100.0,M,0.0,M,,")
    stream = (a + b[:30] + b"\x00\x00\xff" +              # power dip: line broken
              txt("u-blox AG - www.u-blox.com") + txt("ANTSTATUS=OK") +
              a[:20] + c[25:] +                           # bytes lost mid-line
              b"$GPRMC,1010" + rmc("101001.00,A,4000.000,N,00300.000,W,0.0,,150626,,,A") +
              c + gsv())
    feed_all(s, [stream])
    eq([(f[1], f[6]) for f in s.fixes], [(2, 36600000), (2, 36601000)], "fixes")
    counters_ok(s.p, malformed=2, bad_checksum=1, good=3)


def test_missing_checksum_and_proprietary_and_unknown_talkerless():
    s = Sink()
    feed_all(s, [b"$GPGGA,101500.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,\r\n",
                 nmea("PUBX,00,101500.00,4717.11399,N"), nmea("GPGSV,1,1,00"),
                 nmea("GP"), nmea("12GGA,101500.00"), b"$\r\n", b"\r\n\n"])
    counters_ok(s.p, no_checksum=2, unknown_type=3, malformed=1, good=0, garbage_bytes=0)
    eq(s.fixes, [], "nothing emitted")


def test_overlong_boundary():
    s = Sink()
    body = "GPTXT,01,01,02," + "x" * 200
    full = nmea(body)
    ok = nmea(body[:LINE_MAX - 4])                 # '$' + body + '*hh' == LINE_MAX
    eq(len(ok), LINE_MAX + 2, "boundary line")
    feed_all(s, [full, ok])
    counters_ok(s.p, overlong=1, unknown_type=1, malformed=0)


def test_ubx_nav_pvt_capture():
    data = cap("ubx_f9p_nav_pvt.ubx")
    s = Sink()
    feed_chunks(s, data, [len(data)], ticks=5)
    d = days_from_civil(2026, 1, 10)
    eq(d, 20463, "days")
    t0 = (7 * 3600 + 45 * 60 + 12) * 1000
    want = [
        (5, 0, 0, 0, 0, 0, NA32, NA16, NA16, NA16, NA16),
        (5, 2, 17, 239876543, 451234567, 612345, t0 + 200, d, 1235, 9012, 87),
        (5, 3, 18, 239876600, 451234678, 612350, t0 + 400, d, 1235, 9012, 86),
        (5, 5, 19, 239876657, 451234789, 612355, t0 + 600, d, 1234, 35999, 85),
        (5, 4, 21, 239876714, 451234900, 612360, t0 + 800, d, 1235, 0, 84),
        (5, 2, 21, 239876771, 451235011, 612365, t0 + 1000, d, 1235, 9013, 83),
        (5, 6, 0, 239876828, 451235122, 612370, t0 + 1200, d, 140, 9013, NA16),
        (5, 1, 4, 239876885, 451235233, 612375, t0 + 1400, d, 140, 9013, 250),
        (5, 2, 12, 239876942, 451235344, 612380, 0, d + 1, 0, 0, 90),
    ]
    # the fixes are named by their epochs (iTOW): nano -500 ns at .400, -1,500 ns at 13.000
    # and -200,000 ns at 2026-01-11 00:00:00.000 do not make them .399, 12.999 and
    # 2026-01-10 23:59:59.999; the syncs keep the UTC time itself, to the us
    eq(len(s.fixes), len(want), "fix count")
    for i in range(len(want)):
        eq(s.fixes[i], want[i], "pvt %d" % i)
    # syncs: valid date+time+fully resolved, once per UTC second; us within the ms
    eq(s.syncs, [(5, 2, 0, d, t0 + 200, 0), (5, 2, 0, d, t0 + 1200, 0),
                 (5, 2, 0, d, 86399999, 800)], "syncs")
    counters_ok(s.p, ubx_good=17, ubx_bad_checksum=1, ubx_skipped=4, garbage_bytes=0,
                good=0, malformed=0, ubx_epoch_mismatch=0)


def test_ubx_ticks_are_first_byte_of_message_and_split_anywhere():
    data = cap("ubx_f9p_nav_pvt.ubx")
    starts = []
    p = data.find(b"\xb5\x62\x01\x07\x5c\x00")
    while p >= 0:
        starts.append(p)
        p = data.find(b"\xb5\x62\x01\x07\x5c\x00", p + 1)
    s = Sink()
    buf = bytearray(1)
    for i in range(len(data)):
        buf[0] = data[i]
        s.p.feed(buf, 1, i)
    good = [st for st in starts if st != starts[3]]   # the 4th is the corrupted copy
    eq([f[0] for f in s.fixes], good, "ticks")
    ref = Sink()
    feed_chunks(ref, data, [len(data)], ticks=5)
    for sizes in ([3], [91, 2, 17], lcg_sizes(9, 40, 1, 97)):
        t = Sink()
        feed_chunks(t, data, sizes, ticks=5)
        eq(t.fixes, ref.fixes, "chunked %r" % sizes[:3])
        eq(t.syncs, ref.syncs, "chunked syncs")


def test_mixed_nmea_and_ubx_stream():
    data = cap("ublox_mixed_nmea_ubx.bin")
    s = Sink()
    feed_chunks(s, data, lcg_sizes(3, 60, 1, 64), ticks=1000)
    ft = [(f[6], f[3], f[4]) for f in s.fixes]
    eq(ft, [(43200000, 487269550, 23185200), (43201000, 487269558, 23185202),
            (43202000, 487269550, 23185200), (43203000, 487269551, 23185201),
            (43204000, 487269552, 23185202)], "NMEA first, then UBX only")
    eq([(y[1], y[4]) for y in s.syncs], [(1, 43200000), (1, 43201000), (2, 43202000),
                                         (2, 43203000), (2, 43204000)], "syncs")
    counters_ok(s.p, suppressed=3, ubx_good=3, good=15, unknown_type=5, garbage_bytes=0,
                malformed=0)
    s = Sink(ubx_wins=False)
    feed_chunks(s, data, lcg_sizes(3, 60, 1, 64), ticks=1000)
    eq(len(s.fixes), 8, "both sources")
    eq([(y[1], y[4]) for y in s.syncs], [(1, 43200000), (1, 43201000), (2, 43202000),
                                         (2, 43203000), (2, 43204000)], "one sync a second")


def test_every_capture_is_independent_of_read_sizes():
    for name in ("ublox_m8_gn.nmea", "quectel_l76_gp.nmea", "rtk_8dec.nmea",
                 "midnight_gga_zda.nmea", "garbage_restart.nmea"):
        data = cap(name)
        ref = Sink()
        feed_chunks(ref, data, [len(data)])
        ref.p.flush()
        for seed in (1, 2):
            s = Sink()
            feed_chunks(s, data, lcg_sizes(seed, 97, 1, 80))
            s.p.flush()
            eq(s.fixes, ref.fixes, name)
            eq(s.syncs, ref.syncs, name)
            eq(s.p.counters(), ref.p.counters(), name)


# ---------------------------------------------------------------- epoch rules

def test_epoch_shape_learned_for_rmc_only_stream():
    # RMC + VTG only: the first epochs close when the time changes; once the same shape
    # was seen twice the fix is emitted as soon as the epoch has it (no one-epoch delay).
    s = Sink()
    emitted_at = []
    for k in range(5):
        t = "0900%02d.00" % k
        for ln in (rmc("%s,A,1000.000,N,01000.000,E,5.0,10.0,010725,,,A" % t),
                   vtg("10.0,T,,M,5.0,N,9.3,K,A")):
            s.p.feed(ln, len(ln), 0)
        emitted_at.append(len(s.fixes))
    eq(emitted_at, [0, 1, 3, 4, 5], "emission points")
    eq([f[6] for f in s.fixes], [32400000 + 1000 * k for k in range(5)], "times")


def test_late_sentence_resets_learned_shape():
    s = Sink()
    sent = []
    for k in range(3):                        # learn shape {GGA}
        sent.append(gga("0800%02d.00,1000.000,N,01000.000,E,1,05,1.0,1.0,M,0.0,M,," % k))
    sent.append(gga("080003.00,1000.000,N,01000.000,E,1,05,1.0,1.0,M,0.0,M,,"))
    sent.append(rmc("080003.00,A,1000.000,N,01000.000,E,5.0,10.0,010725,,,A"))   # late
    sent.append(gga("080004.00,1000.000,N,01000.000,E,1,05,1.0,1.0,M,0.0,M,,"))
    sent.append(rmc("080004.00,A,1000.000,N,01000.000,E,5.0,10.0,010725,,,A"))
    sent.append(gll())
    feed_all(s, sent)
    eq([(f[6] // 1000 - 28800, f[8]) for f in s.fixes],
       [(0, NA16), (1, NA16), (2, NA16), (3, NA16), (4, 257)], "late RMC dropped, next merged")
    counters_ok(s.p, late=1, good=7)
    # the late RMC still gave the date and a sync
    eq(s.syncs[0][3:5], (days_from_civil(2025, 7, 1), 28803000), "sync from late RMC")


def test_gsa_gives_2d_and_sats_and_hdop_fallbacks():
    s = Sink()
    feed_all(s, [
        rmc("070000.00,A,1000.000,N,01000.000,E,5.0,10.0,010725,,,A"),
        gsa("A,2,01,02,03,,,,,,,,,,3.0,2.5,1.5,1"), gsa("A,2,70,71,,,,,,,,,,,3.0,2.5,1.5,2"),
        gsv(),
        rmc("070001.00,A,1000.000,N,01000.000,E,5.0,10.0,010725,,,D"),
        gsa("A,3,01,02,03,04,,,,,,,,,3.0,2.4,1.5,1"), gsv()])
    s.p.flush()
    eq([f[1:3] + f[10:] for f in s.fixes], [(1, 5, 250), (3, 4, 240)], "2D / DGNSS, sats, hdop")


def test_rmc_mode_and_gga_quality_mapping():
    s = Sink()
    for i, (q, want) in enumerate(((0, 0), (1, 2), (2, 3), (3, 2), (4, 4), (5, 5), (6, 6),
                                   (7, 0), (8, 0), (9, 0))):
        feed_all(s, [gga("0600%02d.00,1000.000,N,01000.000,E,%d,05,1.0,1.0,M,0.0,M,," % (i, q)),
                     gsv()])
        s.p.flush()
        eq(s.fixes[-1][1], want, "GGA quality %d" % q)
    s = Sink()
    for i, (m, st, want) in enumerate((("A", "A", 2), ("D", "A", 3), ("R", "A", 4),
                                       ("F", "A", 5), ("E", "A", 6), ("N", "V", 0),
                                       ("A", "V", 0), ("S", "A", 0), ("M", "A", 0))):
        feed_all(s, [rmc("0500%02d.00,%s,1000.000,N,01000.000,E,5.0,10.0,010725,,,%s" % (i, st, m)),
                     gsv()])
        s.p.flush()
        eq(s.fixes[-1][1], want, "RMC mode %s status %s" % (m, st))
    s = Sink()                                  # NMEA 2.0 RMC: no mode field
    feed_all(s, [rmc("040000.00,A,1000.000,N,01000.000,E,5.0,10.0,010725,,"), gsv()])
    s.p.flush()
    eq(s.fixes[0][1], 2, "RMC 2.0 valid")


def test_no_fix_epoch_without_time_or_date():
    s = Sink()
    feed_all(s, [rmc(",V,,,,,,,,,,N"), gga(",,,,,0,00,99.99,,,,,,"), gsv()])
    eq(s.fixes, [(0, 0, 0, 0, 0, 0, NA32, NA16, NA16, NA16, 9999)], "empty epoch")
    eq(s.syncs, [], "no sync without a valid time")


def test_ubx_fields_edge_values():
    # hand-built NAV-PVT: west/south, negative altitude, speed clamped, invalid lat
    s = Sink()
    m = pvt(1000, 2030, 12, 31, 23, 59, 59, 0x07, 999999999, 3, 0x01, 255, -1799999999,
            -899999999, -420000, 700000, 18000000)
    m2 = pvt(2000, 2031, 1, 1, 0, 0, 0, 0x07, 0, 3, 0x01, 9, 0, 910000000, 0, 0, 0)
    feed_all(s, [m, m2])
    d = days_from_civil(2030, 12, 31)
    # 23:59:59 + 999,999,999 ns at iTOW ...000: the epoch 2031-01-01 00:00:00.000
    eq(s.fixes[0][1:], (2, 255, -899999999, -1799999999, -420000, 0, d + 1, 0xFFFE, 18000,
                        NA16), "edges")
    eq(s.syncs[0], (0, 2, 0, d, 86399999, 999), "sync us")
    eq(s.fixes[1][1:5], (0, 9, 0, 0), "latitude out of range -> no fix")


# ---------------------------------------------------------------- UBX epoch names

# the runs of ubx_epochs_5_25hz.ubx (make_captures.py, EPOCH_RUNS): rate, date and ms of
# day of the first epoch, and the residual (UTC time - epoch, ns) of each epoch
EPOCH_RUNS = [
    (5, (2026, 1, 10), 31800600, [-87654, -100313, -100231, 212345, 4999999]),    # 08:50:00.6
    (5, (2024, 2, 28), 86399600, [0, 1, -5000000, -1, 87654]),                     # leap day
    (10, (2026, 3, 8), 52379700, [-100231, -100313, 3999999, -1, 212345, -4999999]),
    (10, (2024, 2, 29), 86399800, [-100313, 4999999, -100231, 1]),
    (20, (2026, 6, 1), 35999850, [212345, -212345, -3999999, 4999999, -100231, 0]),
    (20, (2025, 12, 31), 86399900, [-1, -100313, -100231, 87654]),
    (25, (2026, 6, 1), 36059920, [87654, -100313, 212345, -5000000, 1]),
    (25, (2026, 6, 30), 86399880, [-4999999, 1, -100313, -3999999, 4999999, -100231]),
]


def epoch_run_expect():
    """[(days, ms of day) of each epoch], [(days, ms, us) of its UTC time, floored to us]."""
    ep = []
    utc = []
    for rate, ymd, first, res in EPOCH_RUNS:
        d0 = days_from_civil(*ymd)
        for i, r in enumerate(res):
            t = d0 * 86400000 + first + i * 1000 // rate
            ep.append((t // 86400000, t % 86400000))
            u = t * 1000 + r // 1000
            utc.append((u // 86400000000, u // 1000 % 86400000, u % 1000))
    return ep, utc


def first_in_each_second(utc):
    """Indexes of the messages that give a sync: the first of each UTC second."""
    out = []
    last = None
    for i, u in enumerate(utc):
        if (u[0], u[1] // 1000) != last:
            last = (u[0], u[1] // 1000)
            out.append(i)
    return out


def test_ubx_epochs_5_to_25_hz_capture():
    data = cap("ubx_epochs_5_25hz.ubx")
    eq(len(data) % 100, 0, "NAV-PVT only")
    n = len(data) // 100
    s = Sink()
    for i in range(n):                          # one read per message: ticks = its index
        s.p.feed(data[i * 100:(i + 1) * 100], 100, i)
    ep, utc = epoch_run_expect()
    eq(len(ep), n, "epochs")
    eq([(f[7], f[6]) for f in s.fixes], ep, "every fix is named by its epoch")
    # by hand: issue 14's two, and each run's boundary
    d = 20463                                   # 2026-01-10
    eq(s.fixes[1][6:8], (31800800, d), "08:50:00.800, nano +799,899,687")
    eq(s.fixes[2][6:8], (31801000, d), "08:50:01.000, nano -100,231")
    eq(s.fixes[7][6:8], (0, 19782), "2024-02-29 00:00:00.000, nano -5,000,000")
    eq(s.fixes[13][6:8], ((14 * 60 + 33) * 60000, days_from_civil(2026, 3, 8)), "nano -1")
    eq(s.fixes[16 + 2][6:8], (0, days_from_civil(2024, 3, 1)), "10 Hz midnight")
    eq(s.fixes[23][6:8], (36000000, days_from_civil(2026, 6, 1)), "20 Hz hour, nano > 0")
    eq(s.fixes[26 + 2][6:8], (0, days_from_civil(2026, 1, 1)), "20 Hz new year")
    eq(s.fixes[32][6:8], (36060000, days_from_civil(2026, 6, 1)), "25 Hz minute")
    eq(s.fixes[35 + 3][6:8], (0, days_from_civil(2026, 7, 1)), "25 Hz midnight")
    eq(s.fixes[35 + 2][6:8], (86399960, days_from_civil(2026, 6, 30)), "25 Hz .960")
    # syncs keep the UTC time (to the us), one per UTC second: the first message in each
    eq(s.syncs, [(i, 2, 0) + utc[i] for i in first_in_each_second(utc)], "syncs")
    eq(s.syncs[0], (0, 2, 0, d, 31800599, 912), "08:50:00.600 - 87,654 ns")
    counters_ok(s.p, ubx_good=n, ubx_epoch_mismatch=0, fixes=n)
    for sizes in ([1], [3, 97, 11], lcg_sizes(4, 60, 1, 150)):
        t = Sink()
        feed_chunks(t, data, sizes)
        eq([(f[7], f[6]) for f in t.fixes], ep, "reads %r" % sizes[:3])


def test_ubx_epochs_reach_logged_records():
    from logger import Logger
    from clock import MASK
    t = [1000]
    log = Logger(TMP + "/gnss_ep", lambda: t[0] & MASK, block_shift=9)
    p = GnssParser(log.log_fix, log.log_sync)
    data = cap("ubx_epochs_5_25hz.ubx")
    for i in range(0, len(data), 100):
        t[0] += 40000
        p.feed(data[i:i + 100], 100, t[0] & MASK)
        log.service()
    log.close()
    eq(p.errors, 0, "callbacks: %r" % (p.last_error,))
    fx, sy = logged_records(TMP + "/gnss_ep", log.boot)
    ep, utc = epoch_run_expect()
    eq([(r[9], r[8]) for r in fx], ep, "utc_days / utc_ms of the fix records")
    eq(len(sy), p.syncs, "sync records")
    eq([(r[5], r[7], r[6]) for r in sy], [utc[i] for i in first_in_each_second(utc)],
       "sync records: the UTC time")


def test_ubx_epoch_from_fields_not_rounded_like_u_blox():
    # the same epochs whatever way the UTC time is split into hh:mm:ss + nano: u-blox
    # rounds hh:mm:ss to 10 ms (nano -5 ms .. < 995 ms), others floor to the second
    # (nano 0 .. < 1 s); nano may be anywhere in -1e9 .. 1e9
    d = days_from_civil(2025, 12, 31)
    cases = [
        # iTOW ms, date, h, mi, s, nano -> days, utc_ms
        (0, (2025, 12, 31), 23, 59, 59, 999899769, d + 1, 0),
        (0, (2026, 1, 1), 0, 0, 0, -100231, d + 1, 0),
        (0, (2026, 1, 1), 0, 0, 1, -1000000000 + 1000, d + 1, 0),
        (0, (2025, 12, 31), 23, 59, 58, 1000000000, d, 86399000),
        (800, (2025, 12, 31), 8, 50, 0, 799899687, d, 31800800),
        (800, (2025, 12, 31), 8, 50, 1, -200100313, d, 31800800),
        (960, (2025, 12, 31), 23, 59, 59, 960004999, d, 86399960),
        (40, (2026, 1, 1), 0, 0, 0, 35000000, d + 1, 40),
        (0, (2026, 3, 1), 0, 0, 0, -4999999, days_from_civil(2026, 3, 1), 0),
        (0, (2024, 2, 29), 0, 0, 0, -3000000, days_from_civil(2024, 2, 29), 0),
        # a leap second: 23:59:60.xxx is ms 86,400,000 .. 86,400,999 of its day
        (0, (2016, 12, 31), 23, 59, 60, -100231, days_from_civil(2016, 12, 31), 86400000),
        (500, (2016, 12, 31), 23, 59, 60, 499899769, days_from_civil(2016, 12, 31), 86400500),
        (0, (2016, 12, 31), 23, 59, 60, 999899769, days_from_civil(2017, 1, 1), 0),
    ]
    s = Sink()
    for c in cases:
        y, mo, dd = c[1]
        feed_all(s, [tpvt(345600000 + c[0], y, mo, dd, c[2], c[3], c[4], c[5])])
    eq([(f[7], f[6]) for f in s.fixes], [c[-2:] for c in cases], "epochs")
    counters_ok(s.p, ubx_epoch_mismatch=0, fixes=len(cases))


def test_ubx_time_not_valid_or_not_matching_itow():
    d = days_from_civil(2026, 5, 4)
    t = (10 * 60 + 20) * 60000                      # 10:20:00
    s = Sink()
    feed_all(s, [
        # 0: consistent, syncs
        tpvt(200, 2026, 5, 4, 10, 20, 0, 199899687),
        # 1: iTOW .600 but the UTC time .200: mismatch, named as NMEA would (10 ms), no sync
        tpvt(1600, 2026, 5, 4, 10, 20, 1, 200000000),
        # 2, 3: the ends of the window: -5 ms is the epoch, +5 ms is not (rounds to +10 ms)
        tpvt(2000, 2026, 5, 4, 10, 20, 2, -5000000),
        tpvt(3200, 2026, 5, 4, 10, 20, 3, 205000000),
        # 4: mismatch across midnight: named 23:59:59.990 of the day before
        tpvt(4500, 2026, 5, 5, 0, 0, 0, -10000000),
        # 5: time not valid (validTime 0): utc_ms unknown, date kept, no sync
        tpvt(5000, 2026, 5, 4, 10, 20, 5, 0, valid=0x05),
        # 6: not fully resolved: the epoch is logged, no sync
        tpvt(6000, 2026, 5, 4, 10, 20, 6, -100231, valid=0x03),
        # 7: confirmation available, time not confirmed: epoch logged, no sync
        tpvt(7000, 2026, 5, 4, 10, 20, 7, 100231, flags2=0x60),
        # 8: confirmed date and time: sync
        tpvt(8000, 2026, 5, 4, 10, 20, 8, -100231, flags2=0xE0),
    ])
    eq([(f[7], f[6]) for f in s.fixes],
       [(d, t + 200), (d, t + 1200), (d, t + 2000), (d, t + 3210), (d, 86399990),
        (d, NA32), (d, t + 6000), (d, t + 7000), (d, t + 8000)], "names")
    eq([y[3:] for y in s.syncs], [(d, t + 199, 899), (d, t + 1995, 0), (d, t + 7999, 899)],
       "syncs")
    counters_ok(s.p, ubx_epoch_mismatch=3, fixes=9, syncs=3)


def test_nmea_and_ubx_of_one_epoch_give_the_same_time():
    # one receiver, both outputs on (ubx_wins=False logs both): NMEA prints the UTC time
    # rounded to 10 ms, NAV-PVT gives iTOW + hh:mm:ss + nano. Same epoch, same name.
    pairs = [
        # NMEA time, date, NAV-PVT iTOW ms, y, mo, d, h, mi, s, nano
        ("085000.80", "100126", 800, (2026, 1, 10), 8, 50, 0, 799899687),
        ("085001.00", "100126", 0, (2026, 1, 10), 8, 50, 1, -100231),
        ("085001.04", "100126", 40, (2026, 1, 10), 8, 50, 1, 39995000),
        ("235959.95", "311225", 950, (2025, 12, 31), 23, 59, 59, 949899687),
        ("000000.00", "010126", 0, (2026, 1, 1), 0, 0, 0, -4999999),
        ("000000.00", "010126", 0, (2025, 12, 31), 23, 59, 59, 999899769),   # floored style
        ("000000.10", "010126", 100, (2026, 1, 1), 0, 0, 0, 104999999),
    ]
    for i, (nt, nd, itow, (y, mo, dd), h, mi, sec, nano) in enumerate(pairs):
        sent = [rmc("%s,A,4000.000,N,00300.000,W,1.0,90.0,%s,,,A" % (nt, nd)),
                gga("%s,4000.000,N,00300.000,W,1,10,0.8,500.0,M,0.0,M,," % nt),
                tpvt(86400000 * 3 + itow, y, mo, dd, h, mi, sec, nano), gll()]
        both = Sink(ubx_wins=False)
        feed_all(both, sent)
        eq(len(both.fixes), 2, "NMEA fix + UBX fix %d" % i)
        eq(both.fixes[0][6:8], both.fixes[1][6:8], "same epoch %s" % nt)
        nm = Sink()
        feed_all(nm, sent[:2] + sent[3:])
        ub = Sink()
        feed_all(ub, sent[2:3])
        eq(ub.fixes[0][6:8], nm.fixes[0][6:8], "UBX alone = NMEA alone %s" % nt)
        counters_ok(both.p, ubx_epoch_mismatch=0)


# ---------------------------------------------------------------- robustness, allocation

def test_random_bytes_and_mutated_captures_never_raise():
    data = cap("ublox_m8_gn.nmea") + cap("ubx_f9p_nav_pvt.ubx") + cap("rtk_8dec.nmea")
    x = 12345
    for rnd in range(6):
        b = bytearray(data)
        for _ in range(40 + rnd * 40):         # flip, drop or insert bytes
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            i = x % len(b)
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            op = x % 3
            if op == 0:
                b[i] = x >> 8 & 0xFF
            elif op == 1:
                b[i:i + 1] = b""
            else:
                b[i:i] = bytes((x >> 8 & 0xFF,))
        s = Sink()
        feed_chunks(s, b, lcg_sizes(rnd, 50, 1, 100))
        s.p.flush()
        eq(s.p.errors, 0, "errors: %r" % (s.p.last_error,))
        for f in s.fixes:                      # everything fits the record (FORMAT 3.5)
            struct.pack("<BBIiiiIHHHH", f[1], f[2], f[0], f[3], f[4], f[5], f[6], f[7], f[8],
                        f[9], f[10])
    noise = bytearray(4000)
    for i in range(len(noise)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        noise[i] = x >> 16 & 0xFF
    s = Sink()
    feed_chunks(s, noise, [64])
    eq(s.p.errors, 0, "noise")


def test_per_byte_path_does_not_allocate():
    s = Sink()
    p = s.p
    gga_line = gga("101500.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,")
    part = bytearray(gga_line[:-6])              # no line end: bytes only accumulate
    junk = bytearray(b"\x00\xff\xfe#\x80\x7f" * 20)
    skip = ubx_msg(0x01, 0x35, bytes(200))       # skipped by length
    pay = pvt(1, 2026, 1, 1, 0, 0, 0, 0x07, 0, 3, 1, 5, 0, 0, 0, 0, 0)
    pay_part = bytearray(pay[:-1])               # all but the last checksum byte
    long_line = bytearray(b"$GPTXT," + b"y" * 300)
    mv = memoryview(part)
    micropython.heap_lock()
    try:
        for _ in range(20):
            p.feed(mv, len(part), 1)
            p.feed(junk, len(junk), 2)
            p.feed(skip, len(skip), 3)
            p.feed(long_line, len(long_line), 4)
            p.feed(pay_part, len(pay_part), 5)
            p.feed(junk, 1, 6)                   # bad checksum byte ends that message:
    finally:                                     # counting it allocates nothing either
        micropython.heap_unlock()
    counters_ok(p, ubx_skipped=20, overlong=20, ubx_bad_checksum=20)


def test_good_ubx_messages_do_not_allocate():
    # whole NAV-DOP and NAV-PVT messages, decoded, named by their epochs, carried over
    # midnight, passed to on_fix / on_sync, under heap_lock: nothing is allocated (on a
    # board: a longitude beyond +-107.37 deg would be a big int, see gnss_ubx.py)
    import array

    class Rec:                                    # bound methods, as Logger's (a closure
        got = array.array("i", bytes(4 * 300))    # with 11 arguments would allocate)
        n = array.array("i", bytes(8))

        def fix(self, tk, ft, sats, lat, lon, alt, ms, days, sp, co, hd):
            i = self.n[0]
            self.got[3 * i] = ms
            self.got[3 * i + 1] = days
            self.got[3 * i + 2] = hd
            self.n[0] = i + 1

        def sync(self, tk, src, flags, days, ms, us):
            self.n[1] += 1

    r = Rec()
    got = r.got
    n = r.n
    p = GnssParser(r.fix, r.sync)
    dop = ubx_msg(0x01, 0x04, struct.pack("<IHHHHHHH", 86400600, 1, 2, 3, 4, 77, 5, 6))
    data = bytearray(cap("ubx_epochs_5_25hz.ubx") + dop +
                     tpvt(86400600, 2026, 5, 5, 0, 0, 0, -10000000))    # iTOW mismatch
    micropython.heap_lock()
    try:
        p.feed(data, len(data), 7)
        p.feed(data, len(data), 8)
    finally:
        micropython.heap_unlock()
    ep, utc = epoch_run_expect()
    k = len(ep)
    eq(n[0], 2 * (k + 1), "fixes")
    eq([(got[3 * i + 1], got[3 * i]) for i in range(k)], ep, "epochs")
    d = days_from_civil(2026, 5, 4)
    eq(tuple(got[3 * k:3 * k + 3]), (86399990, d, 77), "mismatch: NMEA's name; DOP used")
    eq(n[1], 2 * len(first_in_each_second(utc)), "syncs")
    counters_ok(p, ubx_good=2 * (k + 2), ubx_epoch_mismatch=2, errors=0)


def test_allocation_per_sentence_is_small():
    import gc
    data = cap("ublox_m8_gn.nmea")
    s = Sink()
    fixes = s.fixes
    s.fix = lambda *a: None                      # keep no results
    s.p.on_fix = s.fix
    s.p.on_sync = s.fix
    feed_chunks(s, data, [64])                   # warm up
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    feed_chunks(s, data, [64])
    used = gc.mem_alloc() - a
    gc.enable()
    n = data.count(b"$")
    per = used // n
    print("alloc per sentence", per, "bytes")
    assert per < 400, "%d bytes per sentence" % per
    eq(fixes, [], "sink untouched")


def logged_records(root, boot):
    """Fix (0x10) and sync (0x11) records of one boot, read back from the segment files."""
    import os
    recs = []
    for fn in sorted(os.listdir(root)):
        if not (fn.endswith(".dlg") and fn.startswith("B%05d_" % boot)):
            continue
        blob = open(root + "/" + fn, "rb").read()
        for o in range(512, len(blob), 512):
            used = struct.unpack_from("<H", blob, o + 8)[0]
            q = o + 32
            while q < o + 32 + used:
                typ, ln = blob[q], blob[q + 1]
                if typ in (0x10, 0x11):
                    recs.append(bytes(blob[q:q + ln]))
                q += ln
    fx = [struct.unpack_from("<BBBBIiiiIHHHH", r) for r in recs if r[0] == 0x10]
    sy = [struct.unpack_from("<BBBBIHHI", r) for r in recs if r[0] == 0x11]
    return fx, sy


def test_feeds_logger_records():
    from logger import Logger
    from clock import MASK
    t = [1000]
    log = Logger(TMP + "/gnss", lambda: t[0] & MASK, block_shift=9)
    p = GnssParser(log.log_fix, log.log_sync)
    for name in ("quectel_l76_gp.nmea", "ubx_f9p_nav_pvt.ubx"):
        data = cap(name)
        for i in range(0, len(data), 50):
            t[0] += 5000
            chunk = data[i:i + 50]
            p.feed(chunk, len(chunk), t[0] & MASK)
            log.service()
    log.close()
    eq(p.errors, 0, "callbacks: %r" % (p.last_error,))
    fx, sy = logged_records(TMP + "/gnss", log.boot)
    eq(len(fx), 4 + 9, "fix records")
    eq(fx[0][2:4] + fx[0][5:], (2, 7, -247353900, 152927967, 412700, 36299000, 20375, 633, 24577,
                                118), "first fix record")
    eq(len(sy), 3 + 3, "sync records")
    eq((sy[-1][2], sy[-1][5], sy[-1][6], sy[-1][7]), (2, 20463, 800, 86399999), "UBX sync record")


# ---------------------------------------------------------------- helpers (sentences)

def nmea(body):
    x = 0
    for ch in body.encode():
        x ^= ch
    return b"$" + body.encode() + (b"*%02X\r\n" % x)


def gga(f):
    return nmea("GPGGA," + f)


def rmc(f):
    return nmea("GPRMC," + f)


def vtg(f):
    return nmea("GPVTG," + f)


def gsa(f):
    return nmea("GNGSA," + f)


def gsv():
    return nmea("GPGSV,1,1,01,14,65,317,43")


def gll():
    return nmea("GPGLL,,,,,,V,N")


def txt(s):
    return nmea("GPTXT,01,01,02," + s)


def feed_all(sink, items):
    for it in items:
        sink.p.feed(it, len(it), 0)


def ubx_msg(cls, mid, payload):
    body = bytes((cls, mid)) + struct.pack("<H", len(payload)) + payload
    a = b = 0
    for x in body:
        a = (a + x) & 0xFF
        b = (b + a) & 0xFF
    return b"\xb5\x62" + body + bytes((a, b))


def pvt(itow, y, mo, d, h, mi, s, valid, nano, fix, flags, nsv, lon, lat, hmsl, gspeed,
        headmot, flags2=0):
    return ubx_msg(0x01, 0x07, struct.pack(
        "<IHBBBBBBIiBBBBiiiiIIiiiiiIIHH4xihH", itow, y, mo, d, h, mi, s, valid, 25, nano,
        fix, flags, flags2, nsv, lon, lat, hmsl, hmsl, 0, 0, 0, 0, 0, gspeed, headmot, 0, 0,
        0, 0, 0, 0, 0))


def tpvt(itow, y, mo, d, h, mi, s, nano, valid=0x07, flags2=0):
    """A 3D NAV-PVT that only its time tells apart."""
    return pvt(itow, y, mo, d, h, mi, s, valid, nano, 3, 0x01, 10, 100000000, 200000000,
               5000, 100, 0, flags2)

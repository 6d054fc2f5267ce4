# GNSS field parsers (gnss.py): NMEA fields -> integers, dates -> days since 1970, and the
# values both decoders (gnss_nmea.py, gnss_ubx.py) share. No float anywhere: coordinates,
# times and speeds are parsed with integer arithmetic, exactly (docs/GNSS.md).
#
# A parser takes (buffer, start, end) of one field: an empty field gives None (or -1);
# anything else malformed raises ValueError (a fresh one: a reused instance would grow its
# traceback on every raise), which the caller counts as a malformed sentence.
from micropython import const

SRC_NMEA = const(1)          # time-sync sources (= fmt.SYNC_NMEA, fmt.SYNC_UBX)
SRC_UBX = const(2)

U16_NA = const(0xFFFF)       # = fmt.U16_NA
U32_NA = 0xFFFFFFFF          # = fmt.U32_NA; not const(): above the board's small-int range
_U16_MAX = const(0xFFFE)     # largest value that is not "unknown"

_P10 = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000)
_MDAYS = b"\x00\x1f\x1d\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"   # index 1..12, Feb 29


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (integer only)."""
    if m <= 2:
        y -= 1
        m += 9
    else:
        m -= 3
    era = y // 400
    yoe = y - era * 400
    doe = yoe * 365 + yoe // 4 - yoe // 100 + (153 * m + 2) // 5 + d - 1
    return era * 146097 + doe - 719468


def valid_date(y, m, d):
    if m < 1 or m > 12 or d < 1 or d > _MDAYS[m]:
        return False
    if m == 2 and d == 29 and (y % 4 or (y % 100 == 0 and y % 400)):
        return False
    return True


def u16(v):
    """Clamp a known non-negative value into a u16 field that is not 'unknown'."""
    if v is None or v < 0:
        return U16_NA
    return v if v < _U16_MAX else _U16_MAX


def hex_digit(c):
    """The value of one hex digit byte (the '*hh' checksum)."""
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    raise ValueError


def parse_int(b, a, e):
    """Unsigned decimal, at most 9 digits; empty -> None."""
    if a >= e:
        return None
    if e - a > 9:
        raise ValueError
    v = 0
    while a < e:
        d = b[a] - 48
        if d < 0 or d > 9:
            raise ValueError
        v = v * 10 + d
        a += 1
    return v


def _d2(b, a):
    h = b[a] - 48
    l = b[a + 1] - 48
    if h < 0 or h > 9 or l < 0 or l > 9:
        raise ValueError
    return h * 10 + l


def parse_time(b, a, e):
    """hhmmss[.s...] -> ms of day (digits after the ms are dropped); empty -> -1."""
    if a >= e:
        return -1
    if e - a < 6:
        raise ValueError
    hh = _d2(b, a)
    mm = _d2(b, a + 2)
    ss = _d2(b, a + 4)
    if hh > 23 or mm > 59 or ss > 60:
        raise ValueError
    ms = 0
    p = a + 6
    if p < e:
        if b[p] != 46:
            raise ValueError
        p += 1
        mul = 100
        while p < e:
            d = b[p] - 48
            if d < 0 or d > 9:
                raise ValueError
            ms += d * mul
            mul //= 10
            p += 1
    return ((hh * 60 + mm) * 60 + ss) * 1000 + ms


def parse_date(b, a, e):
    """ddmmyy -> days since 1970 (yy 80..99 -> 19yy, 00..79 -> 20yy); empty -> -1."""
    if a >= e:
        return -1
    if e - a != 6:
        raise ValueError
    d = _d2(b, a)
    m = _d2(b, a + 2)
    y = _d2(b, a + 4)
    y += 1900 if y >= 80 else 2000
    if not valid_date(y, m, d):
        raise ValueError
    return days_from_civil(y, m, d)


def parse_coord(b, a, e, maxdeg):
    """[d]ddmm[.mmmmmmmm] -> 1e-7 degree, rounded to nearest (half up), exact; empty -> None."""
    if a >= e:
        return None
    i = a
    ip = 0
    while i < e:
        c = b[i]
        if c == 46:
            break
        d = c - 48
        if d < 0 or d > 9:
            raise ValueError
        ip = ip * 10 + d
        i += 1
    if i - a < 3 or i - a > 5:
        raise ValueError
    f = 0
    k = 0
    if i < e:
        i += 1
        k = e - i
        if k > 12:
            raise ValueError
        while i < e:
            d = b[i] - 48
            if d < 0 or d > 9:
                raise ValueError
            f = f * 10 + d
            i += 1
    deg = ip // 100
    mins = ip - deg * 100
    if mins >= 60 or deg > maxdeg:
        raise ValueError
    # minutes -> 1e-7 degree: (mins + f / 10^k) * 10^7 / 60
    if k <= 7:
        q = ((mins * _P10[k] + f) * _P10[7 - k] + 30) // 60        # < 6e8: small int
    elif k == 8:
        # 10^8 = 600 * 166666 + 400, so (mins * 10^8 + f) / 600 splits into small ints
        q = mins * 166666 + (mins * 400 + f + 300) // 600
    else:
        den = 6 * 10 ** (k - 6)                                     # rare: big ints
        q = (2 * (mins * 10 ** k + f) + den) // (2 * den)
    v = deg * 10000000 + q
    if v > maxdeg * 10000000:
        raise ValueError
    return v


def parse_dec(b, a, e, mul, div):
    """[-]ddd[.ddd] -> round(value * mul / div), half away from zero, exact; empty -> None."""
    if a >= e:
        return None
    neg = False
    c = b[a]
    if c == 45 or c == 43:
        neg = c == 45
        a += 1
    n = 0
    k = 0
    nd = 0
    dot = False
    while a < e:
        c = b[a]
        a += 1
        if c == 46:
            if dot:
                raise ValueError
            dot = True
            continue
        d = c - 48
        if d < 0 or d > 9:
            raise ValueError
        n = n * 10 + d
        nd += 1
        if dot:
            k += 1
    if nd == 0 or nd > 12:
        raise ValueError
    p = _P10[k] if k < 10 else 10 ** k
    if div == 1 and mul % p == 0:
        r = n * (mul // p)
    else:
        r = (2 * n * mul + div * p) // (2 * div * p)
    return -r if neg else r

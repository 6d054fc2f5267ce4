# GNSS input: NMEA 0183 (GGA, RMC, VTG, GSA, ZDA from any talker) and u-blox UBX
# (NAV-PVT, plus NAV-DOP for HDOP) from one UART byte stream, turned into GNSS fix and
# time-sync records (FORMAT.md 3.5 / 3.6) through two callbacks, normally
# Logger.log_fix and Logger.log_sync. docs/GNSS.md is the description of the rules.
#
# Board numbers (MICROPYTHON.md): no float anywhere; coordinates, times, speeds are parsed
# with integer arithmetic. The per-byte path (feed's loop: NMEA line accumulation, UBX
# framing, skipping) allocates nothing; a complete sentence or UBX message may allocate a
# little (a longitude east of 107.37 deg is a big int on a board, as is 0xFFFFFFFF).
# Bad input is counted, never raised out of feed().
from micropython import const
import struct

LINE_MAX = const(120)        # NMEA line buffer ('$' .. checksum); NMEA says 82, RTK GGA ~95
UBX_MAX = const(4096)        # longer UBX "lengths" are taken as a false sync

# framing states
_S_IDLE = const(0)           # between sentences / messages
_S_LINE = const(1)           # inside an NMEA line
_S_DROP = const(2)           # discarding the rest of an over-long or broken line
_S_UB1 = const(3)            # saw 0xB5
_S_UHDR = const(4)           # UBX class, id, length
_S_UPAY = const(5)           # UBX payload + checksum of a message we decode, into _ub
_S_USKIP = const(6)          # UBX message we do not decode: skipped by length

# sentence bits (epoch "seen" mask)
_B_GGA = const(1)
_B_RMC = const(2)
_B_VTG = const(4)
_B_GSA = const(8)
_B_POS = const(3)            # GGA | RMC: an epoch with either gives a fix record

_NONE = const(-3)            # "no epoch emitted yet"
_DAY_MS = const(86400000)
_HALF_DAY = const(43200000)
_TMASK = const(0x3FFFFFFF)   # ticks period 2**30
_THALF = const(0x20000000)
_UBX_HOLD = const(2000000)   # us: NMEA output is suppressed this long after a NAV-PVT

SRC_NMEA = const(1)
SRC_UBX = const(2)

U16_NA = const(0xFFFF)
U32_NA = 0xFFFFFFFF          # not const(): above the board's small-int range
_U16_MAX = const(0xFFFE)     # largest value that is not "unknown"

# GGA quality -> fix_type: 0 invalid, 1 GPS/SPS, 2 DGNSS, 3 PPS, 4 RTK fixed, 5 RTK float,
# 6 estimated (dead reckoning), 7 manual input, 8 simulation
_GGA_FT = b"\x00\x02\x03\x02\x04\x05\x06\x00\x00"
_P10 = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000)
# byte class inside an NMEA line: 0 body ('%'..'~' but ','), 1 ',', 2 ' '..'#',
# 3 CR / LF, 4 '$', 5 0xB5 (UBX sync), 6 any other control or 8-bit byte
_CLS = bytes(3 if c in (10, 13) else 4 if c == 36 else 1 if c == 44 else
             0 if 36 < c < 127 else 2 if 31 < c < 36 else 5 if c == 0xB5 else 6
             for c in range(256))
_MDAYS = b"\x00\x1f\x1d\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"   # index 1..12, Feb 29


def _tdiff(a, b):
    """Signed ticks a - b for 2**30-periodic ticks."""
    d = (a - b) & _TMASK
    if d >= _THALF:
        d -= _TMASK + 1
    return d


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


def _valid_date(y, m, d):
    if m < 1 or m > 12 or d < 1 or d > _MDAYS[m]:
        return False
    if m == 2 and d == 29 and (y % 4 or (y % 100 == 0 and y % 400)):
        return False
    return True


# ---- NMEA field parsers: (buffer, start, end) -> int; empty field -> None (or -1);
# anything else malformed raises ValueError (a fresh one: a reused instance would grow
# its traceback on every raise).

def _int(b, a, e):
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


def _time(b, a, e):
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


def _date(b, a, e):
    """ddmmyy -> days since 1970 (yy 80..99 -> 19yy, 00..79 -> 20yy); empty -> -1."""
    if a >= e:
        return -1
    if e - a != 6:
        raise ValueError
    d = _d2(b, a)
    m = _d2(b, a + 2)
    y = _d2(b, a + 4)
    y += 1900 if y >= 80 else 2000
    if not _valid_date(y, m, d):
        raise ValueError
    return days_from_civil(y, m, d)


def _coord(b, a, e, maxdeg):
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


def _dec(b, a, e, mul, div):
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


def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    raise ValueError


def _u16(v):
    """Clamp a known non-negative value into a u16 field that is not 'unknown'."""
    if v is None or v < 0:
        return U16_NA
    return v if v < _U16_MAX else _U16_MAX


class GnssParser:
    """feed(buf, n, ticks) with UART bytes; calls
    on_fix(ticks, fix_type, sats, lat, lon, alt_mm, utc_ms, utc_days, speed_cms,
           course_cdeg, hdop_c)
    on_sync(ticks, source, flags, utc_days, utc_ms, utc_us)
    ubx_wins: while NAV-PVT arrives (the last one less than 2 s ago), NMEA fixes and NMEA
    time syncs are not emitted (the same receiver would otherwise log each epoch twice)."""

    def __init__(self, on_fix, on_sync, ubx_wins=True):
        self.on_fix = on_fix
        self.on_sync = on_sync
        self.ubx_wins = ubx_wins
        self._line = bytearray(LINE_MAX)
        self._fs = bytearray(LINE_MAX + 2)   # comma positions: field k is fs[k]+1 .. fs[k+1]
        self._ub = bytearray(100)            # UBX class, id, len(2), payload <= 92, ck(2)
        # counters (public; never reset by the parser)
        self.bytes = 0
        self.good = 0             # NMEA sentences of the five types, checksum OK, parsed
        self.bad_checksum = 0     # NMEA checksum mismatch
        self.no_checksum = 0      # NMEA line without '*hh': rejected
        self.malformed = 0        # cut lines, bad bytes in a line, bad field content
        self.overlong = 0         # lines longer than LINE_MAX
        self.unknown_type = 0     # valid sentences of other types (GSV, GLL, TXT, $P...)
        self.garbage_bytes = 0    # bytes outside any sentence or UBX message
        self.ubx_good = 0         # NAV-PVT / NAV-DOP with a good checksum
        self.ubx_bad_checksum = 0
        self.ubx_skipped = 0      # other UBX messages, skipped by length
        self.fixes = 0            # on_fix calls
        self.syncs = 0            # on_sync calls
        self.late = 0             # GGA/RMC arriving for an epoch already emitted (dropped)
        self.suppressed = 0       # NMEA epochs not emitted because UBX is active
        self.errors = 0           # unexpected exceptions (parser bug or callback failure)
        self.last_error = None
        # state that survives reset()
        self._learn = 0           # completion mask learned from time-closed epochs
        self._cand = 0            # shape of the last time-closed epoch (learned when seen twice)
        self._gsa_mode = 0        # last GSA mode (1 none, 2 2D, 3 3D), sticky
        self._d_days = -1         # date tracking: UTC days of the time _d_ms
        self._d_ms = 0
        self._valid = False       # the last GGA/RMC said "valid fix"
        self._s_days = -1         # last sync's UTC day and second (one sync per second)
        self._s_sec = -1
        self._ubx_t = 0           # ticks of the last NAV-PVT
        self._ubx_on = False
        self._dop_itow = -1       # last NAV-DOP: iTOW and hDOP
        self._dop_h = U16_NA
        self.reset()

    def reset(self):
        """Forget framing and epoch state (e.g. after the HAL re-opens the UART); counters,
        the tracked date and the learned epoch shape survive."""
        self._st = _S_IDLE
        self._ln = 0
        self._x = 0
        self._nf = 0
        self._lt = 0              # ticks of the current line's '$'
        self._up = 0
        self._uend = 0
        self._ut = 0              # ticks of the current UBX message's 0xB5
        self._open(-1, 0)
        self._e_open = False
        self._last_t = _NONE      # UTC time and ticks of the last emitted NMEA epoch
        self._last_ticks = 0

    def counters(self):
        return {"bytes": self.bytes, "good": self.good, "bad_checksum": self.bad_checksum,
                "no_checksum": self.no_checksum, "malformed": self.malformed,
                "overlong": self.overlong, "unknown_type": self.unknown_type,
                "garbage_bytes": self.garbage_bytes, "ubx_good": self.ubx_good,
                "ubx_bad_checksum": self.ubx_bad_checksum, "ubx_skipped": self.ubx_skipped,
                "fixes": self.fixes, "syncs": self.syncs, "late": self.late,
                "suppressed": self.suppressed, "errors": self.errors}

    # ------------------------------------------------------------------ byte framing

    def feed(self, buf, n, ticks):
        """Consume n bytes of buf (bytearray/memoryview/bytes) read from the UART at
        `ticks` (30-bit ticks_us). Never raises for any input."""
        st = self._st
        line = self._line
        ln = self._ln
        x = self._x                                 # XOR of the line's bytes after '$'
        nf = self._nf                               # commas so far; fs[k]: k-th comma's index
        fs = self._fs
        cls = _CLS
        ub = self._ub
        up = self._up
        uend = self._uend
        garbage = 0
        self.bytes += n
        for i in range(n):
            c = buf[i]
            if st == _S_LINE:
                k = cls[c]
                if not k:                           # hot path: sentence body
                    if ln < LINE_MAX:
                        line[ln] = c
                        x ^= c
                        ln += 1
                        continue
                    self.overlong += 1
                    st = _S_DROP
                    continue
                if k < 3:                           # ',' and ' ' .. '#'
                    if ln < LINE_MAX:
                        line[ln] = c
                        x ^= c
                        if k == 1:
                            nf += 1
                            fs[nf] = ln
                        ln += 1
                        continue
                    self.overlong += 1
                    st = _S_DROP
                    continue
                if k == 3:                          # CR / LF: the line is complete
                    st = _S_IDLE
                    self._sentence(ln, x, nf)
                    continue
                self.malformed += 1
                if k == 4:                          # '$' mid-line: line cut, new one starts
                    ln = 1
                    x = 0
                    nf = 0
                    self._lt = ticks
                elif k == 5:                        # UBX sync mid-line
                    st = _S_UB1
                    self._ut = ticks
                else:                               # control / 8-bit byte: line broken,
                    st = _S_DROP                    # its rest is dropped uncounted
                continue
            if st == _S_UPAY:
                ub[up] = c
                up += 1
                if up == uend:
                    st = _S_IDLE
                    self._ubx(uend)
                continue
            if st == _S_USKIP:
                uend -= 1
                if uend == 0:
                    st = _S_IDLE
                continue
            if st == _S_UHDR:
                ub[up] = c
                up += 1
                if up == 4:
                    ml = ub[2] | (ub[3] << 8)
                    if ub[0] == 0x01 and ((ub[1] == 0x07 and ml == 92) or
                                          (ub[1] == 0x04 and ml == 18)):
                        uend = ml + 6
                        st = _S_UPAY
                    elif ml > UBX_MAX:
                        garbage += 6                # not a UBX message after all
                        st = _S_IDLE
                    else:
                        self.ubx_skipped += 1
                        uend = ml + 2
                        st = _S_USKIP
                continue
            if st == _S_UB1:
                if c == 0x62:
                    st = _S_UHDR
                    up = 0
                    continue
                garbage += 1                        # the lone 0xB5; c is looked at below
                st = _S_IDLE
            elif st == _S_DROP:
                if c == 13 or c == 10:
                    st = _S_IDLE
                    continue
                if c != 36 and c != 0xB5:
                    continue
            # _S_IDLE (or a byte handed down from _S_UB1 / _S_DROP)
            if c == 36:
                line[0] = 36
                ln = 1
                x = 0
                nf = 0
                st = _S_LINE
                self._lt = ticks
            elif c == 0xB5:
                st = _S_UB1
                self._ut = ticks
            elif c != 13 and c != 10:
                garbage += 1
        self._st = st
        self._ln = ln
        self._x = x
        self._nf = nf
        self._up = up
        self._uend = uend
        if garbage:
            self.garbage_bytes += garbage

    def flush(self):
        """Emit the epoch still open (end of input, or before a long pause)."""
        if self._e_open:
            self._emit()

    # ------------------------------------------------------------------ NMEA sentences

    def _sentence(self, ln, x, nf):
        try:
            self._nmea(ln, x, nf)
        except ValueError:
            self.malformed += 1
        except Exception as e:  # noqa: BLE001 - feed() never raises
            self.errors += 1
            self.last_error = e

    def _nmea(self, ln, x, nf):
        # x: XOR of every byte after '$', nf: number of commas (positions in _fs), both
        # gathered by feed() while the line accumulated
        b = self._line
        fs = self._fs
        star = ln - 3
        if star < 1 or b[star] != 42:               # no '*hh' at the end
            for i in range(1, ln):
                if b[i] == 42:
                    raise ValueError                # a '*' elsewhere: broken checksum field
            self.no_checksum += 1
            return
        h1 = b[star + 1]
        h2 = b[star + 2]
        if (_hex(h1) << 4 | _hex(h2)) != x ^ 42 ^ h1 ^ h2:
            self.bad_checksum += 1
            return
        fs[nf + 1] = star
        if star < 6 or b[1] == 80:                  # too short, or proprietary $P...
            self.unknown_type += 1
            self._foreign()
            return
        t0 = b[3]
        t1 = b[4]
        t2 = b[5]
        if t0 == 71 and t1 == 71 and t2 == 65:      # GGA
            k = _B_GGA
        elif t0 == 82 and t1 == 77 and t2 == 67:    # RMC
            k = _B_RMC
        elif t0 == 86 and t1 == 84 and t2 == 71:    # VTG
            k = _B_VTG
        elif t0 == 71 and t1 == 83 and t2 == 65:    # GSA
            k = _B_GSA
        elif t0 == 90 and t1 == 68 and t2 == 65:    # ZDA
            k = 0
        else:
            self.unknown_type += 1
            self._foreign()
            return
        if not (65 <= b[1] <= 90 and 65 <= b[2] <= 90) or nf == 0 or fs[1] != 6:
            raise ValueError                        # talker must be two letters: GP, GN, BD...
        lt = self._lt
        if k == _B_GGA:
            self._gga(b, fs, nf, lt)
        elif k == _B_RMC:
            self._rmc(b, fs, nf, lt)
        elif k == _B_VTG:
            self._vtg(b, fs, nf, lt)
        elif k == _B_GSA:
            self._gsa(b, fs, nf, lt)
        else:
            self._zda(b, fs, nf, lt)

    def _latlon(self, b, fs, k):
        """Fields k..k+3: lat, N/S, lon, E/W -> (lat, lon) or None when empty."""
        lat = _coord(b, fs[k] + 1, fs[k + 1], 90)
        lon = _coord(b, fs[k + 2] + 1, fs[k + 3], 180)
        if lat is None or lon is None:
            if lat is not None or lon is not None:
                raise ValueError
            return None
        h = b[fs[k + 1] + 1] if fs[k + 2] == fs[k + 1] + 2 else 0
        if h == 83:                                 # S
            lat = -lat
        elif h != 78:                               # N
            raise ValueError
        h = b[fs[k + 3] + 1] if fs[k + 4] == fs[k + 3] + 2 else 0
        if h == 87:                                 # W
            lon = -lon
        elif h != 69:                               # E
            raise ValueError
        return lat, lon

    def _gga(self, b, fs, nf, lt):
        # 1 time, 2-5 lat N lon E, 6 quality, 7 sats, 8 hdop, 9 alt, 10 M, 11 geoid sep, ...
        if nf < 10:
            raise ValueError
        t = _time(b, fs[1] + 1, fs[2])
        pos = self._latlon(b, fs, 2)
        q = _int(b, fs[6] + 1, fs[7])
        sats = _int(b, fs[7] + 1, fs[8])
        hdop = _dec(b, fs[8] + 1, fs[9], 100, 1)
        alt = _dec(b, fs[9] + 1, fs[10], 1000, 1)
        if alt is not None and (alt > 0x7FFFFFFF or alt < -0x7FFFFFFF):
            raise ValueError
        self.good += 1
        if q is None:
            q = 0
        self._valid = q > 0
        if not self._epoch(t, _B_GGA, lt):
            return
        self._e_seen |= _B_GGA
        self._e_q = q
        if pos is not None:
            self._e_gpos = pos
        self._e_alt = alt
        self._e_sats = sats
        self._e_hdop = hdop
        self._check()

    def _rmc(self, b, fs, nf, lt):
        # 1 time, 2 status, 3-6 lat N lon E, 7 knots, 8 course, 9 date, 10-11 magvar,
        # 12 mode (NMEA 2.3+), 13 nav status (4.1)
        if nf < 9:
            raise ValueError
        t = _time(b, fs[1] + 1, fs[2])
        status = b[fs[2] + 1] if fs[3] == fs[2] + 2 else 0
        if status != 65 and status != 86:           # A / V
            raise ValueError
        pos = self._latlon(b, fs, 3)
        sp = _dec(b, fs[7] + 1, fs[8], 463, 9)     # knots -> cm/s: * 185200 / 3600
        co = _dec(b, fs[8] + 1, fs[9], 100, 1)
        days = _date(b, fs[9] + 1, fs[10])
        mode = 0
        if nf >= 12 and fs[13] > fs[12] + 1:
            mode = b[fs[12] + 1]
        self.good += 1
        self._valid = status == 65
        if days >= 0 and t >= 0:
            self._d_days = days
            self._d_ms = t
        if self._epoch(t, _B_RMC, lt):
            self._e_seen |= _B_RMC
            self._e_rs = status
            self._e_rm = mode
            if pos is not None:
                self._e_rpos = pos
            self._e_rsp = sp
            self._e_rco = co
            if days >= 0:
                self._e_days = days
            merged = True
        else:
            merged = False
        if status == 65 and days >= 0 and t >= 0:
            self._sync(days, t, self._epoch_ticks(t, lt))
        if merged:
            self._check()

    def _vtg(self, b, fs, nf, lt):
        # 1 course true, 2 T, 3 course mag, 4 M, 5 knots, 6 N, 7 km/h, 8 K, 9 mode
        if nf < 8:
            raise ValueError
        co = _dec(b, fs[1] + 1, fs[2], 100, 1)
        sp = _dec(b, fs[7] + 1, fs[8], 250, 9)     # km/h -> cm/s: * 100000 / 3600
        if sp is None:
            sp = _dec(b, fs[5] + 1, fs[6], 463, 9)
        self.good += 1
        if not self._e_open:                        # after its epoch was emitted: unused
            return
        self._e_seen |= _B_VTG
        self._e_vsp = sp
        self._e_vco = co
        self._check()

    def _gsa(self, b, fs, nf, lt):
        # 1 M/A, 2 mode 1/2/3, 3-14 SV ids, 15 PDOP, 16 HDOP, 17 VDOP, 18 system (4.1)
        if nf < 17:
            raise ValueError
        mode = _int(b, fs[2] + 1, fs[3])
        n = 0
        for k in range(3, 15):
            if fs[k + 1] > fs[k] + 1:
                n += 1
        hdop = _dec(b, fs[16] + 1, fs[17], 100, 1)
        self.good += 1
        if mode is not None and 1 <= mode <= 3:
            self._gsa_mode = mode
        if not self._e_open:                        # after its epoch was emitted: mode only
            return
        if mode is not None:
            self._e_gm = mode
        self._e_seen |= _B_GSA
        self._e_gsats += n
        if hdop is not None:
            self._e_ghdop = hdop
        self._check()

    def _zda(self, b, fs, nf, lt):
        # 1 time, 2 day, 3 month, 4 year, 5 zone h, 6 zone min
        if nf < 4:
            raise ValueError
        t = _time(b, fs[1] + 1, fs[2])
        d = _int(b, fs[2] + 1, fs[3])
        m = _int(b, fs[3] + 1, fs[4])
        y = _int(b, fs[4] + 1, fs[5])
        days = -1
        if d is not None or m is not None or y is not None:
            if d is None or m is None or y is None or y < 1970 or y > 2149 or \
                    not _valid_date(y, m, d):
                raise ValueError
            days = days_from_civil(y, m, d)
        self.good += 1
        if days >= 0 and t >= 0:
            self._d_days = days
            self._d_ms = t
            if self._e_open and self._e_t == t:
                self._e_days = days
            if self._valid:
                self._sync(days, t, self._epoch_ticks(t, lt))
        self._foreign()

    # ------------------------------------------------------------------ NMEA epochs

    def _open(self, t, lt):
        self._e_open = True
        self._e_t = t
        self._e_ticks = lt
        self._e_seen = 0
        self._e_q = -1
        self._e_gpos = None
        self._e_rpos = None
        self._e_alt = None
        self._e_sats = None
        self._e_hdop = None
        self._e_rs = 0
        self._e_rm = 0
        self._e_rsp = None
        self._e_rco = None
        self._e_vsp = None
        self._e_vco = None
        self._e_gm = 0
        self._e_gsats = 0
        self._e_ghdop = None
        self._e_days = -1

    def _epoch(self, t, bit, lt):
        """A timed sentence (GGA/RMC) with UTC time t (-1 empty) starts at ticks lt: make
        the open epoch the one with time t. False: the sentence is late (its epoch was
        already emitted) and is not merged."""
        if t >= 0 and t == self._last_t:
            self.late += 1                          # its epoch was emitted without it:
            self._learn = 0                         # the learned shape was too small
            self._cand = 0
            return False
        if self._e_open:
            et = self._e_t
            if t == et:
                if not (self._e_seen & bit):
                    return True
                if t >= 0:                          # the same sentence twice for one epoch
                    self.late += 1
                    return False
            elif t >= 0 and et >= 0:                # closed by a time change: learn its shape
                sh = self._e_seen
                if not (sh & _B_POS):
                    sh = 0
                if sh == self._cand:                # the same shape twice in a row
                    self._learn = sh
                self._cand = sh
            self._emit()
        self._open(t, lt)
        return True

    def _check(self):
        """After merging: emit when the epoch holds every sentence type of the learned shape."""
        m = self._learn
        if m and (self._e_seen & m) == m:
            self._emit()

    def _foreign(self):
        """A sentence or message that is not part of the fix (GSV, GLL, TXT, ZDA, UBX...):
        an epoch that already has GGA and RMC is complete."""
        if self._e_open and (self._e_seen & _B_POS) == _B_POS:
            self._emit()

    def _epoch_ticks(self, t, lt):
        if self._e_open and self._e_t == t:
            return self._e_ticks
        if t == self._last_t:
            return self._last_ticks
        return lt

    def _days_for(self, t):
        """Date for an epoch without its own date: the tracked date, advanced past
        midnight when the time of day went back by more than 12 h."""
        dd = self._d_days
        if dd < 0 or t < 0:
            return -1
        if t < self._d_ms and self._d_ms - t > _HALF_DAY:
            dd += 1
        self._d_days = dd
        self._d_ms = t
        return dd

    def _emit(self):
        self._e_open = False
        s = self._e_seen
        t = self._e_t
        if not (s & _B_POS):
            return
        self._last_t = t
        self._last_ticks = tk = self._e_ticks
        if self.ubx_wins and self._ubx_on:
            if _tdiff(tk, self._ubx_t) < _UBX_HOLD:
                self.suppressed += 1
                return
            self._ubx_on = False
        gm = self._e_gm if s & _B_GSA else self._gsa_mode
        q = self._e_q
        if q >= 0:
            ft = _GGA_FT[q] if q < 9 else 0
        else:
            m = self._e_rm
            if self._e_rs != 65:
                ft = 0
            elif m == 0 or m == 65:                 # no mode field (NMEA 2.0) / autonomous
                ft = 2
            elif m == 68 or m == 80:                # differential / precise
                ft = 3
            elif m == 82:                           # RTK fixed
                ft = 4
            elif m == 70:                           # RTK float
                ft = 5
            elif m == 69:                           # estimated (dead reckoning)
                ft = 6
            else:                                   # N, M (manual), S (simulator)
                ft = 0
        if ft == 2 and gm == 2:
            ft = 1
        pos = self._e_gpos
        if pos is None:
            pos = self._e_rpos
        if pos is None:
            ft = 0
            lat = lon = 0
        else:
            lat, lon = pos
        alt = self._e_alt
        if alt is None:
            alt = 0
        sats = self._e_sats
        if sats is None:
            sats = self._e_gsats
        if sats > 255:
            sats = 255
        sp = self._e_rsp
        if sp is None:
            sp = self._e_vsp
        co = self._e_rco
        if co is None:
            co = self._e_vco
        if co is not None:
            co %= 36000
        hd = self._e_hdop
        if hd is None:
            hd = self._e_ghdop
        days = self._e_days
        if days >= 0:
            self._d_days = days
            self._d_ms = t
        else:
            days = self._days_for(t)
        self.fixes += 1
        self.on_fix(tk, ft, sats, lat, lon, alt, t if t >= 0 else U32_NA, _u16(days),
                    _u16(sp), _u16(co), _u16(hd))

    def _sync(self, days, ms, tk, src=SRC_NMEA, us=0):
        if src == SRC_NMEA and self.ubx_wins and self._ubx_on and \
                _tdiff(tk, self._ubx_t) < _UBX_HOLD:
            return
        sec = ms // 1000
        if days == self._s_days and sec == self._s_sec:
            return                                  # at most one sync per UTC second
        self._s_days = days
        self._s_sec = sec
        self.syncs += 1
        self.on_sync(tk, src, 0, days, ms, us)

    # ------------------------------------------------------------------ UBX

    def _ubx(self, end):
        try:
            self._ubx_msg(end)
        except Exception as e:  # noqa: BLE001 - feed() never raises
            self.errors += 1
            self.last_error = e

    def _ubx_msg(self, end):
        ub = self._ub
        ml = end - 2
        a = 0
        b = 0
        for i in range(ml):
            a = (a + ub[i]) & 255
            b = (b + a) & 255
        if a != ub[ml] or b != ub[ml + 1]:
            self.ubx_bad_checksum += 1
            return
        self.ubx_good += 1
        self._foreign()
        if ub[1] == 0x04:                           # NAV-DOP: iTOW, g p t v h n e DOP
            self._dop_itow, self._dop_h = struct.unpack_from("<I8xH", ub, 4)
            return
        self._pvt(ub, self._ut)

    def _pvt(self, ub, tk):
        (itow, year, month, day, hour, mi, sec, valid, _tacc, nano, fixt, flags, _f2,
         nsv, lon, lat, _h, hmsl) = struct.unpack_from("<IHBBBBBBIiBBBBiiii", ub, 4)
        gspeed, headmot = struct.unpack_from("<ii", ub, 64)
        self._ubx_t = tk
        self._ubx_on = True
        # fix type: fixType 0 none, 1 DR only, 2 2D, 3 3D, 4 GNSS+DR, 5 time only;
        # flags bit 0 gnssFixOK, bit 1 diffSoln, bits 6-7 carrSoln (1 float, 2 fixed)
        if fixt == 1:
            ft = 6
        elif not (flags & 1) or fixt == 0 or fixt == 5 or fixt > 5:
            ft = 0
        elif fixt == 2:
            ft = 1
        else:
            cs = flags >> 6
            ft = 4 if cs == 2 else 5 if cs == 1 else 3 if flags & 2 else 2
        if lat > 900000000 or lat < -900000000 or lon > 1800000000 or lon < -1800000000:
            ft = 0
            lat = lon = 0
        # UTC: hh:mm:ss + nano (-1e9..1e9 ns), in ms of day and us within the ms
        days = -1
        ms = -1
        us = 0
        if valid & 1 and 1980 <= year <= 2149 and _valid_date(year, month, day):
            days = days_from_civil(year, month, day)
        if valid & 2 and hour < 24 and mi < 60 and sec <= 60 and -1000000000 <= nano <= 1000000000:
            un = nano // 1000                       # floor, also for negative nano
            ms = ((hour * 60 + mi) * 60 + sec) * 1000 + un // 1000
            us = un % 1000
            if ms < 0:
                ms += _DAY_MS
                if days >= 0:
                    days -= 1
            elif ms >= _DAY_MS and sec < 60:
                ms -= _DAY_MS
                if days >= 0:
                    days += 1
        if ft:
            sp = _u16((gspeed + 5) // 10) if gspeed >= 0 else U16_NA
            co = ((headmot + 500) // 1000) % 36000
        else:
            sp = co = U16_NA
        hd = _u16(self._dop_h) if self._dop_itow == itow else U16_NA
        self.fixes += 1
        self.on_fix(tk, ft, nsv, lat, lon, hmsl, ms if ms >= 0 else U32_NA, _u16(days),
                    sp, co, hd)
        if (valid & 7) == 7 and days >= 0 and ms >= 0:
            self._sync(days, ms, tk, SRC_UBX, us)

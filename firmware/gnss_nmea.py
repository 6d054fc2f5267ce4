# NMEA 0183 sentences and epochs (gnss.py): a checked line from GnssParser.feed() is
# decoded (GGA, RMC, VTG, GSA, ZDA; fields by gnss_fields.py) and merged into the epoch of
# its UTC time; a complete epoch becomes one on_fix call, RMC/ZDA time one on_sync call
# (docs/GNSS.md, "NMEA epochs"). Also the two outputs' shared rules: at most one sync per
# UTC second, and no NMEA output while UBX NAV-PVT arrives (ubx_wins).
#
# NmeaEpochs is a part of GnssParser (no instance of its own): it works on the parser's
# line buffer, comma positions and state, set up in GnssParser.__init__.
from micropython import const
from clock import diff
from gnss_fields import (SRC_NMEA, U32_NA, days_from_civil, valid_date, u16, hex_digit,
                         parse_int, parse_time, parse_date, parse_coord, parse_dec)

# sentence bits (epoch "seen" mask)
_B_GGA = const(1)
_B_RMC = const(2)
_B_VTG = const(4)
_B_GSA = const(8)
_B_POS = const(3)            # GGA | RMC: an epoch with either gives a fix record

_NONE = const(-3)            # "no epoch emitted yet"
_HALF_DAY = const(43200000)
_UBX_HOLD = const(2000000)   # us: NMEA output is suppressed this long after a NAV-PVT

# GGA quality -> fix_type: 0 invalid, 1 GPS/SPS, 2 DGNSS, 3 PPS, 4 RTK fixed, 5 RTK float,
# 6 estimated (dead reckoning), 7 manual input, 8 simulation
_GGA_FT = b"\x00\x02\x03\x02\x04\x05\x06\x00\x00"


class NmeaEpochs:
    """NMEA sentences -> epochs -> on_fix / on_sync: the NMEA part of GnssParser."""

    def _reset_epochs(self):
        """Forget the open and the last emitted epoch (GnssParser.reset)."""
        self._open(-1, 0)
        self._e_open = False
        self._last_t = _NONE      # UTC time and ticks of the last emitted NMEA epoch
        self._last_ticks = 0

    # ------------------------------------------------------------------ sentences

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
        if (hex_digit(h1) << 4 | hex_digit(h2)) != x ^ 42 ^ h1 ^ h2:
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
        lat = parse_coord(b, fs[k] + 1, fs[k + 1], 90)
        lon = parse_coord(b, fs[k + 2] + 1, fs[k + 3], 180)
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
        t = parse_time(b, fs[1] + 1, fs[2])
        pos = self._latlon(b, fs, 2)
        q = parse_int(b, fs[6] + 1, fs[7])
        sats = parse_int(b, fs[7] + 1, fs[8])
        hdop = parse_dec(b, fs[8] + 1, fs[9], 100, 1)
        alt = parse_dec(b, fs[9] + 1, fs[10], 1000, 1)
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
        t = parse_time(b, fs[1] + 1, fs[2])
        status = b[fs[2] + 1] if fs[3] == fs[2] + 2 else 0
        if status != 65 and status != 86:           # A / V
            raise ValueError
        pos = self._latlon(b, fs, 3)
        sp = parse_dec(b, fs[7] + 1, fs[8], 463, 9)     # knots -> cm/s: * 185200 / 3600
        co = parse_dec(b, fs[8] + 1, fs[9], 100, 1)
        days = parse_date(b, fs[9] + 1, fs[10])
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
        co = parse_dec(b, fs[1] + 1, fs[2], 100, 1)
        sp = parse_dec(b, fs[7] + 1, fs[8], 250, 9)     # km/h -> cm/s: * 100000 / 3600
        if sp is None:
            sp = parse_dec(b, fs[5] + 1, fs[6], 463, 9)
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
        mode = parse_int(b, fs[2] + 1, fs[3])
        n = 0
        for k in range(3, 15):
            if fs[k + 1] > fs[k] + 1:
                n += 1
        hdop = parse_dec(b, fs[16] + 1, fs[17], 100, 1)
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
        t = parse_time(b, fs[1] + 1, fs[2])
        d = parse_int(b, fs[2] + 1, fs[3])
        m = parse_int(b, fs[3] + 1, fs[4])
        y = parse_int(b, fs[4] + 1, fs[5])
        days = -1
        if d is not None or m is not None or y is not None:
            if d is None or m is None or y is None or y < 1970 or y > 2149 or \
                    not valid_date(y, m, d):
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

    # ------------------------------------------------------------------ epochs

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
            if diff(tk, self._ubx_t) < _UBX_HOLD:
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
        self.on_fix(tk, ft, sats, lat, lon, alt, t if t >= 0 else U32_NA, u16(days),
                    u16(sp), u16(co), u16(hd))

    def _sync(self, days, ms, tk, src=SRC_NMEA, us=0):
        if src == SRC_NMEA and self.ubx_wins and self._ubx_on and \
                diff(tk, self._ubx_t) < _UBX_HOLD:
            return
        sec = ms // 1000
        if days == self._s_days and sec == self._s_sec:
            return                                  # at most one sync per UTC second
        self._s_days = days
        self._s_sec = sec
        self.syncs += 1
        self.on_sync(tk, src, 0, days, ms, us)

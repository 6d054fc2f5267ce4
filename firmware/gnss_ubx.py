# u-blox UBX messages (gnss.py): NAV-PVT -> on_fix and on_sync, NAV-DOP -> the hDOP of
# the NAV-PVT with the same iTOW (docs/GNSS.md, "UBX"). GnssParser.feed() frames the
# messages into the parser's _ub buffer (class, id, length, payload, checksum) and calls
# _ubx() once one is complete.
#
# UbxMessages is a part of GnssParser (no instance of its own): it uses the parser's
# buffer and state, and NmeaEpochs' _foreign() and _sync().
#
# A good message allocates nothing: fields are read byte by byte (no struct tuple), and
# every intermediate value stays below 2**30, so it is a small int on a board too. The
# exceptions are values that are big ints on a board anyway: a longitude beyond
# +-107.37 deg, U32_NA, a corrupt iTOW above 2**30 (docs/GNSS.md, "Framing").
from micropython import const
from gnss_fields import SRC_UBX, U16_NA, U32_NA, days_from_civil, valid_date, u16

_DAY_MS = const(86400000)
_TOL_US = const(5000)        # the UTC time may be this far from its epoch (-5 ms .. < +5 ms)
_MISMATCH = const(-1000000)  # _epoch_ms(): iTOW and the UTC time disagree (no epoch is this)


def _u16(b, i):
    return b[i] | b[i + 1] << 8


def _i32(b, i):
    """Little-endian signed 32-bit field (the sign from the top byte: no 2**32 arithmetic)."""
    t = b[i + 3]
    if t > 127:
        t -= 256
    return t << 24 | b[i + 2] << 16 | b[i + 1] << 8 | b[i]


class UbxMessages:
    """NAV-PVT and NAV-DOP -> on_fix / on_sync: the UBX part of GnssParser."""

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
            self._dop_itow = _i32(ub, 4)
            self._dop_h = _u16(ub, 16)
            return
        self._pvt(ub, self._ut)

    def _epoch_ms(self, itow, s, un):
        """The navigation epoch of a NAV-PVT whose UTC time is s seconds + un us (floored)
        of the day in its date fields, in ms of that day (below 0 or past its end when
        the time crosses midnight; the caller carries). The epoch's millisecond is iTOW's
        (GPS and UTC differ by whole seconds); its second is the one that puts the epoch
        nearest the UTC time. _MISMATCH when the UTC time is not within -5 ms .. < +5 ms
        of that epoch: iTOW and the UTC fields disagree."""
        f = itow % 1000
        d = un - f * 1000                           # us from s + f ms: -1999000 .. 1000000
        k = (d + 500000) // 1000000                 # whole seconds to add: -2 .. 1
        r = d - k * 1000000                         # UTC time - epoch, us: -500000 .. 499999
        if -_TOL_US <= r < _TOL_US:
            return s * 1000 + k * 1000 + f
        return _MISMATCH

    def _pvt(self, ub, tk):
        # payload offset + 4: iTOW 0, year 4, month 6, day 7, hour 8, min 9, sec 10,
        # valid 11, tAcc 12, nano 16, fixType 20, flags 21, flags2 22, numSV 23, lon 24,
        # lat 28, height 32, hMSL 36, ..., gSpeed 60, headMot 64
        itow = _i32(ub, 4)                          # < 604,800,000; negative: corrupt
        valid = ub[15]
        fixt = ub[24]
        flags = ub[25]
        lon = _i32(ub, 28)
        lat = _i32(ub, 32)
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
        # UTC (docs/GNSS.md, "UBX time"): the fix is named by its navigation epoch (em,
        # ed); the sync carries the UTC time itself (sm + us, sd), floored to the us.
        # Both are first counted from the start of the day in the date fields and then
        # carried into the previous or next day.
        year = _u16(ub, 8)
        month = ub[10]
        day = ub[11]
        hour = ub[12]
        mi = ub[13]
        sec = ub[14]
        nano = _i32(ub, 20)
        sd = -1
        if valid & 1 and 1980 <= year <= 2149 and valid_date(year, month, day):
            sd = days_from_civil(year, month, day)
        ed = sd
        em = -1
        sm = -1
        us = 0
        ok = False
        if valid & 2 and hour < 24 and mi < 60 and sec <= 60 and -1000000000 <= nano <= 1000000000:
            s = (hour * 60 + mi) * 60 + sec
            un = nano // 1000                       # floor, also for negative nano
            sm = s * 1000 + un // 1000
            us = un % 1000
            em = self._epoch_ms(itow, s, un)
            ok = em != _MISMATCH
            if not ok:                              # named as the receiver's NMEA names it:
                self.ubx_epoch_mismatch += 1        # the UTC time rounded to 10 ms, half up
                em = s * 1000 + (un + 5000) // 10000 * 10
            # a day with a leap second (sec 60) is 1 s longer; the day before is taken as
            # a normal one
            dl = _DAY_MS + 1000 if sec == 60 else _DAY_MS
            if sm < 0:
                sm += _DAY_MS
                if sd >= 0:
                    sd -= 1
            elif sm >= dl:
                sm -= dl
                if sd >= 0:
                    sd += 1
            if em < 0:
                em += _DAY_MS
                if ed >= 0:
                    ed -= 1
            elif em >= dl:
                em -= dl
                if ed >= 0:
                    ed += 1
        if ft:
            gspeed = _i32(ub, 64)
            sp = u16((gspeed + 5) // 10) if gspeed >= 0 else U16_NA
            co = ((_i32(ub, 68) + 500) // 1000) % 36000
        else:
            sp = co = U16_NA
        hd = u16(self._dop_h) if self._dop_itow == itow and itow >= 0 else U16_NA
        self.fixes += 1
        self.on_fix(tk, ft, ub[27], lat, lon, _i32(ub, 40), em if em >= 0 else U32_NA,
                    u16(ed), sp, co, hd)
        # sync: date, time and fully resolved valid, iTOW agreeing with the UTC time, and
        # date and time confirmed when the receiver reports confirmation (flags2 bit 5
        # confirmedAvai, bit 6 confirmedDate, bit 7 confirmedTime)
        f2 = ub[26]
        if (valid & 7) == 7 and ok and sd >= 0 and (not (f2 & 0x20) or (f2 & 0xC0) == 0xC0):
            self._sync(sd, sm, tk, SRC_UBX, us)

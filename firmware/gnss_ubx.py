# u-blox UBX messages (gnss.py): NAV-PVT -> on_fix and on_sync, NAV-DOP -> the hDOP of
# the NAV-PVT with the same iTOW (docs/GNSS.md, "UBX"). GnssParser.feed() frames the
# messages into the parser's _ub buffer (class, id, length, payload, checksum) and calls
# _ubx() once one is complete.
#
# UbxMessages is a part of GnssParser (no instance of its own): it uses the parser's
# buffer and state, and NmeaEpochs' _foreign() and _sync().
from micropython import const
import struct
from gnss_fields import SRC_UBX, U16_NA, U32_NA, days_from_civil, valid_date, u16

_DAY_MS = const(86400000)


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
        if valid & 1 and 1980 <= year <= 2149 and valid_date(year, month, day):
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
            sp = u16((gspeed + 5) // 10) if gspeed >= 0 else U16_NA
            co = ((headmot + 500) // 1000) % 36000
        else:
            sp = co = U16_NA
        hd = u16(self._dop_h) if self._dop_itow == itow else U16_NA
        self.fixes += 1
        self.on_fix(tk, ft, nsv, lat, lon, hmsl, ms if ms >= 0 else U32_NA, u16(days),
                    sp, co, hd)
        if (valid & 7) == 7 and days >= 0 and ms >= 0:
            self._sync(days, ms, tk, SRC_UBX, us)

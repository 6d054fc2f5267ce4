# GNSS input: NMEA 0183 (GGA, RMC, VTG, GSA, ZDA from any talker) and u-blox UBX
# (NAV-PVT, plus NAV-DOP for HDOP) from one UART byte stream, turned into GNSS fix and
# time-sync records (FORMAT.md 3.5 / 3.6) through two callbacks, normally
# Logger.log_fix and Logger.log_sync. docs/GNSS.md is the description of the rules.
#
# One job per module: this one frames the byte stream (NMEA lines, UBX messages) and holds
# the parser's state and counters; gnss_nmea.py turns sentences into epochs and fixes,
# gnss_ubx.py decodes NAV-PVT / NAV-DOP, gnss_fields.py parses the fields. GnssParser is
# the one class the firmware uses.
#
# Board numbers (MICROPYTHON.md): no float anywhere; coordinates, times, speeds are parsed
# with integer arithmetic. The per-byte path (feed's loop: NMEA line accumulation, UBX
# framing, skipping) allocates nothing; a complete sentence or UBX message may allocate a
# little (a longitude east of 107.37 deg is a big int on a board, as is 0xFFFFFFFF).
# Bad input is counted, never raised out of feed().
from micropython import const
from gnss_fields import U16_NA, days_from_civil  # noqa: F401 - days_from_civil: gnss API
from gnss_nmea import NmeaEpochs
from gnss_ubx import UbxMessages

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

# byte class inside an NMEA line: 0 body ('%'..'~' but ','), 1 ',', 2 ' '..'#',
# 3 CR / LF, 4 '$', 5 0xB5 (UBX sync), 6 any other control or 8-bit byte
_CLS = bytes(3 if c in (10, 13) else 4 if c == 36 else 1 if c == 44 else
             0 if 36 < c < 127 else 2 if 31 < c < 36 else 5 if c == 0xB5 else 6
             for c in range(256))


class GnssParser(NmeaEpochs, UbxMessages):
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
        self.ubx_epoch_mismatch = 0   # NAV-PVT: UTC time and iTOW name different epochs
        self.fixes = 0            # on_fix calls
        self.syncs = 0            # on_sync calls
        self.late = 0             # GGA/RMC arriving for an epoch already emitted (dropped)
        self.suppressed = 0       # NMEA epochs not emitted because UBX is active
        self.errors = 0           # unexpected exceptions (parser bug or callback failure)
        self.last_error = None
        # state that survives reset(): NMEA epochs (gnss_nmea), syncs, UBX (gnss_ubx)
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
        self._reset_epochs()

    def counters(self):
        return {"bytes": self.bytes, "good": self.good, "bad_checksum": self.bad_checksum,
                "no_checksum": self.no_checksum, "malformed": self.malformed,
                "overlong": self.overlong, "unknown_type": self.unknown_type,
                "garbage_bytes": self.garbage_bytes, "ubx_good": self.ubx_good,
                "ubx_bad_checksum": self.ubx_bad_checksum, "ubx_skipped": self.ubx_skipped,
                "ubx_epoch_mismatch": self.ubx_epoch_mismatch,
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

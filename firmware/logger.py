# The logger core: owns the ring, the clock, the block encoder and the segment writer.
# Producers push records (the CAN rx path goes straight to ring.push_can); the main loop
# calls service(), which drains the ring into blocks, writes full blocks, and closes a
# partly filled block when the flush interval has passed, so a power cut loses at most
# one flush interval of records.
import struct
from micropython import const

import fmt
from clock import Clock
from ring import Ring
from block import BlockEncoder
from segment import SegmentWriter, next_boot


_B_FLUSH = const(0x01)        # = fmt.B_FLUSH, fmt.B_LAST (no module lookup per block)
_B_LAST = const(0x02)
_MASK = const(0x3FFFFFFF)     # = clock.MASK, clock.HALF
_HALF = const(0x20000000)


def _nop():
    return 0


def _nop1(_s):
    pass


class Logger:
    def __init__(self, root, ticks_fn, logger_id=0, vehicle="", firmware="0.1.0",
                 config_hash=0, ring_size=32768, block_shift=12, seg_blocks=4096,
                 seg_s=3600, flush_ms=1000, irq_off=_nop, irq_on=_nop1, free_fn=None,
                 reserve_kib=0, card_full="stop"):
        self.ticks = ticks_fn
        self.clock = Clock(ticks_fn)
        self.ring = Ring(ring_size)
        self.boot = next_boot(root)
        self.enc = BlockEncoder(block_shift, logger_id, self.boot)
        self.seg = SegmentWriter(root, logger_id, self.boot, block_shift, seg_blocks,
                                 seg_s * 1000000, firmware, vehicle, config_hash, ticks_fn,
                                 free_fn, reserve_kib, card_full)
        self.flush_us = flush_ms * 1000
        self.irq_off = irq_off        # HAL: hold the CAN rx callback off (board: machine.disable_irq)
        self.irq_on = irq_on
        self.last_flush = self.ticks()
        self.blocks_written = 0
        self._irq = 0
        self.log_session(firmware, vehicle, config_hash, logger_id)

    # ---- main-loop producers (the CAN rx callback uses self.ring.push_can directly)

    def _reserve(self, typ, n, ticks):
        # the rx interrupt's state is kept in self._irq, not returned with the offset: a
        # tuple would be an allocation per GNSS fix (producers run under heap_lock in tests)
        s = self.irq_off()
        o = self.ring.reserve(typ, n, ticks)
        if o < 0:
            self.irq_on(s)
            return -1
        self._irq = s
        return o

    def _commit(self):
        self.ring.commit()
        self.irq_on(self._irq)

    def log_session(self, firmware, vehicle, config_hash, logger_id, ticks=None):
        fw = firmware.encode()[:64]
        vh = vehicle.encode()[:64]
        n = (16 + len(fw) + len(vh) + 3) & ~3
        t = self.ticks() if ticks is None else ticks
        o = self._reserve(fmt.T_SESSION, n, t)
        if o < 0:
            return False
        b = self.ring.buf
        struct.pack_into("<BBBBIII", b, o, fmt.T_SESSION, n, len(fw), len(vh), t,
                         config_hash, logger_id)
        self._put(o + 16, fw + vh, o + n)
        self._commit()
        return True

    def _put(self, p, data, end):
        b = self.ring.buf
        b[p:p + len(data)] = data
        p += len(data)
        while p < end:
            b[p] = 0
            p += 1

    def log_fix(self, ticks, fix_type, sats, lat, lon, alt_mm, utc_ms, utc_days,
                speed_cms, course_cdeg, hdop_c):
        o = self._reserve(fmt.T_GNSS, 32, ticks)
        if o < 0:
            return False
        struct.pack_into("<BBBBIiiiIHHHH", self.ring.buf, o, fmt.T_GNSS, 32, fix_type, sats,
                         ticks, lat, lon, alt_mm, utc_ms, utc_days, speed_cms, course_cdeg,
                         hdop_c)
        self._commit()
        return True

    def log_sync(self, ticks, source, flags, utc_days, utc_ms, utc_us=0):
        o = self._reserve(fmt.T_SYNC, 16, ticks)
        if o < 0:
            return False
        struct.pack_into("<BBBBIHHI", self.ring.buf, o, fmt.T_SYNC, 16, source, flags, ticks,
                         utc_days, utc_us, utc_ms)
        self._commit()
        return True

    def log_event(self, ticks, kind, code=0, text=""):
        tx = text.encode()[:240] if isinstance(text, str) else bytes(text[:240])
        n = (12 + len(tx) + 3) & ~3
        o = self._reserve(fmt.T_EVENT, n, ticks)
        if o < 0:
            return False
        struct.pack_into("<BBBBII", self.ring.buf, o, fmt.T_EVENT, n, kind, len(tx), ticks,
                         code)
        self._put(o + 12, tx, o + n)
        self._commit()
        return True

    def log_status(self, ticks, supply_mv=0xFFFF, temp_dc=0x7FFF, free_kib=0xFFFFFFFF):
        r = self.ring
        hw = r.reset_high_water() * 1000 // r.size
        w = self.seg.write_us_max // 1000
        self.seg.write_us_max = 0
        up = self.clock.extend(ticks) // 1000000
        o = self._reserve(fmt.T_STATUS, 28, ticks)
        if o < 0:
            return False
        struct.pack_into("<BBBBIIHHHhII", r.buf, o, fmt.T_STATUS, 28, 0, 0, ticks,
                         r.drops_total, hw, min(w, 0xFFFF), supply_mv, temp_dc, free_kib, up)
        self._commit()
        return True

    # ---- consumer

    def _write(self, flags, last=False):
        now = self.clock.us
        rotate = not last and self.seg.last_due(now)
        seq = self.enc.seq
        blk = self.enc.close(flags | (_B_LAST if last or rotate else 0))
        self.seg.write(blk, seq, now, last or rotate, flags & _B_FLUSH, rotate)
        self.blocks_written += 1

    def _drain(self, now):
        """Ring -> blocks, writing each block that fills; then pending drop counts as an
        overflow record if the ring is empty (producer held off meanwhile)."""
        ring = self.ring
        enc = self.enc
        while enc.fill(ring, self.clock):
            self._write(0)
        if ring.pending:
            s = self.irq_off()
            if ring.head == ring.tail:
                ring.flush_overflow(now)
            self.irq_on(s)
            while enc.fill(ring, self.clock):
                self._write(0)

    def service(self):
        """Drain the ring into blocks; write full blocks; flush on the cadence. Call from
        the main loop at least every 2**29 us (in practice every few ms)."""
        now = self.ticks()
        clock = self.clock
        clock.extend(now)
        ring = self.ring
        enc = self.enc
        while enc.fill(ring, clock):           # _drain's loop, inline (a call less)
            self._write(0)
        if ring.pending:
            self._drain(now)
        d = (now - self.last_flush) & _MASK     # clock.diff(now, last_flush), inline
        if d < _HALF and d >= self.flush_us:
            self.last_flush = now
            if not self.enc.empty():
                self._write(_B_FLUSH)

    def close(self):
        """Clean shutdown: drain the ring, write the last block (possibly empty) with the
        LAST flag, close the file. The host tells a closed boot from a cut one by it."""
        now = self.ticks()
        self.clock.extend(now)
        self._drain(now)
        if self.enc.empty():
            self.enc.open(now, self.clock.us)
        self._write(fmt.B_FLUSH, last=True)
        self.seg.close()

# Block encoder: header, slot table, CRC, splitting, time offsets across a wrap.
import struct
import binascii
from ring import Ring
from block import BlockEncoder
from clock import Clock, MASK

D8 = memoryview(bytearray(b"\x11\x22\x33\x44\x55\x66\x77\x88"))


class Ticks:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t & MASK


def parse(blk):
    bs = len(blk)
    assert bytes(blk[0:4]) == b"DLGB"
    v, sh, cnt, used, fl, lid, boot, seq, base = struct.unpack_from("<BBHHHIIIQ", blk, 4)
    assert v == 1 and 1 << sh == bs
    assert struct.unpack_from("<I", blk, bs - 4)[0] == binascii.crc32(blk[0:bs - 4])
    recs = []
    p = 32
    for i in range(cnt):
        assert struct.unpack_from("<H", blk, bs - 4 - 2 * (i + 1))[0] == p
        ln = blk[p + 1]
        recs.append((blk[p], base + struct.unpack_from("<I", blk, p + 4)[0], bytes(blk[p:p + ln])))
        p += ln
    assert p == 32 + used
    return seq, fl, recs


def test_blocks_split_when_full_and_carry_exact_times_across_wrap():
    src = Ticks(MASK - 20000)                  # the wrap comes after ~20 ms
    clk = Clock(src)
    r = Ring(8192)
    enc = BlockEncoder(9, 42, 3)               # 512-byte blocks: 18 frames of 24+2 bytes
    blocks = []
    sent = []
    for i in range(200):
        src.t += 250
        r.push_can(src(), 0, 0, i, 8, D8, 8, False)
        sent.append(clk.now())
        if i % 7 == 0:
            while enc.fill(r, clk):
                blocks.append(bytes(enc.close(0)))
    while enc.fill(r, clk):
        blocks.append(bytes(enc.close(0)))
    blocks.append(bytes(enc.close(1)))
    got = []
    for k, b in enumerate(blocks):
        seq, fl, recs = parse(memoryview(b))
        assert seq == k
        got += recs
    assert [g[1] for g in got] == sent
    assert sent[-1] > 20000                    # crossed the wrap: no jump back
    assert [struct.unpack_from("<I", g[2], 8)[0] for g in got] == list(range(200))
    assert all(len(parse(memoryview(b))[2]) == 18 for b in blocks[:-1])


def test_block_never_spans_more_than_2_pow_28_us():
    src = Ticks(0)
    clk = Clock(src)
    r = Ring(1024)
    enc = BlockEncoder(12, 1, 1)
    r.push_can(src(), 0, 0, 1, 8, D8, 8, False)
    enc.fill(r, clk)
    for _ in range(3):                         # 3 x 2**27 us: crosses 2**28
        src.t += 1 << 27
        clk.now()
    r.push_can(src(), 0, 0, 2, 8, D8, 8, False)
    assert enc.fill(r, clk)                    # full: the span limit closes the block
    _, _, a = parse(enc.close(0))
    assert not enc.fill(r, clk)
    _, _, b = parse(enc.close(0))
    assert len(a) == 1 and len(b) == 1 and b[0][1] - a[0][1] == 3 << 27

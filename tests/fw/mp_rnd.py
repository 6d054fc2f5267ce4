# Small deterministic generators for the MicroPython tests: the same cases on every port
# (MicroPython's random has no Random class, and its seed differs between builds).


class Lcg:
    """Linear congruential: below(n) in 0..n-1."""

    def __init__(self, s):
        self.s = s

    def below(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 4) % n


class XorShift:
    """xorshift32: getrandbits(n)."""

    def __init__(self, seed):
        self.x = seed * 2654435761 & 0xFFFFFFFF or 1

    def getrandbits(self, n):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x >> (32 - n) if n <= 24 else (x << 5 ^ self.getrandbits(5)) & ((1 << n) - 1)

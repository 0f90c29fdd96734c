"""Time-sortable request ids (ULID layout: 48-bit milliseconds then 80 random bits, Crockford base32)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two Crockford digits (10 bits) at a time: an id is 13 lookups. base64.b32encode is written in Python up to
# 3.12 and took ~8 us an id, on the path of every call.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = range(120, -10, -10)
_POOL_BYTES = 10 * 512


class _Randomness:
    """The OS's random bytes, fetched for 512 ids at a time rather than one system call per id."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pool, self._at = b"", 0

    def take(self, n: int) -> bytes:
        if self._at + n > len(self._pool):
            self._pool, self._at = os.urandom(_POOL_BYTES), 0
        out = self._pool[self._at : self._at + n]
        self._at += n
        return out


_random = _Randomness()
os.register_at_fork(after_in_child=_random.reset)  # a forked worker must not repeat its parent's ids


def new_id(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    # 48 bits of milliseconds, then 80 random bits: 26 digits of 5 bits (130 bits, the top two zero).
    n = (ms % (1 << 48)) << 80 | int.from_bytes(_random.take(10), "big")
    return "".join([_PAIRS[(n >> shift) & 1023] for shift in _SHIFTS])

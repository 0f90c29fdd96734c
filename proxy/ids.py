"""Time-sortable request ids (ULID layout: 48-bit milliseconds then 80 random bits, Crockford base32)."""

from __future__ import annotations

import base64
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# base64's base32 writes RFC 4648's alphabet; one translation makes it Crockford's, all in C.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())
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
    # 20 bytes are 32 base32 digits, no padding; the id is the last 26 (130 bits, the top two zero).
    raw = (ms % (1 << 48)).to_bytes(10, "big") + _random.take(10)
    return base64.b32encode(raw)[-26:].translate(_TO_CROCKFORD).decode()

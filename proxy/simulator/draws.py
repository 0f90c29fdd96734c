"""Deterministic pseudo-random draws: the same inputs always give the same value.

Every random-looking decision of the simulator (verdict, length, latency, filler words) is a hash of the
server seed and the request's identity, so a repeated request gets the same answer and tests can rely on it.
"""

from __future__ import annotations

import hashlib
import random
from statistics import NormalDist

_STANDARD = NormalDist()


def unit(*parts: object) -> float:
    """A uniform draw in (0, 1) determined by `parts`."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def normal(*parts: object) -> float:
    """A standard-normal draw determined by `parts`, clipped to +-3 so one request never stalls a test."""
    return max(-3.0, min(3.0, _STANDARD.inv_cdf(unit(*parts))))


def rng(*parts: object) -> random.Random:
    """A `random.Random` seeded by `parts`, for generating many values (filler words, JSON)."""
    return random.Random(int(unit(*parts) * 2**53))

"""Deterministic embeddings: hashed bag-of-words unit vectors, so similar texts get similar vectors."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from proxy.simulator.draws import rng
from proxy.simulator.errors import bad_request
from proxy.training.dataset import normalize_prompt

DEFAULT_DIMENSIONS = 256
MAX_DIMENSIONS = 4096


def embed(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    words = normalize_prompt(text).split()
    for word in words:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "big") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    if not any(vector):  # empty text, or words that cancelled out: still a unit vector
        rand = rng("embedding", text)
        vector = [rand.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


def inputs(raw: object) -> list[str]:
    """The texts of an embeddings `input`: a string, a list of strings, or token arrays (hashed as text)."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(x, str) for x in raw):
            return list(raw)
        if all(isinstance(x, int) for x in raw):
            return [" ".join(map(str, raw))]
        if all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in raw):
            return [" ".join(map(str, x)) for x in raw]
    raise bad_request("input must be a string, an array of strings, or an array of token arrays", "input")


def encode(vector: list[float], encoding_format: str) -> Any:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector

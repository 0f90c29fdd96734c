"""The lexical feature: what each known model's own logistic regression on the prompt's words says.

Hand features say what kind of prompt this is; a per-model classifier over the words themselves says what,
in prompts like this one, that model got right. A TF-IDF + logistic-regression router alone is level with
the hand-feature model, and averaging the two beats both, so the words enter the model as one more
intersection feature, `x_lexical_logit`: the candidate's head's logit for the prompt.

The prompt's vector: word uni- and bi-grams of the ask (`text.words`; of a long ask, its first
`HEAD_WORDS` and last `TAIL_WORDS` words), hashed into `BUCKETS` buckets with
CRC-32 (stable across processes and machines, unlike Python's `hash()`), sublinear term frequency,
l2-normalised. A head per model identity (`LLMProfile.history_key`) is fitted in training
(`proxy/training/lexical.py`): out-of-fold for the training rows, on every training prompt for the
shipped file. A model without a head (never in the training data) gets the logit of its prior accuracy,
the value a head with no evidence would give.

The shipped file (`lexical.bin`, listed in the manifest with its sha256): a magic, a JSON header (bucket
bits, each head's key and bias) and the weights as float16, gzip-compressed (most weights of a head
trained on few prompts are zero). Heads are rounded to float16 before training uses them, so training
and serving compute the same feature.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from proxy.route.features.history import NEUTRAL_RATE
from proxy.route.features.text import words

NAMES = ("x_lexical_logit",)
BITS = 15
BUCKETS = 1 << BITS
FILE = "lexical.bin"
FORMAT = 1
_MAGIC = b"SYLEX\x00"
_MIX = np.uint64(0x9E3779B1)  # an odd 32-bit constant (golden ratio): spreads CRCs and pairs them into bigrams
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32 - BITS)
_PRIOR_CLIP = 1e-3
LINEUPS = 16  # candidate lists whose heads are kept bucket-major (BUCKETS x 10 heads: 1.3 MB each)
PROMOTE = 32  # uses of a candidate list before its heads are copied bucket-major
USES_KEPT = 4096  # candidate lists whose uses are counted
# A long ask keeps its first and last words (the question and its instructions or options): this bounds the
# feature's cost on the request path and the heads' fitting time, which grows with the words per prompt.
HEAD_WORDS = 192
TAIL_WORDS = 64


class LexicalError(ValueError):
    """`lexical.bin` is unreadable or malformed; the message names the file."""


@dataclass(frozen=True)
class PromptVector:
    """A prompt's hashed uni/bi-gram vector: sorted distinct buckets and their weights (unit l2 norm)."""

    index: np.ndarray  # int64
    value: np.ndarray  # float32


def vectorize(text: str) -> PromptVector:
    return vectorize_words(words(text))


def vectorize_words(ws: list[str]) -> PromptVector:
    """`vectorize` of a text already split by `text.words` (the request path splits the ask once)."""
    if len(ws) > HEAD_WORDS + TAIL_WORDS:
        ws = ws[:HEAD_WORDS] + ws[-TAIL_WORDS:]
    if not ws:
        return PromptVector(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    # map() over the C functions (str.encode is UTF-8), not a generator expression: no Python frame per word,
    # 28 -> 20 us for 256 words.
    uni = np.fromiter(map(zlib.crc32, map(str.encode, ws)), dtype=np.uint64, count=len(ws))
    pairs = (uni[:-1] * _MIX + uni[1:] + _MIX) & _LOW32  # uint64 arithmetic wraps: still one fixed function
    grams = np.concatenate([uni, pairs])
    buckets = ((grams * _MIX) & _LOW32) >> _SHIFT
    index, counts = _distinct(buckets.astype(np.int64))
    value = 1.0 + np.log(counts.astype(np.float64))
    value /= math.sqrt(float(value @ value))
    return PromptVector(index, value.astype(np.float32))


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(values, return_counts=True)` of a non-empty 1-D integer array, the same arrays without its
    generic bookkeeping: 13 -> 9 us for a 256-word ask's 511 grams."""
    ordered = np.sort(values)
    edge = np.empty(ordered.size + 1, dtype=bool)  # where a run of equal values starts, and the end
    edge[0] = edge[-1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=edge[1:-1])
    at = edge.nonzero()[0]
    return ordered[at[:-1]], at[1:] - at[:-1]


def prior_logit(accuracy: float | None) -> float:
    p = min(1.0 - _PRIOR_CLIP, max(_PRIOR_CLIP, NEUTRAL_RATE if accuracy is None else accuracy))
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class _HeadLineup:
    """The heads of one candidate list, kept per list of keys: which candidates have a head (`at`), and those
    heads' weights bucket-major, (BUCKETS, heads). A prompt's ~500 buckets are then ~500 reads of one cache line
    each, not ~500 scattered reads in each of ten heads' 128 KB rows: 18 -> 10 us alone, and the decision's
    other data stays in the CPU caches (bench_decision, 10 candidates)."""

    at: np.ndarray  # candidates with a head
    by_bucket: np.ndarray  # float32 (BUCKETS, len(at))
    bias: np.ndarray  # float32 (len(at),)


@dataclass(frozen=True)
class LexicalHeads:
    """One logistic regression per model identity over `PromptVector`s; weights already float16-exact."""

    keys: tuple[str, ...]
    weights: np.ndarray  # float32 (heads, BUCKETS)
    bias: np.ndarray  # float32 (heads,)
    rows: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _lineups: dict[tuple[str, ...], _HeadLineup] = field(default_factory=dict, init=False, repr=False, compare=False)
    _uses: dict[tuple[str, ...], int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", {k: i for i, k in enumerate(self.keys)})

    @classmethod
    def rounded(cls, keys: Sequence[str], weights: np.ndarray, bias: np.ndarray) -> LexicalHeads:
        """Heads as the file stores them: weights through float16, biases through float32."""
        w = np.asarray(weights, dtype=np.float16).astype(np.float32).reshape(len(keys), BUCKETS)
        return cls(tuple(keys), w, np.asarray(bias, dtype=np.float32).reshape(len(keys)))

    def logits(self, v: PromptVector, keys: Sequence[str], priors: np.ndarray) -> np.ndarray:
        """Each key's head logit for `v`; `priors` (the prior logits) where a key has no head."""
        out = np.array(priors, dtype=np.float64)
        lineup = self._lineup(tuple(keys))
        if lineup is not None:
            if lineup.at.size:
                # The same C-ordered float32 (heads x buckets) block as `weights[np.ix_(rows, v.index)]`, so the
                # same product, read from the lineup's bucket-major copy (with take(), as `Vocabulary.scores` does).
                block = np.ascontiguousarray(lineup.by_bucket.take(v.index, axis=0).T, dtype=np.float32)
                out[lineup.at] = block @ v.value.astype(np.float64) + lineup.bias
            return out
        found = [(j, r) for j, k in enumerate(keys) if (r := self.rows.get(k)) is not None]
        if found:
            at = np.fromiter((j for j, _ in found), dtype=np.intp, count=len(found))
            rows = np.fromiter((r for _, r in found), dtype=np.intp, count=len(found))
            out[at] = self.weights[np.ix_(rows, v.index)] @ v.value.astype(np.float64) + self.bias[rows]
        return out

    def _lineup(self, keys: tuple[str, ...]) -> _HeadLineup | None:
        """The bucket-major heads of `keys`, built on their `PROMOTE`-th use (a build costs ~0.2 ms: training's
        ever-changing candidate lists must not pay it on every prompt); None until then."""
        hit = self._lineups.get(keys)
        if hit is not None:
            return hit
        uses = self._uses.get(keys, 0) + 1
        if len(self._uses) >= USES_KEPT:
            self._uses.clear()
        self._uses[keys] = uses
        if uses < PROMOTE:
            return None
        rows = np.asarray([r for k in keys if (r := self.rows.get(k)) is not None], dtype=np.intp)
        hit = _HeadLineup(
            at=np.asarray([j for j, k in enumerate(keys) if k in self.rows], dtype=np.intp),
            by_bucket=np.ascontiguousarray(self.weights[rows].T),
            bias=self.bias[rows],
        )
        if len(self._lineups) >= LINEUPS:
            self._lineups.clear()
        self._lineups[keys] = hit
        return hit

    def to_bytes(self) -> bytes:
        header = json.dumps(
            {"format": FORMAT, "bits": BITS, "keys": list(self.keys), "bias": [float(b) for b in self.bias]},
            sort_keys=True,
        ).encode("utf-8")
        body = self.weights.astype("<f2").tobytes()
        return _MAGIC + struct.pack("<I", len(header)) + header + gzip.compress(body, compresslevel=9, mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes, where: str = FILE) -> LexicalHeads:
        try:
            if not data.startswith(_MAGIC):
                raise LexicalError(f"{where}: not a Switchyard lexical-heads file")
            start = len(_MAGIC) + 4
            (size,) = struct.unpack("<I", data[len(_MAGIC) : start])
            header = json.loads(data[start : start + size].decode("utf-8"))
            if header.get("format") != FORMAT or header.get("bits") != BITS:
                raise LexicalError(
                    f"{where}: format {header.get('format')!r} with {header.get('bits')!r} bucket bits, "
                    f"expected {FORMAT} with {BITS}"
                )
            keys = [str(k) for k in header["keys"]]
            body = np.frombuffer(gzip.decompress(data[start + size :]), dtype="<f2")
            bias = np.asarray(header["bias"], dtype=np.float32)
            return cls(tuple(keys), body.astype(np.float32).reshape(len(keys), BUCKETS), bias)
        except LexicalError:
            raise
        except (OSError, ValueError, KeyError, TypeError, struct.error, EOFError) as exc:
            raise LexicalError(f"{where}: {type(exc).__name__}: {exc}") from None


def load(models_dir: Path, manifest: Mapping[str, Any]) -> LexicalHeads | None:
    """The heads the manifest of `models_dir` lists (None when it lists none), checked against its sha256."""
    entry = manifest.get("lexical")
    if not isinstance(entry, Mapping) or "file" not in entry:
        return None
    path = Path(models_dir) / str(entry["file"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LexicalError(f"{path}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise LexicalError(f"{path}: its sha256 is not the one the manifest lists")
    return LexicalHeads.from_bytes(data, str(path))

"""Scores: for each candidate LLM, P(acceptable answer), predicted latency and output length.

Scorers sit behind a one-method interface and a registry, so the proxy, replay and evaluation can
swap them. `PriorScorer` is the documented rule used until trained models are present: it scores
each candidate by its prior (catalog or config) accuracy and its measured speed, so the request
path features -> scores -> choice is the real one from the start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from proxy.config import Backend
from proxy.features import Features

# Used when neither the config nor the catalog knows a backend.
DEFAULT_ACCURACY = 0.6
DEFAULT_TTFT_S = 0.6
DEFAULT_TOKENS_PER_S = 50.0
DEFAULT_OUTPUT_TOKENS = 256


@dataclass(frozen=True)
class Scores:
    candidates: tuple[str, ...]
    p_acceptable: np.ndarray  # float, per candidate
    ttft_s: np.ndarray
    latency_s: np.ndarray  # predicted total time of the call
    output_tokens: np.ndarray
    model_version: str


class Scorer(Protocol):
    version: str

    def score(self, features: Features, candidates: Sequence[Backend], max_output_tokens: int | None) -> Scores: ...


class PriorScorer:
    """P(acceptable) = the backend's prior accuracy; latency = TTFT + expected tokens / tokens-per-second."""

    version = "prior-1"

    def score(self, features: Features, candidates: Sequence[Backend], max_output_tokens: int | None) -> Scores:
        expected = float(DEFAULT_OUTPUT_TOKENS if max_output_tokens is None else min(max_output_tokens, 1024))
        out = np.full(len(candidates), expected)
        out = np.minimum(out, [b.max_output_tokens or expected for b in candidates])
        ttft = np.array([b.ttft_s if b.ttft_s is not None else DEFAULT_TTFT_S for b in candidates])
        tps = np.array([b.tokens_per_s or DEFAULT_TOKENS_PER_S for b in candidates])
        p = np.array([b.accuracy if b.accuracy is not None else DEFAULT_ACCURACY for b in candidates])
        return Scores(
            candidates=features.candidates,
            p_acceptable=p,
            ttft_s=ttft,
            latency_s=ttft + out / tps,
            output_tokens=out,
            model_version=self.version,
        )


SCORERS: dict[str, Callable[[], Scorer]] = {"prior": PriorScorer}

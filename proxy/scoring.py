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

from proxy.catalog import LLMProfile
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

    def score(self, features: Features, candidates: Sequence[LLMProfile], max_output_tokens: int | None) -> Scores: ...


class PriorScorer:
    """The documented rule used until trained models are present.

    P(acceptable) is the candidate's historical accuracy (config, else the catalog's measured rate);
    output length is the prompt's expected answer length (from its task type), capped by max_tokens and
    the model's own limit; latency is TTFT + output tokens / tokens-per-second, measured per model.
    """

    version = "prior-2"

    def score(self, features: Features, candidates: Sequence[LLMProfile], max_output_tokens: int | None) -> Scores:
        expected = float(features.prompt.expected_output_tokens or DEFAULT_OUTPUT_TOKENS)
        if max_output_tokens is not None:
            expected = min(expected, float(max_output_tokens))
        out = np.array([min(expected, float(c.max_output_tokens or expected)) for c in candidates])
        ttft = np.array([c.ttft_s if c.ttft_s is not None else DEFAULT_TTFT_S for c in candidates])
        tps = np.array([c.tokens_per_s or DEFAULT_TOKENS_PER_S for c in candidates])
        p = np.array([c.accuracy if c.accuracy is not None else DEFAULT_ACCURACY for c in candidates])
        return Scores(
            candidates=features.candidates,
            p_acceptable=p,
            ttft_s=ttft,
            latency_s=ttft + out / tps,
            output_tokens=out,
            model_version=self.version,
        )


SCORERS: dict[str, Callable[[], Scorer]] = {"prior": PriorScorer}

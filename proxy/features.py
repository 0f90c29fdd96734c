"""Features of a (chat request, candidate LLMs) pair: one row per candidate.

The same function serves training (scripts/) and the proxy, so the two cannot drift. It is pure:
no I/O, no clock, no randomness. Rows are float32; `names` and `VERSION` travel with every model
trained on them, and the scorer refuses a model whose feature version differs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from proxy.config import Backend
from proxy.request import ChatRequest

VERSION = "0.1"


@dataclass(frozen=True)
class PromptInfo:
    """What the rest of the pipeline needs to know about the prompt itself."""

    tokens: int
    words: int
    task: str = "open_chat"


@dataclass(frozen=True)
class Features:
    version: str
    names: tuple[str, ...]
    candidates: tuple[str, ...]
    rows: np.ndarray  # float32, shape (len(candidates), len(names))
    prompt: PromptInfo

    def column(self, name: str) -> np.ndarray:
        return self.rows[:, self.names.index(name)]


NAMES = (
    "prompt_tokens_log",
    "prompt_words_log",
    "turns",
    "has_system",
    "has_tools",
    "llm_params_log",
    "llm_context_log",
    "llm_price_in_log",
    "llm_price_out_log",
)


def compute_features(request: ChatRequest, candidates: Sequence[Backend]) -> Features:
    text = "\n".join(m.text for m in request.messages)
    words = len(text.split())
    tokens = max(1, math.ceil(len(text) / 4))
    prompt_part = [
        math.log1p(tokens),
        math.log1p(words),
        float(sum(1 for m in request.messages if m.role == "user")),
        float(any(m.role in ("system", "developer") for m in request.messages)),
        float(request.needs_tools),
    ]
    rows = [
        prompt_part
        + [
            math.log1p(b.parameters_b or 0.0),
            math.log1p(b.context_window or 0),
            math.log1p(b.prices.input_per_token * 1e6),
            math.log1p(b.prices.output_per_token * 1e6),
        ]
        for b in candidates
    ]
    return Features(
        version=VERSION,
        names=NAMES,
        candidates=tuple(b.name for b in candidates),
        rows=np.asarray(rows, dtype=np.float32).reshape(len(candidates), len(NAMES)),
        prompt=PromptInfo(tokens=tokens, words=words),
    )

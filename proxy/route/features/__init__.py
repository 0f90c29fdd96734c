"""Features of a (chat request, candidate LLMs) pair: one row per candidate.

The same function serves training (proxy/training) and the proxy, so the two cannot drift. It is pure:
no I/O, no clock, no randomness (the shipped vocabularies and text models are loaded once, by
`load_resources`, and passed in or cached). Rows are float32; `names` and `VERSION` travel with every
model trained on them, and the scorer refuses a model whose feature version differs.

Three groups, by name prefix (the seed's three families):
- `p_*` prompt features (`prompt.py`): length, complexity, domain, task type, tone, structure, and
  a semantic vector; identical on every row;
- `l_*` LLM features (`llm.py`): size, maker, age, context, prices, latency, accuracy, training domain,
  specialisations, capabilities; from the candidate's `LLMProfile` (catalog + backend config);
- `x_*` intersection features (`cross.py`): task match, vocabulary alignment, complexity vs size,
  expected latency and cost, capability gaps, prior success on similar prompts (`History`); and
  `x_lexical_logit` (`lexical.py`): the candidate's own classifier over the prompt's words, when the
  models directory has one for it (`LexicalHeads`).

Vocabularies: `lexicon.py`; task rule set: `task.py`; tokenizer: `tokens.py`; semantic vector: `semantic.py`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from proxy.request import ChatRequest
from proxy.route.features import cross, lexical, llm, prompt
from proxy.route.features.history import History
from proxy.route.features.lexical import LexicalHeads
from proxy.route.features.lexicon import DOMAINS, TASKS, Lexicon, load_lexicon
from proxy.route.features.semantic import load_semantic
from proxy.route.features.text import conversation
from proxy.route.features.tokens import TokenCounter, load_token_counter
from proxy.route.features.vocab import Vocabulary, build_vocabulary
from proxy.route.lineup import LineupCache
from proxy.route.profile import LLMProfile

VERSION = "1.1"
_NON_ASCII_SHARE = prompt.NAMES.index("p_non_ascii_share")

__all__ = [
    "DOMAINS",
    "TASKS",
    "VERSION",
    "Features",
    "History",
    "LexicalHeads",
    "PromptInfo",
    "Resources",
    "compute_features",
    "default_resources",
    "feature_names",
    "load_resources",
    "rows_from_log",
]


@dataclass(frozen=True)
class PromptInfo:
    """What the rest of the pipeline needs to know about the prompt itself."""

    tokens: int
    words: int
    task: str = "open_chat"
    task_probs: tuple[float, ...] = ()  # in `TASKS` order
    domain: str = "general"
    expected_output_tokens: int = 0
    buckets: tuple[str, ...] = ()  # History buckets of this prompt (for logging outcomes and leave-one-out)
    demanding: bool = False  # a proof, system design, tricky code... (`demand.py`): the scorers weigh in a prior


@dataclass(frozen=True)
class Features:
    version: str
    names: tuple[str, ...]
    candidates: tuple[str, ...]
    rows: np.ndarray  # float32, shape (len(candidates), len(names))
    prompt: PromptInfo

    def column(self, name: str) -> np.ndarray:
        return self.rows[:, self.names.index(name)]

    def for_log(self, rows: bool = True) -> dict[str, Any]:
        """What the log keeps of the features: the candidates, a digest of the names (which
        `feature_names()` of the logged feature version gives back) and, when `rows`, the rows as float32
        little-endian bytes in base64 (a JSON list of 1,500 floats cost the request path ~0.6 ms to write;
        even so, ~8 KB a call). `rows_from_log` reverses it."""
        logged: dict[str, Any] = {"candidates": list(self.candidates), "names_sha256": _names_digest(self.names)}
        if rows:
            logged["rows_f32le_b64"] = base64.b64encode(self.rows.astype("<f4", copy=False).tobytes()).decode("ascii")
        return logged


def rows_from_log(logged: Mapping[str, Any]) -> np.ndarray:
    """The (candidates x features) float32 rows of a logged `Features.for_log()`."""
    raw = base64.b64decode(logged["rows_f32le_b64"])
    return np.frombuffer(raw, dtype="<f4").reshape(len(logged["candidates"]), -1)


@cache
def _names_digest(names: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


@dataclass(frozen=True)
class Resources:
    """The shipped text models the features need; load once (app lifespan, script start)."""

    lexicon: Lexicon
    vocab: Vocabulary
    tokens: TokenCounter
    # Per-candidate features depend on the profiles only: the stacked block of a candidate list is built once.
    block: LineupCache[cross.CandidateBlock] = field(
        default_factory=lambda: LineupCache(_candidate_block), repr=False, compare=False
    )

    @property
    def semantic_dims(self) -> int:
        return int(self.vocab.projection.shape[1])

    @cached_property
    def names(self) -> tuple[str, ...]:
        return prompt.names(self.semantic_dims) + llm.NAMES + cross.NAMES + lexical.NAMES


def load_resources(tokenizer_file: Path | None = None) -> Resources:
    lexicon = load_lexicon()
    return Resources(
        lexicon=lexicon,
        vocab=build_vocabulary(lexicon, load_semantic()),
        tokens=load_token_counter(tokenizer_file),
    )


def _candidate_block(profiles: tuple[LLMProfile, ...]) -> cross.CandidateBlock:
    return cross.candidate_block(tuple(map(cross.candidate_side, profiles)))


@cache
def default_resources() -> Resources:
    """Loaded on first use (never at import)."""
    return load_resources()


def feature_names(resources: Resources | None = None) -> tuple[str, ...]:
    return (resources or default_resources()).names


def compute_features(
    request: ChatRequest,
    profiles: Sequence[LLMProfile],
    history: History | None = None,
    *,
    resources: Resources | None = None,
    heads: LexicalHeads | None = None,
) -> Features:
    """One row per candidate profile (a backend's is `Backend.profile`). `heads`: the lexical heads of the
    models in use (without them every candidate's lexical logit is its prior's)."""
    res = resources or default_resources()
    conv = conversation(request.messages)
    a = prompt.analyze(request, conv, res.vocab, res.lexicon, res.tokens)
    side = cross.prompt_side(request, a, a.values[_NON_ASCII_SHARE])
    names = res.names
    n_p, n_l = len(a.values), len(llm.NAMES)
    rows = np.empty((len(profiles), len(names)), dtype=np.float32)
    rows[:, :n_p] = np.asarray(a.values, dtype=np.float32)
    if profiles:
        block = res.block(profiles)
        rows[:, n_p : n_p + n_l] = block.llm
        n_x = len(cross.NAMES)
        rows[:, n_p + n_l : n_p + n_l + n_x] = cross.cross_block(side, block, history)
        if heads is None:
            rows[:, -1] = block.lexical_prior
        else:
            rows[:, -1] = heads.logits(lexical.vectorize_words(conv.ask_words), block.history_keys, block.lexical_prior)
    return Features(
        version=VERSION,
        names=names,
        candidates=tuple(p.name for p in profiles),
        rows=rows,
        prompt=PromptInfo(
            tokens=a.tokens,
            words=a.words,
            task=a.task,
            task_probs=a.task_probs,
            domain=a.domain,
            expected_output_tokens=a.expected_output_tokens,
            buckets=side.buckets,
            demanding=a.demanding,
        ),
    )

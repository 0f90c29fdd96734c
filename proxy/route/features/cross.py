"""Intersection features: how well this prompt and this candidate fit together.

- task match: the predicted task distribution against the model's specialisations (reasoning
  counts for math, RAG for QA/extraction);
- vocabulary alignment: the prompt's domain scores against the model's training domain;
- response complexity vs size: how demanding the ask looks times how small the model is (size from
  parameters, or from its output price when the size is not published);
- expected latency: TTFT + expected output tokens / tokens per second (reasoning models are assumed
  to think 3x the answer length), plus expected cost and context fill;
- capability gaps: tools, images or JSON requested from a model without them;
- prior success on similar prompts: `History` rates for the model overall, on the predicted task,
  the top domain and the semantic bucket (leave-one-out during training, see history.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from proxy.request import ChatRequest
from proxy.route.features.history import NEUTRAL_RATE, History
from proxy.route.features.lexical import prior_logit
from proxy.route.features.lexicon import DOMAINS, TASKS
from proxy.route.features.llm import (
    NEUTRAL_PRICE_PER_M,
    NEUTRAL_TOKENS_PER_S,
    NEUTRAL_TTFT_S,
    effective_params_b,
    llm_vector,
)
from proxy.route.features.prompt import PromptAnalysis
from proxy.route.profile import LLMProfile

REASONING_OUTPUT_FACTOR = 3.0
_DOMAIN_OF_TRAINING = {"code": "code", "math": "mathematical", "medical": "medical", "legal": "legal"}
_DOMAIN_OF_TRAINING |= {"financial": "financial", "scientific": "scientific"}
_SPEC_HELPS = {"reasoning": ("math", "code"), "rag": ("qa", "extraction", "summarization")}

NAMES = (
    "x_task_match",
    "x_domain_align",
    "x_offdomain_specialist",
    "x_multilingual_fit",
    "x_complexity_vs_size",
    "x_expected_latency_log",
    "x_expected_cost_log",
    "x_context_fill",
    "x_context_overflow",
    "x_missing_tools",
    "x_missing_vision",
    "x_missing_json",
    "x_prior_success",
    "x_prior_task_success",
    "x_prior_domain_success",
    "x_prior_similar_success",
    "x_prior_task_evidence_log",
)


def buckets(a: PromptAnalysis) -> tuple[str, str, str, str]:
    """The History buckets of a prompt, in the order the prior-success features use them."""
    code = "".join("1" if v > 0 else "0" for v in a.semantic[:4])
    return ("all", f"task:{a.task}", f"domain:{a.domain}", f"sem:{code}")


@dataclass(frozen=True)
class PromptSide:
    """What the intersection features need from the prompt, computed once for all candidates."""

    request: ChatRequest
    analysis: PromptAnalysis
    buckets: tuple[str, str, str, str]
    non_ascii_share: float


def prompt_side(request: ChatRequest, a: PromptAnalysis, non_ascii_share: float) -> PromptSide:
    return PromptSide(
        request=request,
        analysis=a,
        buckets=buckets(a),
        non_ascii_share=non_ascii_share,
    )


@dataclass(frozen=True)
class CandidateSide:
    """What the intersection features need from a candidate; depends on the profile only, so cached."""

    llm: tuple[float, ...]  # the candidate's LLM features (llm.NAMES)
    task_weight: tuple[float, ...]  # per task in TASKS: 1 if specialised, +0.5 per helping skill
    own_domain: str | None
    multilingual: bool
    size: float
    ttft_s: float
    tokens_per_s: float
    input_per_token: float
    output_per_token: float
    output_factor: float
    context_window: int | None
    supports_tools: bool
    supports_vision: bool
    supports_json: bool
    history_key: str
    accuracy: float | None


def candidate_side(p: LLMProfile) -> CandidateSide:
    weights = [1.0 if t in p.specializations else 0.0 for t in TASKS]
    for spec, tasks in _SPEC_HELPS.items():
        if spec in p.specializations:
            for t in tasks:
                weights[TASKS.index(t)] += 0.5
    return CandidateSide(
        llm=llm_vector(p),
        task_weight=tuple(weights),
        own_domain=_DOMAIN_OF_TRAINING.get(p.training_domain),
        multilingual=p.training_domain == "multilingual" or "translation" in p.specializations,
        size=_size_score(p),
        ttft_s=p.ttft_s if p.ttft_s is not None else NEUTRAL_TTFT_S,
        tokens_per_s=max(p.tokens_per_s if p.tokens_per_s is not None else NEUTRAL_TOKENS_PER_S, 1e-3),
        input_per_token=p.input_per_token if p.input_per_token is not None else NEUTRAL_PRICE_PER_M / 1e6,
        output_per_token=p.output_per_token if p.output_per_token is not None else NEUTRAL_PRICE_PER_M / 1e6,
        output_factor=REASONING_OUTPUT_FACTOR if p.reasoning else 1.0,
        context_window=p.context_window,
        supports_tools=p.supports_tools,
        supports_vision=p.supports_vision,
        supports_json=p.supports_json,
        history_key=p.history_key,
        accuracy=p.accuracy,
    )


@dataclass(frozen=True)
class CandidateBlock:
    """The candidate sides of one candidate list, stacked into columns (and the prompt-independent parts of the
    intersection features worked out), so the intersection features of every candidate are a few vector
    operations instead of a Python loop per candidate."""

    llm: np.ndarray  # (n, len(llm.NAMES))
    task_weight: np.ndarray  # (n, len(TASKS))
    has_own_domain: np.ndarray  # (n,) bool
    own_domain: np.ndarray  # (n,) index into DOMAINS, -1 for none
    own_domain_score: np.ndarray  # (n,) index into a prompt's domain scores plus a trailing 0 for none
    multilingual: np.ndarray
    small: np.ndarray  # 1 - size
    ttft_s: np.ndarray
    tokens_per_s: np.ndarray
    input_per_token: np.ndarray
    output_per_token: np.ndarray
    output_factor: np.ndarray
    context_known: np.ndarray  # (n,) bool
    context_window: np.ndarray  # 1 for unknown (only divided by where known)
    lacks: np.ndarray  # (n, 3): lacks tools, vision, JSON
    priors: tuple[tuple[str, float | None], ...]  # (History key, accuracy): the prior-success features' inputs
    no_history_prior: np.ndarray  # (n, 5): the prior-success columns when no History is given
    history_keys: tuple[str, ...]  # whose lexical head scores each candidate
    lexical_prior: np.ndarray  # (n,): the lexical logit of a candidate without a head (`lexical.prior_logit`)


def candidate_block(sides: tuple[CandidateSide, ...]) -> CandidateBlock:
    def col(values: list[float]) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    n = len(sides)
    own = np.asarray([DOMAINS.index(c.own_domain) if c.own_domain else -1 for c in sides], dtype=np.intp)
    window = col([float(c.context_window or 0) for c in sides])
    priors = [c.accuracy if c.accuracy is not None else NEUTRAL_RATE for c in sides]
    lacks = [(not c.supports_tools, not c.supports_vision, not c.supports_json) for c in sides]
    return CandidateBlock(
        llm=np.asarray([c.llm for c in sides], dtype=np.float64).reshape(n, -1),
        task_weight=np.asarray([c.task_weight for c in sides], dtype=np.float64).reshape(n, len(TASKS)),
        has_own_domain=own >= 0,
        own_domain=own,
        own_domain_score=np.where(own >= 0, own, len(DOMAINS)),
        multilingual=col([float(c.multilingual) for c in sides]),
        small=col([1.0 - c.size for c in sides]),
        ttft_s=col([c.ttft_s for c in sides]),
        tokens_per_s=col([c.tokens_per_s for c in sides]),
        input_per_token=col([c.input_per_token for c in sides]),
        output_per_token=col([c.output_per_token for c in sides]),
        output_factor=col([c.output_factor for c in sides]),
        context_known=window > 0,
        context_window=np.where(window > 0, window, 1.0),
        lacks=np.asarray(lacks, dtype=np.float64).reshape(n, 3),
        priors=tuple((c.history_key, c.accuracy) for c in sides),
        no_history_prior=np.asarray([[p, p, p, p, 0.0] for p in priors], dtype=np.float64).reshape(n, 5),
        history_keys=tuple(c.history_key for c in sides),
        lexical_prior=col([prior_logit(c.accuracy) for c in sides]),
    )


def cross_block(ps: PromptSide, b: CandidateBlock, history: History | None) -> np.ndarray:
    """The intersection features (`NAMES`) of every candidate: shape (n, len(NAMES))."""
    a, request = ps.analysis, ps.request
    out = np.empty((len(b.priors), len(NAMES)), dtype=np.float64)
    out[:, 0] = b.task_weight @ np.asarray(a.task_probs, dtype=np.float64)
    out[:, 1] = np.asarray((*a.domain_scores, 0.0), dtype=np.float64)[b.own_domain_score]
    top = DOMAINS.index(a.domain) if a.domain in DOMAINS else -2
    out[:, 2] = b.has_own_domain & (b.own_domain != top)
    out[:, 3] = ps.non_ascii_share * b.multilingual
    out[:, 4] = a.complexity * b.small
    out_tokens = a.expected_output_tokens * b.output_factor
    out[:, 5] = np.log1p(b.ttft_s + out_tokens / b.tokens_per_s)
    out[:, 6] = np.log1p((a.tokens * b.input_per_token + out_tokens * b.output_per_token) * 1000.0)
    fill = np.where(b.context_known, (a.tokens + a.expected_output_tokens) / b.context_window, 0.0)
    out[:, 7] = np.minimum(fill, 10.0)
    out[:, 8] = fill > 1.0
    out[:, 9:12] = b.lacks * (request.needs_tools, request.needs_vision, request.needs_json)
    out[:, 12:] = b.no_history_prior if history is None else history.prior_rows(b.priors, ps.buckets)
    return out


def _size_score(p: LLMProfile) -> float:
    """0 (tiny) .. 1 (frontier): log-parameters when published, else log output price."""
    if p.parameters_b is not None:
        return min(1.0, max(0.0, math.log10(max(effective_params_b(p), 1.0)) / 3.0))
    if p.output_per_token is not None:
        return min(1.0, math.log1p(p.output_per_token * 1e6) / math.log1p(75.0))
    return 0.5

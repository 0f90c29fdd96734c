"""LLM features: what a candidate is, independent of the prompt.

Unknown values (a model the catalog does not know, a closed model's size) get a fixed neutral value
and an `*_known` flag, so a never-seen backend still has a row and the model can learn how much to
trust it. The neutral values are mid-range for the catalog (34B parameters, 32k context, $1/M tokens,
0.6 s TTFT, 50 tokens/s, released mid-2024), not zeros, which would read as "tiny and free".
"""

from __future__ import annotations

import math
from datetime import date

from proxy.route.features.lexicon import TASKS
from proxy.route.profile import MAKERS, LLMProfile

TRAINING_DOMAINS = (
    "general",
    "code",
    "math",
    "medical",
    "legal",
    "financial",
    "scientific",
    "multilingual",
    "conversational",
)
EXTRA_SPECS = ("reasoning", "tools", "rag")
EPOCH = date(2023, 1, 1)  # release dates are measured from here (fixed, so features do not depend on the clock)

NEUTRAL_PARAMS_B = 34.0
NEUTRAL_CONTEXT = 32768
NEUTRAL_MAX_OUTPUT = 4096
NEUTRAL_PRICE_PER_M = 1.0
NEUTRAL_TTFT_S = 0.6
NEUTRAL_TOKENS_PER_S = 50.0
NEUTRAL_RELEASE_YEARS = 1.5
NEUTRAL_ACCURACY = 0.7

NAMES = (
    "l_in_catalog",
    "l_params_log",
    "l_active_params_log",
    "l_params_known",
    "l_open_weights",
    "l_release_years",
    "l_release_known",
    *(f"l_maker_{m}" for m in MAKERS),
    "l_context_log",
    "l_max_output_log",
    "l_price_in_log",
    "l_price_out_log",
    "l_price_known",
    "l_ttft_s",
    "l_tokens_per_s_log",
    "l_latency_known",
    "l_accuracy",
    "l_accuracy_known",
    *(f"l_trained_{d}" for d in TRAINING_DOMAINS),
    *(f"l_spec_{s}" for s in TASKS + EXTRA_SPECS),
    "l_supports_tools",
    "l_supports_vision",
    "l_supports_json",
    "l_reasoning",
)


def llm_vector(p: LLMProfile) -> tuple[float, ...]:
    """The candidate's LLM features."""
    params = p.parameters_b
    release = _years(p.release_date)
    price_in, price_out = p.input_per_token, p.output_per_token
    price_known = price_in is not None and price_out is not None
    if price_in is None or price_out is None:
        price_in = price_out = NEUTRAL_PRICE_PER_M / 1e6
    values = (
        float(p.catalog_id is not None),
        math.log1p(params if params is not None else NEUTRAL_PARAMS_B),
        math.log1p(effective_params_b(p)),
        float(params is not None),
        float(bool(p.open_weights)),
        release if release is not None else NEUTRAL_RELEASE_YEARS,
        float(release is not None),
        *(float(p.maker == m) for m in MAKERS),
        math.log1p(p.context_window or NEUTRAL_CONTEXT),
        math.log1p(p.max_output_tokens or NEUTRAL_MAX_OUTPUT),
        math.log1p(price_in * 1e6),
        math.log1p(price_out * 1e6),
        float(price_known),
        p.ttft_s if p.ttft_s is not None else NEUTRAL_TTFT_S,
        math.log1p(p.tokens_per_s if p.tokens_per_s is not None else NEUTRAL_TOKENS_PER_S),
        float(p.ttft_s is not None and p.tokens_per_s is not None),
        p.accuracy if p.accuracy is not None else NEUTRAL_ACCURACY,
        float(p.accuracy is not None),
        *(float(p.training_domain == d) for d in TRAINING_DOMAINS),
        *(float(s in p.specializations) for s in TASKS + EXTRA_SPECS),
        float(p.supports_tools),
        float(p.supports_vision),
        float(p.supports_json),
        float(p.reasoning),
    )
    return values


def effective_params_b(p: LLMProfile) -> float:
    """Parameters used per token (active ones for mixture-of-experts), neutral when unknown."""
    if p.active_parameters_b is not None:
        return p.active_parameters_b
    return p.parameters_b if p.parameters_b is not None else NEUTRAL_PARAMS_B


def _years(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return (date.fromisoformat(iso) - EPOCH).days / 365.25
    except ValueError:
        return None

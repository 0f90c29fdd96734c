"""Budget policy: what a call may cost at worst (held against its key's budget while it runs), and routing a
key whose budget runs low, and that asked for it, to the cheapest candidates that fit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from proxy.limits.meter import Meter
from proxy.request import ChatRequest
from proxy.route.choice import estimate_cost
from proxy.settings import ApiKey, Backend, Config

# Output tokens assumed for a backend that states no output limit, when the request sets no max_tokens.
UNKNOWN_OUTPUT_LIMIT = 16_384


def worst_case_cost(config: Config, prices: Mapping[str, Backend], chat: ChatRequest) -> float:
    """The most `chat` can cost: its prompt (a token per 3 characters, plus 8 per message: more than any
    tokenizer the simulated and real backends use counts for English text) and
    every choice writing `max_tokens` (or the backend's output limit), at the dearest backend it may reach:
    the backend it names, or any candidate of the alias (or of `router.candidates`)."""
    alias = config.alias(chat.model)
    names = (chat.controls.candidates or alias.candidates) if alias is not None else (chat.model,)
    prompt = sum(math.ceil(len(m.text) / 3) + 8 for m in chat.messages)
    n = chat.params.get("n") or 1
    worst = 0.0
    for name in names:
        backend = prices.get(name)
        if backend is None:
            continue
        limit = backend.max_output_tokens or UNKNOWN_OUTPUT_LIMIT
        output = min(chat.max_output_tokens or limit, limit) * n
        worst = max(worst, estimate_cost(backend, prompt, output, backend.timeout_s))
    return worst


def cheaper_when_low(meter: Meter, key: ApiKey | None, chat: ChatRequest) -> ChatRequest:
    """`chat` with routing controls that spend least, when `key` chose "cheaper" and its budget is low."""
    if key is None or key.on_budget_low != "cheaper":
        return chat
    budget = meter.budget(key)
    if budget.state != "low" or budget.remaining_usd is None:
        return chat
    limit = min(budget.remaining_usd, chat.controls.max_cost_usd or budget.remaining_usd)
    cheaper = replace(
        chat.controls,
        min_acceptability=0.0,
        cost_weight=1.0,
        latency_weight=0.0,
        quality_weight=0.0,
        max_cost_usd=limit,
    )
    return replace(chat, controls=cheaper)

"""Budget policy: a key whose budget runs low, and that asked for it, is routed to the cheapest candidates that fit."""

from __future__ import annotations

from dataclasses import replace

from proxy.limits.meter import Meter
from proxy.request import ChatRequest
from proxy.settings import ApiKey


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

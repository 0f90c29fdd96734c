"""One profile per backend: the capability filter, the costs and the features read the same values.

A backend's config that sets only `name` and `model` must leave the catalog's description in force for
every consumer: before, the filter read a twin built from litellm's cost map (tools on, no context window
for claude-v2) while the features read the catalog (no tools, 100,000 tokens).
"""

from __future__ import annotations

from typing import Any

import pytest

from proxy import config as config_mod
from proxy.request import parse_chat
from proxy.route.catalog import load_catalog
from proxy.route.features import default_resources
from proxy.route.router import Knowledge, Router
from proxy.route.scoring import PriorScorer
from scripts.profile_disagreements import disagreements

CATALOG = load_catalog()


def minimal(*models: str) -> config_mod.Config:
    return config_mod.parse({"backend": [{"name": m, "model": m} for m in models]})


def test_filter_costs_and_features_agree_for_every_catalog_model() -> None:
    config = minimal(*sorted(CATALOG.entries))
    knowledge = Knowledge.load(config, resources=default_resources())
    assert len(config.backends) == len(CATALOG.entries) > 50
    for b in config.backends:
        seen = knowledge.profiles[b.name]
        assert seen is b.profile, b.name  # the features and the filter (choice._unfit) read one object
        entry = CATALOG.find(b.model)
        assert entry is not None
        for field in ("context_window", "supports_tools", "supports_vision", "supports_json", "max_output_tokens"):
            assert getattr(b.profile, field) == getattr(entry, field), (b.name, field)
        # The cost estimate (backend prices) and the features' prices are the same start-up prices.
        priced = b.prices.source != "none"
        assert seen.input_per_token == (b.prices.input_per_token if priced else None), b.name
        assert seen.output_per_token == (b.prices.output_per_token if priced else None), b.name


def test_the_disagreement_count_is_zero() -> None:
    assert disagreements() == 0


def route(router: Router, **body: Any) -> dict[str, str | None]:
    request = parse_chat({"model": "router", "messages": [{"role": "user", "content": "hi"}], **body})
    decision = router.decide(request)
    assert decision.choice is not None
    return {c.name: c.dropped for c in decision.choice.ranked + decision.choice.dropped}


@pytest.fixture(scope="module")
def router() -> Router:
    config = minimal("claude-v2", "gpt-4o")
    return Router(config, PriorScorer(), knowledge=Knowledge.load(config, resources=default_resources()))


def test_claude_v2_is_dropped_from_a_tools_request(router: Router) -> None:
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    reasons = route(router, tools=tools)
    assert reasons == {"gpt-4o": None, "claude-v2": "does not support tools"}


def test_claude_v2_is_dropped_from_a_prompt_over_its_context_window(router: Router) -> None:
    long = " ".join(["word"] * 105_000)
    request = parse_chat({"model": "router", "messages": [{"role": "user", "content": long}]})
    decision = router.decide(request)
    assert decision.choice is not None and decision.features is not None
    tokens = decision.features.prompt.tokens
    assert 100_000 < tokens < 128_000
    reasons = {c.name: c.dropped for c in decision.choice.ranked + decision.choice.dropped}
    assert reasons == {"gpt-4o": None, "claude-v2": f"needs {tokens} tokens of context, window is 100000"}

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from proxy.request import parse_chat
from proxy.route.choice import NoCandidate, choose, estimate_cost
from proxy.route.scoring import Scores
from proxy.settings import Alias, Backend, Prices


def backend(name: str, price: float, **kw: Any) -> Backend:
    return Backend(name=name, model=f"openai/{name}", prices=Prices(price, price, source="config"), **kw)


BACKENDS = [backend("big", 1e-5), backend("mid", 1e-6), backend("small", 1e-7)]
ALIAS = Alias("router", tuple(b.name for b in BACKENDS), min_acceptability=0.7, cost_weight=1.0, latency_weight=0.0)


def scores(p: list[float], latency: list[float] | None = None) -> Scores:
    n = len(p)
    lat = np.array(latency or [1.0] * n)
    return Scores(tuple(b.name for b in BACKENDS[:n]), np.array(p), lat / 2, lat, np.full(n, 100.0), "test")


def request(**fields: Any) -> Any:
    return parse_chat({"model": "router", "messages": [{"role": "user", "content": "hi"}], **fields})


def test_cheapest_acceptable_candidate_wins_and_the_rest_stand_by() -> None:
    choice = choose(request(), BACKENDS, scores([0.9, 0.8, 0.5]), ALIAS, input_tokens=10)
    assert [c.name for c in choice.ranked] == ["mid", "big", "small"]
    assert choice.reason == "best-utility"
    assert choice.ranked[0].utility is not None and choice.ranked[2].utility is None


def test_when_none_reaches_the_alias_threshold_quality_is_weighed_against_cost() -> None:
    """Nothing reaches 0.7: a likelier answer is bought only where it is worth its cost. Here 'big' is 0.05
    likelier than 'mid' for ten times the cost, so 'mid' serves; the likeliest would have been 'big'."""
    choice = choose(request(), BACKENDS, scores([0.65, 0.6, 0.2]), ALIAS, input_tokens=10)
    assert choice.reason == "best-value"
    assert [c.name for c in choice.ranked] == ["mid", "small", "big"]
    assert all(c.utility is not None for c in choice.ranked)


def test_when_none_reaches_the_alias_threshold_a_large_quality_gain_still_pays() -> None:
    """With a dollar exchange rate (one acceptable answer = $0.01), 'big' costs $0.0011 and is 0.55 likelier."""
    alias = replace(ALIAS, cost_unit_usd=0.01)
    choice = choose(request(), BACKENDS, scores([0.65, 0.1, 0.05]), alias, input_tokens=10)
    assert choice.chosen.name == "big" and choice.reason == "best-value"


def test_when_none_reaches_the_clients_own_threshold_the_most_likely_wins() -> None:
    choice = choose(request(router={"min_acceptability": 0.7}), BACKENDS, scores([0.5, 0.6, 0.4]), ALIAS, 10)
    assert [c.name for c in choice.ranked] == ["mid", "big", "small"]
    assert choice.reason == "most-likely-acceptable"


def test_latency_weight_can_outweigh_cost() -> None:
    alias = Alias("router", ALIAS.candidates, min_acceptability=0.7, cost_weight=0.01, latency_weight=1.0)
    choice = choose(request(), BACKENDS, scores([0.9, 0.9, 0.9], [0.5, 3.0, 3.0]), alias, input_tokens=10)
    assert choice.chosen.name == "big"


def test_per_request_threshold_overrides_the_alias() -> None:
    choice = choose(request(router={"min_acceptability": 0.85}), BACKENDS, scores([0.9, 0.8, 0.5]), ALIAS, 10)
    assert choice.chosen.name == "big"


def test_limits_drop_candidates_with_a_reason() -> None:
    choice = choose(request(router={"max_latency_s": 2.0}), BACKENDS, scores([0.9, 0.8, 0.5], [1, 3, 1]), ALIAS, 10)
    assert [c.name for c in choice.dropped] == ["mid"]
    assert "exceeds max_latency_s" in (choice.dropped[0].dropped or "")
    assert choice.chosen.name == "big"


def test_capabilities_drop_candidates() -> None:
    backends = [
        backend("big", 1e-5, supports_vision=True),
        backend("mid", 1e-6, context_window=50),
        backend("small", 1e-7, supports_tools=False),
    ]
    tools = [{"type": "function", "function": {"name": "f"}}]
    choice = choose(request(tools=tools, max_tokens=100), backends, scores([0.9, 0.9, 0.9]), ALIAS, 10)
    reasons = {c.name: c.dropped for c in choice.dropped}
    assert reasons == {"mid": "needs 110 tokens of context, window is 50", "small": "does not support tools"}


def test_nothing_left_raises_with_every_reason() -> None:
    with pytest.raises(NoCandidate) as info:
        choose(request(router={"max_cost_usd": 0.0}), BACKENDS, scores([0.9, 0.9, 0.9]), ALIAS, 10)
    assert len(info.value.dropped) == 3


def test_cost_adds_every_price_component() -> None:
    b = Backend("x", "m", prices=Prices(input_per_token=1.0, output_per_token=2.0, per_second=3.0, per_call=4.0))
    assert estimate_cost(b, 10, 5, 2) == 10 + 10 + 6 + 4


def test_a_follow_up_stays_with_the_previous_backend_within_the_margin() -> None:
    alias = Alias(
        "router", ALIAS.candidates, min_acceptability=0.7, cost_weight=1.0, latency_weight=0.0, stickiness=1.5
    )
    choice = choose(request(), BACKENDS, scores([0.9, 0.8, 0.5]), alias, 10, previous="big")
    assert choice.chosen.name == "big" and choice.reason == "sticky"
    assert [c.name for c in choice.ranked] == ["big", "mid", "small"]


def test_a_clearly_better_candidate_wins_over_stickiness() -> None:
    alias = Alias(
        "router", ALIAS.candidates, min_acceptability=0.7, cost_weight=1.0, latency_weight=0.0, stickiness=0.1
    )
    choice = choose(request(), BACKENDS, scores([0.9, 0.8, 0.5]), alias, 10, previous="big")
    assert choice.chosen.name == "mid" and choice.reason == "best-utility"


def test_escalation_is_immediate_when_the_previous_backend_is_not_acceptable() -> None:
    alias = Alias("router", ALIAS.candidates, min_acceptability=0.7, stickiness=100.0)
    choice = choose(request(), BACKENDS, scores([0.9, 0.8, 0.5]), alias, 10, previous="small")
    assert choice.chosen.name == "mid"


def test_quality_weight_buys_a_likelier_answer() -> None:
    base = dict(min_acceptability=0.7, cost_weight=0.1, latency_weight=0.0)
    plain = choose(request(), BACKENDS, scores([0.95, 0.75, 0.5]), Alias("router", ALIAS.candidates, **base), 10)
    assert plain.chosen.name == "mid"
    weighted = Alias("router", ALIAS.candidates, quality_weight=1.0, **base)
    assert choose(request(), BACKENDS, scores([0.95, 0.75, 0.5]), weighted, 10).chosen.name == "big"
    per_request = request(router={"quality_weight": 1.0})
    assert (
        choose(
            per_request, BACKENDS, scores([0.95, 0.75, 0.5]), Alias("router", ALIAS.candidates, **base), 10
        ).chosen.name
        == "big"
    )


def test_cost_unit_usd_prices_cost_in_dollars_on_every_request() -> None:
    """Per-request shares make the dearest candidate cost 1 on a short prompt and on a long one alike; a cost
    unit in dollars makes a long (dear) prompt go to the cheaper candidate at the same settings."""
    p = scores([0.95, 0.75])
    relative = Alias("router", ("big", "mid"), min_acceptability=0.0, cost_weight=0.1, quality_weight=1.0)
    assert choose(request(), BACKENDS[:2], p, relative, input_tokens=10).chosen.name == "big"
    assert choose(request(), BACKENDS[:2], p, relative, input_tokens=10_000).chosen.name == "big"
    dollars = replace(relative, cost_weight=1.0, cost_unit_usd=0.01)
    assert choose(request(), BACKENDS[:2], p, dollars, input_tokens=10).chosen.name == "big"
    assert choose(request(), BACKENDS[:2], p, dollars, input_tokens=10_000).chosen.name == "mid"

"""Route: the decision half of the request path, features -> scores -> choice, with no I/O.

`Router.decide` is what the pipeline, `/v1/route`, replay and benchmarks call: the same code ranks a
request whether it is served, explained or replayed from the log. It reads the circuit breakers (an
open backend is dropped, with the reason), the conversation memory (stickiness) and the price book (the
backends with their current prices, taken once per decision), and applies the alias's exploration rate
only when asked to (serving, not explaining).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from proxy.breaker import CircuitBreakers
from proxy.catalog import LLMProfile, load_catalog
from proxy.choice import Choice, NoCandidate, choose, explore
from proxy.config import Alias, Backend, Config
from proxy.conversations import ConversationMemory
from proxy.errors import BadRequest, NotFound, ServiceUnavailable
from proxy.features import Features, History, Resources, compute_features, load_resources
from proxy.prices import PriceBook
from proxy.request import ChatRequest
from proxy.scoring import Scorer, Scores


@dataclass(frozen=True)
class Decision:
    """Where a request goes: the serving order, and for routed requests what the router saw."""

    order: tuple[Backend, ...]
    alias: Alias | None = None
    features: Features | None = None
    scores: Scores | None = None
    choice: Choice | None = None
    exploration: bool = False
    selection_probability: float | None = None  # None for a request that named its backend

    def predictions(self, backend: str) -> dict[str, float] | None:
        if self.choice is None:
            return None
        cand = next((c for c in self.choice.ranked if c.name == backend), None)
        if cand is None:
            return None
        return {"p_acceptable": cand.p_acceptable, "latency_s": cand.latency_s, "cost_usd": cand.cost_usd}

    def summary(self) -> dict[str, Any] | None:
        """The routing decision as logged and as `/v1/route` and `x-router-explain: 1` show it."""
        if self.choice is None:
            return None
        return {
            "alias": self.alias.name if self.alias else None,
            "model": self.choice.chosen.name,
            "reason": self.choice.reason,
            "threshold": self.choice.threshold,
            "model_version": self.scores.model_version if self.scores else None,
            "feature_version": self.features.version if self.features else None,
            "task": self.features.prompt.task if self.features else None,
            # Serving order first (chosen, then fallbacks), then the dropped ones with the reason.
            "candidates": [asdict(c) for c in self.choice.ranked + self.choice.dropped],
        }


@dataclass(frozen=True)
class Knowledge:
    """What the router knows of each backend and of past outcomes, loaded once at start-up."""

    profiles: Mapping[str, LLMProfile]  # backend name -> catalog entry overlaid by the backend's config
    history: History
    resources: Resources

    @classmethod
    def load(cls, config: Config) -> Knowledge:
        catalog = load_catalog()
        return cls(
            profiles={b.name: catalog.profile(b) for b in config.backends},
            history=History.from_catalog(catalog),
            resources=load_resources(),
        )


class Router:
    def __init__(
        self,
        config: Config,
        scorer: Scorer,
        *,
        breakers: CircuitBreakers | None = None,
        knowledge: Knowledge | None = None,
        conversations: ConversationMemory | None = None,
        rng: random.Random | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self.config = config
        self.scorer = scorer  # swapped whole by a hot reload; a decision uses the one it started with
        rel = config.reliability
        self.breakers = breakers or CircuitBreakers(rel.breaker_failures, rel.breaker_cooldown_s)
        self.knowledge = knowledge or Knowledge.load(config)
        self.conversations = conversations or ConversationMemory()
        self.rng = rng or random.Random()
        self.prices = prices or PriceBook(config.backends)

    def decide(self, request: ChatRequest, *, explore: bool = False) -> Decision:
        """Where `request` goes. `explore`: let the alias's exploration rate apply (serving, not /v1/route)."""
        table = self.prices.table()
        backend = table.get(request.model)
        if backend is not None:
            return Decision(order=(backend,))
        return self._route(request, explore, table)

    def _route(self, request: ChatRequest, explore_now: bool, table: Mapping[str, Backend]) -> Decision:
        alias = self.config.alias(request.model)
        if alias is None:
            raise NotFound(
                f"The model '{request.model}' does not exist. Available: {', '.join(self.config.model_names())}.",
                param="model",
                code="model_not_found",
            )
        names = request.controls.candidates or alias.candidates
        unknown = [n for n in names if n not in table]
        if unknown:
            raise BadRequest(f"'router.candidates' names unknown backends: {unknown}.", param="router.candidates")
        candidates = [table[n] for n in names]
        profiles = [self.knowledge.profiles[b.name] for b in candidates]
        features = compute_features(request, profiles, self.knowledge.history, resources=self.knowledge.resources)
        scorer = self.scorer
        scores = scorer.score(features, profiles, request.max_output_tokens)
        cooling = {
            b.name: f"circuit open after repeated failures ({wait:.0f}s of cool-down left)"
            for b in candidates
            if (wait := self.breakers.blocked(b.name)) is not None
        }
        previous = self.conversations.previous(request.messages) if alias.stickiness > 0 else None
        try:
            choice = choose(request, candidates, scores, alias, features.prompt.tokens, cooling, previous)
        except NoCandidate as exc:
            if any(c.name in cooling for c in exc.dropped):
                raise ServiceUnavailable(str(exc), code="backends_unavailable", retry_after_s=1.0) from None
            raise BadRequest(str(exc), param="model", code="no_candidate") from None
        explored, probability = False, 1.0
        if explore_now:
            choice, explored, probability = explore(
                choice, alias.exploration_rate, self.rng.random(), self.rng.random()
            )
        by_name = {b.name: b for b in candidates}
        return Decision(
            order=tuple(by_name[c.name] for c in choice.ranked),
            alias=alias,
            features=features,
            scores=scores,
            choice=choice,
            exploration=explored,
            selection_probability=probability,
        )

"""Route: the decision half of the request path, features -> scores -> choice, with no I/O.

`Router.decide` is what the pipeline, `/v1/route`, replay and benchmarks call: the same code ranks a
request whether it is served, explained or replayed from the log. It reads the circuit breakers (an
open backend is dropped, with the reason), the conversation memory (stickiness) and the price book (the
backends with their current prices, taken once per decision), and applies the alias's exploration rate
only when asked to (serving, not explaining).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from proxy.errors import BadRequest, NotFound, ServiceUnavailable
from proxy.request import ChatRequest
from proxy.route.catalog import default_catalog
from proxy.route.choice import Choice, NoCandidate, choose, explore
from proxy.route.conversations import ConversationMemory
from proxy.route.features import Features, History, LexicalHeads, Resources, compute_features, load_resources
from proxy.route.features.lexical import LexicalError
from proxy.route.features.lexical import load as load_heads
from proxy.route.learned import KnowledgeError, Learned
from proxy.route.learned import load as load_learned
from proxy.route.profile import LLMProfile
from proxy.route.scoring import (
    ModelError,
    OnnxScorer,
    Scorer,
    Scores,
    load_scorer,
    prior_latency_s,
    prior_speed,
)
from proxy.route.speed import LiveSpeed
from proxy.settings import Alias, Backend, Config
from proxy.upstream.breaker import CircuitBreakers
from proxy.upstream.prices import PriceBook


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
    live_speed: Mapping[str, Mapping[str, float]] | None = None  # candidates' live speed, where there is evidence
    speed_sources: Mapping[str, str] | None = None  # candidate -> where its prior speed comes from (measured or not)

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
            # A demanding request's P(acceptable) has each model's prior weighed in (`hard_prior`).
            "demanding": self.features.prompt.demanding if self.features else None,
            "live_speed": self.live_speed or None,
            "speed_sources": self.speed_sources,
            # Serving order first (chosen, then fallbacks), then the dropped ones with the reason.
            # Shallow dicts of scalars; asdict() deep-copies, a tenth of a routed call's CPU at low load. A
            # candidate's __dict__ holds its fields in order, so a copy of it is that dict, made in C.
            "candidates": [c.__dict__.copy() for c in self.choice.ranked + self.choice.dropped],
        }


@dataclass(frozen=True)
class Knowledge:
    """What the router knows of each backend and of past outcomes: each backend's profile, adjusted by what the
    models in use were trained with (`proxy.route.learned`), so training and serving see the same features."""

    profiles: Mapping[str, LLMProfile]  # backend name -> `Backend.profile`, as the trained models knew it
    history: History
    resources: Resources
    heads: LexicalHeads | None = None  # the lexical heads the models were trained with

    @classmethod
    def load(
        cls,
        config: Config,
        learned: Learned | None = None,
        resources: Resources | None = None,
        heads: LexicalHeads | None = None,
    ) -> Knowledge:
        profiles = {b.name: b.profile for b in config.backends}
        history = History.from_catalog(default_catalog())
        if learned is not None:
            profiles = {name: learned.profile(p) for name, p in profiles.items()}
            # The trained counts replace the catalog's for every model they cover; others keep the catalog's.
            covered = {m for m, _ in learned.history.counts}
            counts = {k: v for k, v in history.counts.items() if k[0] not in covered} | dict(learned.history.counts)
            history = History(counts=MappingProxyType(counts), strength=learned.history.strength)
        return cls(profiles=profiles, history=history, resources=resources or load_resources(), heads=heads)


# The trained models that ship with the project (a fresh clone routes with them).
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def load_models(config: Config, models_dir: Path, resources: Resources) -> tuple[Scorer, Knowledge]:
    """The scorer of `models_dir` and the knowledge it was trained with, loaded together (ModelError if unusable)."""
    scorer = load_scorer(models_dir, resources.names)
    if not isinstance(scorer, OnnxScorer):
        return scorer, Knowledge.load(config, None, resources)
    try:
        learned = load_learned(models_dir)
        heads = load_heads(models_dir, scorer.manifest)
    except (KnowledgeError, LexicalError) as exc:
        raise ModelError(str(exc)) from None
    return scorer, Knowledge.load(config, learned, resources, heads)


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
        speed: LiveSpeed | None = None,
    ) -> None:
        self.config = config
        # Swapped together by `swap` (a hot reload); a decision reads each once, so it uses one pair.
        self.scorer = scorer
        rel = config.reliability
        self.breakers = breakers or CircuitBreakers(rel.breaker_failures, rel.breaker_cooldown_s)
        self.knowledge = knowledge or Knowledge.load(config)
        self.conversations = conversations or ConversationMemory()
        self.rng = rng or random.Random()
        self.prices = prices or PriceBook(config.backends)
        self.speed = speed or LiveSpeed()

    def swap(self, scorer: Scorer, knowledge: Knowledge) -> None:
        """Put new models and their knowledge in use (no await between the two: decisions see both or neither)."""
        self.scorer, self.knowledge = scorer, knowledge

    def observe_speed(
        self, backend: str, total_s: float, output_tokens: int, ttft_s: float | None, prompt_tokens: int = 0
    ) -> None:
        """A call that `backend` answered at its first try: live speed evidence against the backend's prior (for a
        prompt of `prompt_tokens`, whose prefill the prior's TTFT includes, as the prediction's did)."""
        profile = self.knowledge.profiles.get(backend)
        if profile is None:
            return
        ttft, tokens_per_s = prior_speed(profile, prompt_tokens)
        self.speed.observe(
            backend,
            prior_ttft_s=ttft,
            prior_tokens_per_s=tokens_per_s,
            total_s=total_s,
            output_tokens=output_tokens,
            ttft_s=ttft_s,
            prior_total=lambda: prior_latency_s(profile, prompt_tokens, output_tokens),
        )

    def call_started(self, backend: str, decision: Decision, *, streamed: bool) -> int:
        """A try of `backend` for a routed `decision` is sent: live speed counts it while it runs past the prior's
        time (to its first token when `streamed`), the prior's median for the predicted tokens, so that slow
        calls still in flight are evidence too. The token to `call_ended` with."""
        profile = self.knowledge.profiles.get(backend)
        scores, features = decision.scores, decision.features
        if profile is None or scores is None or features is None or backend not in scores.candidates:
            return self.speed.begin(backend, 0.0)  # no prediction made: nothing to be late against
        prompt_tokens = features.prompt.tokens
        if streamed:
            return self.speed.begin(backend, prior_speed(profile, prompt_tokens)[0], ttft_only=True)
        tokens = float(scores.output_tokens[scores.candidates.index(backend)])
        return self.speed.begin(backend, prior_latency_s(profile, prompt_tokens, tokens))

    def call_ended(self, token: int) -> None:
        self.speed.end(token)

    def live_speeds(self, names: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
        """Backends with live speed evidence (of `names`, default all): TTFT and tokens/s now, and the evidence."""
        speeds = self.speed.speeds()
        out = {}
        for name in speeds if names is None else names:
            speed, profile = speeds.get(name), self.knowledge.profiles.get(name)
            if speed is None or profile is None:
                continue
            ttft, tokens_per_s = prior_speed(profile)
            out[name] = {
                "ttft_s": round(speed.ttft_s(ttft), 4),
                "tokens_per_s": round(speed.tokens_per_s(tokens_per_s), 2),
                "evidence": round(speed.evidence, 2),
            }
        return out

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
        scorer, knowledge = self.scorer, self.knowledge
        profiles = [knowledge.profiles[b.name] for b in candidates]
        features = compute_features(
            request, profiles, knowledge.history, resources=knowledge.resources, heads=knowledge.heads
        )
        scores = scorer.score(features, profiles, request.max_output_tokens)
        ttft, latency = self.speed.adjust(scores.candidates, scores.ttft_s, scores.latency_s)
        live = None
        if ttft is not scores.ttft_s:  # some candidate has live speed evidence
            scores = replace(scores, ttft_s=ttft, latency_s=latency)
            live = self.live_speeds(scores.candidates)
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
            live_speed=live,
            speed_sources={p.name: p.speed_source for p in profiles},
        )

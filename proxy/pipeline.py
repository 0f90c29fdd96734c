"""The request path without HTTP: features -> scores -> choice -> forward -> record.

`Pipeline` is what the app, replay scripts and benchmarks drive. Routed requests (model = a routing
alias) go through every stage; a request naming a backend goes straight to forward and record.
Before the first byte reaches the client, a failed upstream call falls back to the next candidate in
the choice's order (unless the request turned fallbacks off); after it, the stream ends with an error
event. Every call, streamed or not, failed or not, is recorded once with its usage and cost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from proxy.choice import Choice, NoCandidate, choose, estimate_cost
from proxy.config import Alias, Backend, Config
from proxy.errors import BadGateway, BadRequest, GatewayTimeout, NotFound, ProxyError, RateLimited, ServiceUnavailable
from proxy.features import Features, compute_features
from proxy.forward import Completion, Forwarder, UpstreamStream, Usage
from proxy.logstore import LogStore, Observation
from proxy.request import ChatRequest
from proxy.scoring import Scorer, Scores

log = logging.getLogger(__name__)

# Upstream failures worth trying the next candidate for; a client error (400, 401, ...) would fail anywhere.
FALLBACK_ON = (BadGateway, GatewayTimeout, RateLimited, ServiceUnavailable)


@dataclass(frozen=True)
class Decision:
    """Where a request goes: the serving order, and for routed requests what the router saw."""

    order: tuple[Backend, ...]
    alias: Alias | None = None
    features: Features | None = None
    scores: Scores | None = None
    choice: Choice | None = None

    def predictions(self, backend: str) -> dict[str, float] | None:
        if self.choice is None:
            return None
        cand = next((c for c in self.choice.ranked if c.name == backend), None)
        if cand is None:
            return None
        return {"p_acceptable": cand.p_acceptable, "latency_s": cand.latency_s, "cost_usd": cand.cost_usd}

    def summary(self) -> dict[str, Any] | None:
        if self.choice is None:
            return None
        return {
            "alias": self.alias.name if self.alias else None,
            "reason": self.choice.reason,
            "threshold": self.choice.threshold,
            "ranked": [asdict(c) for c in self.choice.ranked],
            "dropped": [asdict(c) for c in self.choice.dropped],
        }


@dataclass
class CallContext:
    request_id: str
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    api_key_id: str | None = None


@dataclass
class Answer:
    """A finished non-streamed call."""

    body: dict[str, Any]
    backend: Backend
    headers: dict[str, str]


@dataclass
class StreamAnswer:
    """A streamed call whose first chunk has arrived; iterate `events` for the SSE bytes."""

    events: AsyncIterator[bytes]
    backend: Backend
    headers: dict[str, str]


class Pipeline:
    def __init__(self, config: Config, scorer: Scorer, forwarder: Forwarder, store: LogStore) -> None:
        self.config = config
        self.scorer = scorer
        self.forwarder = forwarder
        self.store = store

    # -- decide ---------------------------------------------------------------------------------------

    def decide(self, request: ChatRequest) -> Decision:
        backend = self.config.backend(request.model)
        if backend is not None:
            return Decision(order=(backend,))
        alias = self.config.alias(request.model)
        if alias is None:
            raise NotFound(
                f"The model '{request.model}' does not exist. Available: {', '.join(self.config.model_names())}.",
                param="model",
                code="model_not_found",
            )
        names = request.controls.candidates or alias.candidates
        unknown = [n for n in names if self.config.backend(n) is None]
        if unknown:
            raise BadRequest(f"'router.candidates' names unknown backends: {unknown}.", param="router.candidates")
        candidates = [b for b in (self.config.backend(n) for n in names) if b is not None]
        features = compute_features(request, candidates)
        scores = self.scorer.score(features, candidates, request.max_output_tokens)
        try:
            choice = choose(request, candidates, scores, alias, features.prompt.tokens)
        except NoCandidate as exc:
            raise BadRequest(str(exc), param="model", code="no_candidate") from None
        by_name = {b.name: b for b in candidates}
        return Decision(
            order=tuple(by_name[c.name] for c in choice.ranked),
            alias=alias,
            features=features,
            scores=scores,
            choice=choice,
        )

    # -- complete -------------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, ctx: CallContext) -> Answer:
        decision = self.decide(request)
        attempts: list[dict[str, Any]] = []
        for backend in self._serving_order(decision, request):
            t = time.perf_counter()
            try:
                done: Completion = await self.forwarder.complete(backend, request)
            except ProxyError as exc:
                attempts.append(_attempt(backend, t, exc))
                if self._may_fall_back(exc, backend, decision, request):
                    continue
                self._record(ctx, request, decision, backend, attempts, error=exc)
                raise
            attempts.append(_attempt(backend, t, None))
            self._record(
                ctx,
                request,
                decision,
                backend,
                attempts,
                usage=done.usage,
                response=done.body,
                upstream_model=done.upstream_model,
            )
            return Answer(done.body, backend, self._headers(ctx, decision, backend, attempts))
        raise AssertionError("unreachable: the serving order is never empty")

    # -- stream ---------------------------------------------------------------------------------------

    async def stream(self, request: ChatRequest, ctx: CallContext) -> StreamAnswer:
        decision = self.decide(request)
        attempts: list[dict[str, Any]] = []
        for backend in self._serving_order(decision, request):
            t = time.perf_counter()
            try:
                upstream = await self.forwarder.open_stream(backend, request)
            except ProxyError as exc:
                attempts.append(_attempt(backend, t, exc))
                if self._may_fall_back(exc, backend, decision, request):
                    continue
                self._record(ctx, request, decision, backend, attempts, error=exc)
                raise
            attempts.append(_attempt(backend, t, None))
            events = self._relay(upstream, request, ctx, decision, backend, attempts)
            return StreamAnswer(events, backend, self._headers(ctx, decision, backend, attempts))
        raise AssertionError("unreachable: the serving order is never empty")

    async def _relay(
        self,
        upstream: UpstreamStream,
        request: ChatRequest,
        ctx: CallContext,
        decision: Decision,
        backend: Backend,
        attempts: list[dict[str, Any]],
    ) -> AsyncIterator[bytes]:
        text = _Transcript()
        error: ProxyError | None = None
        status = 200
        try:
            for chunk in _prepend(upstream.first):
                if (out := _for_client(chunk, request.include_usage)) is not None:
                    text.add(out)
                    yield _sse(out)
            async for chunk in upstream:
                if (out := _for_client(chunk, request.include_usage)) is not None:
                    text.add(out)
                    yield _sse(out)
            yield b"data: [DONE]\n\n"
        except ProxyError as exc:
            # Headers are gone already: the error travels as an SSE event, which the OpenAI SDKs raise.
            error, status = exc, exc.status
            yield _sse(exc.body())
        except (asyncio.CancelledError, GeneratorExit):
            status = 499  # the client went away; the upstream call is closed below
            error = ProxyError("client disconnected", code="client_cancelled")
            raise
        finally:
            await upstream.aclose()
            self._record(
                ctx,
                request,
                decision,
                backend,
                attempts,
                usage=upstream.usage,
                error=error,
                status=status,
                ttft_s=upstream.ttft_s,
                response=text.result(),
                upstream_model=upstream.upstream_model,
            )

    # -- shared ---------------------------------------------------------------------------------------

    def _serving_order(self, decision: Decision, request: ChatRequest) -> Sequence[Backend]:
        return decision.order if request.controls.fallbacks else decision.order[:1]

    def _may_fall_back(self, exc: ProxyError, backend: Backend, decision: Decision, request: ChatRequest) -> bool:
        order = self._serving_order(decision, request)
        return isinstance(exc, FALLBACK_ON) and backend is not order[-1]

    def _headers(
        self, ctx: CallContext, decision: Decision, backend: Backend, attempts: list[dict[str, Any]]
    ) -> dict[str, str]:
        headers = {"x-router-request-id": ctx.request_id, "x-router-model": backend.name}
        predicted = decision.predictions(backend.name)
        if predicted is not None and decision.alias is not None and decision.scores is not None:
            headers.update(
                {
                    "x-router-alias": decision.alias.name,
                    "x-router-p-acceptable": f"{predicted['p_acceptable']:.4f}",
                    "x-router-predicted-latency-s": f"{predicted['latency_s']:.3f}",
                    "x-router-predicted-cost-usd": f"{predicted['cost_usd']:.8f}",
                    "x-router-model-version": decision.scores.model_version,
                }
            )
        if len(attempts) > 1:
            headers["x-router-fallbacks"] = ",".join(a["backend"] for a in attempts[:-1])
        return headers

    def _record(
        self,
        ctx: CallContext,
        request: ChatRequest,
        decision: Decision,
        backend: Backend,
        attempts: list[dict[str, Any]],
        *,
        usage: Usage | None = None,
        error: ProxyError | None = None,
        status: int | None = None,
        ttft_s: float | None = None,
        response: dict[str, Any] | None = None,
        upstream_model: str | None = None,
    ) -> None:
        latency = time.perf_counter() - ctx.t0
        cost = estimate_cost(backend, usage.prompt_tokens, usage.completion_tokens, latency) if usage else None
        features = decision.features
        self.store.record(
            Observation(
                id=ctx.request_id,
                started_at=ctx.started_at,
                requested_model=request.model,
                stream=request.stream,
                status=status if status is not None else (error.status if error else 200),
                latency_s=latency,
                alias=decision.alias.name if decision.alias else None,
                backend=backend.name,
                upstream_model=upstream_model,
                error=error.message if error else None,
                ttft_s=ttft_s,
                input_tokens=usage.prompt_tokens if usage else None,
                output_tokens=usage.completion_tokens if usage else None,
                cost_usd=cost,
                feature_version=features.version if features else None,
                model_version=decision.scores.model_version if decision.scores else None,
                decision=decision.summary(),
                features=(
                    {
                        "names": list(features.names),
                        "candidates": list(features.candidates),
                        "rows": features.rows.tolist(),
                    }
                    if features
                    else None
                ),
                attempts=attempts,
                request=dict(request.body),
                response=response,
                api_key_id=ctx.api_key_id,
            )
        )


def _attempt(backend: Backend, t: float, error: ProxyError | None) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend.name, "seconds": round(time.perf_counter() - t, 6)}
    if error is not None:
        out.update(status=error.status, error=error.message)
    return out


def _prepend(first: dict[str, Any]) -> list[dict[str, Any]]:
    return [first] if first else []


def _for_client(chunk: dict[str, Any], include_usage: bool) -> dict[str, Any] | None:
    """The chunk as the client asked for it: without usage unless it set stream_options.include_usage."""
    if include_usage:
        return chunk
    if not chunk.get("choices") and chunk.get("usage") is not None:
        return None
    chunk.pop("usage", None)
    return chunk


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


class _Transcript:
    """The streamed answer reassembled for the log: text and finish reason per choice."""

    def __init__(self) -> None:
        self.choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: dict[str, Any]) -> None:
        for c in chunk.get("choices", ()):
            slot = self.choices.setdefault(int(c.get("index", 0)), {"content": "", "tool_calls": 0})
            delta = c.get("delta") or {}
            if isinstance(delta.get("content"), str):
                slot["content"] += delta["content"]
            for call in delta.get("tool_calls") or ():
                if call.get("id"):
                    slot["tool_calls"] += 1
            if c.get("finish_reason"):
                slot["finish_reason"] = c["finish_reason"]

    def result(self) -> dict[str, Any]:
        return {"choices": [self.choices[i] for i in sorted(self.choices)]}

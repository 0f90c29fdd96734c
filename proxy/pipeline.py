"""The request path without HTTP: decide (router.py) -> forward -> record.

`Pipeline` is what the app drives. Routed requests (model = a routing alias) go through every stage;
a request naming a backend goes straight to forward and record.
Before the first byte reaches the client, a failed upstream call falls back to the next candidate in
the choice's order (unless the request turned fallbacks off); after it, the stream ends with an error
event. Every call, streamed or not, failed or not, is recorded once with its usage and cost: a log row,
its metrics and one access line on the `proxy.access` logger.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from proxy.dialects.chat_stream import ChatWriter, StreamWriter, Transcript, prepend
from proxy.errors import ProxyError, ServiceUnavailable
from proxy.limits.meter import Meter, Reservation
from proxy.log.records import LogStore, Observation
from proxy.metrics import Metrics
from proxy.request import ChatRequest
from proxy.route.choice import estimate_cost
from proxy.route.measured import tokens_for_chars
from proxy.route.router import Decision, Router
from proxy.settings import ApiKey, Backend
from proxy.upstream.forward import Forwarder, UpstreamStream
from proxy.upstream.retry import call_with_retries, falls_back, is_retryable
from proxy.upstream.transport import Usage

log = logging.getLogger(__name__)
access = logging.getLogger("proxy.access")

T = TypeVar("T")
CLIENT_GONE = 499  # logged status of a call whose client disconnected before it ended (nginx's convention)
SHUTDOWN = 503  # logged status of a call cut by the server's shutdown grace
CLIENT_LEFT = "client disconnected"  # the message work is cancelled with when its client disconnects


@dataclass
class CallContext:
    request_id: str
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    decided_at: float | None = None  # perf_counter when the routing decision was made
    api_key: ApiKey | None = None
    explain: bool = False  # the client asked for the routing explanation (x-router-explain: 1)
    reservation: Reservation | None = None  # the call's worst-case cost held against its key's budget
    # Set by the HTTP layer when the client disconnects mid-response; a stream cancelled without it was cut by
    # the server's shutdown grace.
    client_left: bool = False
    dialect: str = "chat"  # the client's API: chat, completions, messages or responses (the log's `dialect`)


@dataclass
class Answer:
    """A finished non-streamed call. Call `record()` once the response has gone out, or could not: the
    call's log row, metrics and access line are written then, so the client does not wait for them."""

    body: dict[str, Any]
    backend: Backend
    headers: dict[str, str]
    record: Callable[[], None]
    native: str | None = None  # the API of a passed-through body ("anthropic", "responses"); None: a chat completion


@dataclass
class StreamAnswer:
    """A streamed call whose first chunk has arrived; iterate `events` for the SSE bytes, and await
    `finish()` once the response is over, so a response that ended before `events` ran still closes
    the upstream call and is logged (as 499)."""

    events: AsyncIterator[bytes]
    backend: Backend
    headers: dict[str, str]
    finish: Callable[[], Awaitable[None]]


class Pipeline:
    def __init__(
        self,
        router: Router,
        forwarder: Forwarder,
        store: LogStore,
        meter: Meter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.router = router
        self.config = router.config
        self.breakers = router.breakers
        self.conversations = router.conversations
        self.forwarder = forwarder
        self.store = store
        self.meter = meter or Meter()
        self.metrics = metrics or Metrics()
        log_settings = self.config.log
        self._keep_rows = log_settings.feature_rows == "always" or log_settings.bodies != "full"

    def decide(self, request: ChatRequest, *, explore: bool = False) -> Decision:
        return self.router.decide(request, explore=explore)

    # -- serve --------------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, ctx: CallContext) -> Answer:
        decision, attempts, done, backend = await self._start(request, ctx, self.forwarder.complete)

        def record() -> None:
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
            text = done.text if done.text is not None else _first_answer(done.body)
            self.conversations.answered(request.messages, text, backend.name)

        return Answer(done.body, backend, self._headers(ctx, decision, backend, attempts), record, done.native)

    async def stream(self, request: ChatRequest, ctx: CallContext, writer: StreamWriter | None = None) -> StreamAnswer:
        """Serve a streamed call; `writer` writes its events (default: OpenAI chat chunks)."""
        decision, attempts, upstream, backend = await self._start(request, ctx, self.forwarder.open_stream)
        started = False
        out = upstream.writer(writer or ChatWriter(request.include_usage))

        async def events() -> AsyncIterator[bytes]:
            nonlocal started
            started = True
            async for event in self._relay(upstream, request, ctx, decision, backend, attempts, out):
                yield event

        async def finish() -> None:
            nonlocal started
            if not started:  # the response ended before the first byte went out: the relay never ran
                started = True
                await upstream.aclose()
                error, status = _cut(ctx)
                self._record(ctx, request, decision, backend, attempts, error=error, status=status)

        return StreamAnswer(events(), backend, self._headers(ctx, decision, backend, attempts), finish)

    async def _start(
        self, request: ChatRequest, ctx: CallContext, call: Callable[..., Awaitable[T]]
    ) -> tuple[Decision, list[dict[str, Any]], T, Backend]:
        """Decide, then serve until a backend answers; a request that fails everywhere is recorded here."""
        decision = self.decide(request, explore=True)
        ctx.decided_at = time.perf_counter()
        attempts: list[dict[str, Any]] = []
        try:
            result, backend = await self._serve(decision, request, attempts, call)
        except ProxyError as exc:
            self._record(ctx, request, decision, self._failed_backend(exc, decision), attempts, error=exc)
            raise
        except asyncio.CancelledError as exc:  # the client went away, or the server is shutting down
            tried = self.router.prices.backend(attempts[-1]["backend"]) if attempts else None
            gone, status = _cancelled(exc)
            self._record(ctx, request, decision, tried or decision.order[0], attempts, error=gone, status=status)
            raise
        return decision, attempts, result, backend

    async def _serve(
        self,
        decision: Decision,
        request: ChatRequest,
        attempts: list[dict[str, Any]],
        call: Callable[..., Awaitable[T]],
    ) -> tuple[T, Backend]:
        """Try the serving order: each backend with retries, then the next (fallback), within the deadline.

        Every try is appended to `attempts`. Only upstream failures (timeouts, connection errors, 429,
        5xx) are retried, fall back and count against a backend's circuit; an upstream refusing the
        gateway's key falls back only; a client error is raised at once.
        """
        rel = self.config.reliability
        deadline = time.monotonic() + rel.deadline_s
        tries = (decision.alias.retry_attempts if decision.alias else None) or rel.retry_attempts
        last: ProxyError | None = None
        for backend in self._serving_order(decision, request):
            if time.monotonic() >= deadline:
                break
            if not self.breakers.acquire(backend.name):
                attempts.append({"backend": backend.name, "skipped": "circuit open"})
                continue

            async def one_try(backend: Backend = backend) -> T:
                t = time.perf_counter()
                in_flight = self.router.call_started(backend.name, decision, streamed=request.stream)
                try:
                    result = await call(backend, request, timeout_s=max(0.001, deadline - time.monotonic()))
                except ProxyError as exc:
                    attempts.append(_attempt(backend, t, exc))
                    raise
                except asyncio.CancelledError as exc:
                    gone, status = _cancelled(exc)
                    attempts.append({**_attempt(backend, t, gone), "status": status})
                    raise
                finally:
                    self.router.call_ended(in_flight)
                attempts.append(_attempt(backend, t, None))
                return result

            try:
                result = await call_with_retries(
                    one_try, attempts=tries, base_s=rel.backoff_base_s, max_s=rel.backoff_max_s, deadline=deadline
                )
            except asyncio.CancelledError:
                self.breakers.release(backend.name)  # says nothing about the backend's health
                raise
            except ProxyError as exc:
                last = exc
                if not falls_back(exc):
                    self.breakers.release(backend.name)
                    raise
                if is_retryable(exc):
                    self.breakers.failure(backend.name)
                else:  # the gateway's own key was refused: nothing wrong with the backend itself
                    self.breakers.release(backend.name)
                continue
            self.breakers.success(backend.name)
            return result, backend
        if last is not None:
            raise last
        wait = min((self.breakers.blocked(b.name) or 0.0) for b in decision.order)
        raise ServiceUnavailable(
            "Every backend this request could use is failing and cooling down; retry shortly.",
            code="backends_unavailable",
            retry_after_s=max(wait, 1.0),
        )

    async def _relay(
        self,
        upstream: UpstreamStream,
        request: ChatRequest,
        ctx: CallContext,
        decision: Decision,
        backend: Backend,
        attempts: list[dict[str, Any]],
        writer: StreamWriter,
    ) -> AsyncIterator[bytes]:
        text = upstream.transcript()
        error: ProxyError | None = None
        status = 200
        try:
            for chunk in prepend(upstream.first):
                text.add(chunk.data)
                if (event := writer.chunk(chunk)) is not None:
                    yield event
            async for chunk in upstream:
                text.add(chunk.data)
                if (event := writer.chunk(chunk)) is not None:
                    yield event
            yield writer.done()
            self.conversations.answered(request.messages, text.first_answer(), backend.name)
        except ProxyError as exc:
            error, status = exc, exc.status
            yield writer.failed(exc)
        except (asyncio.CancelledError, GeneratorExit):
            error, status = _cut(ctx)  # the client went away, or the shutdown grace ran out; closed below
            raise
        finally:
            await upstream.aclose()
            usage = upstream.usage or _estimated_usage(request, decision, text)
            self._record(
                ctx,
                request,
                decision,
                backend,
                attempts,
                usage=usage,
                usage_source="upstream" if upstream.usage else "estimated",
                error=error,
                status=status,
                ttft_s=upstream.ttft_s,
                response=text.result(),
                upstream_model=upstream.upstream_model,
            )

    # -- shared ---------------------------------------------------------------------------------------

    def _serving_order(self, decision: Decision, request: ChatRequest) -> Sequence[Backend]:
        fallbacks = request.controls.fallbacks and (decision.alias is None or decision.alias.fallbacks)
        return decision.order if fallbacks else decision.order[:1]

    def _failed_backend(self, exc: ProxyError, decision: Decision) -> Backend:
        return (self.router.prices.backend(exc.backend) if exc.backend else None) or decision.order[0]

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
        summary = decision.summary() if ctx.explain else None
        if summary is not None:
            headers["x-router-explain"] = json.dumps(summary, separators=(",", ":"), default=_round)
        tried = [a for a in attempts if "skipped" not in a]
        if len(tried) > 1:
            headers["x-router-attempts"] = str(len(tried))
        passed_over = list(dict.fromkeys(a["backend"] for a in attempts if a["backend"] != backend.name))
        if passed_over:
            headers["x-router-fallbacks"] = ",".join(passed_over)
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
        usage_source: str | None = None,
    ) -> None:
        latency = time.perf_counter() - ctx.t0
        cost = estimate_cost(backend, usage.prompt_tokens, usage.completion_tokens, latency) if usage else None
        if usage is not None:
            self.meter.add_usage(ctx.api_key, usage.prompt_tokens + usage.completion_tokens, cost or 0.0)
            if error is None and len(attempts) == 1 and usage_source != "estimated":
                self._observe_speed(ctx, backend, attempts[0], usage, ttft_s, latency)
        if ctx.reservation is not None:  # the actual cost is counted now: the worst case is no longer held
            ctx.reservation.settle()
        features = decision.features
        self.store.record(
            observation := Observation(
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
                features=features.for_log(rows=self._keep_rows) if features else None,
                attempts=attempts,
                request=dict(request.body),
                response=response,
                api_key_id=ctx.api_key.id if ctx.api_key else None,
                usage_source=usage_source or ("upstream" if usage else None),
                exploration=decision.exploration,
                selection_probability=decision.selection_probability,
                dialect=ctx.dialect,
            )
        )
        self.metrics.observe(observation, decision, ctx.decided_at - ctx.t0 if ctx.decided_at else None)
        _access_line(observation, decision)

    def _observe_speed(
        self,
        ctx: CallContext,
        backend: Backend,
        attempt: dict[str, Any],
        usage: Usage,
        ttft_s: float | None,
        latency: float,
    ) -> None:
        """Live speed evidence from a call answered at its first try. A non-streamed try's seconds are the whole
        upstream call; a stream's try ends at its first chunk, so its upstream time is the call's since the decision."""
        if ttft_s is None:
            total = float(attempt.get("seconds") or 0.0)
        else:
            total = latency - ((ctx.decided_at or ctx.t0) - ctx.t0)
        self.router.observe_speed(backend.name, total, usage.completion_tokens, ttft_s, usage.prompt_tokens)


def _access_line(obs: Observation, decision: Decision) -> None:
    """One line per call: who answered, how, how fast, at what cost (no bodies, no keys)."""
    if not access.isEnabledFor(logging.INFO):
        return
    call = {
        "alias": obs.alias,
        "backend": obs.backend,
        "status": obs.status,
        "stream": obs.stream,
        "latency_s": round(obs.latency_s, 4),
        "ttft_s": None if obs.ttft_s is None else round(obs.ttft_s, 4),
        "input_tokens": obs.input_tokens,
        "output_tokens": obs.output_tokens,
        "cost_usd": obs.cost_usd,
        "attempts": len(obs.attempts),
        "reason": decision.choice.reason if decision.choice else None,
        "model_version": obs.model_version,
    }
    access.info(
        "%s -> %s %d in %.3fs", obs.requested_model, obs.backend, obs.status, obs.latency_s, extra={"call": call}
    )


def _first_answer(body: dict[str, Any]) -> str:
    """The text of the first choice of a completion, as the client will send it back next turn."""
    choices = body.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    return content if isinstance(content, str) else ""


def _round(value: Any) -> Any:
    return round(float(value), 6)


def _estimated_usage(request: ChatRequest, decision: Decision, text: Transcript) -> Usage:
    """Tokens of a stream that ended before the upstream reported usage (`measured.CHARS_PER_TOKEN`)."""
    if decision.features is not None:
        prompt = decision.features.prompt.tokens
    else:
        prompt = tokens_for_chars(sum(len(m.text) for m in request.messages))
    return Usage(prompt_tokens=prompt, completion_tokens=tokens_for_chars(text.characters()))


def _client_gone() -> ProxyError:
    """What is recorded for a call whose client disconnected before it ended (with status CLIENT_GONE)."""
    return ProxyError(CLIENT_LEFT, code="client_cancelled")


def _cut(ctx: CallContext) -> tuple[ProxyError, int]:
    """Why a stream already answering stopped: its client left (the HTTP layer saw the disconnect), or else the
    server cut it at the end of its shutdown grace."""
    return (_client_gone(), CLIENT_GONE) if ctx.client_left else _shutdown()


def _shutdown() -> tuple[ProxyError, int]:
    return ProxyError("server shutting down: cut at the end of the shutdown grace", code="shutdown"), SHUTDOWN


def _cancelled(exc: asyncio.CancelledError) -> tuple[ProxyError, int]:
    """Why a call was cancelled, and the status it is logged with: its client left (the HTTP layer cancels
    with `CLIENT_LEFT`), or else the server cut it at the end of its shutdown grace."""
    if CLIENT_LEFT in exc.args:
        return _client_gone(), CLIENT_GONE
    return _shutdown()


def _attempt(backend: Backend, t: float, error: ProxyError | None) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend.name, "seconds": round(time.perf_counter() - t, 6)}
    if error is not None:
        out.update(status=error.status, error=error.message)
    return out

"""HTTP only: parse the request, hand it to the pipeline, render the answer or the error.

    POST /v1/chat/completions   chat, routed (model = an alias) or named (model = a backend)
    POST /v1/route              the routing decision for a chat body, without calling any LLM
    POST /v1/embeddings         forwarded to a configured embedding backend (no routing)
    GET  /v1/models             every backend (with its current prices) and routing alias
    POST /v1/feedback           a person's label for a logged call
    GET  /health                liveness
    GET  /ready                 scorer and log store loaded
    GET  /metrics               Prometheus metrics (admin key when metrics.require_admin_key)
    GET  /admin/status          circuits, per-key usage, log writer (admin key)
    POST /admin/reload          swap in new router models without a restart (admin key)
    GET  /ui/, /ui/api/...      the dashboard and its JSON (dashboard.py; admin key when keys are on)

Heavy resources (litellm, the scorer, the log store, the HTTP session) open in the lifespan and live
on `app.state`; nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from proxy import __version__, jsonio
from proxy import config as config_mod
from proxy.errors import BadRequest, InternalError, NotFound, PayloadTooLarge, ProxyError
from proxy.http import dashboard
from proxy.http.auth import KeyRing
from proxy.ids import new_id
from proxy.limits.inflight import InFlightLimit
from proxy.limits.meter import Meter, period_start
from proxy.limits.shared import meter_for
from proxy.log.feedback import parse_feedback
from proxy.log.records import LogStore
from proxy.log.sqlite import open_store
from proxy.logconfig import request_id
from proxy.metrics import CONTENT_TYPE, Metrics
from proxy.pipeline import CLIENT_GONE, Answer, CallContext, Pipeline, StreamAnswer
from proxy.request import ChatRequest, parse_chat, parse_json
from proxy.route.features import load_resources
from proxy.route.router import Knowledge, Router, load_models
from proxy.route.scoring import ModelError, Scorer
from proxy.settings import ApiKey, Config
from proxy.upstream.forward import Forwarder
from proxy.upstream.pricefeed import PriceFeed
from proxy.upstream.prices import PriceBook

log = logging.getLogger(__name__)
T = TypeVar("T")

# The trained models that ship with the project (a fresh clone routes with them).
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def create_app(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    scorer: Scorer | None = None,
    store: LogStore | None = None,
    settle_gc: bool = False,
) -> Starlette:
    """Build the app. `environ` supplies backend API keys (default: the process environment).

    `settle_gc`: tune the garbage collector for serving once started (`_settle_gc`); for the server
    process, not for tests that build many apps in one process.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keys = config_mod.api_keys(config, os.environ if environ is None else environ)
        forwarder = Forwarder(keys)
        await forwarder.start([*config.backends, *config.embeddings])
        log_store = store or open_store(config.log)
        await log_store.start()
        meter = meter_for(log_store)
        for key in config.auth.keys:
            if key.budget_usd is not None:
                since = period_start(key.budget_period, meter.clock())
                meter.seed_spend(key, await log_store.spend_since(key.id, since))
        resources = await asyncio.to_thread(load_resources)
        if scorer is None:
            chosen, knowledge = await asyncio.to_thread(
                load_models, config, config.models_dir or DEFAULT_MODELS_DIR, resources
            )
        else:
            chosen, knowledge = scorer, await asyncio.to_thread(Knowledge.load, config, None, resources)
        prices = PriceBook(config.backends)
        url = config.prices.refresh_url
        feed = PriceFeed(prices, url, config.prices.refresh_interval_s) if url else None
        router = Router(config, chosen, knowledge=knowledge, prices=prices)
        metrics: Metrics = app.state.metrics
        app.state.pipeline = Pipeline(router, forwarder, log_store, meter=meter, metrics=metrics)
        app.state.store = log_store
        metrics.watched.router, metrics.watched.store = router, log_store
        if feed is not None:
            await feed.start()
            metrics.watched.feed = feed
        if settle_gc:
            _settle_gc()
        try:
            yield
        finally:
            if feed is not None:
                await feed.aclose()
            await log_store.aclose()
            await forwarder.aclose()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/route", route, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/feedback", feedback, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/admin/status", admin_status, methods=["GET"]),
            Route("/admin/reload", admin_reload, methods=["POST"]),
            *dashboard.routes(),
        ],
        middleware=[Middleware(InFlightLimit, limit=config.server.max_in_flight)],
        lifespan=lifespan,
        exception_handlers={
            ProxyError: _proxy_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    app.state.config = config
    app.state.keyring = KeyRing(config.auth)
    app.state.metrics = Metrics()
    return app


async def _admit(request: Request, model: str) -> ApiKey | None:
    """Authenticate the caller for `model` and count the request against its limits and budget (401/403/429)."""
    key: ApiKey | None = request.app.state.keyring.identify(request.headers)
    KeyRing.check_model(key, model)
    meter: Meter = request.app.state.pipeline.meter
    await meter.admit(key)
    return key


def _budget_controls(request: Request, key: ApiKey | None, chat: ChatRequest) -> ChatRequest:
    """A key whose budget runs low and that asked for it is routed to the cheapest candidates that fit."""
    if key is None or key.on_budget_low != "cheaper":
        return chat
    budget = request.app.state.pipeline.meter.budget(key)
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


class FastJSONResponse(JSONResponse):
    """Starlette's JSONResponse rendered through orjson (`jsonio`): for the answers on the request path."""

    def render(self, content: Any) -> bytes:
        return jsonio.dumps(content)


def _settle_gc() -> None:
    """What is loaded by now (modules, models, tables) lives as long as the process: frozen, the collector
    stops rescanning it. A larger first generation lets a request's short-lived objects die young rather
    than start a collection every 700 allocations. At c=64 this took GC from ~0.14 ms of a routed call's
    CPU to ~0.002 ms (gc.callbacks timing under scripts/bench.py's load)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


async def chat_completions(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    ctx = CallContext(request_id=new_id())
    request.state.request_id = ctx.request_id
    request_id.set(ctx.request_id)
    request.app.state.keyring.identify(request.headers)  # 401 before reading the body
    chat = parse_chat(parse_json(await _body(request)))
    ctx.api_key = await _admit(request, chat.model)
    chat = _budget_controls(request, ctx.api_key, chat)
    ctx.explain = request.headers.get("x-router-explain") == "1"
    if chat.stream:
        answer = await _unless_client_leaves(request, pipeline.stream(chat, ctx))
        if answer is None:
            return Response(status_code=CLIENT_GONE)  # nobody reads it; the pipeline logged the call
        return _SSE(answer)
    done = await _unless_client_leaves(request, pipeline.complete(chat, ctx), unused=_record_answer)
    if done is None:
        return Response(status_code=CLIENT_GONE)
    return _Answered(done)


async def _unless_client_leaves(
    request: Request, work: Coroutine[Any, Any, T], unused: Callable[[T], object] | None = None
) -> T | None:
    """Await `work`, but cancel it when the client disconnects first (the upstream call is closed and
    the pipeline logs the call as 499); None then. `unused` is given the result of work that finished
    just as this handler was cancelled (a server shutdown), so the result is still accounted for."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    gone.add_done_callback(lambda _: task.cancel())  # a no-op once the work is done
    try:
        return await task  # cancelling this handler cancels the work too
    except asyncio.CancelledError:
        if gone.done() and not gone.cancelled():  # the client left; the work has wound down and logged it
            return None
        if unused is not None and task.done() and not task.cancelled() and task.exception() is None:
            unused(task.result())
        raise
    finally:
        gone.cancel()


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body has been read, so `receive` has nothing else to say)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _record_answer(answer: Answer) -> None:
    answer.record()


class _Answered(FastJSONResponse):
    """A non-streamed answer; its call is recorded once the response has gone out (or failed to), so the
    client does not wait for the log row, metrics, usage and stickiness bookkeeping (~0.1 ms at c=1).
    Unless the socket is write-blocked, nothing yields between the last body write and the recording:
    the client's next request, read by the event loop afterwards, sees this call's usage and metrics."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body, headers=answer.headers)
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.answer.record()


class _SSE(StreamingResponse):
    """The SSE response of a streamed call; however it ends, the call is closed and logged."""

    def __init__(self, answer: StreamAnswer) -> None:
        super().__init__(
            answer.events,
            media_type="text/event-stream",
            headers={**answer.headers, "cache-control": "no-cache", "x-accel-buffering": "no"},
        )
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.answer.finish()


async def route(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    key = request.app.state.keyring.identify(request.headers)
    chat = parse_chat(parse_json(await _body(request)))
    KeyRing.check_model(key, chat.model)
    decision = pipeline.decide(chat)
    if decision.choice is None:
        raise BadRequest(f"'{chat.model}' is a backend, not a routing alias: there is nothing to rank.", param="model")
    summary = decision.summary() or {}
    return FastJSONResponse({"object": "router.decision", **summary})


async def embeddings(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    request.app.state.keyring.identify(request.headers)
    body = parse_json(await _body(request))
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a non-empty string.", param="model")
    text = body.get("input")
    if not (isinstance(text, str) or (isinstance(text, list) and text)):
        raise BadRequest("'input' must be a string or a non-empty array.", param="input")
    await _admit(request, model)
    backend = pipeline.config.embedding(model)
    if backend is None:
        names = [e.name for e in pipeline.config.embeddings]
        raise NotFound(
            f"The embedding model '{model}' does not exist. Available: {', '.join(names) or 'none'}.",
            param="model",
            code="model_not_found",
        )
    result = await pipeline.forwarder.embed(backend, body)
    return FastJSONResponse(result, headers={"x-router-model": backend.name})


async def feedback(request: Request) -> Response:
    key: ApiKey | None = request.app.state.keyring.identify(request.headers)
    label = parse_feedback(parse_json(await _body(request)), key.id if key else None)
    store: LogStore = request.app.state.store
    if not await store.has_call(label.call_id):
        raise NotFound(f"No logged call has request id '{label.call_id}'.", param="request_id", code="call_not_found")
    store.record_label(label)
    return JSONResponse(
        {"object": "feedback", "request_id": label.call_id, "score": label.score, "source": label.source},
        status_code=201,
    )


async def models(request: Request) -> Response:
    config: Config = request.app.state.config
    key: ApiKey | None = request.app.state.keyring.identify(request.headers)
    prices: PriceBook = request.app.state.pipeline.router.prices
    priced = prices.table()
    data: list[dict[str, Any]] = [
        {
            "id": b.name,
            "object": "model",
            "created": 0,
            "owned_by": b.provider or "switchyard",
            "switchyard": {
                "kind": "backend",
                "prices": asdict(priced[b.name].prices),
                "prices_refreshed_at": prices.updated_at,
                "context_window": b.context_window,
                "supports_tools": b.supports_tools,
                "supports_vision": b.supports_vision,
                "supports_json": b.supports_json,
            },
        }
        for b in config.backends
    ]
    data += [
        {
            "id": a.name,
            "object": "model",
            "created": 0,
            "owned_by": "switchyard",
            "switchyard": {"kind": "router", "candidates": list(a.candidates)},
        }
        for a in config.aliases
    ]
    data += [
        {"id": e.name, "object": "model", "created": 0, "owned_by": "switchyard", "switchyard": {"kind": "embedding"}}
        for e in config.embeddings
    ]
    if key is not None and key.models is not None:
        data = [m for m in data if m["id"] in key.models]
    return JSONResponse({"object": "list", "data": data})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    pipeline: Pipeline | None = getattr(request.app.state, "pipeline", None)
    store_ready = bool(getattr(getattr(request.app.state, "store", None), "ready", False))
    checks = {"scorer": pipeline is not None, "log_store": store_ready}
    ok = all(checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


async def metrics_endpoint(request: Request) -> Response:
    if request.app.state.config.metrics.require_admin_key:
        request.app.state.keyring.require_admin(request.headers)
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)


async def admin_status(request: Request) -> Response:
    """Operational state for operators: circuits, per-key usage and budgets, the log writer. Admin key only."""
    request.app.state.keyring.require_admin(request.headers)
    pipeline: Pipeline = request.app.state.pipeline
    store = request.app.state.store
    keys = {}
    for key in pipeline.config.auth.keys:
        budget = pipeline.meter.budget(key)
        keys[key.id] = {**pipeline.meter.usage(key), "budget_usd": key.budget_usd, "budget_state": budget.state}
    return JSONResponse(
        {
            "circuits": pipeline.breakers.snapshot(),
            "keys": keys,
            "log": {"written": getattr(store, "written", None), "dropped": getattr(store, "dropped", None)},
        }
    )


async def admin_reload(request: Request) -> Response:
    """Load new router models and swap them in atomically; a model that does not fit is refused, the old stays.

    Body (optional): {"models_dir": "<path>"}; default: the configured (or shipped) models directory.
    Requests already routed finish on the models they were routed with.
    """
    request.app.state.keyring.require_admin(request.headers)
    pipeline: Pipeline = request.app.state.pipeline
    raw = await _body(request)
    body = parse_json(raw) if raw else {}
    path = body.get("models_dir") if isinstance(body, dict) else None
    if path is not None and not isinstance(path, str):
        raise BadRequest("'models_dir' must be a path.", param="models_dir")
    models_dir = Path(path) if path else (pipeline.config.models_dir or DEFAULT_MODELS_DIR)
    previous = pipeline.router.scorer.version
    try:
        scorer, knowledge = await asyncio.to_thread(
            load_models, pipeline.config, models_dir, pipeline.router.knowledge.resources
        )
    except ModelError as exc:
        raise BadRequest(f"Models not loaded, still using {previous}: {exc}", code="model_mismatch") from None
    pipeline.router.swap(scorer, knowledge)
    log.info("router models reloaded: %s -> %s (%s)", previous, scorer.version, models_dir)
    return JSONResponse({"model_version": scorer.version, "previous": previous, "models_dir": str(models_dir)})


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the configured limit."""
    limit = request.app.state.config.server.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit}.", code="request_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.", code="request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    headers = exc.headers()
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        headers["x-router-request-id"] = request_id
    if exc.backend:
        headers["x-router-model"] = exc.backend
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else None
    body = {"error": {"message": str(exc.detail), "type": "invalid_request_error", "param": None, "code": kind}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    err = InternalError("The proxy failed to handle this request; the error is logged.", code="internal_error")
    return JSONResponse(err.body(), status_code=500)

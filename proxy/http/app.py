"""The app's wiring: open the heavy resources in the lifespan, mount the endpoints, map errors. Nothing else.

    POST /v1/chat/completions   chat, routed (model = an alias) or named (model = a backend)      v1.py
    POST /v1/completions        legacy text completions, served as chat                           completions.py
    POST /v1/messages           Anthropic's Messages API, served as chat (+ /count_tokens)        messages.py
    POST /v1/responses          OpenAI's Responses API, served as chat (+ GET /v1/responses/{id})  responses_api.py
    POST /v1/route              the routing decision for a chat body, without calling any LLM     v1.py
    POST /v1/embeddings         forwarded to a configured embedding backend (no routing)          v1.py
    GET  /v1/models             every backend (with its current prices) and routing alias         v1.py
    GET  /v1/models/{id}        one of them                                                       v1.py
    POST /v1/feedback           a person's label for a logged call                                v1.py
    GET  /health                liveness                                                          ops.py
    GET  /ready                 scorer, log store and transports ready                            ops.py
    GET  /metrics               Prometheus metrics (admin key when metrics.require_admin_key)     ops.py
    GET  /admin/status          circuits, per-key usage, log writer (admin key)                   ops.py
    POST /admin/reload          swap in new router models without a restart (admin key)           ops.py
    GET  /ui/, /ui/api/...      the dashboard and its JSON (admin key when keys are on)           dashboard.py

Heavy resources (litellm, the scorer, the log store, the HTTP session) open in the lifespan and live
on `app.state`; nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from proxy import config as config_mod
from proxy.dialects.response_store import ResponseStore
from proxy.errors import ProxyError
from proxy.http import completions, dashboard, messages, ops, responses, responses_api, v1
from proxy.http.auth import KeyRing
from proxy.limits.inflight import InFlightLimit
from proxy.limits.meter import period_start
from proxy.limits.shared import meter_for
from proxy.log.queue import QueuedLogStore
from proxy.log.records import LogStore
from proxy.log.redact import Redactor
from proxy.log.sqlite import open_store
from proxy.metrics import Metrics
from proxy.pipeline import Pipeline
from proxy.route.features import load_resources
from proxy.route.router import DEFAULT_MODELS_DIR, Knowledge, Router, load_models
from proxy.route.scoring import Scorer
from proxy.settings import Config
from proxy.upstream.forward import Forwarder
from proxy.upstream.pricefeed import PriceFeed
from proxy.upstream.prices import PriceBook


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
        app.state.redactor = Redactor(keys.values())
        if isinstance(log_store, QueuedLogStore):
            log_store.redactor = app.state.redactor
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
            Route("/v1/chat/completions", v1.chat_completions, methods=["POST"]),
            Route("/v1/completions", completions.create, methods=["POST"]),
            Route("/v1/messages", messages.create, methods=["POST"]),
            Route("/v1/messages/count_tokens", messages.count_tokens, methods=["POST"]),
            Route("/v1/responses", responses_api.create, methods=["POST"]),
            Route("/v1/responses/{response_id}", responses_api.retrieve, methods=["GET"]),
            Route("/v1/route", v1.route, methods=["POST"]),
            Route("/v1/embeddings", v1.embeddings, methods=["POST"]),
            Route("/v1/models", v1.models, methods=["GET"]),
            Route("/v1/models/{model:path}", v1.model, methods=["GET"]),
            Route("/v1/feedback", v1.feedback, methods=["POST"]),
            Route("/health", ops.health, methods=["GET"]),
            Route("/ready", ops.ready, methods=["GET"]),
            Route("/metrics", ops.metrics, methods=["GET"]),
            Route("/admin/status", ops.admin_status, methods=["GET"]),
            Route("/admin/reload", ops.admin_reload, methods=["POST"]),
            *dashboard.routes(),
        ],
        middleware=[
            Middleware(InFlightLimit, limit=config.server.max_in_flight, per_key=config.server.max_in_flight_per_key)
        ],
        lifespan=lifespan,
        exception_handlers={
            ProxyError: responses.proxy_error,
            HTTPException: responses.http_error,
            Exception: responses.unexpected_error,
        },
    )
    app.state.config = config
    app.state.keyring = KeyRing(config.auth)
    app.state.response_store = ResponseStore()
    app.state.metrics = Metrics()
    return app


def _settle_gc() -> None:
    """What is loaded by now (modules, models, tables) lives as long as the process: frozen, the collector
    stops rescanning it. A larger first generation lets a request's short-lived objects die young rather
    than start a collection every 700 allocations. At c=64 this took GC from ~0.14 ms of a routed call's
    CPU to ~0.002 ms (gc.callbacks timing under scripts/bench.py's load)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)

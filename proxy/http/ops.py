"""Operators' endpoints: liveness, readiness, Prometheus metrics, status and model reload."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy import __version__
from proxy.errors import BadRequest
from proxy.http.body import read_body
from proxy.metrics import CONTENT_TYPE, Metrics
from proxy.pipeline import Pipeline
from proxy.request import parse_json
from proxy.route.router import DEFAULT_MODELS_DIR, load_models
from proxy.route.scoring import ModelError

log = logging.getLogger(__name__)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    pipeline: Pipeline | None = getattr(request.app.state, "pipeline", None)
    store_ready = bool(getattr(getattr(request.app.state, "store", None), "ready", False))
    # Until litellm's import is done, a call to a backend that needs it waits seconds for it: the first calls
    # would look that much slower (to the client, and to live speed, which would route away from the backend).
    transports_ready = pipeline is not None and pipeline.forwarder.ready
    checks = {"scorer": pipeline is not None, "log_store": store_ready, "transports": transports_ready}
    ok = all(checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


async def metrics(request: Request) -> Response:
    if request.app.state.config.metrics.require_admin_key:
        request.app.state.keyring.require_admin(request.headers)
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE)


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
            "log": {
                "written": getattr(store, "written", None),
                "dropped": getattr(store, "dropped", None),
                "reduced": getattr(store, "reduced", None),
            },
        }
    )


async def admin_reload(request: Request) -> Response:
    """Load new router models and swap them in atomically; a model that does not fit is refused, the old stays.

    Body (optional): {"models_dir": "<path>"}; default: the configured (or shipped) models directory.
    Requests already routed finish on the models they were routed with.
    """
    request.app.state.keyring.require_admin(request.headers)
    pipeline: Pipeline = request.app.state.pipeline
    raw = await read_body(request)
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

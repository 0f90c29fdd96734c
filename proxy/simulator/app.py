"""The simulator's HTTP app: OpenAI-compatible endpoints plus /_sim control endpoints for tests.

POST /v1/chat/completions   chat.py
POST /v1/messages           messages.py: Anthropic's Messages API
POST /v1/responses          responses.py: OpenAI's Responses API
POST /v1/embeddings         hashed unit vectors
GET  /v1/models, GET /health
GET|DELETE /_sim/requests   the last received requests, every endpoint's (method, path, headers, body)
GET|POST|DELETE /_sim/faults  queue faults for the next requests (see faults.py)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proxy.simulator import embeddings
from proxy.simulator.chat import chat_completions
from proxy.simulator.errors import SimError, bad_request
from proxy.simulator.faults import Fault, FaultQueue, parse_fault
from proxy.simulator.labels import KnownPrompts, load_known_prompts
from proxy.simulator.messages import create_message
from proxy.simulator.profiles import load_profiles
from proxy.simulator.recorder import RequestLog, StreamLog
from proxy.simulator.responses import create_response
from proxy.simulator.settings import SimSettings
from proxy.simulator.state import SimState, check_api_key, received_json, sim_state
from proxy.simulator.words import count_tokens

log = logging.getLogger(__name__)

# Embedding model names accepted besides the chat profiles: any name containing "embed".
_EMBEDDING_MARK = "embed"


def create_app(settings: SimSettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        profiles = await asyncio.to_thread(load_profiles, settings.profiles_path)
        if settings.renames:
            profiles = profiles.renamed(settings.renames)
        known: KnownPrompts | None = None
        if settings.data_dir is not None:
            if settings.data_dir.is_dir():
                known = await asyncio.to_thread(load_known_prompts, settings.data_dir, profiles.by_spelling())
            else:
                log.warning("data dir %s does not exist: verdicts come from the profiles only", settings.data_dir)
        size = settings.request_log_size
        app.state.sim = SimState(
            settings, profiles, known, FaultQueue(settings.seed), RequestLog(size), StreamLog(size)
        )
        log.info("simulating %d models (speed %.2f, seed %d)", len(profiles.models), settings.speed, settings.seed)
        yield

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/messages", create_message, methods=["POST"]),
        Route("/v1/responses", create_response, methods=["POST"]),
        Route("/v1/embeddings", create_embeddings, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/_sim/requests", sim_requests, methods=["GET", "DELETE"]),
        Route("/_sim/faults", sim_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/streams", sim_streams, methods=["GET", "DELETE"]),
    ]
    handlers = {SimError: _render_sim_error, HTTPException: _render_http_error}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)


async def _render_sim_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SimError)
    return exc.response()


async def _render_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return SimError(exc.status_code, str(exc.detail)).response()


async def create_embeddings(request: Request) -> Response:
    sim = sim_state(request)
    body = await received_json(request, sim)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("you must provide a model parameter", "model")
    if _EMBEDDING_MARK not in model.lower():
        sim.profile(model)  # 404 unless it is a simulated chat model
    texts = embeddings.inputs(body.get("input"))
    dimensions = body.get("dimensions", embeddings.DEFAULT_DIMENSIONS)
    if (
        not isinstance(dimensions, int)
        or isinstance(dimensions, bool)
        or not 1 <= dimensions <= embeddings.MAX_DIMENSIONS
    ):
        raise bad_request(f"dimensions must be an integer in 1..{embeddings.MAX_DIMENSIONS}", "dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise bad_request("encoding_format must be float or base64", "encoding_format")
    raw_fault = body.get("sim_fault")
    fault = sim.faults.take((model,), "embeddings") or (parse_fault(raw_fault, "sim_fault") if raw_fault else Fault())
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    error = fault.error()
    if error is not None:
        raise error
    n_tokens = sum(count_tokens(t) for t in texts)
    payload = {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": i,
                "embedding": embeddings.encode(embeddings.embed(t, dimensions), encoding),
            }
            for i, t in enumerate(texts)
        ],
        "model": model,
        "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
    }
    return JSONResponse(payload)


async def list_models(request: Request) -> Response:
    sim = sim_state(request)
    check_api_key(request, sim)
    profiles = sim.profiles
    data = []
    for name in profiles.names():
        profile = profiles.get(name)
        owner = profile.provider if profile is not None else "switchyard-sim"
        data.append({"id": name, "object": "model", "created": 0, "owned_by": owner})
    return JSONResponse({"object": "list", "data": data})


async def health(request: Request) -> Response:
    sim = sim_state(request)
    known = 0 if sim.known is None else len(sim.known)
    return JSONResponse({"status": "ok", "models": len(sim.profiles.models), "known_outcomes": known})


async def sim_requests(request: Request) -> Response:
    log_ = sim_state(request).requests
    if request.method == "DELETE":
        return JSONResponse({"cleared": log_.clear()})
    return JSONResponse(log_.as_json())


async def sim_streams(request: Request) -> Response:
    streams = sim_state(request).streams
    if request.method == "DELETE":
        return JSONResponse({"cleared": streams.clear()})
    return JSONResponse(streams.as_json())


async def sim_faults(request: Request) -> Response:
    queue = sim_state(request).faults
    if request.method == "DELETE":
        return JSONResponse({"cleared": queue.clear()})
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("We could not parse the JSON body of your request.") from None
        queue.add(body)
    return JSONResponse({"queued": queue.snapshot()})

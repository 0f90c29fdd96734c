"""The /v1 endpoints: chat completions, the routing decision, embeddings, models and feedback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy.dialects.chat_stream import StreamWriter
from proxy.errors import BadRequest, NotFound
from proxy.http.auth import KeyRing
from proxy.http.body import read_body, unless_client_leaves
from proxy.http.responses import SSE, Answered, FastJSONResponse
from proxy.ids import new_id
from proxy.limits.budget import cheaper_when_low, worst_case_cost
from proxy.log.feedback import parse_feedback
from proxy.log.records import LogStore
from proxy.logconfig import request_id
from proxy.pipeline import CLIENT_GONE, Answer, CallContext, Pipeline
from proxy.request import ChatRequest, parse_chat, parse_json
from proxy.settings import ApiKey, Config
from proxy.upstream.prices import PriceBook


def _caller(request: Request) -> ApiKey | None:
    """The caller's key, as admission (limits/inflight.py) identified it and charged it to its rate (401/429
    there); None when keys are off."""
    key: ApiKey | None = request.state.api_key
    return key


async def read_json(request: Request) -> Any:
    """The request's JSON body, within the input limits (400/408/413)."""
    return parse_json(await read_body(request), request.app.state.config.limits)


def chat_request(request: Request, body: Any) -> ChatRequest:
    """A chat body (the client's, or a dialect's translation), within the input limits, naming only models
    its key may use (400/403)."""
    chat = parse_chat(body, request.app.state.config.limits)
    KeyRing.check_request(_caller(request), chat)
    return chat


async def _chat_body(request: Request) -> ChatRequest:
    return chat_request(request, await read_json(request))


async def chat_completions(request: Request) -> Response:
    ctx = new_call(request)
    chat = await _chat_body(request)
    return await serve_chat(request, ctx, chat)


def new_call(request: Request, dialect: str = "chat") -> CallContext:
    """The call's context, its request id set where error responses and log lines find it; `dialect` is the
    client's API, as the log row records it."""
    ctx = CallContext(request_id=new_id(), dialect=dialect)
    request.state.request_id = ctx.request_id
    request_id.set(ctx.request_id)
    return ctx


async def serve_chat(
    request: Request,
    ctx: CallContext,
    chat: ChatRequest,
    *,
    writer: StreamWriter | None = None,
    render: Callable[[Answer], dict[str, Any]] | None = None,
) -> Response:
    """Serve a chat request: every dialect ends here. `writer` writes a streamed answer's events and `render`
    a non-streamed answer's body in the client's dialect (default: OpenAI chat)."""
    pipeline: Pipeline = request.app.state.pipeline
    ctx.api_key = _caller(request)
    chat = cheaper_when_low(pipeline.meter, ctx.api_key, chat)
    ctx.explain = request.headers.get("x-router-explain") == "1"
    if ctx.api_key is not None and ctx.api_key.budget_usd is not None:  # the worst case is held against a budget
        worst = worst_case_cost(pipeline.config, pipeline.router.prices.table(), chat)
        ctx.reservation = pipeline.meter.reserve(ctx.api_key, worst)
    try:
        if chat.stream:
            answer = await unless_client_leaves(request, pipeline.stream(chat, ctx, writer))
            if answer is None:
                return Response(status_code=CLIENT_GONE)  # nobody reads it; the pipeline logged the call
            return SSE(answer, ctx)
        done = await unless_client_leaves(request, pipeline.complete(chat, ctx))
        if done is None:
            return Response(status_code=CLIENT_GONE)
    except BaseException:  # refused before any upstream call (an unknown model): nothing was recorded
        if ctx.reservation is not None:
            ctx.reservation.settle()
        raise
    if render is not None:
        try:
            done = replace(done, body=render(done))
        except BaseException:
            done.record()  # the call happened and is paid for, whatever becomes of its rendering
            raise
    return Answered(done)


async def route(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    chat = await _chat_body(request)
    decision = pipeline.decide(chat)
    if decision.choice is None:
        raise BadRequest(f"'{chat.model}' is a backend, not a routing alias: there is nothing to rank.", param="model")
    summary = decision.summary() or {}
    return FastJSONResponse({"object": "router.decision", **summary})


async def embeddings(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    key = _caller(request)
    body = parse_json(await read_body(request), request.app.state.config.limits)
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a non-empty string.", param="model")
    text = body.get("input")
    if not (isinstance(text, str) or (isinstance(text, list) and text)):
        raise BadRequest("'input' must be a string or a non-empty array.", param="input")
    KeyRing.check_model(key, model)
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
    """A label for a logged call, from the key that made the call or the admin key: a label trains the router,
    so no tenant may label another's calls. Another key's call is reported as not found, like a missing one,
    so request ids cannot be probed."""
    key = _caller(request)  # None for the admin key, or when keys are off
    body = parse_json(await read_body(request), request.app.state.config.limits)
    label = parse_feedback(body, key.id if key else None)
    store: LogStore = request.app.state.store
    found = await store.has_call(label.call_id)  # waits for the log queue: a call just answered is found
    if found and key is not None:
        calls = await store.read_calls(call_id=label.call_id, limit=1)
        found = bool(calls) and calls[0].api_key_id == key.id
    if not found:
        raise NotFound(f"No logged call has request id '{label.call_id}'.", param="request_id", code="call_not_found")
    store.record_label(label)
    return JSONResponse(
        {"object": "feedback", "request_id": label.call_id, "score": label.score, "source": label.source},
        status_code=201,
    )


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": _model_cards(request)})


async def model(request: Request) -> Response:
    """One model card (`client.models.retrieve`); a model the key may not use is as absent as an unknown one."""
    wanted = request.path_params["model"]
    for card in _model_cards(request):
        if card["id"] == wanted:
            return JSONResponse(card)
    raise NotFound(f"The model '{wanted}' does not exist.", param="model", code="model_not_found")


def _model_cards(request: Request) -> list[dict[str, Any]]:
    """Every backend (with its current prices), routing alias and embedding model the caller's key may use."""
    config: Config = request.app.state.config
    key = _caller(request)
    prices: PriceBook = request.app.state.pipeline.router.prices
    priced = prices.table()
    data: list[dict[str, Any]] = [
        {
            "id": b.name,
            "object": "model",
            "created": 0,
            "owned_by": b.profile.provider or "switchyard",
            "switchyard": {
                "kind": "backend",
                "prices": asdict(priced[b.name].prices),
                "prices_refreshed_at": prices.updated_at,
                "context_window": b.profile.context_window,
                "supports_tools": b.profile.supports_tools,
                "supports_vision": b.profile.supports_vision,
                "supports_json": b.profile.supports_json,
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
    return data

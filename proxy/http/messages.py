"""POST /v1/messages (and /v1/messages/count_tokens): Anthropic's Messages API, served as chat completions
(proxy/dialects/anthropic.py), or passed through as sent to a backend that speaks it (proxy/upstream/native.py).
Errors go out in Anthropic's shape, so its SDKs raise their usual classes; the client's key may come as
`x-api-key`, as Anthropic's clients send it (proxy/http/auth.py). Refusals made before the handler runs (a
missing key, a rate limit: limits/inflight.py) keep the OpenAI shape; Anthropic's SDKs still raise the right
class, which they choose by status."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy import jsonio
from proxy.dialects import anthropic
from proxy.errors import ProxyError
from proxy.http.v1 import chat_request, new_call, read_json, serve_chat
from proxy.pipeline import Answer, Pipeline
from proxy.request import NativeBody
from proxy.route.features.text import words
from proxy.route.features.tokens import text_counts
from proxy.upstream.native import PASSED_HEADERS


async def create(request: Request) -> Response:
    ctx = new_call(request, "messages")
    try:
        body = await read_json(request)
        chat = chat_request(request, anthropic.to_chat(body))
        # Routing reads the translation; a backend that speaks Anthropic's API gets the body itself.
        passed = {k: v for k in PASSED_HEADERS if (v := request.headers.get(k)) is not None}
        chat = replace(chat, native=NativeBody("anthropic", body, passed))

        def render(answer: Answer) -> dict[str, Any]:
            return answer.body if answer.native else anthropic.from_chat(answer.body)

        return await serve_chat(request, ctx, chat, writer=anthropic.MessagesWriter(), render=render)
    except ProxyError as exc:
        return _error(exc, ctx.request_id)


async def count_tokens(request: Request) -> Response:
    """The prompt's tokens as the router counts them (the tokenizer its features use; an estimate for
    long texts): what the gateway will see, not necessarily what a given backend bills."""
    try:
        body = await read_json(request)
        if isinstance(body, dict):
            body = {**body, "max_tokens": 1, "stream": False}
        chat = chat_request(request, anthropic.to_chat(body))
        pipeline: Pipeline = request.app.state.pipeline
        counter = pipeline.router.knowledge.resources.tokens
        text = "\n".join(m.text for m in chat.messages)
        if chat.params.get("tools"):
            text += "\n" + jsonio.dumps_text(chat.params["tools"])
        return JSONResponse({"input_tokens": counter.count(text, text_counts(text, words(text)))})
    except ProxyError as exc:
        return _error(exc, None)


def _error(exc: ProxyError, request_id: str | None) -> Response:
    headers = exc.headers()
    if request_id:
        headers["x-router-request-id"] = request_id
    if exc.backend:
        headers["x-router-model"] = exc.backend
    return JSONResponse(anthropic.error_body(exc), status_code=exc.status, headers=headers)

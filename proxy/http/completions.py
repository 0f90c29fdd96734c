"""POST /v1/completions: legacy text completions, served as chat completions (proxy/dialects/completions.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from proxy.dialects import completions
from proxy.http.body import read_body
from proxy.http.v1 import new_call, serve_chat
from proxy.pipeline import Answer
from proxy.request import parse_chat, parse_json


async def create(request: Request) -> Response:
    ctx = new_call(request)
    request.app.state.keyring.identify(request.headers)  # 401 before reading the body
    legacy = completions.to_chat(parse_json(await read_body(request)))
    chat = parse_chat(legacy.chat)

    def render(answer: Answer) -> dict[str, Any]:
        return completions.from_chat(answer.body, legacy)

    writer = completions.CompletionsWriter(legacy, chat.include_usage)
    return await serve_chat(request, ctx, chat, writer=writer, render=render)

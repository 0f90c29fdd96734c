"""POST /v1/completions: legacy text completions, served as chat completions (proxy/dialects/completions.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from proxy.dialects import completions
from proxy.http.v1 import chat_request, new_call, read_json, serve_chat
from proxy.pipeline import Answer


async def create(request: Request) -> Response:
    ctx = new_call(request, "completions")
    legacy = completions.to_chat(await read_json(request))
    chat = chat_request(request, legacy.chat)

    def render(answer: Answer) -> dict[str, Any]:
        return completions.from_chat(answer.body, legacy)

    writer = completions.CompletionsWriter(legacy, chat.include_usage)
    return await serve_chat(request, ctx, chat, writer=writer, render=render)

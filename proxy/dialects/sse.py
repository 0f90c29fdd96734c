"""Server-sent events as the dialects write them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxy import jsonio
from proxy.errors import ProxyError
from proxy.upstream.transport import StreamChunk


def data(payload: dict[str, Any]) -> bytes:
    """An unnamed event (OpenAI's chat and legacy completions streams)."""
    return b"data: " + jsonio.dumps(payload) + b"\n\n"


def named(event: str, payload: dict[str, Any]) -> bytes:
    """A named event (Anthropic's and the Responses API's streams: the name repeats the payload's `type`)."""
    return b"event: " + event.encode() + b"\ndata: " + jsonio.dumps(payload) + b"\n\n"


class Relay:
    """A passed-through stream (proxy/upstream/native.py) written for the client: each upstream event as it came
    (its own bytes unless `edit` changed it: `edit` returns True then), under the name its `type` gives;
    a failure as `failed` writes it in the client's dialect. The upstream's stream has its own end."""

    def __init__(
        self, failed: Callable[[ProxyError], bytes], edit: Callable[[dict[str, Any]], bool] | None = None
    ) -> None:
        self._failed = failed
        self._edit = edit

    def chunk(self, chunk: StreamChunk) -> bytes | None:
        data, raw = chunk.data, chunk.raw
        if self._edit is not None and self._edit(data):
            raw = None
        payload = raw if raw is not None else jsonio.dumps(data)
        return b"event: " + str(data.get("type", "message")).encode() + b"\ndata: " + payload + b"\n\n"

    def done(self) -> bytes:
        return b""

    def failed(self, error: ProxyError) -> bytes:
        return self._failed(error)

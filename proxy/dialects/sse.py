"""Server-sent events as the dialects write them."""

from __future__ import annotations

from typing import Any

from proxy import jsonio


def data(payload: dict[str, Any]) -> bytes:
    """An unnamed event (OpenAI's chat and legacy completions streams)."""
    return b"data: " + jsonio.dumps(payload) + b"\n\n"


def named(event: str, payload: dict[str, Any]) -> bytes:
    """A named event (Anthropic's and the Responses API's streams: the name repeats the payload's `type`)."""
    return b"event: " + event.encode() + b"\ndata: " + jsonio.dumps(payload) + b"\n\n"

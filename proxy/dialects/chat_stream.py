"""The chat-completions event stream as the client gets it, and the streamed answer reassembled for the log.

`StreamWriter` is how the pipeline writes a chat stream for the client: `ChatWriter` relays OpenAI's chat
chunks (the upstream's own bytes where nothing needs to change); the other dialects write their own events
from the same chunks. `Transcript` collects the streamed answer for the log row and, when the upstream sent
no usage, for the estimate of it.
"""

from __future__ import annotations

from typing import Any, Protocol

from proxy import jsonio
from proxy.errors import ProxyError
from proxy.upstream.transport import StreamChunk


class StreamWriter(Protocol):
    """How a chat stream is written for the client: OpenAI's chat chunks by default (`ChatWriter`); the other
    dialects (legacy completions, Anthropic Messages, the Responses API) write their own events from the same
    chunks. One writer per call: it may keep state across chunks. Every chunk is shown, usage chunks included."""

    def chunk(self, chunk: StreamChunk) -> bytes | None: ...

    def done(self) -> bytes: ...

    def failed(self, error: ProxyError) -> bytes: ...


class ChatWriter:
    """OpenAI chat-completion chunks, relayed as the upstream sent them where nothing needs to change."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def chunk(self, chunk: StreamChunk) -> bytes | None:
        return event_for_client(chunk, self.include_usage)

    def done(self) -> bytes:
        return b"data: [DONE]\n\n"

    def failed(self, error: ProxyError) -> bytes:
        # Headers are gone already: the error travels as an SSE event, which the OpenAI SDKs raise.
        return _sse(error.body())


def prepend(first: StreamChunk) -> list[StreamChunk]:
    return [first] if first.data else []


def event_for_client(chunk: StreamChunk, include_usage: bool) -> bytes | None:
    """The chunk as the client asked for it, as one SSE event: without usage unless it set
    stream_options.include_usage (usage is always asked of the upstream, for the log). A chunk that
    needs no change goes out as the upstream's own bytes, not parsed-and-rewritten JSON."""
    data, raw = chunk.data, chunk.raw
    if not include_usage and "usage" in data:
        if data["usage"] is not None:
            if not data.get("choices"):
                return None  # the usage-only chunk the client did not ask for
        elif raw is not None and raw.endswith(_NULL_USAGE):  # OpenAI's `"usage":null`, always its last key
            return b"data: " + raw[: -len(_NULL_USAGE)] + b"}\n\n"
        return _sse({k: v for k, v in data.items() if k != "usage"})
    if raw is not None:
        return b"data: " + raw + b"\n\n"
    return _sse(data)


_NULL_USAGE = b',"usage":null}'


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + jsonio.dumps(data) + b"\n\n"


class Transcript:
    """The streamed answer reassembled for the log: text and finish reason per choice."""

    def __init__(self) -> None:
        self.choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: dict[str, Any]) -> None:
        for c in chunk.get("choices", ()):
            slot = self.choices.setdefault(int(c.get("index", 0)), {"content": "", "tool_calls": 0})
            delta = c.get("delta") or {}
            if isinstance(delta.get("content"), str):
                slot["content"] += delta["content"]
            for call in delta.get("tool_calls") or ():
                if call.get("id"):
                    slot["tool_calls"] += 1
            if c.get("finish_reason"):
                slot["finish_reason"] = c["finish_reason"]

    def first_answer(self) -> str:
        return str(self.choices[min(self.choices)]["content"]) if self.choices else ""

    def characters(self) -> int:
        return sum(len(c["content"]) for c in self.choices.values())

    def result(self) -> dict[str, Any]:
        return {"choices": [self.choices[i] for i in sorted(self.choices)]}

"""The way out to one backend's upstream, behind one interface, and the values that come back through it.

    Transport           complete / open_stream / embed for one backend; start, aclose
     ├── DirectTransport    direct.py: OpenAI-compatible servers, straight on aiohttp
     └── LiteLLMTransport   litellm_transport.py: every other provider, translated by litellm

Which one a backend gets is decided once, by `kind` (its `transport` setting). A transport sends what
the client asked (with the upstream's model name) and hands back the upstream's answer as it came; every
failure comes out as the `ProxyError` it maps to (`failures.py`). Time limits, connection slots, the
model name the client sees and usage are the forwarder's (`forward.py`), the same on every transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from proxy.request import ChatRequest
from proxy.settings import Backend, EmbeddingBackend

OPENAI_PREFIX = "openai/"

Kind = Literal["direct", "litellm"]


def kind(backend: Backend | EmbeddingBackend) -> Kind:
    """`direct` for `transport = "direct"`, and for "auto" (the default) on OpenAI-compatible ("openai/...")
    models, whose litellm translation is the identity; else `litellm`."""
    setting = getattr(backend, "transport", "auto")
    if setting == "direct" or (setting == "auto" and backend.model.startswith(OPENAI_PREFIX)):
        return "direct"
    return "litellm"


NativeApi = Literal["chat", "anthropic", "responses"]
ANTHROPIC_PREFIX = "anthropic/"


def native_api(backend: Backend | EmbeddingBackend) -> NativeApi:
    """The API a backend's upstream speaks besides being reachable for chat: its `api` setting, or for "auto"
    (the default) Anthropic's Messages API on "anthropic/..." models, else chat only. A Messages or Responses
    request the router sends to a backend speaking its API is passed through (native.py), not translated."""
    setting = getattr(backend, "api", "auto")
    if setting == "anthropic" or (setting == "auto" and backend.model.startswith(ANTHROPIC_PREFIX)):
        return "anthropic"
    return "responses" if setting == "responses" else "chat"


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        if not isinstance(usage, Mapping):
            return None
        return cls(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


@dataclass
class Completion:
    body: dict[str, Any]
    usage: Usage | None
    upstream_model: str | None  # the upstream's own name for the model, as its answer gave it
    native: str | None = None  # the API of a passed-through answer ("anthropic", "responses"); None: chat
    text: str | None = None  # a passed-through answer's text (a chat answer's is in `body`)


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One chunk of an upstream stream: the OpenAI chunk dict, and its JSON exactly as the upstream sent it
    when the upstream speaks OpenAI's format itself (None on the litellm path), so an unchanged chunk is
    relayed without being written again."""

    data: dict[str, Any]
    raw: bytes | None = None


class Chunks(Protocol):
    """An open upstream stream: its chunks until the upstream ends it; `aclose` ends it early or lets go."""

    def __aiter__(self) -> AsyncIterator[StreamChunk]: ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    """One backend's way out. Time limits are the caller's: a call runs until it ends or is cancelled."""

    def start(self) -> None:
        """Open what calls need (a connection pool); called in the running event loop, before any call."""

    async def aclose(self) -> None: ...

    async def ready(self) -> None:
        """Wait until calls can go out (litellm's import); not counted against any call's time limits."""

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        """The upstream's chat completion, as an OpenAI response body."""

    async def open_stream(self, request: ChatRequest) -> Chunks:
        """A streamed chat completion, once the upstream has accepted it (usage always asked for)."""

    async def embed(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """An embeddings response with float vectors, whatever `encoding_format` the client asked for."""

"""Pass-through: a Messages or Responses request sent, as the client wrote it, to a backend that speaks that API.

A `/v1/messages` request routed to an Anthropic backend (`api = "anthropic"`, the default for "anthropic/..."
models) and a `/v1/responses` request routed to a backend with `api = "responses"` skip the chat translation:
the upstream gets the client's body with only `model` replaced by the upstream's name (and the gateway's own
`router` field removed), so what translation would drop (Anthropic's `thinking`, `cache_control`, `top_k`,
`metadata`; Responses' items, `include`, `reasoning.summary`, ...) arrives intact, and its answer (or its
event stream) goes back as it came, with the backend's name in `model`. Anthropic's `anthropic-version` and
`anthropic-beta` headers are passed on from the client.

Everything else is the chat path's: routing reads the translation, the forwarder's time limits and connection
slots, retries and fallbacks (to a backend of any API: the next one may get the translation), error mapping
(failures.py), the log row, cost from the usage the native answer reports (`native_usage`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from proxy import jsonio
from proxy.dialects.chat_stream import Transcript
from proxy.request import PROXY_FIELDS, ChatRequest
from proxy.settings import Backend
from proxy.upstream import failures
from proxy.upstream.direct import SSEChunks, json_object, refused
from proxy.upstream.failures import ErrorDetail
from proxy.upstream.transport import Completion, NativeApi, StreamChunk, Usage

ANTHROPIC_BASE = "https://api.anthropic.com"
OPENAI_BASE = "https://api.openai.com/v1"
ANTHROPIC_VERSION = "2023-06-01"
PASSED_HEADERS = ("anthropic-version", "anthropic-beta")


def url(api: NativeApi, api_base: str | None) -> str:
    """Where the API lives. Anthropic's base is its host, as litellm takes it ("https://api.anthropic.com"; a
    base ending in /v1 or /v1/messages is taken as meant); Responses' base ends in /v1, as OpenAI's SDKs take it."""
    if api == "anthropic":
        base = (api_base or ANTHROPIC_BASE).rstrip("/")
        if base.endswith("/v1/messages"):
            return base
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")
    return (api_base or OPENAI_BASE).rstrip("/") + "/responses"


def upstream_model(model: str) -> str:
    """The upstream's name for a litellm model string: "anthropic/claude-3-5-haiku" -> "claude-3-5-haiku"."""
    return model.split("/", 1)[1] if "/" in model else model


def native_usage(usage: Any, previous: Usage | None = None) -> Usage | None:
    """Usage as both APIs report it (`input_tokens`, `output_tokens`); Anthropic counts cached prompt tokens
    apart, so they are added to the prompt's. A stream's later report (Anthropic's message_delta) updates
    only what it names."""
    if not isinstance(usage, Mapping):
        return previous
    prompt = previous.prompt_tokens if previous else 0
    completion = previous.completion_tokens if previous else 0
    if usage.get("input_tokens") is not None:
        cached = (usage.get("cache_creation_input_tokens") or 0) + (usage.get("cache_read_input_tokens") or 0)
        prompt = int(usage["input_tokens"]) + int(cached)
    if usage.get("output_tokens") is not None:
        completion = int(usage["output_tokens"])
    return Usage(prompt, completion)


def answer_text(body: Mapping[str, Any]) -> str:
    """The text of a Message's content blocks or of a Response's message items (for routing stickiness)."""
    blocks: list[Any] = list(body.get("content") or ())
    for item in body.get("output") or ():
        if isinstance(item, Mapping) and item.get("type") == "message":
            blocks += item.get("content") or ()
    return "".join(
        str(b.get("text", "")) for b in blocks if isinstance(b, Mapping) and b.get("type") in ("text", "output_text")
    )


def envelope(event: dict[str, Any]) -> dict[str, Any] | None:
    """The message (Anthropic's message_start) or response (Responses' response.* events) an event carries."""
    found = event.get("message") if event.get("type") == "message_start" else event.get("response")
    return found if isinstance(found, dict) else None


class NativeTranscript(Transcript):
    """A passed-through stream reassembled for the log, in the shape of a chat stream's (`Transcript`)."""

    def add(self, chunk: dict[str, Any]) -> None:
        kind = chunk.get("type")
        slot = self.choices.setdefault(0, {"content": "", "tool_calls": 0})
        if kind == "content_block_delta":
            text = (chunk.get("delta") or {}).get("text")
            if isinstance(text, str):
                slot["content"] += text
        elif kind == "response.output_text.delta" and isinstance(chunk.get("delta"), str):
            slot["content"] += chunk["delta"]
        elif kind in ("content_block_start", "response.output_item.added"):
            item = chunk.get("content_block") or chunk.get("item") or {}
            if item.get("type") in ("tool_use", "function_call"):
                slot["tool_calls"] += 1
        elif kind == "message_delta":
            slot["finish_reason"] = (chunk.get("delta") or {}).get("stop_reason")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            slot["finish_reason"] = kind.removeprefix("response.")


class NativeEvents(SSEChunks):
    """A native event stream's JSON payloads (each names its event in `type`); a failure the upstream reports
    as an event (Responses' `error`; SSEChunks already raises Anthropic's, which has an `error` object) is
    raised as the error it maps to, before or after the first byte reached the client, as on the chat path."""

    async def __anext__(self) -> StreamChunk:
        chunk = await super().__anext__()
        data = chunk.data
        if data.get("type") == "error":
            detail = ErrorDetail.of(str(data.get("message") or ""), data.get("code"), data.get("param"))
            raise failures.failed_mid_stream(self._backend, detail, self._secrets)
        return chunk


class NativeTransport:
    """One backend's way out for requests in its own API, on aiohttp; the body and answer as they are."""

    def __init__(self, backend: Backend, api: NativeApi, api_key: str | None, secrets: Sequence[str]) -> None:
        self.backend = backend
        self.api = api
        self._name = backend.name
        self._url = url(api, backend.api_base)
        self._model = upstream_model(backend.model)
        self._secrets = secrets
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key and api == "anthropic":
            self._headers["x-api-key"] = api_key
        elif api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(sock_connect=backend.connect_timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0)  # the forwarder caps the calls in flight
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        async with await self._post(request, stream=False) as response:
            return await json_object(response, self._name, self._secrets)

    def completion(self, body: dict[str, Any], model: str | None) -> Completion:
        """The answer as the forwarder hands it on: usage and text read the native way."""
        return Completion(body, native_usage(body.get("usage")), model, native=self.api, text=answer_text(body))

    async def open_stream(self, request: ChatRequest) -> NativeEvents:
        response = await self._post(request, stream=True)
        if response.status != 200:
            raise await refused(response, self._name, self._secrets)
        return NativeEvents(response, self._name, self._secrets)

    async def _post(self, request: ChatRequest, *, stream: bool) -> aiohttp.ClientResponse:
        assert self._session is not None and request.native is not None, "start() first; a native request"
        native = request.native
        body = {k: v for k, v in native.body.items() if k not in PROXY_FIELDS}
        body["model"] = self._model
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        headers = dict(self._headers)
        if self.api == "anthropic":
            headers["anthropic-version"] = ANTHROPIC_VERSION
            headers.update({k: v for k, v in native.headers.items() if k in PASSED_HEADERS})
        try:
            return await self._session.post(self._url, data=jsonio.dumps(body), headers=headers, timeout=self._timeout)
        except aiohttp.ClientError as exc:
            raise failures.unreachable(self._name, str(exc) or type(exc).__name__, self._secrets) from None

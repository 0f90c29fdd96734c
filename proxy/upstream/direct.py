"""The direct transport: OpenAI-compatible upstreams called straight on aiohttp.

For a backend whose litellm model string is `openai/<model>` (OpenAI itself, or any server speaking
its API: vLLM, TGI, llama.cpp, Ollama, the simulator), litellm's provider translation is the
identity, while its per-call machinery (cost calculation, logging payloads, its own client objects)
costs several milliseconds of CPU per call. So such calls go straight out on the backend's own
aiohttp session: the body the client sent (known parameters, unknown fields, `model` set to the
upstream's name), the upstream's JSON back as it came, streams parsed from server-sent events line
by line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from proxy import jsonio
from proxy.errors import BadGateway, ProxyError
from proxy.request import ChatRequest
from proxy.settings import Backend, EmbeddingBackend
from proxy.upstream import failures
from proxy.upstream.failures import ErrorDetail
from proxy.upstream.transport import OPENAI_PREFIX, StreamChunk

DEFAULT_API_BASE = "https://api.openai.com/v1"


def upstream_model(backend: Backend | EmbeddingBackend) -> str:
    model = backend.model
    return model[len(OPENAI_PREFIX) :] if model.startswith(OPENAI_PREFIX) else model


class DirectTransport:
    def __init__(self, backend: Backend | EmbeddingBackend, api_key: str | None, secrets: Sequence[str]) -> None:
        self.backend = backend
        self._name = backend.name
        self._base = (backend.api_base or DEFAULT_API_BASE).rstrip("/")
        self._model = upstream_model(backend)
        self._secrets = secrets
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(sock_connect=getattr(backend, "connect_timeout_s", None))
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        # No connection limit here: the forwarder caps the calls in flight per backend, where the wait for
        # a free slot can be timed apart from the upstream's own time.
        connector = aiohttp.TCPConnector(limit=0)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def ready(self) -> None:
        return None

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        return await self._post_json("/chat/completions", self._chat_body(request, stream=False))

    async def open_stream(self, request: ChatRequest) -> SSEChunks:
        response = await self._post("/chat/completions", self._chat_body(request, stream=True))
        if response.status != 200:
            raise await refused(response, self._name, self._secrets)
        return SSEChunks(response, self._name, self._secrets)

    async def embed(self, body: Mapping[str, Any]) -> dict[str, Any]:
        data = jsonio.dumps({**body, "model": self._model, "encoding_format": "float"})
        return await self._post_json("/embeddings", data)

    def _chat_body(self, request: ChatRequest, *, stream: bool) -> bytes:
        """What litellm would send an OpenAI-compatible server: parameters, unknown fields, the upstream's model."""
        body: dict[str, Any] = dict(request.params)
        body.update(request.extra)
        body["model"] = self._model
        body["messages"] = request.body["messages"]
        if stream:
            body["stream"] = True
            options = body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, Mapping) else {}), "include_usage": True}
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return jsonio.dumps(body)

    async def _post(self, path: str, data: bytes) -> aiohttp.ClientResponse:
        assert self._session is not None, "start() first"
        try:
            return await self._session.post(self._base + path, data=data, headers=self._headers, timeout=self._timeout)
        except aiohttp.ClientError as exc:  # refused, reset, DNS, connect time-out
            raise failures.unreachable(self._name, str(exc) or type(exc).__name__, self._secrets) from None

    async def _post_json(self, path: str, data: bytes) -> dict[str, Any]:
        """One JSON call: the upstream's JSON object, or the error its status maps to."""
        async with await self._post(path, data) as response:
            return await json_object(response, self._name, self._secrets)


async def json_object(response: aiohttp.ClientResponse, name: str, secrets: Sequence[str]) -> dict[str, Any]:
    """An upstream's whole JSON answer (chat, embeddings, or a native Messages/Responses one): the object, or
    the error its status maps to, or a 502 when a 200's body is not a JSON object."""
    try:
        raw = await response.read()
    except aiohttp.ClientError as exc:
        raise failures.cut_off(name, str(exc) or type(exc).__name__, secrets) from None
    if response.status != 200:
        raise answered(response, raw, name, secrets)
    try:
        body = jsonio.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadGateway(f"Upstream {name} answered 200 with a body that is not a JSON object.")
    return body


async def refused(response: aiohttp.ClientResponse, name: str, secrets: Sequence[str]) -> ProxyError:
    """The error a stream's non-200 opening maps to, its connection released."""
    try:
        raw = await response.read()
    except aiohttp.ClientError:
        raw = b""
    finally:
        response.release()
    return answered(response, raw, name, secrets)


def answered(response: aiohttp.ClientResponse, raw: bytes, name: str, secrets: Sequence[str]) -> ProxyError:
    """The error an upstream's non-200 answer maps to, its own message and `param` kept."""
    detail = failures.error_body(raw) or ErrorDetail(raw.decode("utf-8", "replace").strip())
    return failures.answered(name, response.status, detail, response.headers, secrets)


class SSEChunks:
    """The JSON payloads of a server-sent event stream, parsed and as sent, until `[DONE]` or the end."""

    def __init__(self, response: aiohttp.ClientResponse, backend: str, secrets: Sequence[str]) -> None:
        self._response = response
        self._backend = backend
        self._secrets = secrets

    def __aiter__(self) -> SSEChunks:
        return self

    async def __anext__(self) -> StreamChunk:
        content = self._response.content
        while True:
            try:
                line = await content.readline()
            except aiohttp.ClientError as exc:  # the body ended before the stream did
                raise failures.cut_off(self._backend, str(exc) or type(exc).__name__, self._secrets) from None
            if not line:
                raise StopAsyncIteration
            line = line.strip()
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, `event:` and `id:` lines
            data = line[5:].strip()
            if data == b"[DONE]":
                raise StopAsyncIteration
            try:
                chunk = jsonio.loads(data)
            except ValueError:
                raise BadGateway(
                    f"Upstream {self._backend} sent a malformed stream event.", backend=self._backend
                ) from None
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk and "choices" not in chunk:
                detail = failures.error_body(data) or ErrorDetail("")
                raise failures.failed_mid_stream(self._backend, detail, self._secrets)
            return StreamChunk(chunk, data)

    async def aclose(self) -> None:
        """Back to the pool when read to the end; else the connection is dropped."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()

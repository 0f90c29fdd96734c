"""Forward: one upstream call on its backend's transport, within the backend's limits.

Each backend gets its transport once (`transport.kind`: direct for OpenAI-compatible upstreams, litellm
for the rest) and its own cap on calls in flight, `max_connections` (its connection pool). The wait for
a free slot counts against the request's deadline but not against the backend's own limits (`timeout_s`,
`ttft_timeout_s`): those time the upstream, not the gateway's queue in front of it.

Clients see the backend's name in `model`, as /v1/models and x-router-model give it, in streamed chunks
too; the upstream's own name for the model is kept for the log (`upstream_model`). Streams always ask the
upstream for usage, so every streamed call is priced; pipeline.py passes the usage chunk on only to a
client that asked for it. Embeddings are always asked for as floats; base64, which the OpenAI SDKs ask
for by default, is encoded here.
"""

from __future__ import annotations

import array
import asyncio
import base64
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from proxy.dialects.chat_stream import StreamWriter, Transcript
from proxy.errors import BadGateway, GatewayTimeout, ProxyError
from proxy.request import ChatRequest
from proxy.settings import DEFAULT_MAX_CONNECTIONS, Backend, EmbeddingBackend
from proxy.upstream.direct import DirectTransport
from proxy.upstream.litellm_transport import LazyLiteLLM, LiteLLMTransport
from proxy.upstream.native import NativeTranscript, NativeTransport, envelope, native_usage
from proxy.upstream.transport import Chunks, Completion, StreamChunk, Transport, Usage, kind, native_api

log = logging.getLogger(__name__)


@dataclass
class _Route:
    """A backend's way out: its transport, the way out for requests in its own API if it speaks one besides
    chat (native.py), and its slots for calls in flight (shared by both)."""

    backend: Backend | EmbeddingBackend
    transport: Transport
    slots: asyncio.Semaphore
    native: NativeTransport | None = None

    def native_for(self, request: ChatRequest) -> NativeTransport | None:
        """The way out that passes this request through, if it came in the API the backend speaks."""
        if request.native is None or self.native is None or request.native.api != self.native.api:
            return None  # the chat path's one check: request.native is None
        return self.native


class Forwarder:
    def __init__(self, api_keys: Mapping[str, str]) -> None:
        self._keys = dict(api_keys)
        self._secrets = [k for k in self._keys.values() if k]
        self._litellm = LazyLiteLLM()
        self._routes: dict[str, _Route] = {}
        # Replaced by a changed backend of the same name; closed at the end.
        self._retired: list[Transport | NativeTransport] = []

    async def start(self, backends: Iterable[Backend | EmbeddingBackend] = ()) -> None:
        """Open each backend's transport now (litellm's import starts in the background if one needs it);
        a backend first seen in a call gets its transport then."""
        for backend in backends:
            self._route(backend)

    @property
    def ready(self) -> bool:
        """Every transport opened can call at once: not so while litellm's import, begun at start, still runs."""
        return self._litellm.ready

    async def aclose(self) -> None:
        transports: list[Transport | NativeTransport] = [r.transport for r in self._routes.values()]
        transports += self._retired
        transports += [r.native for r in self._routes.values() if r.native is not None]
        self._routes, self._retired = {}, []
        for transport in transports:
            await transport.aclose()
        await self._litellm.aclose()

    def _route(self, backend: Backend | EmbeddingBackend) -> _Route:
        route = self._routes.get(backend.name)
        if route is not None and (route.backend is backend or route.backend == backend):
            return route
        if route is not None:
            self._retired.append(route.transport)
            if route.native is not None:
                self._retired.append(route.native)
        key = self._keys.get(backend.name)
        transport: Transport
        if kind(backend) == "direct":
            transport = DirectTransport(backend, key, self._secrets)
        else:
            transport = LiteLLMTransport(backend, key, self._secrets, self._litellm)
        transport.start()
        native: NativeTransport | None = None
        api = native_api(backend)
        if isinstance(backend, Backend) and api != "chat":
            native = NativeTransport(backend, api, key, self._secrets)
            native.start()
        size = getattr(backend, "max_connections", DEFAULT_MAX_CONNECTIONS)
        route = self._routes[backend.name] = _Route(backend, transport, asyncio.Semaphore(size), native)
        return route

    async def complete(self, backend: Backend, request: ChatRequest, *, timeout_s: float | None = None) -> Completion:
        """One upstream call; `timeout_s` caps the backend's own total timeout (the request's deadline)."""
        route = self._route(backend)
        native = route.native_for(request)
        transport: Transport | NativeTransport = native or route.transport
        if native is None:
            await route.transport.ready()  # a first call may wait for litellm's import, not on the clock
        waited = await _take_slot(route, timeout_s)
        limit = _limit(backend.timeout_s, timeout_s, waited)
        try:
            async with asyncio.timeout(limit):
                body = await transport.complete(request)
        except TimeoutError:
            message = f"Upstream {backend.name} did not answer within {limit:.3g}s."
            raise GatewayTimeout(message, backend=backend.name) from None
        except Exception as exc:
            raise _unexpected(exc, backend) from None
        finally:
            route.slots.release()
        upstream_model = body.get("model")
        body["model"] = backend.name
        if native is not None:
            return native.completion(body, upstream_model)
        return Completion(body=body, usage=Usage.from_openai(body.get("usage")), upstream_model=upstream_model)

    async def open_stream(
        self, backend: Backend, request: ChatRequest, *, timeout_s: float | None = None
    ) -> UpstreamStream:
        """Open a stream and wait for its first chunk, within the time-to-first-token limit."""
        started = time.monotonic()
        route = self._route(backend)
        native = route.native_for(request)
        transport: Transport | NativeTransport = native or route.transport
        if native is None:
            await route.transport.ready()
        waited = await _take_slot(route, timeout_s)
        acquired = time.monotonic()
        total = _limit(backend.timeout_s, timeout_s, waited)
        ttft_limit = min(backend.ttft_timeout_s or total, total)
        chunks: Chunks | None = None
        try:
            async with asyncio.timeout(ttft_limit):
                chunks = await transport.open_stream(request)
                iterator = chunks.__aiter__()
                first = await iterator.__anext__()
        except BaseException as exc:
            try:
                if chunks is not None:
                    await chunks.aclose()
            finally:
                route.slots.release()
            if isinstance(exc, TimeoutError):
                message = f"Upstream {backend.name} sent no first token within {ttft_limit:.3g}s."
                raise GatewayTimeout(message, backend=backend.name) from None
            if isinstance(exc, StopAsyncIteration):
                message = f"Upstream {backend.name} closed the stream without sending anything."
                raise BadGateway(message, backend=backend.name) from None
            if not isinstance(exc, Exception):
                raise  # cancelled: the client left
            raise _unexpected(exc, backend) from None
        relayed = UpstreamStream if native is None else NativeStream
        stream = relayed(backend, chunks, iterator, route.slots, time.monotonic() - started, acquired + total)
        stream.first = stream.observe(first)
        return stream

    async def embed(self, backend: EmbeddingBackend, body: Mapping[str, Any]) -> dict[str, Any]:
        """Forward an embeddings request, in the encoding the client asked for."""
        route = self._route(backend)
        await route.transport.ready()
        await _take_slot(route, backend.timeout_s)
        try:
            async with asyncio.timeout(backend.timeout_s):
                result = await route.transport.embed(body)
        except TimeoutError:
            raise GatewayTimeout(
                f"Upstream {backend.name} did not answer within {backend.timeout_s:.3g}s.", backend=backend.name
            ) from None
        except Exception as exc:
            raise _unexpected(exc, backend) from None
        finally:
            route.slots.release()
        if body.get("encoding_format") == "base64":
            for item in result.get("data", ()):
                floats = array.array("f", item["embedding"])  # little-endian float32, as OpenAI sends it
                if sys.byteorder == "big":
                    floats.byteswap()
                item["embedding"] = base64.b64encode(floats.tobytes()).decode()
        return result


class UpstreamStream:
    """An open upstream stream whose first chunk has already arrived, so failures before it are plain errors.

    Iterating yields the remaining chunks; `usage` and `upstream_model` fill in as chunks pass. A failure
    mid-stream is raised as the `ProxyError` it maps to. `aclose` ends the call and frees its slot.
    """

    def __init__(
        self,
        backend: Backend,
        chunks: Chunks,
        iterator: AsyncIterator[StreamChunk],
        slots: asyncio.Semaphore,
        ttft_s: float,
        deadline: float,
    ) -> None:
        self._backend = backend
        self._chunks = chunks
        self._iterator = iterator
        self._slots = slots
        self._deadline = deadline  # monotonic time by which the whole call must be done
        self._open = True
        self.ttft_s = ttft_s
        self.usage: Usage | None = None
        self.upstream_model: str | None = None
        self.first = StreamChunk({})

    def observe(self, chunk: StreamChunk) -> StreamChunk:
        data = chunk.data
        usage = data.get("usage")
        if usage is not None:
            self.usage = Usage.from_openai(usage) or self.usage
        model = data.get("model")
        if model is None:
            return chunk
        self.upstream_model = model
        if model == self._backend.name:
            return chunk  # relayed as the upstream wrote it
        # Written again from the dict: orjson writes a chunk in ~1.3 us, less than substituting the name in
        # the raw bytes takes (~2.9 us by regex).
        data["model"] = self._backend.name
        return StreamChunk(data)

    def transcript(self) -> Transcript:
        """What reassembles this stream's answer for the log."""
        return Transcript()

    def writer(self, writer: StreamWriter) -> StreamWriter:
        """What writes this stream for the client: `writer`, the client's dialect written from chat chunks."""
        return writer

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        backend = self._backend
        while True:
            wait = min(backend.idle_timeout_s, self._deadline - time.monotonic())
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every chunk in a new task.
                async with asyncio.timeout(max(wait, 0.0)):
                    chunk = await self._iterator.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                if time.monotonic() >= self._deadline:
                    raise GatewayTimeout(f"Upstream {backend.name} exceeded {backend.timeout_s}s.") from None
                raise GatewayTimeout(
                    f"Upstream {backend.name} sent nothing for {backend.idle_timeout_s}s mid-stream."
                ) from None
            except ProxyError:
                raise
            except Exception as exc:
                raise _unexpected(exc, backend) from None
            yield self.observe(chunk)

    async def aclose(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            await self._chunks.aclose()
        finally:
            self._slots.release()


class NativeStream(UpstreamStream):
    """A passed-through stream (native.py): the upstream's own events, relayed by the client dialect's relay
    writer; usage and model read from the events' message or response, where each API puts them."""

    def observe(self, chunk: StreamChunk) -> StreamChunk:
        data = chunk.data
        self.usage = native_usage(data.get("usage"), self.usage)  # Anthropic's message_delta
        found = envelope(data)
        if found is None:
            return chunk
        self.usage = native_usage(found.get("usage"), self.usage)
        model = found.get("model")
        if model is None or model == self._backend.name:
            return chunk
        self.upstream_model = model
        found["model"] = self._backend.name
        return StreamChunk(data)

    def transcript(self) -> Transcript:
        return NativeTranscript()

    def writer(self, writer: StreamWriter) -> StreamWriter:
        relay = getattr(writer, "relay", None)  # the Messages and Responses writers: only they send native requests
        assert relay is not None, f"{type(writer).__name__} cannot relay a native stream"
        relayed: StreamWriter = relay()
        return relayed


async def _take_slot(route: _Route, wait_s: float | None) -> float:
    """Take one of the backend's slots for a call in flight; the seconds it took to come free."""
    slots = route.slots
    if not slots.locked():
        await slots.acquire()
        return 0.0
    started = time.monotonic()
    try:
        async with asyncio.timeout(wait_s):
            await slots.acquire()
    except TimeoutError:
        name = route.backend.name
        raise GatewayTimeout(
            f"Every connection to upstream {name} stayed busy for {wait_s:.3g}s (max_connections reached).",
            backend=name,
        ) from None
    return time.monotonic() - started


def _limit(backend_s: float, request_s: float | None, waited: float) -> float:
    """The time an upstream call may take: the backend's limit, cut to what is left of the request's."""
    return backend_s if request_s is None else min(backend_s, max(0.001, request_s - waited))


def _unexpected(exc: Exception, backend: Backend | EmbeddingBackend) -> ProxyError:
    if isinstance(exc, ProxyError):
        return exc
    log.exception("unexpected error calling backend %s", backend.name)
    return BadGateway(f"Upstream {backend.name} failed: {type(exc).__name__}.", backend=backend.name)

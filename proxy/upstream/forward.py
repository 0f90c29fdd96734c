"""Forward: the call to the upstream LLM, through litellm or, for OpenAI-compatible upstreams, directly
(`passthrough.py`). The only module that imports litellm.

litellm is imported only when a backend needs it: in the background when the app starts with such a
backend, else on first use; never at import time. Its import takes seconds and, without
``LITELLM_LOCAL_MODEL_COST_MAP=True``, fetches a price file from the internet. One aiohttp session is
shared by every call, on both paths.

What the client sent is forwarded as it came: known OpenAI parameters as litellm parameters (so
litellm can translate them for non-OpenAI providers), unknown fields as `extra_body`. The upstream is
always asked for usage on streams, so every streamed call is priced; the usage chunk is passed on to
the client only if it asked for it.
"""

from __future__ import annotations

import array
import asyncio
import base64
import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from proxy import jsonio
from proxy.errors import BadGateway, GatewayTimeout, ProxyError, for_upstream_status, redact
from proxy.request import ChatRequest
from proxy.settings import Backend, EmbeddingBackend
from proxy.upstream import passthrough

log = logging.getLogger(__name__)

_LITELLM_NOISE = re.compile(r"^(litellm\.\w+:\s*)?(\w+Error:\s*)?(\w+Exception\s*-\s*)?")


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
    upstream_model: str | None


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One chunk of an upstream stream: the OpenAI chunk dict, and its JSON exactly as the upstream sent it
    when the upstream speaks OpenAI's format itself (None on the litellm path), so an unchanged chunk is
    relayed without being written again."""

    data: dict[str, Any]
    raw: bytes | None = None


class UpstreamStream:
    """An open upstream stream whose first chunk has already arrived, so failures before it are plain errors.

    Iterating yields the remaining chunks as OpenAI chunk dicts; `usage` and `upstream_model` fill in as
    chunks pass. A failure mid-stream is raised as the `ProxyError` it maps to.
    """

    def __init__(
        self,
        forwarder: Forwarder,
        backend: Backend,
        close: Callable[[], Awaitable[None]],
        iterator: Any,
        ttft_s: float,
        deadline: float,
        convert: Callable[[Any], StreamChunk],
    ) -> None:
        self._forwarder = forwarder
        self._deadline = deadline  # monotonic time by which the whole call must be done
        self._backend = backend
        self._close = close
        self._iterator = iterator
        self._convert = convert  # a chunk as the upstream client yields it -> a StreamChunk
        self.ttft_s = ttft_s
        self.usage: Usage | None = None
        self.upstream_model: str | None = None
        self.first = StreamChunk({})

    def observe(self, chunk: Any) -> StreamChunk:
        out = self._convert(chunk)
        usage = Usage.from_openai(out.data.get("usage"))
        if usage is not None:
            self.usage = usage
        self.upstream_model = out.data.get("model") or self.upstream_model
        return out

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
            except Exception as exc:  # mapped: see Forwarder.map_error
                raise self._forwarder.map_error(exc, backend) from None
            yield self.observe(chunk)

    async def aclose(self) -> None:
        await self._close()


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.drop_params = False
    return litellm


class Forwarder:
    def __init__(self, api_keys: Mapping[str, str]) -> None:
        self._keys = dict(api_keys)
        self._secrets = [k for k in self._keys.values() if k]
        self._session: aiohttp.ClientSession | None = None
        self._litellm: Any = None
        self._importing: asyncio.Future[Any] | None = None

    async def start(self, backends: Iterable[Backend | EmbeddingBackend] = ()) -> None:
        """Open the shared session; if any of `backends` goes through litellm, import it in the background."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        if any(not passthrough.is_direct(b) for b in backends):
            self._importing = asyncio.ensure_future(asyncio.to_thread(_import_litellm))

    async def aclose(self) -> None:
        if self._importing is not None:
            with contextlib.suppress(Exception):
                await self._importing
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _llm(self) -> Any:
        """litellm, imported once (waiting for the background import if one is running)."""
        if self._litellm is None:
            if self._importing is None:
                self._importing = asyncio.ensure_future(asyncio.to_thread(_import_litellm))
            self._litellm = await self._importing
        return self._litellm

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "start() first"
        return self._session

    def _call_args(self, backend: Backend, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.params)
        args.update(
            model=backend.model,
            messages=list(request.body["messages"]),
            api_base=backend.api_base,
            api_key=self._keys.get(backend.name) or "none",
            timeout=httpx.Timeout(backend.timeout_s, connect=backend.connect_timeout_s),
            max_retries=0,  # retries are ours: they must stop once the first byte reached the client
            shared_session=self._session,
        )
        if request.extra:
            args["extra_body"] = dict(request.extra)
        if stream:
            args["stream"] = True
            args["stream_options"] = {"include_usage": True}
        return args

    async def complete(self, backend: Backend, request: ChatRequest, *, timeout_s: float | None = None) -> Completion:
        """One upstream call; `timeout_s` caps the backend's own total timeout (the request's deadline)."""
        limit = min(backend.timeout_s, timeout_s) if timeout_s is not None else backend.timeout_s
        direct = passthrough.is_direct(backend)
        llm = None if direct else await self._llm()  # a first call may wait for the import, not on the clock
        try:
            async with asyncio.timeout(limit):
                if llm is None:
                    data = passthrough.chat_body(backend, request, stream=False)
                    body = await self._direct(backend, "/chat/completions", data, backend.connect_timeout_s)
                else:
                    response = await llm.acompletion(**self._call_args(backend, request, stream=False))
                    body = _clean(response.model_dump(exclude_none=False))
        except TimeoutError:
            raise GatewayTimeout(f"Upstream {backend.name} did not answer within {limit:.3g}s.") from None
        except Exception as exc:  # mapped below: every litellm error is an openai.OpenAIError
            raise self.map_error(exc, backend) from None
        return Completion(body=body, usage=Usage.from_openai(body.get("usage")), upstream_model=body.get("model"))

    async def _direct(
        self, backend: Backend | EmbeddingBackend, path: str, data: bytes, connect_timeout_s: float | None = None
    ) -> dict[str, Any]:
        """One direct JSON call: the upstream's JSON object, or the error its status maps to."""
        async with self.session.post(
            passthrough.url(backend, path),
            data=data,
            headers=passthrough.headers(self._keys.get(backend.name)),
            timeout=aiohttp.ClientTimeout(sock_connect=connect_timeout_s),
        ) as response:
            raw = await response.read()
            if response.status != 200:
                raise passthrough.upstream_error(backend, response.status, raw, response.headers, self._secrets)
        return passthrough.parse_json(backend, raw)

    async def open_stream(
        self, backend: Backend, request: ChatRequest, *, timeout_s: float | None = None
    ) -> UpstreamStream:
        """Open a stream and wait for its first chunk, within the time-to-first-token limit."""
        started = time.monotonic()
        total = min(backend.timeout_s, timeout_s) if timeout_s is not None else backend.timeout_s
        ttft_limit = min(backend.ttft_timeout_s or total, total)
        direct = passthrough.is_direct(backend)
        llm = None if direct else await self._llm()
        handle: Any = None
        close: Callable[[], Awaitable[None]] = _nothing_to_close
        try:
            async with asyncio.timeout(ttft_limit):
                if llm is None:
                    handle = await self.session.post(
                        passthrough.url(backend, "/chat/completions"),
                        data=passthrough.chat_body(backend, request, stream=True),
                        headers=passthrough.headers(self._keys.get(backend.name)),
                        timeout=aiohttp.ClientTimeout(sock_connect=backend.connect_timeout_s),
                    )
                    close = _closer(handle)
                    if handle.status != 200:
                        raw = await handle.read()
                        raise passthrough.upstream_error(backend, handle.status, raw, handle.headers, self._secrets)
                    iterator = passthrough.sse_chunks(handle, backend, self._secrets).__aiter__()
                else:
                    handle = await llm.acompletion(**self._call_args(backend, request, stream=True))
                    close = _closer(handle)
                    iterator = handle.__aiter__()
                first = await iterator.__anext__()
        except TimeoutError:
            await close()
            raise GatewayTimeout(f"Upstream {backend.name} sent no first token within {ttft_limit:.3g}s.") from None
        except StopAsyncIteration:
            await close()
            raise BadGateway(f"Upstream {backend.name} closed the stream without sending anything.") from None
        except BaseException as exc:
            await close()
            if not isinstance(exc, Exception):
                raise  # cancelled: the client left
            raise self.map_error(exc, backend) from None
        convert = _parsed_and_sent if direct else _chunk_from_litellm
        stream = UpstreamStream(
            self, backend, close, iterator, time.monotonic() - started, started + total, convert=convert
        )
        stream.first = stream.observe(first)
        return stream

    async def embed(self, backend: EmbeddingBackend, body: Mapping[str, Any]) -> dict[str, Any]:
        """Forward an embeddings request. Floats are always asked of the upstream (litellm's response type
        holds floats only); base64, which the OpenAI SDKs ask for by default, is encoded here."""
        passed = ("dimensions", "user")
        extra = {k: v for k, v in body.items() if k not in ("model", "input", "encoding_format", *passed)}
        args: dict[str, Any] = {k: body[k] for k in passed if k in body}
        llm = None if passthrough.is_direct(backend) else await self._llm()
        try:
            async with asyncio.timeout(backend.timeout_s):
                if llm is None:
                    out = {**extra, **args, "model": passthrough.upstream_model(backend), "input": body["input"]}
                    data = jsonio.dumps({**out, "encoding_format": "float"})
                    result = await self._direct(backend, "/embeddings", data)
                else:
                    response = await llm.aembedding(
                        model=backend.model,
                        input=body["input"],
                        api_base=backend.api_base,
                        api_key=self._keys.get(backend.name) or "none",
                        timeout=backend.timeout_s,
                        max_retries=0,
                        encoding_format="float",
                        **({"extra_body": extra} if extra else {}),
                        **args,
                    )
                    result = _clean(response.model_dump())
        except TimeoutError:
            raise GatewayTimeout(f"Upstream {backend.name} did not answer within {backend.timeout_s:.3g}s.") from None
        except Exception as exc:
            raise self.map_error(exc, backend) from None
        if body.get("encoding_format") == "base64":
            for item in result.get("data", ()):
                floats = array.array("f", item["embedding"])  # little-endian float32, as OpenAI sends it
                if sys.byteorder == "big":
                    floats.byteswap()
                item["embedding"] = base64.b64encode(floats.tobytes()).decode()
        return result

    def map_error(self, exc: Exception, backend: Backend | EmbeddingBackend) -> ProxyError:
        if isinstance(exc, ProxyError):
            return exc
        if isinstance(exc, aiohttp.ClientError):  # the direct path: connection refused, reset, cut short
            return passthrough.unreachable(backend, exc, self._secrets)
        litellm_error = self._litellm is not None and isinstance(exc, self._litellm.exceptions.OpenAIError)
        if not litellm_error and not _is_openai_error(exc):
            log.exception("unexpected error calling backend %s", backend.name)
            return BadGateway(f"Upstream {backend.name} failed: {type(exc).__name__}.", backend=backend.name)
        detail = redact(_LITELLM_NOISE.sub("", str(exc)).strip(), self._secrets) or type(exc).__name__
        if self._litellm is not None and isinstance(exc, self._litellm.Timeout):
            return GatewayTimeout(f"Upstream {backend.name} timed out: {detail}", backend=backend.name)
        if (self._litellm is not None and isinstance(exc, self._litellm.APIConnectionError)) or (
            "Connection error" in detail
        ):
            return BadGateway(f"Could not reach upstream {backend.name}: {detail}", backend=backend.name)
        status = int(getattr(exc, "status_code", 0) or 502)
        cls = for_upstream_status(status)
        code = getattr(exc, "code", None)
        return cls(
            f"Upstream {backend.name} answered {status}: {detail}",
            code=code if isinstance(code, str) and not code.isdigit() else None,  # litellm puts the status there
            retry_after_s=_retry_after(exc),
            backend=backend.name,
        )


def _closer(handle: Any) -> Callable[[], Awaitable[None]]:
    """How to end an open upstream stream: a litellm wrapper's `aclose`, or an aiohttp response's
    release (back to the pool when read to the end) or close (the connection dropped)."""
    if isinstance(handle, aiohttp.ClientResponse):

        async def close_response() -> None:
            if handle.content.at_eof():
                handle.release()
            else:
                handle.close()

        return close_response
    aclose = getattr(handle, "aclose", None)
    return aclose if aclose is not None else _nothing_to_close


async def _nothing_to_close() -> None:
    return None


def _parsed_and_sent(chunk: tuple[dict[str, Any], bytes]) -> StreamChunk:
    return StreamChunk(*chunk)


def _chunk_from_litellm(chunk: Any) -> StreamChunk:
    return StreamChunk(_chunk_dict(chunk))


def _is_openai_error(exc: Exception) -> bool:
    return any(cls.__module__.startswith("openai") for cls in type(exc).__mro__)


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _chunk_dict(chunk: Any) -> dict[str, Any]:
    data = _clean(chunk.model_dump(exclude_none=True))
    for choice in data.get("choices", ()):
        choice.setdefault("finish_reason", None)
    return data


_DROP = {"provider_specific_fields"}


def _clean(value: Any) -> Any:
    """Remove litellm-only fields and the null tool_calls/function_call litellm adds to every message."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in _DROP or (k in ("tool_calls", "function_call", "audio", "reasoning_content") and v is None):
                continue
            out[k] = _clean(v)
        return out
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value

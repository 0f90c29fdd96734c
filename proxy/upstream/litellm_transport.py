"""The litellm transport: every provider litellm translates to and from OpenAI's format. The only module
that imports litellm.

litellm is imported only when a backend needs it: in the background when such a transport starts,
else on first use; never at import time. Its import takes seconds and, without
``LITELLM_LOCAL_MODEL_COST_MAP=True``, fetches a price file from the internet.

What the client sent is forwarded as it came: known OpenAI parameters as litellm parameters (so
litellm can translate them for non-OpenAI providers), unknown fields as `extra_body`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import httpx

from proxy.errors import BadGateway, GatewayTimeout, ProxyError, Unencodable, redact
from proxy.request import ChatRequest
from proxy.settings import Backend, EmbeddingBackend
from proxy.upstream import failures
from proxy.upstream.failures import ErrorDetail
from proxy.upstream.transport import StreamChunk

log = logging.getLogger(__name__)

_NOISE = re.compile(r"^(litellm\.\w+:\s*)?(\w+Error:\s*)?(\w+Exception\s*-\s*)?")
_DROP = {"provider_specific_fields"}


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.drop_params = False
    return litellm


class LazyLiteLLM:
    """litellm, imported once in a worker thread; shared by every litellm transport of a forwarder."""

    def __init__(self) -> None:
        self._module: Any = None
        self._importing: asyncio.Future[Any] | None = None

    @property
    def ready(self) -> bool:
        """False while the import runs: a call made now would wait seconds for it."""
        return self._importing is None or self._importing.done()

    def begin(self) -> None:
        if self._importing is None:
            self._importing = asyncio.ensure_future(asyncio.to_thread(_import_litellm))

    async def get(self) -> Any:
        if self._module is None:
            self.begin()
            assert self._importing is not None
            self._module = await self._importing
        return self._module

    async def aclose(self) -> None:
        if self._importing is None:
            return
        with contextlib.suppress(Exception):
            await self._importing
        if self._importing.cancelled() or self._importing.exception() is not None:
            return
        llm = self._importing.result()
        # litellm caches HTTP clients process-wide, and some calls open theirs outside the transport's shared
        # session (its streamed calls to Anthropic do): close them with the event loop they were opened on,
        # and forget them, so no later loop is handed a closed client.
        await llm.close_litellm_async_clients()
        llm.in_memory_llm_clients_cache.flush_cache()


class LiteLLMTransport:
    def __init__(
        self, backend: Backend | EmbeddingBackend, api_key: str | None, secrets: Sequence[str], litellm: LazyLiteLLM
    ) -> None:
        self.backend = backend
        self._name = backend.name
        self._key = api_key or "none"
        self._secrets = secrets
        self._litellm = litellm
        self._llm: Any = None  # the module, once imported
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        # No connection limit: the forwarder caps the calls in flight per backend (see direct.py).
        connector = aiohttp.TCPConnector(limit=0)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
        self._litellm.begin()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def ready(self) -> None:
        """Wait for litellm's import (a call's time limits start after it, not before)."""
        if self._llm is None:
            self._llm = await self._litellm.get()

    async def complete(self, request: ChatRequest) -> dict[str, Any]:
        llm = await self._module()
        try:
            response = await llm.acompletion(**self._call_args(request, stream=False))
        except Exception as exc:  # mapped: every litellm error is an openai.OpenAIError
            raise self.failure(exc) from None
        body: dict[str, Any] = _clean(response.model_dump(exclude_none=False))
        return body

    async def open_stream(self, request: ChatRequest) -> LiteLLMChunks:
        llm = await self._module()
        try:
            handle = await llm.acompletion(**self._call_args(request, stream=True))
        except Exception as exc:
            raise self.failure(exc) from None
        return LiteLLMChunks(self, handle)

    async def embed(self, body: Mapping[str, Any]) -> dict[str, Any]:
        llm = await self._module()
        passed = ("dimensions", "user")
        extra = {k: v for k, v in body.items() if k not in ("model", "input", "encoding_format", *passed)}
        try:
            response = await llm.aembedding(
                model=self.backend.model,
                input=body["input"],
                api_base=self.backend.api_base,
                api_key=self._key,
                timeout=self.backend.timeout_s,
                max_retries=0,
                encoding_format="float",  # litellm's response type holds floats only
                **({"extra_body": extra} if extra else {}),
                **{k: body[k] for k in passed if k in body},
            )
        except Exception as exc:
            raise self.failure(exc) from None
        result: dict[str, Any] = _clean(response.model_dump())
        return result

    async def _module(self) -> Any:
        await self.ready()
        return self._llm

    def _call_args(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        backend = self.backend
        args: dict[str, Any] = dict(request.params)
        args.update(
            model=backend.model,
            messages=list(request.body["messages"]),
            api_base=backend.api_base,
            api_key=self._key,
            timeout=httpx.Timeout(backend.timeout_s, connect=getattr(backend, "connect_timeout_s", None)),
            max_retries=0,  # retries are ours: they must stop once the first byte reached the client
            shared_session=self._session,
        )
        if request.extra:
            args["extra_body"] = dict(request.extra)
        if stream:
            args["stream"] = True
            args["stream_options"] = {"include_usage": True}
        return args

    def failure(self, exc: Exception, *, mid_stream: bool = False) -> ProxyError:
        """The error a litellm exception maps to; `mid_stream`: raised after the stream's first chunk."""
        llm, name = self._llm, self._name
        if isinstance(exc, ProxyError):
            return exc
        if _too_deep(exc):  # litellm could not encode the client's body: the client's error, not the upstream's
            return Unencodable("The body is nested too deeply to be written as JSON.", code="json_too_deep")
        if isinstance(exc, llm.exceptions.MidStreamFallbackError):  # litellm's wrapper of any mid-stream failure
            original = exc.original_exception
            if isinstance(original, Exception) and original is not exc:
                return self.failure(original, mid_stream=True)
        if not isinstance(exc, llm.exceptions.OpenAIError) and not _is_openai_error(exc):
            log.exception("unexpected error calling backend %s", name)
            return BadGateway(f"Upstream {name} failed: {type(exc).__name__}.", backend=name)
        text = _NOISE.sub("", str(exc)).strip() or type(exc).__name__
        if isinstance(exc, llm.Timeout):
            return GatewayTimeout(f"Upstream {name} timed out: {redact(text, self._secrets)}", backend=name)
        if isinstance(exc, llm.APIConnectionError) or "Connection error" in text or _is_openai_connection_error(exc):
            if mid_stream:
                return failures.cut_off(name, text, self._secrets)
            return failures.unreachable(name, text, self._secrets)
        response = getattr(exc, "response", None)
        detail = _body_detail(response) or ErrorDetail.of(text, getattr(exc, "code", None), getattr(exc, "param", None))
        status = int(getattr(exc, "status_code", 0) or 502)
        headers = response.headers if isinstance(response, httpx.Response) else None
        return failures.answered(name, status, detail, headers, self._secrets)


class LiteLLMChunks:
    """litellm's stream wrapper, yielding OpenAI chunk dicts; its errors mapped as mid-stream failures."""

    def __init__(self, transport: LiteLLMTransport, handle: Any) -> None:
        self._transport = transport
        self._handle = handle
        self._iterator = handle.__aiter__()

    def __aiter__(self) -> LiteLLMChunks:
        return self

    async def __anext__(self) -> StreamChunk:
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            raise self._transport.failure(exc, mid_stream=True) from None
        data = _clean(chunk.model_dump(exclude_none=True))
        for choice in data.get("choices", ()):
            choice.setdefault("finish_reason", None)
        return StreamChunk(data)

    async def aclose(self) -> None:
        aclose = getattr(self._handle, "aclose", None)
        if aclose is not None:
            await aclose()


def _body_detail(response: Any) -> ErrorDetail | None:
    """The upstream's own error fields (litellm's exception keeps the upstream's response), if readable."""
    if not isinstance(response, httpx.Response):
        return None
    try:
        raw = response.content
    except httpx.ResponseNotRead:
        return None
    return failures.error_body(raw) if raw else None


def _too_deep(exc: BaseException) -> bool:
    """Whether `exc` is, or wraps, the recursion error of encoding a too deeply nested body (litellm reports
    it as its own 500, keeping the message)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, RecursionError) or "maximum recursion depth exceeded" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_openai_error(exc: Exception) -> bool:
    return any(cls.__module__.startswith("openai") for cls in type(exc).__mro__)


def _is_openai_connection_error(exc: Exception) -> bool:
    return any(cls.__name__ == "APIConnectionError" for cls in type(exc).__mro__)


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

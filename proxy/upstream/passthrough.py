"""Direct calls to OpenAI-compatible upstreams: the fast path beside litellm.

For a backend whose litellm model string is `openai/<model>` (OpenAI itself, or any server speaking
its API: vLLM, TGI, llama.cpp, Ollama, the simulator), litellm's provider translation is the
identity, while its per-call machinery (cost calculation, logging payloads, its own client objects)
costs several milliseconds of CPU per call. So such calls go straight out on the shared aiohttp
session: the body the client sent (known parameters, unknown fields, `model` set to the upstream's
name), the upstream's JSON back as it came, streams parsed from server-sent events line by line.
Every other provider, and any backend with `transport = "litellm"`, goes through litellm.

Errors map exactly as on the litellm path: the upstream's status through `for_upstream_status`, its
message (secrets redacted) and `Retry-After`; connection failures are 502, time-outs 504.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from proxy import jsonio
from proxy.errors import BadGateway, ProxyError, for_upstream_status, redact
from proxy.request import ChatRequest
from proxy.settings import Backend, EmbeddingBackend

OPENAI_PREFIX = "openai/"
DEFAULT_API_BASE = "https://api.openai.com/v1"
_MAX_ERROR_CHARS = 500


def is_direct(backend: Backend | EmbeddingBackend) -> bool:
    """Whether calls to `backend` take the direct path."""
    transport = getattr(backend, "transport", "auto")
    return transport == "direct" or (transport == "auto" and backend.model.startswith(OPENAI_PREFIX))


def upstream_model(backend: Backend | EmbeddingBackend) -> str:
    model = backend.model
    return model[len(OPENAI_PREFIX) :] if model.startswith(OPENAI_PREFIX) else model


def url(backend: Backend | EmbeddingBackend, path: str) -> str:
    return (backend.api_base or DEFAULT_API_BASE).rstrip("/") + path


def headers(api_key: str | None) -> dict[str, str]:
    out = {"content-type": "application/json", "accept": "application/json"}
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    return out


def chat_body(backend: Backend, request: ChatRequest, *, stream: bool) -> bytes:
    """What litellm would send an OpenAI-compatible server: parameters, unknown fields, the upstream's model."""
    body: dict[str, Any] = dict(request.params)
    body.update(request.extra)
    body["model"] = upstream_model(backend)
    body["messages"] = request.body["messages"]
    if stream:
        body["stream"] = True
        options = body.get("stream_options")
        body["stream_options"] = {**(options if isinstance(options, Mapping) else {}), "include_usage": True}
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    return jsonio.dumps(body)


def upstream_error(
    backend: Backend | EmbeddingBackend,
    status: int,
    raw: bytes,
    response_headers: Mapping[str, str],
    secrets: list[str],
) -> ProxyError:
    """The error a non-200 answer maps to, with the upstream's own message and code."""
    message, code = _error_detail(raw)
    detail = redact(message, secrets)[:_MAX_ERROR_CHARS] or f"HTTP {status}"
    return for_upstream_status(status)(
        f"Upstream {backend.name} answered {status}: {detail}",
        code=code,
        retry_after_s=_seconds(response_headers.get("retry-after")),
        backend=backend.name,
    )


def unreachable(backend: Backend | EmbeddingBackend, exc: aiohttp.ClientError, secrets: list[str]) -> ProxyError:
    detail = redact(str(exc), secrets) or type(exc).__name__
    return BadGateway(f"Could not reach upstream {backend.name}: {detail}", backend=backend.name)


async def sse_chunks(
    response: aiohttp.ClientResponse, backend: Backend, secrets: list[str]
) -> AsyncIterator[tuple[dict[str, Any], bytes]]:
    """The JSON payloads of a server-sent event stream, parsed and as sent, until `[DONE]` or the end."""
    async for raw_line in response.content:
        line = raw_line.strip()
        if not line.startswith(b"data:"):
            continue  # blank separators, comments, `event:` and `id:` lines
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        try:
            chunk = jsonio.loads(data)
        except ValueError:
            raise BadGateway(f"Upstream {backend.name} sent a malformed stream event.", backend=backend.name) from None
        if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
            message, code = _error_detail(data)
            raise BadGateway(
                f"Upstream {backend.name} failed mid-stream: {redact(message, secrets)[:_MAX_ERROR_CHARS]}",
                code=code,
                backend=backend.name,
            )
        if isinstance(chunk, dict):
            yield chunk, data


def parse_json(backend: Backend | EmbeddingBackend, raw: bytes) -> dict[str, Any]:
    try:
        body = jsonio.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadGateway(f"Upstream {backend.name} answered 200 with a body that is not a JSON object.")
    return body


def _error_detail(raw: bytes) -> tuple[str, str | None]:
    """(message, code) from an OpenAI-style error body, else the body's text."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip(), None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return str(error.get("message") or ""), code if isinstance(code, str) and not code.isdigit() else None
    if isinstance(error, str):
        return error, None
    return raw.decode("utf-8", "replace").strip(), None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None

"""What an upstream's failure becomes for the client: one mapping for every transport.

    answered an error status   -> the class `for_upstream_status` gives, with the upstream's own message,
                                  code, param and Retry-After; except 401/403, which refuse the gateway's
                                  key, not the client's -> UpstreamAuthFailed (502)
    could not be reached       -> BadGateway "Could not reach upstream ..."
    cut off after it answered  -> BadGateway "Upstream ... cut the connection mid-stream"

Messages pass through `redact` (the upstream may echo the key it was sent) and are cut to a readable length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from proxy import jsonio
from proxy.errors import BadGateway, ProxyError, UpstreamAuthFailed, for_upstream_status, redact

MAX_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class ErrorDetail:
    """The fields of an upstream's error worth passing on."""

    message: str
    code: str | None = None
    param: str | None = None

    @classmethod
    def of(cls, message: str, code: Any = None, param: Any = None) -> ErrorDetail:
        # Some servers (and litellm) put the HTTP status in `code`; OpenAI's codes are words.
        return cls(
            message,
            code if isinstance(code, str) and not code.isdigit() else None,
            param if isinstance(param, str) else None,
        )


def error_body(raw: bytes) -> ErrorDetail | None:
    """The detail of an error body, OpenAI's `{"error": {...}}` or `{"error": "..."}`; None if it is neither."""
    try:
        body = jsonio.loads(raw)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return ErrorDetail.of(str(error.get("message") or ""), error.get("code"), error.get("param"))
    if isinstance(error, str):
        return ErrorDetail(error)
    return None


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header; None when absent or not a number."""
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def answered(
    backend: str,
    status: int,
    detail: ErrorDetail,
    headers: Mapping[str, str] | None,
    secrets: Sequence[str],
) -> ProxyError:
    """The error for an upstream that answered `status`."""
    message = redact(detail.message, secrets)[:MAX_MESSAGE_CHARS] or f"HTTP {status}"
    if status in (401, 403):
        return UpstreamAuthFailed(
            f"Upstream {backend} rejected the gateway's credentials for it (HTTP {status}: {message}). "
            "Your key was accepted; the key the gateway holds for this backend is missing, wrong or not allowed.",
            code="upstream_auth_failed",
            backend=backend,
        )
    return for_upstream_status(status)(
        f"Upstream {backend} answered {status}: {message}",
        param=detail.param,
        code=detail.code,
        retry_after_s=retry_after(headers),
        backend=backend,
    )


def unreachable(backend: str, detail: str, secrets: Sequence[str]) -> ProxyError:
    return BadGateway(f"Could not reach upstream {backend}: {_clip(detail, secrets)}", backend=backend)


def cut_off(backend: str, detail: str, secrets: Sequence[str]) -> ProxyError:
    """The upstream answered, then its connection ended before the answer did."""
    return BadGateway(f"Upstream {backend} cut the connection mid-stream: {_clip(detail, secrets)}", backend=backend)


def failed_mid_stream(backend: str, detail: ErrorDetail, secrets: Sequence[str]) -> ProxyError:
    """The upstream sent an error event in place of a chunk."""
    return BadGateway(
        f"Upstream {backend} failed mid-stream: {_clip(detail.message, secrets)}",
        param=detail.param,
        code=detail.code,
        backend=backend,
    )


def _clip(text: str, secrets: Sequence[str]) -> str:
    return redact(text, secrets)[:MAX_MESSAGE_CHARS]

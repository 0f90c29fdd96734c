"""Every error the proxy returns, rendered once as OpenAI-shaped JSON.

    ProxyError                      status  type
     ├── BadRequest                   400   invalid_request_error
     │    └── Unencodable             400   invalid_request_error (a body JSON cannot write: nested too deep)
     ├── Unauthorized                 401   authentication_error
     ├── Forbidden                    403   permission_error
     ├── NotFound                     404   invalid_request_error (code model_not_found, ...)
     ├── RequestTimeout               408   timeout_error
     ├── PayloadTooLarge              413   invalid_request_error
     ├── Unprocessable                422   invalid_request_error
     ├── RateLimited                  429   rate_limit_error      (+ Retry-After)
     ├── InternalError                500   server_error          (our bug; message is generic)
     ├── BadGateway                   502   upstream_error        (upstream failed or answered garbage)
     │    └── UpstreamAuthFailed      502   upstream_error        (upstream refused the gateway's own key)
     ├── ServiceUnavailable           503   service_unavailable   (+ Retry-After)
     └── GatewayTimeout               504   timeout_error         (upstream too slow)

The body is always ``{"error": {"message", "type", "param", "code"}}``, the shape the OpenAI SDKs parse
into their ``BadRequestError`` / ``AuthenticationError`` / ... classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar


class ProxyError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after_s: float | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.retry_after_s = retry_after_s
        self.backend = backend

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        if self.retry_after_s is None:
            return {}
        return {"retry-after": str(max(1, round(self.retry_after_s)))}


class BadRequest(ProxyError):
    status = 400
    type = "invalid_request_error"


class Unencodable(BadRequest):
    """A value that cannot be written as JSON (nested past the encoder's recursion limit). Raised by the
    encoder, so where a client's body is re-encoded for the upstream it is the client's error: a
    BadRequest is never retried, never falls back and never counts against a backend's circuit."""


class Unauthorized(ProxyError):
    status = 401
    type = "authentication_error"


class Forbidden(ProxyError):
    status = 403
    type = "permission_error"


class NotFound(ProxyError):
    status = 404
    type = "invalid_request_error"


class RequestTimeout(ProxyError):
    status = 408
    type = "timeout_error"


class PayloadTooLarge(ProxyError):
    status = 413
    type = "invalid_request_error"


class Unprocessable(ProxyError):
    status = 422
    type = "invalid_request_error"


class RateLimited(ProxyError):
    status = 429
    type = "rate_limit_error"


class InternalError(ProxyError):
    status = 500
    type = "server_error"


class BadGateway(ProxyError):
    status = 502
    type = "upstream_error"


class UpstreamAuthFailed(BadGateway):
    """The upstream answered 401/403 to the gateway's key. Passed on as-is, every OpenAI SDK would tell the
    client its own key is wrong; it is the gateway's configuration that is. Not retried on the same backend
    (the same key fails again) and not a sign of the backend's health, so it does not trip its circuit."""


class ServiceUnavailable(ProxyError):
    status = 503
    type = "service_unavailable"


class GatewayTimeout(ProxyError):
    status = 504
    type = "timeout_error"


_BY_STATUS: dict[int, type[ProxyError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        RequestTimeout,
        PayloadTooLarge,
        Unprocessable,
        RateLimited,
        BadGateway,
        ServiceUnavailable,
        GatewayTimeout,
    )
}


def for_upstream_status(status: int) -> type[ProxyError]:
    """The error class a client should see when the upstream answered `status`.

    Client errors keep their status (the request itself was at fault, or the upstream refused it).
    Upstream server errors become 502, except 503 and 504 which keep their meaning.
    """
    if status in _BY_STATUS and status not in (500, 502):
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return BadRequest
    return BadGateway


_MASK = "*.\u2026\u2022xX"  # what providers print between the visible ends of a key: ***, ..., …, •••, xxx


def secret_pattern(secret: str) -> re.Pattern[str] | None:
    """A secret as it may be echoed: in full, its first 8 characters, or masked ("sk-...abcd",
    "sk-proj-****abcd", "****abcd"). None for a secret too short to tell from ordinary text."""
    if len(secret) < 8:
        return None
    head, tail, mask = re.escape(secret[:3]), re.escape(secret[-4:]), f"[{re.escape(_MASK)}]"
    masked = rf"(?:{head}[\w-]{{0,24}}?)?{mask}{{3,}}{tail}"
    return re.compile("|".join([re.escape(secret), masked, re.escape(secret[:8])]))


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret, of its first 8 characters and of its masked forms by ***."""
    for secret in secrets:
        pattern = secret_pattern(secret)
        if pattern is not None:
            text = pattern.sub("***", text)
        elif secret:
            text = text.replace(secret, "***")
    return text

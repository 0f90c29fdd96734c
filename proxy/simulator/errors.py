"""The simulator's errors, rendered as OpenAI-shaped JSON: {"error": {"message", "type", "param", "code"}}.

SimError(status, message, type, code, param)
  raised by request parsing (400), auth (401), model lookup (404) and injected faults (any status)
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    408: "timeout",
    409: "conflict",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}


class SimError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None) -> SimError:
    return SimError(400, message, param=param)

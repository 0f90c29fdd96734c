"""Response classes and the one place errors are rendered as OpenAI-shaped JSON."""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from proxy import jsonio
from proxy.errors import InternalError, ProxyError
from proxy.pipeline import Answer, CallContext, StreamAnswer

log = logging.getLogger(__name__)


class FastJSONResponse(JSONResponse):
    """Starlette's JSONResponse rendered through orjson (`jsonio`): for the answers on the request path."""

    def render(self, content: Any) -> bytes:
        return jsonio.dumps(content)


class Answered(FastJSONResponse):
    """A non-streamed answer; its call is recorded once the response has gone out (or failed to), so the
    client does not wait for the log row, metrics, usage and stickiness bookkeeping (~0.1 ms at c=1).
    Unless the socket is write-blocked, nothing yields between the last body write and the recording:
    the client's next request, read by the event loop afterwards, sees this call's usage and metrics."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body, headers=answer.headers)
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.answer.record()


class SSE(StreamingResponse):
    """The SSE response of a streamed call; however it ends, the call is closed and logged. A disconnect the
    client sends is noted on the call's context first, so the log tells it from a cut by the shutdown grace."""

    def __init__(self, answer: StreamAnswer, ctx: CallContext) -> None:
        super().__init__(
            answer.events,
            media_type="text/event-stream",
            headers={**answer.headers, "cache-control": "no-cache", "x-accel-buffering": "no"},
        )
        self.answer = answer
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def noting_disconnect() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.ctx.client_left = True
            return message

        try:
            await super().__call__(scope, noting_disconnect, send)
        except ClientDisconnect:  # ASGI 2.4 servers report a departed client as a failed write instead
            self.ctx.client_left = True
            raise
        finally:
            await self.answer.finish()


async def proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    headers = exc.headers()
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        headers["x-router-request-id"] = request_id
    if exc.backend:
        headers["x-router-model"] = exc.backend
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else None
    message = str(exc.detail)
    if kind is not None:
        # Clients (LangChain, pydantic-ai) turn a bare "Not Found" into "your model does not exist": say
        # which path was missed and what is served, so the user sees their base URL or endpoint is wrong.
        message = (
            f"{message}: {request.method} {request.url.path}. This gateway serves: {', '.join(_endpoints(request))}."
        )
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": kind}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


_CONVERTOR = re.compile(r":\w+}")


def _endpoints(request: Request) -> list[str]:
    """The client API's endpoints, read from the app's own routes so the list cannot drift."""
    served = []
    for route in request.app.routes:
        if isinstance(route, Route) and route.path.startswith("/v1/"):
            methods = sorted((route.methods or set()) - {"HEAD"})
            path = _CONVERTOR.sub("}", route.path)  # /v1/models/{model:path} -> /v1/models/{model}
            served += [f"{m} {path}" for m in methods]
    return served


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    err = InternalError("The proxy failed to handle this request; the error is logged.", code="internal_error")
    return JSONResponse(err.body(), status_code=500)

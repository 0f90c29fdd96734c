"""Reading the request and watching the client: the body within its size limit and time limit, and work
cancelled when the client disconnects (or answered 503 when a server shutdown cuts it)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

from proxy.errors import PayloadTooLarge, RequestTimeout, ServiceUnavailable
from proxy.pipeline import CLIENT_LEFT

T = TypeVar("T")


class BodyTimeout(RequestTimeout):
    """The body did not arrive in time. The connection is closed after the answer: the rest of the body may
    still be on its way, and must not be read as the next request."""

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "connection": "close"}


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the configured limit, and with 408 when it
    has not fully arrived within `server.body_timeout_s` (a client trickling its body holds a slot in flight)."""
    server = request.app.state.config.server
    limit = server.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit}.", code="request_too_large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(server.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.", code="request_too_large")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(
            f"Request body not received within {server.body_timeout_s:g}s (server.body_timeout_s).",
            code="body_timeout",
        ) from None
    return b"".join(chunks)


async def unless_client_leaves(request: Request, work: Coroutine[Any, Any, T]) -> T | None:
    """Await `work`, but cancel it when the client disconnects first (the upstream call is closed and
    the pipeline logs the call as 499); None then.

    Any other cancellation of this handler is the server's: uvicorn cancels what is still running when
    the shutdown grace runs out. The work is cancelled too (and logged as cut by the shutdown, 503), and
    the client gets a 503 it can retry elsewhere rather than uvicorn's plain-text 500; work that finished
    just then is answered as usual."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    gone.add_done_callback(lambda _: task.cancel(msg=CLIENT_LEFT))  # a no-op once the work is done
    try:
        return await task  # cancelling this handler cancels the work too
    except asyncio.CancelledError:
        if gone.done() and not gone.cancelled():  # the client left; the work has wound down and logged it
            return None
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()  # answer the client once more before the server goes
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()
        raise ServiceUnavailable(
            "The server is shutting down and cut this call at the end of its shutdown grace; retry it.",
            code="shutting_down",
            retry_after_s=1.0,
        ) from None
    finally:
        gone.cancel()


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body has been read, so `receive` has nothing else to say)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass

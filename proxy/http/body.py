"""Reading the request and watching the client: the body within its size limit, and work cancelled when the
client disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

from proxy.errors import PayloadTooLarge

T = TypeVar("T")


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the configured limit."""
    limit = request.app.state.config.server.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit}.", code="request_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.", code="request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def unless_client_leaves(
    request: Request, work: Coroutine[Any, Any, T], unused: Callable[[T], object] | None = None
) -> T | None:
    """Await `work`, but cancel it when the client disconnects first (the upstream call is closed and
    the pipeline logs the call as 499); None then. `unused` is given the result of work that finished
    just as this handler was cancelled (a server shutdown), so the result is still accounted for."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    gone.add_done_callback(lambda _: task.cancel())  # a no-op once the work is done
    try:
        return await task  # cancelling this handler cancels the work too
    except asyncio.CancelledError:
        if gone.done() and not gone.cancelled():  # the client left; the work has wound down and logged it
            return None
        if unused is not None and task.done() and not task.cancelled() and task.exception() is None:
            unused(task.result())
        raise
    finally:
        gone.cancel()


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body has been read, so `receive` has nothing else to say)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass

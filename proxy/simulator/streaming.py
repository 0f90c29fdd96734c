"""Responses that can fail on purpose: an SSE stream that may drop the connection mid-way, and a JSON
body cut short. Dropping = returning without finishing the HTTP response; the server then closes the
socket and the client sees an incomplete chunked body, as when a real upstream dies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import anyio
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send


class DropConnection(Exception):
    """Raised by a stream's body iterator to end the response without completing it."""


class EventStream(StreamingResponse):
    """text/event-stream that stops when the client goes away and honours DropConnection.

    `on_end` hears how the stream ended: "completed", "dropped" or "client_disconnected"."""

    def __init__(
        self, body: AsyncIterator[bytes], headers: Mapping[str, str], on_end: Callable[[str], None] | None = None
    ) -> None:
        super().__init__(body, media_type="text/event-stream", headers={"cache-control": "no-cache", **headers})
        self.on_end = on_end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        outcome = "client_disconnected"
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            try:
                async for data in self.body_iterator:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                outcome = "completed"
            except DropConnection:
                outcome = "dropped"
            except OSError:
                pass  # the client's socket went away while we wrote to it
            group.cancel_scope.cancel()
        if self.on_end is not None:
            self.on_end(outcome)
        if outcome == "completed":
            await send({"type": "http.response.body", "body": b"", "more_body": False})


class CutShortResponse(Response):
    """Announces the full Content-Length, sends the first half of the body, and drops the connection."""

    media_type = "application/json"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})

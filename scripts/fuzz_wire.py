"""A minimal HTTP/1.1 client over one keep-alive connection, for the fuzz run: it sends bytes exactly as
given (malformed ones included) and tells a connection the server dropped apart from one it closed properly.

A server may close a keep-alive connection only after a response that says `connection: close`. A
connection that instead ends before the status line of the next response was dropped: the client's next
request on it fails with a reset, which is what uvicorn did after the proxy raised out of a handler.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class Dropped(Exception):
    """The server ended a keep-alive connection without a `connection: close` response."""


@dataclass
class Connection:
    host: str
    port: int
    timeout_s: float = 30.0
    idle_limit_s: float = 4.0  # uvicorn closes connections idle for 5 s: reconnect before that
    _reader: asyncio.StreamReader | None = field(default=None, repr=False)
    _writer: asyncio.StreamWriter | None = field(default=None, repr=False)
    _last_used: float = 0.0
    reused: int = 0  # requests sent on an already used connection

    async def request(self, raw: bytes) -> Reply:
        """Send one request (bytes as given) and read its reply. Raises `Dropped` when a reused connection
        ends before a reply, TimeoutError when none comes in time."""
        fresh = self._writer is None or time.monotonic() - self._last_used > self.idle_limit_s
        if fresh:
            await self.close()
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        else:
            self.reused += 1
        assert self._reader is not None and self._writer is not None
        started = time.perf_counter()
        try:
            self._writer.write(raw)
            await self._writer.drain()
            async with asyncio.timeout(self.timeout_s):
                reply = await _read_reply(self._reader, started)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            await self.close()
            if not fresh:
                raise Dropped(f"{type(exc).__name__} on a kept-alive connection") from None
            raise
        except BaseException:
            await self.close()
            raise
        self._last_used = time.monotonic()
        if reply.closes:
            await self.close()
        return reply

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except ConnectionError:
                pass
        self._reader = self._writer = None


async def _read_reply(reader: asyncio.StreamReader, started: float) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = bytearray(await reader.readexactly(int(headers.get("content-length", "0"))))
    return Reply(status, headers, bytes(body), time.perf_counter() - started)


def http_request(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    """A well-formed HTTP/1.1 request (the body may be anything)."""
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")

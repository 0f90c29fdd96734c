"""The least a proxy can do: read the body, POST it to the upstream on a pooled session, send its answer back.

Usage: .venv/bin/python -m scripts.plain_proxy --port 9301 --upstream http://127.0.0.1:9300
The capacity benchmark (scripts/capacity.py) measures it beside the proxy under test, on the same core: the
latency one more hop adds on this machine (its scheduling, its other jobs), which no proxy can go below.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import uvicorn

from scripts.plain_upstream import read_body


class PlainProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.http: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = await read_body(receive)
        if scope["path"] == "/health":
            status, answer = 200, b'{"status":"ok"}'
        else:
            assert self.http is not None, "lifespan first"
            headers = {"content-type": "application/json"}
            async with self.http.post(self.upstream + scope["path"], data=body, headers=headers) as response:
                status, answer = response.status, await response.read()
        headers_out = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": answer})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.http is not None:
                    await self.http.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9301)
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, e.g. http://127.0.0.1:9300")
    args = parser.parse_args()
    uvicorn.run(PlainProxy(args.upstream), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

"""A zero-latency OpenAI-compatible responder: canned answers, no simulation, as cheap as ASGI gets.

Usage: .venv/bin/python -m scripts.plain_upstream --port 9300 [--delay-ms 50]
The benchmark's floor: whatever time a request spends beyond this server is the proxy's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import uvicorn

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-plain",
        "object": "chat.completion",
        "created": 0,
        "model": "plain",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help?"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-plain",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "plain",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        *(_chunk({"content": w}) for w in ["Hello", "!", " How", " can", " I", " help", "?"]),
        _chunk({}, "stop"),
    ]
)
USAGE = _chunk({}, usage={"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19})


DELAY_S = 0.0


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"] == "/health":
        await _send(send, 200, b'{"status":"ok"}', b"application/json")
        return
    request = json.loads(body or b"{}")
    if DELAY_S:
        await asyncio.sleep(DELAY_S)
    if request.get("stream"):
        usage = USAGE if (request.get("stream_options") or {}).get("include_usage") else b""
        await _send(send, 200, STREAM + usage + b"data: [DONE]\n\n", b"text/event-stream")
    else:
        await _send(send, 200, COMPLETION, b"application/json")


async def _send(send: Any, status: int, body: bytes, kind: bytes) -> None:
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), (b"date", _date())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _date() -> bytes:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9300)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer after this long (a slow upstream)")
    args = parser.parse_args()
    global DELAY_S
    DELAY_S = args.delay_ms / 1000
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()

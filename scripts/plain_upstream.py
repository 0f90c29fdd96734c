"""A zero-latency OpenAI-compatible responder: canned answers, no simulation, as cheap as ASGI gets.

Chat completions on any path, and Anthropic's Messages (`/v1/messages`) and OpenAI's Responses (`/v1/responses`)
in their own shapes, so the cost of passing those through natively can be measured as well.

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


WORDS = ["Hello", "!", " How", " can", " I", " help", "?"]
TEXT = "".join(WORDS)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"


MESSAGE: dict[str, Any] = {
    "id": "msg_plain",
    "type": "message",
    "role": "assistant",
    "model": "plain",
    "content": [{"type": "text", "text": TEXT}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 7},
}
MESSAGES_STREAM = b"".join(
    [
        _event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    **MESSAGE,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 12, "output_tokens": 1},
                },
            },
        ),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        *(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
            )
            for w in WORDS
        ),
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 7},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
)
RESPONSE: dict[str, Any] = {
    "id": "resp_plain",
    "object": "response",
    "created_at": 0,
    "status": "completed",
    "model": "plain",
    "output": [
        {
            "type": "message",
            "id": "msg_plain",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
}
_RESPONSE_EVENTS: list[dict[str, Any]] = [
    {"type": "response.created", "response": {**RESPONSE, "status": "in_progress", "output": []}},
    *(
        {
            "type": "response.output_text.delta",
            "item_id": "msg_plain",
            "output_index": 0,
            "content_index": 0,
            "delta": w,
        }
        for w in WORDS
    ),
    {"type": "response.completed", "response": RESPONSE},
]
RESPONSES_STREAM = b"".join(
    _event(data["type"], {**data, "sequence_number": i}) for i, data in enumerate(_RESPONSE_EVENTS)
)
# path -> (whole answer, stream); any other path answers as chat completions
NATIVE = {
    "/v1/messages": (json.dumps(MESSAGE).encode(), MESSAGES_STREAM),
    "/v1/responses": (json.dumps(RESPONSE).encode(), RESPONSES_STREAM),
}

DELAY_S = 0.0


async def read_body(receive: Any) -> bytes:
    """The whole request body of an ASGI request, however many messages it came in."""
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = await read_body(receive)
    if scope["path"] == "/health":
        await _send(send, 200, b'{"status":"ok"}', b"application/json")
        return
    request = json.loads(body or b"{}")
    if DELAY_S:
        await asyncio.sleep(DELAY_S)
    native = NATIVE.get(scope["path"])
    if native is not None:
        stream = bool(request.get("stream"))
        await _send(
            send, 200, native[1] if stream else native[0], b"text/event-stream" if stream else b"application/json"
        )
    elif request.get("stream"):
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

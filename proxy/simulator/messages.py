"""POST /v1/messages: the simulated models behind Anthropic's Messages API, as Anthropic's servers speak it.

So a backend configured as an Anthropic provider (litellm's "anthropic/..." models, or the gateway's native
pass-through) runs end to end offline: the request is read as Anthropic sends it (its own `x-api-key`,
`system`, content blocks, `tool_use` / `tool_result`, custom tools, `tool_choice`, `stop_sequences`,
`output_config.format`), planned like a chat request (chat.py), and answered as a Message or as
Anthropic's event stream: message_start (with the input tokens), per content block its start, deltas and
stop, message_delta (stop reason, output tokens), message_stop. Errors have Anthropic's shape. Every body
is recorded whole (GET /_sim/requests), so tests see which fields arrived.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy.simulator.answers import ChoiceResult
from proxy.simulator.chat import Reply, paced, plan_reply
from proxy.simulator.chat_request import parse_chat
from proxy.simulator.errors import SimError, bad_request
from proxy.simulator.state import received_json, sim_state
from proxy.simulator.streaming import EventStream
from proxy.simulator.words import tokens

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


async def create_message(request: Request) -> Response:
    try:
        sim = sim_state(request)
        body = await received_json(request, sim)
        chat = parse_chat(to_chat(body))
        reply = await plan_reply(sim, chat)
    except SimError as exc:
        return error_response(exc)
    message = _message(reply)
    if chat.stream:
        return EventStream(paced(_events(reply, message), reply.ttft_s, reply.seconds_per_token, reply.fault), {})
    await asyncio.sleep(reply.seconds)
    return JSONResponse(message, headers=reply.headers)


def error_response(exc: SimError) -> Response:
    kind = ERROR_TYPES.get(exc.status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": exc.message}}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def to_chat(body: Any) -> dict[str, Any]:
    """The Messages request as the chat body the simulator plans from (400 where Anthropic would refuse)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    if not isinstance(body.get("max_tokens"), int):
        raise bad_request("max_tokens: Field required", "max_tokens")
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _texts(system)})
    for m in body.get("messages") or ():
        messages += _turn(m)
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "max_tokens": body["max_tokens"],
        "stream": bool(body.get("stream")),
    }
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"][:4]
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and "input_schema" in t]
    if tools:
        chat["tools"] = [
            {"type": "function", "function": {"name": t.get("name"), "parameters": t["input_schema"]}} for t in tools
        ]
        chat["tool_choice"] = _tool_choice(body.get("tool_choice"))
    fmt = (body.get("output_config") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {"name": "out", "schema": fmt.get("schema")}}
    if body.get("sim_fault") is not None:
        chat["sim_fault"] = body["sim_fault"]
    return chat


def _texts(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content or () if isinstance(b, dict) and b.get("type") == "text")


def _turn(m: Any) -> list[dict[str, Any]]:
    if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
        raise bad_request("messages: each message needs a role of user or assistant", "messages")
    content = m.get("content")
    if isinstance(content, str):
        return [{"role": m["role"], "content": content}]
    blocks = [b for b in content or () if isinstance(b, dict)]
    if m["role"] == "assistant":
        calls = [
            {
                "id": b.get("id"),
                "type": "function",
                "function": {"name": b.get("name"), "arguments": json.dumps(b.get("input"))},
            }
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        turn: dict[str, Any] = {"role": "assistant", "content": _texts(blocks)}
        return [{**turn, "tool_calls": calls} if calls else turn]
    results = [
        {"role": "tool", "tool_call_id": b.get("tool_use_id"), "content": _texts(b.get("content", ""))}
        for b in blocks
        if b.get("type") == "tool_result"
    ]
    text = _texts(blocks)
    return results + ([{"role": "user", "content": text}] if text or not results else [])


def _tool_choice(choice: Any) -> Any:
    kind = str(choice.get("type")) if isinstance(choice, dict) else "auto"
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"any": "required", "none": "none"}.get(kind, "auto")


def _message(reply: Reply) -> dict[str, Any]:
    """The whole Message; only the first choice (Anthropic has no `n`)."""
    choice = reply.choices[0]
    return {
        "id": "msg_" + reply.env.id.removeprefix("chatcmpl-"),
        "type": "message",
        "role": "assistant",
        "model": reply.env.model,
        "content": _content(choice),
        "stop_reason": STOP_REASONS.get(choice.finish_reason, "end_turn"),
        "stop_sequence": None,
        "usage": _usage(reply.prompt_tokens, choice.completion_tokens),
    }


def _content(choice: ChoiceResult) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if choice.content:
        blocks.append({"type": "text", "text": choice.content})
    for call in choice.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": "toolu_" + call.id[5:], "name": call.name, "input": json.loads(call.arguments)}
        )
    return blocks


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _events(reply: Reply, message: dict[str, Any]) -> list[tuple[int, bytes]]:
    """The stream as (tokens generated, event) pairs: text one token a delta, tool input in a few pieces."""
    start = {**message, "content": [], "stop_reason": None, "usage": _usage(reply.prompt_tokens, 1)}
    out = [(0, _event("message_start", {"message": start})), (0, _event("ping", {}))]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            out.append(
                (0, _event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}))
            )
            deltas = [{"type": "text_delta", "text": piece} for piece in tokens(block["text"])]
        else:
            opening = {**block, "input": {}}
            out.append((0, _event("content_block_start", {"index": index, "content_block": opening})))
            pieces = tokens(json.dumps(block["input"]))
            step = max(1, len(pieces) // 8)
            deltas = [
                {"type": "input_json_delta", "partial_json": "".join(pieces[i : i + step])}
                for i in range(0, len(pieces), step)
            ]
        out += [(1, _event("content_block_delta", {"index": index, "delta": d})) for d in deltas]
        out.append((0, _event("content_block_stop", {"index": index})))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    out.append(
        (0, _event("message_delta", {"delta": delta, "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    )
    out.append((0, _event("message_stop", {})))
    return out


def _event(name: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps({"type": name, **payload}, separators=(",", ":"))
    return f"event: {name}\ndata: {data}\n\n".encode()

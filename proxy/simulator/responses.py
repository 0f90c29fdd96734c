"""POST /v1/responses: the simulated models behind OpenAI's Responses API, as OpenAI's servers speak it.

For a backend that speaks Responses natively (the gateway's pass-through): the request is read as OpenAI
documents it (`input` as a string or message / function_call / function_call_output items,
`instructions`, function tools, `tool_choice`, `max_output_tokens`, `text.format`), planned like a chat
request (chat.py), and answered as a Response object or as its event stream: response.created,
response.in_progress, per output item its added / delta / done events, response.completed with usage.
Every body is recorded whole (GET /_sim/requests), so tests see which fields arrived.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy.simulator.chat import Reply, paced, plan_reply
from proxy.simulator.chat_request import parse_chat
from proxy.simulator.errors import bad_request
from proxy.simulator.state import received_json, sim_state
from proxy.simulator.streaming import EventStream
from proxy.simulator.words import tokens


async def create_response(request: Request) -> Response:
    sim = sim_state(request)
    body = await received_json(request, sim)
    chat = parse_chat(to_chat(body))
    reply = await plan_reply(sim, chat)
    response = _response(reply, body)
    if chat.stream:
        return EventStream(paced(_events(response), reply.ttft_s, reply.seconds_per_token, reply.fault), {})
    await asyncio.sleep(reply.seconds)
    return JSONResponse(response, headers=reply.headers)


def to_chat(body: Any) -> dict[str, Any]:
    """The Responses request as the chat body the simulator plans from."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": str(body["instructions"])})
    raw = body.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise bad_request("input must be a string or a non-empty array of items", "input")
    for item in items:
        messages += _item(item)
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages, "stream": bool(body.get("stream"))}
    if isinstance(body.get("max_output_tokens"), int):
        chat["max_tokens"] = body["max_output_tokens"]
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    if tools:
        chat["tools"] = [
            {"type": "function", "function": {"name": t.get("name"), "parameters": t.get("parameters") or {}}}
            for t in tools
        ]
        choice = body.get("tool_choice", "auto")
        name = choice.get("name") if isinstance(choice, dict) else None
        chat["tool_choice"] = {"type": "function", "function": {"name": name}} if name else choice
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {"name": "out", "schema": fmt.get("schema")}}
    if body.get("sim_fault") is not None:
        chat["sim_fault"] = body["sim_fault"]
    return chat


def _item(item: Any) -> list[dict[str, Any]]:
    if not isinstance(item, dict):
        raise bad_request("input items must be objects", "input")
    kind = item.get("type", "message")
    if kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
        }
        return [{"role": "assistant", "content": None, "tool_calls": [call]}]
    if kind == "function_call_output":
        return [{"role": "tool", "tool_call_id": item.get("call_id"), "content": str(item.get("output", ""))}]
    if kind != "message":
        return []  # reasoning and other items carry no prompt text for the simulator
    content = item.get("content")
    if isinstance(content, list):
        content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
    role = item.get("role") if item.get("role") in ("user", "assistant", "system", "developer") else "user"
    return [{"role": role, "content": content or ""}]


def _response(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    """The completed Response (first choice only: the Responses API has no `n`)."""
    choice, key = reply.choices[0], reply.env.id.removeprefix("chatcmpl-")
    output: list[dict[str, Any]] = []
    if choice.content is not None:
        part = {"type": "output_text", "text": choice.content, "annotations": []}
        output.append(
            {"id": f"msg_{key}", "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        )
    for call in choice.tool_calls:
        output.append(
            {
                "id": f"fc_{call.id[5:]}",
                "type": "function_call",
                "status": "completed",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
    cut = choice.finish_reason == "length"
    return {
        "id": f"resp_{key}",
        "object": "response",
        "created_at": reply.env.created,
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "error": None,
        "model": reply.env.model,
        "output": output,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "text": body.get("text") or {"format": {"type": "text"}},
        "metadata": body.get("metadata") or {},
        "store": body.get("store", True),
        "usage": {
            "input_tokens": reply.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": choice.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": reply.prompt_tokens + choice.completion_tokens,
        },
    }


def _events(response: dict[str, Any]) -> list[tuple[int, bytes]]:
    """The stream as (tokens generated, event) pairs: text one token a delta, arguments in a few pieces."""
    events: list[tuple[int, dict[str, Any]]] = []
    opening = {**response, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    events += [(0, {"type": "response.created", "response": opening})]
    events += [(0, {"type": "response.in_progress", "response": opening})]
    for index, item in enumerate(response["output"]):
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            text = item["content"][0]["text"]
            empty = {"type": "output_text", "text": "", "annotations": []}
            added = {**item, "status": "in_progress", "content": []}
            events += [(0, {"type": "response.output_item.added", "output_index": index, "item": added})]
            events += [(0, {"type": "response.content_part.added", **where, "content_index": 0, "part": empty})]
            events += [
                (1, {"type": "response.output_text.delta", **where, "content_index": 0, "delta": piece, "logprobs": []})
                for piece in tokens(text)
            ]
            events += [
                (0, {"type": "response.output_text.done", **where, "content_index": 0, "text": text, "logprobs": []})
            ]
            events += [
                (0, {"type": "response.content_part.done", **where, "content_index": 0, "part": item["content"][0]})
            ]
        else:
            added = {**item, "status": "in_progress", "arguments": ""}
            events += [(0, {"type": "response.output_item.added", "output_index": index, "item": added})]
            pieces = tokens(item["arguments"])
            step = max(1, len(pieces) // 8)
            events += [
                (
                    step,
                    {"type": "response.function_call_arguments.delta", **where, "delta": "".join(pieces[i : i + step])},
                )
                for i in range(0, len(pieces), step)
            ]
            events += [(0, {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]})]
        events += [(0, {"type": "response.output_item.done", "output_index": index, "item": item})]
    final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    events += [(0, {"type": final, "response": response})]
    return [(n, _event(payload, seq)) for seq, (n, payload) in enumerate(events)]


def _event(payload: dict[str, Any], sequence_number: int) -> bytes:
    data = json.dumps({**payload, "sequence_number": sequence_number}, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()

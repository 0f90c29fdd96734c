"""OpenAI's Responses API (`POST /v1/responses`) as a chat completion, and the answer back as a Response.

Translated: `input` (a string, or message / function_call / function_call_output items with input_text,
input_image and output_text parts), `instructions` (a system message, not carried over by
`previous_response_id`, as OpenAI documents), function tools, `tool_choice`, `text.format` (json_schema
and json_object, as `response_format`), `max_output_tokens`, `temperature`, `top_p`,
`parallel_tool_calls`, `reasoning.effort` (as `reasoning_effort`), `user` / `safety_identifier`, `stream`.
Ignored, because a chat backend has no such thing: `metadata` (echoed back only), `include`,
`truncation`, `prompt_cache_key`, reasoning items in the input (a backend that speaks the Responses API gets
the body itself, all of them kept: proxy/upstream/native.py). Refused with a 400 naming the field:
built-in tools (web search, file search, computer use, ...), file inputs, item references,
`background`, `conversation` and prompt templates.

The conversation behind `previous_response_id` is the gateway's own (response_store.py); the event stream
is written by responses_stream.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxy.errors import BadRequest

_REFUSED = ("background", "conversation", "prompt")
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(frozen=True)
class ResponsesRequest:
    chat: dict[str, Any]  # the chat-completions body to serve
    history: list[dict[str, Any]]  # the conversation so far as chat messages, without the instructions
    echo: dict[str, Any]  # the request's settings, as a Response object repeats them
    store: bool


def to_chat(body: Any, previous: list[dict[str, Any]] | None = None) -> ResponsesRequest:
    """The Responses request as a chat body; `previous` is the stored conversation of `previous_response_id`."""
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    for name in _REFUSED:
        if body.get(name):
            raise BadRequest(f"'{name}' is not supported by this gateway.", param=name)
    history = [*(previous or ()), *input_messages(body.get("input"))]
    messages = list(history)
    instructions = body.get("instructions")
    if instructions:
        if not isinstance(instructions, str):
            raise BadRequest("'instructions' must be a string.", param="instructions")
        messages.insert(0, {"role": "system", "content": instructions})
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    for name in ("temperature", "top_p", "parallel_tool_calls", "stream", "user", "service_tier", "router"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("user") is None and isinstance(body.get("safety_identifier"), str):
        chat["user"] = body["safety_identifier"]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    text = body.get("text")
    if isinstance(text, dict) and text.get("format") is not None:
        fmt = _response_format(text["format"])
        if fmt is not None:
            chat["response_format"] = fmt
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    store = body.get("store", True)
    echo = {
        "instructions": instructions,
        "tools": body.get("tools") or [],
        "tool_choice": body.get("tool_choice", "auto"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"),
        "text": text if isinstance(text, dict) else {"format": {"type": "text"}},
        "reasoning": reasoning if isinstance(reasoning, dict) else {"effort": None, "summary": None},
        "metadata": body.get("metadata") or {},
        "previous_response_id": body.get("previous_response_id"),
        "store": store is not False,
        "truncation": body.get("truncation", "disabled"),
        "user": body.get("user"),
    }
    return ResponsesRequest(chat, history, echo, store is not False)


def input_messages(value: Any) -> list[dict[str, Any]]:
    """Input items (or output items, which are valid input) as chat messages."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise BadRequest("'input' must be a string or an array of items.", param="input")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"'{where}' must be an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, where))
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"},
            }
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)  # parallel calls: one assistant turn
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else _texts(output, f"{where}.output")
            out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
        elif kind == "reasoning":
            continue  # a backend's private reasoning; chat has nowhere to put it
        else:
            raise BadRequest(f"'{where}': item type {kind!r} is not supported by this gateway.", param=where)
    return out


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise BadRequest(f"'{where}.role' must be user, assistant, system or developer.", param=f"{where}.role")
    role = "system" if role == "developer" else role  # not every chat backend knows 'developer'
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if role == "assistant":
        return {"role": role, "content": _texts(content, f"{where}.content")}
    if not isinstance(content, list):
        raise BadRequest(f"'{where}.content' must be a string or an array.", param=f"{where}.content")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise BadRequest(f"'{at}': content type {kind!r} is not supported by this gateway.", param=at)
    return {"role": role, "content": parts}


def _texts(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(f"'{where}' must be a string or an array of text parts.", param=where)
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "refusal", "text"):
            raise BadRequest(f"'{where}[{j}]' must be a text part.", param=f"{where}[{j}]")
        texts.append(str(part.get("text", part.get("refusal", ""))))
    return "".join(texts)


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array.", param="tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise BadRequest(
                f"'tools[{i}]': only function tools are supported by this gateway, not {kind!r}.", param=f"tools[{i}]"
            )
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    raise BadRequest("'tool_choice' must be auto, none, required or a function.", param="tool_choice")


def _response_format(fmt: Any) -> dict[str, Any] | None:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": spec}
    raise BadRequest("'text.format.type' must be text, json_object or json_schema.", param="text.format")


# -- the answer --------------------------------------------------------------------------------------


def from_chat(
    completion: dict[str, Any], request: ResponsesRequest, response_id: str, created_at: int
) -> dict[str, Any]:
    """A chat completion (its first choice) as a completed Response."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if message.get("content"):
        output.append(message_item(response_id, message["content"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        output.append(call_item(call.get("id"), function.get("name"), function.get("arguments") or ""))
    model, usage = completion.get("model"), completion.get("usage")
    return response_object(request, response_id, created_at, model, output, choice.get("finish_reason"), usage)


def response_object(
    request: ResponsesRequest,
    response_id: str,
    created_at: int,
    model: Any,
    output: list[dict[str, Any]],
    finish_reason: str | None,
    usage: Any,
    status: str | None = None,
) -> dict[str, Any]:
    reason = _INCOMPLETE.get(finish_reason or "")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status or ("incomplete" if reason else "completed"),
        "error": None,
        "incomplete_details": {"reason": reason} if reason and status is None else None,
        "model": model,
        "output": output,
        "usage": _usage(usage) if status is None else None,
        **request.echo,
    }


def message_item(response_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_" + response_id.removeprefix("resp_"),
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def call_item(call_id: Any, name: Any, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_" + str(call_id or "").removeprefix("call_"),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _usage(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def output_messages(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A Response's output as chat messages, to continue the conversation from it."""
    return input_messages(response.get("output") or [])

"""Anthropic's Messages API (`POST /v1/messages`) as a chat completion, and the answer back as a Message.

Translated: `system`, text and image blocks (base64 or URL), `tool_use` / `tool_result` blocks, custom
tools and `tool_choice` (with `disable_parallel_tool_use`), `stop_sequences`, `temperature`, `top_p`,
`max_tokens`, `metadata.user_id`, `output_config.format` (structured output) and `stream`.
Dropped, because an OpenAI-style backend has no such thing: `top_k`, `thinking` (and thinking blocks in
the history), `output_config.effort`, `cache_control`, `service_tier` and any other Anthropic-only field
(a backend that speaks Anthropic's API gets the body itself, all of them kept: proxy/upstream/native.py).
Refused with a 400 naming the field: server tools (web search, bash, ...) and `document` blocks, which the
gateway cannot serve through chat.

The answer's `stop_reason` maps from chat's `finish_reason`: stop -> end_turn, length -> max_tokens,
tool_calls -> tool_use, content_filter -> refusal.
"""

from __future__ import annotations

from typing import Any

from proxy import jsonio
from proxy.dialects import sse
from proxy.errors import BadRequest, ProxyError
from proxy.upstream.forward import StreamChunk

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Anthropic's error `type` for each status, so its SDKs raise the class they would for Anthropic itself.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def to_chat(body: Any) -> dict[str, Any]:
    """The Messages request as a chat-completions body; BadRequest names what cannot be translated."""
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array.", param="messages")
    chat: dict[str, Any] = {"model": body.get("model")}
    system = body.get("system")
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": _text_of(system, "system")})
    for i, m in enumerate(messages):
        out += _message(m, f"messages[{i}]")
    chat["messages"] = out
    if "max_tokens" in body:
        chat["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p", "stream", "router"):
        if name in body:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"], chat)
    output = body.get("output_config")
    if isinstance(output, dict) and output.get("format") is not None:
        chat["response_format"] = _output_format(output["format"])
    return chat


def _output_format(fmt: Any) -> dict[str, Any]:
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise BadRequest("'output_config.format' must be a json_schema format with a schema.", param="output_config")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"]}}


def _text_of(value: Any, where: str) -> str:
    """A string, or the text of a list of text blocks (system prompts, tool results)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for j, block in enumerate(value):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise BadRequest(f"'{where}[{j}]' must be a text block.", param=f"{where}[{j}]")
            texts.append(str(block.get("text", "")))
        return "\n".join(texts)
    raise BadRequest(f"'{where}' must be a string or an array of text blocks.", param=where)


def _message(m: Any, where: str) -> list[dict[str, Any]]:
    """One Anthropic message as chat messages: a user turn's tool results become `tool` messages, first."""
    if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
        raise BadRequest(f"'{where}' must be an object with role 'user' or 'assistant'.", param=where)
    role, content = m["role"], m.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise BadRequest(f"'{where}.content' must be a string or an array of blocks.", param=f"{where}.content")
    if role == "assistant":
        return [_assistant(content, where)]
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            text, images = _tool_result(block, at)
            tools.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text})
            parts += images  # a chat tool message carries text only: its images follow in the user turn
        elif kind in ("text", "image"):
            parts.append(_part(block, at))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise BadRequest(f"'{at}': block type {kind!r} is not supported by this gateway.", param=at)
    return tools + ([{"role": "user", "content": parts}] if parts else [])


def _assistant(content: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            arguments = jsonio.dumps_text(block.get("input") or {})
            call = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": call})
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise BadRequest(f"'{at}': block type {kind!r} is not supported in an assistant turn.", param=at)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _part(block: dict[str, Any], where: str) -> dict[str, Any]:
    if block["type"] == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif isinstance(source, dict) and source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        raise BadRequest(f"'{where}.source' must be a base64 or url image source.", param=f"{where}.source")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result(block: dict[str, Any], where: str) -> tuple[str, list[dict[str, Any]]]:
    content = block.get("content", "")
    images: list[dict[str, Any]] = []
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(str(part.get("text", "")))
            elif kind == "image":
                images.append(_part(part, f"{where}.content[{j}]"))
            else:
                at = f"{where}.content[{j}]"
                raise BadRequest(f"'{at}' must be a text or image block.", param=at)
        content = "\n".join(texts)
    elif not isinstance(content, str):
        raise BadRequest(f"'{where}.content' must be a string or an array of blocks.", param=f"{where}.content")
    if block.get("is_error"):
        content = f"Error: {content}"
    return content, images


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be an array.", param="tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "custom") != "custom" or "input_schema" not in tool:
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise BadRequest(
                f"'tools[{i}]': only custom tools (name, input_schema) are supported, not {kind!r}.",
                param=f"tools[{i}]",
            )
        function = {"name": tool.get("name"), "parameters": tool["input_schema"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any, chat: dict[str, Any]) -> None:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    else:
        raise BadRequest("'tool_choice.type' must be auto, any, tool or none.", param="tool_choice")
    if choice.get("disable_parallel_tool_use") and kind != "none":
        chat["parallel_tool_calls"] = False


# -- the answer --------------------------------------------------------------------------------------


def from_chat(completion: dict[str, Any]) -> dict[str, Any]:
    """A chat completion (its first choice) as an Anthropic Message."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": _input(function)}
        )
    usage = completion.get("usage") or {}
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model"),
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0)},
    }


def _input(function: dict[str, Any]) -> Any:
    """A tool call's arguments as the object Anthropic's `input` is; arguments that are not a JSON object
    (a model's malformed output) are kept under `_raw` so nothing is lost."""
    raw = function.get("arguments") or "{}"
    try:
        value = jsonio.loads(raw)
    except ValueError:
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


def message_id(chat_id: Any) -> str:
    return "msg_" + str(chat_id or "").removeprefix("chatcmpl-")


def error_body(error: ProxyError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(error.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}


class MessagesWriter:
    """Chat chunks as Anthropic's event stream: message_start, then per content block content_block_start,
    its deltas and content_block_stop, then message_delta (stop reason and usage) and message_stop.
    Usage comes in the upstream's last chunk, so message_delta waits for the end of the stream."""

    def __init__(self) -> None:
        self._started = False
        self._block = -1  # index of the open content block; -1 when none is open
        self._kind: str | None = None  # "text" or "tool_use"
        self._stop_reason = "end_turn"
        self._usage = {"input_tokens": 0, "output_tokens": 0}

    def chunk(self, chunk: StreamChunk) -> bytes | None:
        data = chunk.data
        out: list[bytes] = []
        if not self._started:
            out.append(self._message_start(data))
        usage = data.get("usage")
        if isinstance(usage, dict):
            self._usage = {
                "input_tokens": usage.get("prompt_tokens") or 0,
                "output_tokens": usage.get("completion_tokens") or 0,
            }
        for c in data.get("choices") or ():
            if c.get("index", 0) != 0:
                continue  # Anthropic has no `n`: only the first choice is written
            delta = c.get("delta") or {}
            if delta.get("content"):
                if self._kind != "text":
                    out += self._open({"type": "text", "text": ""}, "text")
                # The per-token event: from a template, the bytes `_event` would write for it.
                out.append(
                    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
                    b'"delta":{"type":"text_delta","text":%s}}\n\n' % (self._block, jsonio.dumps(delta["content"]))
                )
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                if call.get("id"):
                    block = {"type": "tool_use", "id": call["id"], "name": function.get("name"), "input": {}}
                    out += self._open(block, "tool_use")
                if function.get("arguments") and self._kind == "tool_use":
                    json_delta = {"type": "input_json_delta", "partial_json": function["arguments"]}
                    out.append(self._event("content_block_delta", {"index": self._block, "delta": json_delta}))
            if c.get("finish_reason"):
                self._stop_reason = STOP_REASONS.get(c["finish_reason"], "end_turn")
        return b"".join(out) or None

    def done(self) -> bytes:
        out = [] if self._started else [self._message_start({})]
        out += self._close()
        delta = {"stop_reason": self._stop_reason, "stop_sequence": None}
        out.append(self._event("message_delta", {"delta": delta, "usage": self._usage}))
        out.append(self._event("message_stop", {}))
        return b"".join(out)

    def failed(self, error: ProxyError) -> bytes:
        return sse.named("error", error_body(error))

    def relay(self) -> sse.Relay:
        """The writer of a passed-through stream: Anthropic's own events, as its upstream sent them."""
        return sse.Relay(self.failed)

    def _message_start(self, data: dict[str, Any]) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(data.get("id")),
            "type": "message",
            "role": "assistant",
            "model": data.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return self._event("message_start", {"message": message})

    def _open(self, block: dict[str, Any], kind: str) -> list[bytes]:
        out = self._close()
        self._block += 1
        self._kind = kind
        out.append(self._event("content_block_start", {"index": self._block, "content_block": block}))
        return out

    def _close(self) -> list[bytes]:
        if self._kind is None:
            return []
        self._kind = None
        return [self._event("content_block_stop", {"index": self._block})]

    @staticmethod
    def _event(name: str, payload: dict[str, Any]) -> bytes:
        return sse.named(name, {"type": name, **payload})

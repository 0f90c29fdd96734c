"""Parse a chat-completions body into the few things the simulator acts on; 400 on anything invalid.

Fields it does not act on (temperature, top_p, user, metadata, ...) are accepted and ignored, as a
permissive OpenAI-compatible server does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.simulator.errors import bad_request
from proxy.simulator.faults import Fault, parse_fault
from proxy.training.dataset import prompt_key

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class SimChatRequest:
    model: str
    messages: tuple[Mapping[str, Any], ...]
    user_texts: tuple[str, ...]
    all_text: str
    last_role: str
    prompt_key: str  # identity of the prompt for every deterministic draw
    stream: bool
    include_usage: bool
    n: int
    max_tokens: int | None
    stop: tuple[str, ...]
    logprobs: bool
    top_logprobs: int
    seed: int | None
    tools: tuple[ToolSpec, ...]
    tool_choice: str  # none | auto | required | function
    tool_choice_name: str | None
    response_format: str  # text | json_object | json_schema
    response_schema: Mapping[str, Any] | None
    fault: Fault | None

    @property
    def prompt_text(self) -> str:
        return "\n".join(self.user_texts)

    def lookup_keys(self) -> list[str]:
        """Keys under which the data may hold this prompt: the last user turn, all user turns, and
        RouteLLM's MT-Bench spelling of a two-turn conversation."""
        keys = [prompt_key(self.user_texts[-1])] if self.user_texts else []
        keys.append(self.prompt_key)
        if len(self.user_texts) > 1:
            turns = "\n".join(f"[TURN {i}] {text}" for i, text in enumerate(self.user_texts, 1))
            keys.append(prompt_key(turns))
        return keys


def message_text(message: Mapping[str, Any]) -> str:
    """All text of a message: string content, text parts of a content array, tool-call arguments."""
    content = message.get("content")
    parts: list[str] = []
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            parts.extend(str(function.get(k, "")) for k in ("name", "arguments"))
    return "\n".join(parts)


def parse_chat(body: object) -> SimChatRequest:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("you must provide a model parameter", "model")
    messages = _messages(body.get("messages"))
    user_texts = tuple(message_text(m) for m in messages if m["role"] == "user")
    stream = _bool(body, "stream")
    stream_options = body.get("stream_options")
    if stream_options is not None and (not isinstance(stream_options, dict) or not stream):
        raise bad_request("stream_options must be an object and is only allowed with stream: true", "stream_options")
    logprobs = _bool(body, "logprobs")
    top_logprobs = _int(body, "top_logprobs", 0, 20) or 0
    if top_logprobs and not logprobs:
        raise bad_request("top_logprobs requires logprobs: true", "top_logprobs")
    max_tokens = _int(body, "max_completion_tokens", 1, None)
    if max_tokens is None:
        max_tokens = _int(body, "max_tokens", 1, None)
    tools = _tools(body.get("tools"))
    tool_choice, tool_choice_name = _tool_choice(body.get("tool_choice"), tools)
    response_format, schema = _response_format(body.get("response_format"))
    fault = body.get("sim_fault")
    return SimChatRequest(
        model=model,
        messages=messages,
        user_texts=user_texts,
        all_text="\n".join(message_text(m) for m in messages),
        last_role=str(messages[-1]["role"]),
        prompt_key=prompt_key("\n".join(user_texts)),
        stream=stream,
        include_usage=bool(stream_options and stream_options.get("include_usage")),
        n=_int(body, "n", 1, 128) or 1,
        max_tokens=max_tokens,
        stop=_stop(body.get("stop")),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        seed=_int(body, "seed", None, None),
        tools=tools,
        tool_choice=tool_choice,
        tool_choice_name=tool_choice_name,
        response_format=response_format,
        response_schema=schema,
        fault=None if fault is None else parse_fault(fault, "sim_fault"),
    )


def _messages(raw: object) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages must be a non-empty array", "messages")
    for i, message in enumerate(raw):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad_request(f"messages[{i}] must be an object with a role in {', '.join(ROLES)}", f"messages[{i}]")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise bad_request(f"messages[{i}].content must be a string or an array", f"messages[{i}].content")
    return tuple(raw)


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be a boolean", key)
    return value


def _int(body: Mapping[str, Any], key: str, low: int | None, high: int | None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{key} must be an integer", key)
    if low is not None and value < low:
        raise bad_request(f"{key} must be >= {low}", key)
    if high is not None and value > high:
        raise bad_request(f"{key} must be <= {high}", key)
    return value


def _stop(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and len(raw) <= 4 and all(isinstance(s, str) for s in raw):
        return tuple(raw)
    raise bad_request("stop must be a string or an array of up to 4 strings", "stop")


def _tools(raw: object) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad_request("tools must be an array", "tools")
    specs = []
    for i, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"tools[{i}] must be {{type: function, function: {{name, parameters}}}}", f"tools[{i}]")
        parameters = function.get("parameters", {})
        if not isinstance(parameters, dict):
            raise bad_request(f"tools[{i}].function.parameters must be an object", f"tools[{i}].function.parameters")
        specs.append(ToolSpec(function["name"], parameters))
    return tuple(specs)


def _tool_choice(raw: object, tools: tuple[ToolSpec, ...]) -> tuple[str, str | None]:
    if raw is None:
        return ("auto" if tools else "none"), None
    if raw in ("none", "auto", "required"):
        if raw == "required" and not tools:
            raise bad_request("tool_choice 'required' needs tools", "tool_choice")
        return str(raw), None
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise bad_request(
            "tool_choice must be none, auto, required or {type: function, function: {name}}", "tool_choice"
        )
    if name not in {t.name for t in tools}:
        raise bad_request(f"tool_choice names {name!r}, which is not in tools", "tool_choice")
    return "function", name


def _response_format(raw: object) -> tuple[str, Mapping[str, Any] | None]:
    if raw is None:
        return "text", None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("text", "json_object"):
        return str(kind), None
    if kind == "json_schema" and isinstance(raw, dict):
        spec = raw.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise bad_request("response_format.json_schema.schema must be an object", "response_format")
        return "json_schema", schema
    raise bad_request("response_format.type must be text, json_object or json_schema", "response_format")

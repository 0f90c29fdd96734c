"""Parse and validate an OpenAI chat-completions body into a typed `ChatRequest`.

The client's body is kept as it came (`body`) so it reaches the upstream untouched except for
`model`. Validation checks what the OpenAI API documents, so a bad request fails here with a
clear 400 naming the field, not later as an upstream error or a 500.

Fields fall in three groups:
- OpenAI parameters we know (`OPENAI_PARAMS`): validated, handed to litellm as parameters so it can
  translate them for non-OpenAI providers;
- `RESERVED`: litellm call arguments that set connection or behaviour (`api_base`, `api_key`,
  `mock_response`, `timeout`, ...). A client must never set them: refused with 400;
- anything else: passed through to the upstream as request-body fields (litellm's `extra_body`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from proxy import jsonio
from proxy.errors import BadRequest
from proxy.limits.input import check_body, too_deep
from proxy.settings import InputLimits

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})

OPENAI_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "modalities",
        "audio",
        "prediction",
        "service_tier",
        "web_search_options",
    }
)

# litellm.acompletion keyword arguments that are not OpenAI body fields. Every one changes where the
# call goes, with which credentials, or how litellm behaves, so none may come from a client.
RESERVED = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_type",
        "organization",
        "custom_llm_provider",
        "mock_response",
        "mock_tool_calls",
        "mock_timeout",
        "timeout",
        "request_timeout",
        "num_retries",
        "max_retries",
        "fallbacks",
        "context_window_fallback_dict",
        "model_list",
        "deployment_id",
        "extra_headers",
        "extra_body",
        "extra_query",
        "headers",
        "client",
        "caching",
        "cache",
        "no-log",
        "logger_fn",
        "callbacks",
        "success_callback",
        "failure_callback",
        "input_cost_per_token",
        "output_cost_per_token",
        "input_cost_per_second",
        "output_cost_per_second",
        "model_info",
        "proxy_server_request",
        "preset_cache_key",
        "azure_ad_token",
        "azure_ad_token_provider",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "vertex_project",
        "vertex_location",
        "vertex_credentials",
        "tenant_id",
        "client_id",
        "client_secret",
        "acompletion",
        "drop_params",
        "additional_drop_params",
        "allowed_openai_params",
        "ssl_verify",
        "shared_session",
    }
)
RESERVED_PREFIXES = ("litellm_", "aws_", "vertex_", "azure_")

# Consumed by the proxy itself, never forwarded.
PROXY_FIELDS = frozenset({"router"})


@dataclass(frozen=True)
class Message:
    role: str
    text: str  # all text of the message, parts joined by newlines
    has_image: bool = False
    has_audio: bool = False
    tool_calls: int = 0


@dataclass(frozen=True)
class RouteControls:
    """Per-request routing controls, from the body's `router` object."""

    candidates: tuple[str, ...] | None = None
    min_acceptability: float | None = None
    max_latency_s: float | None = None
    max_cost_usd: float | None = None
    cost_weight: float | None = None
    latency_weight: float | None = None
    quality_weight: float | None = None
    fallbacks: bool = True


@dataclass(frozen=True)
class NativeBody:
    """A request that came in another API than chat (Anthropic Messages, OpenAI Responses), as the client sent
    it: a backend speaking that API gets this body, its model replaced (proxy/upstream/native.py), instead of
    the chat translation that routing reads, so nothing is lost in translation."""

    api: str  # "anthropic" or "responses"
    body: Mapping[str, Any]
    headers: Mapping[str, str]  # the client's headers the upstream should see (anthropic-version, -beta)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    body: Mapping[str, Any]  # the client's body as sent, minus proxy-only fields
    params: Mapping[str, Any]  # known OpenAI parameters (everything but model/messages/stream*)
    extra: Mapping[str, Any]  # unknown fields, passed to the upstream as body fields
    stream: bool = False
    include_usage: bool = False  # what the client asked for; usage is always requested upstream
    controls: RouteControls = field(default_factory=RouteControls)
    native: NativeBody | None = None  # set by the Messages and Responses endpoints only

    # What the request needs of a backend: read by the features, the filter and the log of every routed call, so
    # worked out once (the request is frozen).
    @cached_property
    def needs_tools(self) -> bool:
        return bool(self.params.get("tools")) and self.params.get("tool_choice") != "none"

    @cached_property
    def needs_json(self) -> bool:
        fmt = self.params.get("response_format")
        return isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema")

    @cached_property
    def needs_vision(self) -> bool:
        return any(m.has_image for m in self.messages)

    @property
    def max_output_tokens(self) -> int | None:
        value = self.params.get("max_completion_tokens", self.params.get("max_tokens"))
        return int(value) if value is not None else None


NO_LIMITS = InputLimits()


def parse_json(raw: bytes, limits: InputLimits = NO_LIMITS) -> Any:
    """The body's JSON, within `limits` (depth, integer range, string validity), or 400 naming what is wrong."""
    if not raw:
        raise BadRequest("Request body is empty; expected a JSON object.")
    try:
        value = jsonio.loads(raw)  # NaN and Infinity are refused: JSON has no such values, no upstream takes them
    except jsonio.TooDeep:
        raise too_deep(limits) from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    check_body(value, limits)
    return value


def parse_chat(body: Any, limits: InputLimits = NO_LIMITS) -> ChatRequest:
    if not isinstance(body, dict):
        raise BadRequest(f"Request body must be a JSON object, got {_kind(body)}.")
    for key in body:
        if key in RESERVED or key.startswith(RESERVED_PREFIXES):
            raise BadRequest(
                f"Field '{key}' is not allowed: upstream connection and behaviour settings come from the "
                "proxy's configuration.",
                param=key,
                code="unsupported_parameter",
            )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required and must be a non-empty string.", param="model")
    if "messages" not in body:
        raise BadRequest("'messages' is a required property.", param="messages")
    messages = _messages(body["messages"], limits)
    stream = _opt_bool(body, "stream") or False
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise BadRequest("'stream_options' must be an object.", param="stream_options")
        if not stream:
            raise BadRequest("'stream_options' is only allowed when 'stream' is true.", param="stream_options")
        include_usage = _opt_bool(options, "include_usage", "stream_options.include_usage") or False
    params = {k: v for k, v in body.items() if k in OPENAI_PARAMS}
    _validate_params(params)
    tools = params.get("tools")
    if isinstance(tools, list) and len(tools) > limits.max_tools:
        raise BadRequest(
            f"'tools' has {len(tools)} entries; the limit is {limits.max_tools} (limits.max_tools).",
            param="tools",
            code="too_many_tools",
        )
    extra = {
        k: v for k, v in body.items() if k not in OPENAI_PARAMS and k not in PROXY_FIELDS and k not in _CORE_FIELDS
    }
    return ChatRequest(
        model=model,
        messages=messages,
        body=MappingProxyType({k: v for k, v in body.items() if k not in PROXY_FIELDS}),
        params=MappingProxyType(params),
        extra=MappingProxyType(extra),
        stream=stream,
        include_usage=include_usage,
        controls=_controls(body.get("router")),
    )


_CORE_FIELDS = frozenset({"model", "messages", "stream", "stream_options"})


def _messages(value: Any, limits: InputLimits) -> tuple[Message, ...]:
    if not isinstance(value, list):
        raise BadRequest(f"'messages' must be an array, got {_kind(value)}.", param="messages")
    if not value:
        raise BadRequest("'messages' must contain at least one message.", param="messages")
    if len(value) > limits.max_messages:
        raise BadRequest(
            f"'messages' has {len(value)} entries; the limit is {limits.max_messages} (limits.max_messages).",
            param="messages",
            code="too_many_messages",
        )
    return tuple(_message(m, f"messages[{i}]", limits) for i, m in enumerate(value))


def _message(m: Any, where: str, limits: InputLimits) -> Message:
    if not isinstance(m, dict):
        raise BadRequest(f"'{where}' must be an object, got {_kind(m)}.", param=where)
    role = m.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise BadRequest(f"'{where}.role' must be one of {sorted(ROLES)}, got {role!r}.", param=f"{where}.role")
    content = m.get("content")
    tool_calls = m.get("tool_calls")
    if tool_calls is not None and (role != "assistant" or not isinstance(tool_calls, list)):
        raise BadRequest(f"'{where}.tool_calls' must be an array on an assistant message.", param=where)
    if content is None:
        if role == "assistant" and (tool_calls or m.get("function_call") or m.get("refusal")):
            return Message(role=role, text="", tool_calls=len(tool_calls or ()))
        raise BadRequest(f"'{where}.content' is required for a {role} message.", param=f"{where}.content")
    if role == "tool" and not isinstance(m.get("tool_call_id"), str):
        raise BadRequest(f"'{where}.tool_call_id' is required for a tool message.", param=f"{where}.tool_call_id")
    if isinstance(content, str):
        return Message(role=role, text=content, tool_calls=len(tool_calls or ()))
    if not isinstance(content, list):
        raise BadRequest(
            f"'{where}.content' must be a string or an array of content parts, got {_kind(content)}.",
            param=f"{where}.content",
        )
    if len(content) > limits.max_content_parts:
        raise BadRequest(
            f"'{where}.content' has {len(content)} parts; the limit is {limits.max_content_parts} "
            "(limits.max_content_parts).",
            param=f"{where}.content",
            code="too_many_content_parts",
        )
    texts: list[str] = []
    has_image = has_audio = False
    for j, part in enumerate(content):
        pwhere = f"{where}.content[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str) or part["type"] not in PART_TYPES:
            raise BadRequest(f"'{pwhere}' must be an object with 'type' one of {sorted(PART_TYPES)}.", param=pwhere)
        kind = part["type"]
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if not isinstance(text, str):
                raise BadRequest(f"'{pwhere}.{kind}' must be a string.", param=f"{pwhere}.{kind}")
            texts.append(text)
        elif kind == "image_url":
            url = part.get("image_url")
            if not (isinstance(url, dict) and isinstance(url.get("url"), str)):
                raise BadRequest(f"'{pwhere}.image_url.url' must be a string.", param=f"{pwhere}.image_url")
            has_image = True
        elif kind == "input_audio":
            has_audio = True
    return Message(
        role=role, text="\n".join(texts), has_image=has_image, has_audio=has_audio, tool_calls=len(tool_calls or ())
    )


def _validate_params(p: Mapping[str, Any]) -> None:
    _number(p, "temperature", 0.0, 2.0)
    _number(p, "top_p", 0.0, 1.0)
    _number(p, "presence_penalty", -2.0, 2.0)
    _number(p, "frequency_penalty", -2.0, 2.0)
    _integer(p, "n", 1, 128)
    _integer(p, "max_tokens", 1, None)
    _integer(p, "max_completion_tokens", 1, None)
    _integer(p, "seed", None, None)
    _integer(p, "top_logprobs", 0, 20)
    _opt_bool(p, "logprobs")
    _opt_bool(p, "parallel_tool_calls")
    if "user" in p and not isinstance(p["user"], str):
        raise BadRequest("'user' must be a string.", param="user")
    stop = p.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop)):
            raise BadRequest("'stop' must be a string or an array of up to 4 strings.", param="stop")
    bias = p.get("logit_bias")
    if bias is not None and not (
        isinstance(bias, dict) and all(_is_number(v) and -100 <= v <= 100 for v in bias.values())
    ):
        raise BadRequest("'logit_bias' must map token ids to numbers in [-100, 100].", param="logit_bias")
    _tools(p.get("tools"), p.get("tool_choice"))
    _response_format(p.get("response_format"))


def _tools(tools: Any, choice: Any) -> None:
    """Validate what the gateway must understand (function tools it filters candidates by, and a tool_choice
    naming one); newer shapes (`custom` tools, `allowed_tools` choices) pass through for the upstream to judge."""
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise BadRequest("'tools' must be an array.", param="tools")
        for i, tool in enumerate(tools):
            where = f"tools[{i}]"
            if not isinstance(tool, dict) or not isinstance(tool.get("type", "function"), str):
                raise BadRequest(f"'{where}' must be an object with a 'type'.", param=where)
            if tool.get("type", "function") != "function":
                continue
            fn = tool.get("function")
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                raise BadRequest(f"'{where}.function.name' is required.", param=f"{where}.function.name")
            if "parameters" in fn and not isinstance(fn["parameters"], dict):
                raise BadRequest(
                    f"'{where}.function.parameters' must be a JSON Schema object.",
                    param=f"{where}.function.parameters",
                )
            names.add(fn["name"])
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise BadRequest("'tool_choice' must be 'none', 'auto', 'required' or an object.", param="tool_choice")
        if choice == "required" and not tools:
            raise BadRequest("'tool_choice' is 'required' but no 'tools' were given.", param="tool_choice")
        return
    if not isinstance(choice, dict) or not isinstance(choice.get("type", "function"), str):
        raise BadRequest("'tool_choice' must be 'none', 'auto', 'required' or an object.", param="tool_choice")
    if choice.get("type", "function") != "function":
        return
    fn = choice.get("function")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise BadRequest("'tool_choice' object must be {type: 'function', function: {name}}.", param="tool_choice")
    if fn["name"] not in names:
        raise BadRequest(f"'tool_choice' names unknown function {fn['name']!r}.", param="tool_choice")


def _response_format(fmt: Any) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise BadRequest(
            "'response_format.type' must be 'text', 'json_object' or 'json_schema'.", param="response_format"
        )
    if fmt["type"] == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise BadRequest("'response_format.json_schema.name' is required.", param="response_format.json_schema")
        if "schema" in spec and not isinstance(spec["schema"], dict):
            raise BadRequest(
                "'response_format.json_schema.schema' must be an object.", param="response_format.json_schema"
            )


def _controls(value: Any) -> RouteControls:
    if value is None:
        return RouteControls()
    if not isinstance(value, dict):
        raise BadRequest("'router' must be an object.", param="router")
    known = {
        "candidates",
        "min_acceptability",
        "max_latency_s",
        "max_cost_usd",
        "cost_weight",
        "latency_weight",
        "quality_weight",
    }
    for key in value:
        if key not in known | {"fallbacks"}:
            raise BadRequest(f"'router.{key}' is not a routing control.", param=f"router.{key}")
    candidates = value.get("candidates")
    if candidates is not None and not (
        isinstance(candidates, list) and candidates and all(isinstance(c, str) for c in candidates)
    ):
        raise BadRequest("'router.candidates' must be a non-empty array of model names.", param="router.candidates")
    _number(value, "min_acceptability", 0.0, 1.0, "router.")
    for key in ("max_latency_s", "max_cost_usd", "cost_weight", "latency_weight", "quality_weight"):
        _number(value, key, 0.0, None, "router.")
    return RouteControls(
        candidates=tuple(candidates) if candidates else None,
        min_acceptability=value.get("min_acceptability"),
        max_latency_s=value.get("max_latency_s"),
        max_cost_usd=value.get("max_cost_usd"),
        cost_weight=value.get("cost_weight"),
        latency_weight=value.get("latency_weight"),
        quality_weight=value.get("quality_weight"),
        fallbacks=_opt_bool(value, "fallbacks", "router.fallbacks") is not False,
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _number(p: Mapping[str, Any], key: str, lo: float | None, hi: float | None, prefix: str = "") -> None:
    v = p.get(key)
    if v is None:
        return
    if not _is_number(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f" between {lo} and {hi}" if hi is not None else (f" >= {lo}" if lo is not None else "")
        raise BadRequest(f"'{prefix}{key}' must be a number{rng}, got {v!r}.", param=prefix + key)


def _integer(p: Mapping[str, Any], key: str, lo: int | None, hi: int | None) -> None:
    v = p.get(key)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f" between {lo} and {hi}" if hi is not None else (f" >= {lo}" if lo is not None else "")
        raise BadRequest(f"'{key}' must be an integer{rng}, got {v!r}.", param=key)


def _opt_bool(p: Mapping[str, Any], key: str, name: str | None = None) -> bool | None:
    v = p.get(key)
    if v is not None and not isinstance(v, bool):
        raise BadRequest(f"'{name or key}' must be a boolean, got {v!r}.", param=name or key)
    return v


def _kind(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(v), type(v).__name__)

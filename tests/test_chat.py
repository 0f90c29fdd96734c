"""The drop-in promise: the official OpenAI SDK, over real HTTP, through the proxy and litellm to the simulator."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import SIM_KEY, Sim

HI = [{"role": "user", "content": "Say hello in one short sentence."}]

NESTED_TOOL = {
    "type": "function",
    "function": {
        "name": "create_order",
        "description": "Create an order",
        "parameters": {
            "type": "object",
            "properties": {
                "customer": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "address": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                            "required": ["city", "zip"],
                        },
                    },
                    "required": ["name", "address"],
                },
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "sku": {"type": "string"},
                            "qty": {"type": "integer"},
                            "size": {"type": "string", "enum": ["S", "M", "L"]},
                        },
                        "required": ["sku", "qty", "size"],
                    },
                },
                "express": {"type": "boolean"},
            },
            "required": ["customer", "items", "express"],
        },
    },
}


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """A small JSON Schema check for the shapes these tests use (type, properties, required, items, enum)."""
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict) or any(k not in value for k in schema.get("required", [])):
            return False
        return all(conforms(value[k], s) for k, s in schema.get("properties", {}).items() if k in value)
    if kind == "array":
        return isinstance(value, list) and all(conforms(v, schema.get("items", {})) for v in value)
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    return checks.get(kind, lambda v: True)(value)


def test_named_backend_non_streaming(client: openai.OpenAI, sim: Sim) -> None:
    raw = client.chat.completions.with_raw_response.create(model="cheap", messages=HI, temperature=0.2, seed=7)
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert raw.headers["x-router-model"] == "cheap"
    assert len(raw.headers["x-router-request-id"]) == 26
    body = sim.last_body()
    assert body["model"] == "mixtral-8x7b"
    assert body["temperature"] == 0.2 and body["seed"] == 7
    assert sim.requests()[-1]["headers"]["authorization"] == f"Bearer {SIM_KEY}"


def test_routed_call_reports_its_prediction(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="router", messages=HI)
    assert raw.parse().choices[0].message.content
    # cheap is the cheapest candidate whose prior accuracy reaches the 0.7 threshold.
    assert raw.headers["x-router-model"] == "cheap"
    assert raw.headers["x-router-alias"] == "router"
    assert 0.0 <= float(raw.headers["x-router-p-acceptable"]) <= 1.0
    assert float(raw.headers["x-router-predicted-latency-s"]) > 0
    assert float(raw.headers["x-router-predicted-cost-usd"]) > 0


def test_stricter_alias_picks_the_stronger_model(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="strict", messages=HI)
    assert raw.headers["x-router-model"] == "strong"


def test_stream_without_include_usage_hides_usage_but_asks_upstream(client: openai.OpenAI, sim: Sim) -> None:
    with client.chat.completions.with_streaming_response.create(model="router", messages=HI, stream=True) as raw:
        assert raw.headers["x-router-model"] == "cheap"
        assert raw.headers["content-type"].startswith("text/event-stream")
        chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[-1].finish_reason in ("stop", "length")
    assert sim.last_body()["stream_options"] == {"include_usage": True}


def test_stream_with_include_usage_ends_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model="cheap", messages=HI, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_tools_with_nested_schema(client: openai.OpenAI, sim: Sim) -> None:
    done = client.chat.completions.create(
        model="router",
        messages=[{"role": "user", "content": "Order two red shirts to Paris"}],
        tools=[NESTED_TOOL],
        tool_choice="required",
    )
    call = done.choices[0].message.tool_calls[0]
    assert call.function.name == "create_order"
    assert conforms(json.loads(call.function.arguments), NESTED_TOOL["function"]["parameters"])
    assert sim.last_body()["tools"] == [NESTED_TOOL]


def test_streamed_tool_call_deltas_reassemble(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="cheap",
        messages=[{"role": "user", "content": "Order a shirt"}],
        tools=[NESTED_TOOL],
        tool_choice={"type": "function", "function": {"name": "create_order"}},
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                slot = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                if delta.function and delta.function.name:
                    slot["name"] += delta.function.name
                if delta.function and delta.function.arguments:
                    slot["arguments"] += delta.function.arguments
    assert calls[0]["name"] == "create_order"
    assert conforms(json.loads(calls[0]["arguments"]), NESTED_TOOL["function"]["parameters"])


def test_tools_exclude_backends_without_tool_support(client: openai.OpenAI, proxy_url: str) -> None:
    import httpx

    body = {"model": "router", "messages": HI, "tools": [NESTED_TOOL]}
    ranking = httpx.post(f"{proxy_url}/v1/route", json=body).json()
    dropped = {c["name"]: c["dropped"] for c in ranking["candidates"] if c["dropped"]}
    assert dropped == {"no-tools": "does not support tools"}


def test_response_format_json_schema(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    done = client.chat.completions.create(
        model="cheap",
        messages=[{"role": "user", "content": "Largest city of France as JSON"}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    assert conforms(json.loads(done.choices[0].message.content or ""), schema)


def test_response_format_json_object(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(
        model="router", messages=[{"role": "user", "content": "Give me JSON"}], response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(done.choices[0].message.content or ""), dict)


def test_n_two_returns_two_choices(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(model="cheap", messages=HI, n=2)
    assert [c.index for c in done.choices] == [0, 1]


def test_multi_turn_with_content_parts_routes_to_a_vision_model(client: openai.OpenAI, sim: Sim) -> None:
    messages = [
        {"role": "system", "content": "You describe pictures."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! Send me a picture."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
    ]
    raw = client.chat.completions.with_raw_response.create(model="router", messages=messages)
    assert raw.headers["x-router-model"] == "strong"  # the only candidate that accepts images
    assert sim.last_body()["messages"] == messages


def test_unknown_extra_field_reaches_the_upstream_as_a_body_field(client: openai.OpenAI, sim: Sim) -> None:
    client.chat.completions.create(
        model="cheap", messages=HI, extra_body={"my_vendor_option": {"depth": [1, 2]}, "metadata": {"team": "a"}}
    )
    body = sim.last_body()
    assert body["my_vendor_option"] == {"depth": [1, 2]}
    assert body["metadata"] == {"team": "a"}


@pytest.mark.parametrize(
    "field,value",
    [
        ("api_base", "http://127.0.0.1:1/v1"),
        ("base_url", "http://127.0.0.1:1/v1"),
        ("api_key", "sk-attacker"),
        ("custom_llm_provider", "anthropic"),
        ("mock_response", "pwned"),
        ("timeout", 0.001),
        ("num_retries", 50),
        ("extra_headers", {"x-evil": "1"}),
        ("litellm_logging_obj", {}),
        ("input_cost_per_token", 0),
    ],
)
def test_litellm_call_arguments_are_refused(client: openai.OpenAI, sim: Sim, field: str, value: Any) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="cheap", messages=HI, extra_body={field: value})
    assert info.value.status_code == 400
    assert info.value.body["param"] == field  # type: ignore[index]
    assert sim.requests() == []


def test_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="embed", input=["one", "two"])
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0


def test_models_lists_backends_aliases_and_embeddings(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"strong", "cheap", "weak", "no-tools", "router", "strict", "embed"} <= ids


def test_models_retrieve_gives_one_card(client: openai.OpenAI) -> None:
    assert client.models.retrieve("router").model_dump()["switchyard"]["kind"] == "router"
    assert client.models.retrieve("cheap").model_dump()["switchyard"]["prices"]
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_a_follow_up_turn_stays_with_the_backend_that_answered(client: openai.OpenAI) -> None:
    first = [{"role": "user", "content": "Plan a three-day trip to Lisbon."}]
    raw = client.chat.completions.with_raw_response.create(
        model="sticky", messages=first, extra_body={"router": {"min_acceptability": 0.85}}
    )
    assert raw.headers["x-router-model"] == "strong"
    answer = raw.parse().choices[0].message.content
    follow_up = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "Make it cheaper."}]
    again = client.chat.completions.with_raw_response.create(
        model="sticky", messages=follow_up, extra_headers={"x-router-explain": "1"}
    )
    assert again.headers["x-router-model"] == "strong"
    assert json.loads(again.headers["x-router-explain"])["reason"] == "sticky"
    # A new conversation with the same last message has no history: plain best utility.
    fresh = client.chat.completions.with_raw_response.create(model="sticky", messages=follow_up[-1:])
    assert fresh.headers["x-router-model"] == "cheap"


def test_current_tool_shapes_reach_the_upstream_untouched(proxy_url: str, sim: Sim) -> None:
    """A custom (free-form) tool and an allowed_tools choice are the upstream's to judge: the gateway used to
    refuse them with a 400 before any upstream saw them."""
    tools = [NESTED_TOOL, {"type": "custom", "custom": {"name": "sql", "description": "A SQL query"}}]
    choice = {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "custom", "name": "sql"}]}}
    body = {"model": "cheap", "messages": [{"role": "user", "content": "hi"}], "tools": tools, "tool_choice": choice}
    httpx.post(f"{proxy_url}/v1/chat/completions", json=body, timeout=30)
    sent = sim.last_body()
    assert sent["tools"] == tools and sent["tool_choice"] == choice

"""POST /v1/messages with the `anthropic` Python SDK, over HTTP, routed and named, streamed and not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import Sim, logged_row

WEATHER: Any = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
HI: Any = [{"role": "user", "content": "Say hello in one short sentence."}]


@pytest.fixture
def claude(proxy_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=proxy_url, api_key="client-key", max_retries=0, timeout=30) as client:
        yield client


def test_named_create(claude: anthropic.Anthropic, sim: Sim, db_path: Path) -> None:
    raw = claude.messages.with_raw_response.create(
        model="cheap", max_tokens=200, system="You are terse.", messages=HI, extra_body={"temperature": 0.3}
    )  # this SDK version has no temperature argument; older ones send it as a body field
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    assert raw.headers["x-router-model"] == "cheap"
    body = sim.last_body()
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["max_tokens"] == 200 and body["temperature"] == 0.3
    backend, tokens, cost = logged_row(db_path, raw.headers["x-router-request-id"], "backend, output_tokens, cost_usd")
    assert backend == "cheap" and tokens == message.usage.output_tokens and cost > 0


def test_routed_tool_use_and_its_result(claude: anthropic.Anthropic, sim: Sim) -> None:
    ask: Any = [{"role": "user", "content": "What is the weather in Oslo?"}]
    raw = claude.messages.with_raw_response.create(model="router", max_tokens=300, messages=ask, tools=[WEATHER])
    assert raw.headers["x-router-alias"] == "router"
    first = raw.parse()
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    follow_up: Any = [
        *ask,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "-3C, snow"}]},
    ]
    second = claude.messages.create(model="router", max_tokens=300, messages=follow_up, tools=[WEATHER])
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
    assert sim.last_body()["messages"][-1] == {"role": "tool", "tool_call_id": call.id, "content": "-3C, snow"}


def test_stream_text(claude: anthropic.Anthropic, db_path: Path) -> None:
    with claude.messages.stream(model="router", max_tokens=200, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-router-request-id"]
        assert stream.response.headers["x-router-model"] == "cheap"
    assert text and final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0 and final.usage.input_tokens > 0
    stream_flag, tokens, cost = logged_row(db_path, request_id, "stream, output_tokens, cost_usd")
    assert stream_flag == 1 and tokens == final.usage.output_tokens and cost > 0


def test_stream_with_a_tool(claude: anthropic.Anthropic) -> None:
    ask: Any = [{"role": "user", "content": "What is the weather in Oslo?"}]
    with claude.messages.stream(model="strong", max_tokens=300, messages=ask, tools=[WEATHER]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input


def test_errors_are_anthropic_shaped_and_raise_the_sdks_classes(claude: anthropic.Anthropic, sim: Sim) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="no-such-model", max_tokens=10, messages=HI)
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(
            model="cheap", max_tokens=10, messages=HI, tools=[{"type": "web_search_20250305", "name": "web_search"}]
        )
    assert "tools[0]" in str(bad.value)
    assert sim.requests() == []


def test_structured_output(claude: anthropic.Anthropic) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    message = claude.messages.create(
        model="router",
        max_tokens=200,
        messages=[{"role": "user", "content": "Name a city."}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert message.content[0].type == "text" and isinstance(json.loads(message.content[0].text)["city"], str)


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    short = claude.messages.count_tokens(model="router", messages=HI)
    long = claude.messages.count_tokens(model="router", messages=[{"role": "user", "content": "word " * 500}])
    assert 0 < short.input_tokens < long.input_tokens


def test_raw_http_with_x_api_key_and_no_max_tokens(proxy_url: str) -> None:
    response = httpx.post(
        f"{proxy_url}/v1/messages", json={"model": "cheap", "messages": HI}, headers={"x-api-key": "anything"}
    )
    assert response.status_code == 200 and response.json()["content"][0]["text"]

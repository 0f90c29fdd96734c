"""POST /v1/responses with the OpenAI SDK's `responses.create` / `.stream` / `.parse`, over HTTP, routed and named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pydantic
import pytest

from tests.conftest import Sim, logged_row

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def test_named_plain(client: openai.OpenAI, sim: Sim, db_path: Path) -> None:
    raw = client.responses.with_raw_response.create(
        model="cheap", input="Say hello in one sentence.", instructions="Be terse.", max_output_tokens=4000
    )
    response = raw.parse()
    assert response.object == "response" and response.status == "completed"
    assert response.output_text and response.output[0].type == "message"
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.instructions == "Be terse." and response.max_output_tokens == 4000
    request_id = raw.headers["x-router-request-id"]
    assert raw.headers["x-router-model"] == "cheap" and response.id == f"resp_{request_id}"
    body = sim.last_body()
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Say hello in one sentence."},
    ]
    assert body["max_tokens"] == 4000
    backend, tokens, cost = logged_row(db_path, request_id, "backend, output_tokens, cost_usd")
    assert backend == "cheap" and tokens == response.usage.output_tokens and cost > 0


def test_routed_stream(client: openai.OpenAI, db_path: Path) -> None:
    with client.responses.with_streaming_response.create(model="router", input="Write a haiku.", stream=True) as raw:
        assert raw.headers["x-router-alias"] == "router" and raw.headers["x-router-model"] == "cheap"
        request_id = raw.headers["x-router-request-id"]
        events = list(raw.parse())
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response  # type: ignore[union-attr]
    assert text and final.output_text == text and final.usage is not None and final.usage.output_tokens > 0
    tokens, cost = logged_row(db_path, request_id, "output_tokens, cost_usd")
    assert tokens == final.usage.output_tokens and cost > 0


def test_stream_helper_with_a_function_tool(client: openai.OpenAI) -> None:
    with client.responses.stream(model="strong", input="Weather in Oslo?", tools=[WEATHER]) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and "city" in json.loads(call.arguments)


def test_a_function_tool_round_trip(client: openai.OpenAI, sim: Sim) -> None:
    first = client.responses.create(model="router", input="Weather in Oslo?", tools=[WEATHER])
    call = first.output[0]
    assert call.type == "function_call" and call.call_id
    second = client.responses.create(
        model="router",
        input=[
            {"role": "user", "content": "Weather in Oslo?"},
            call.model_dump(),
            {"type": "function_call_output", "call_id": call.call_id, "output": "-3C"},
        ],
        tools=[WEATHER],
    )
    assert second.output_text
    messages = sim.last_body()["messages"]
    assert messages[1]["tool_calls"][0]["id"] == call.call_id
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "-3C"}


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output(client: openai.OpenAI, sim: Sim) -> None:
    parsed = client.responses.parse(model="router", input="Name a large city.", text_format=City)
    assert isinstance(parsed.output_parsed, City)
    assert sim.last_body()["response_format"]["type"] == "json_schema"


def test_previous_response_id_continues_and_get_returns_it(client: openai.OpenAI, sim: Sim) -> None:
    first = client.responses.create(model="cheap", input="Pick a colour.", instructions="One word.")
    second = client.responses.create(model="cheap", input="Why that one?", previous_response_id=first.id)
    messages = sim.last_body()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]  # instructions are not carried over
    assert messages[1]["content"] == first.output_text and second.previous_response_id == first.id
    assert client.responses.retrieve(second.id).output_text == second.output_text


def test_an_unknown_previous_response_is_a_clear_400(client: openai.OpenAI, sim: Sim) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="cheap", input="Hi", previous_response_id="resp_nope")
    assert info.value.param == "previous_response_id" and "in memory" in info.value.message
    unstored = client.responses.create(model="cheap", input="Hi", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_image_input_routes_to_a_vision_backend(client: openai.OpenAI, sim: Sim) -> None:
    raw = client.responses.with_raw_response.create(
        model="router",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is in this picture?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                ],
            }
        ],
    )
    assert raw.headers["x-router-model"] == "strong" and raw.parse().output_text
    part = sim.last_body()["messages"][0]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}


def test_a_built_in_tool_is_refused_naming_it(client: openai.OpenAI, sim: Sim) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="cheap", input="Hi", tools=[{"type": "web_search"}])
    assert info.value.param == "tools[0]" and sim.requests() == []


def test_a_capped_answer_is_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(model="cheap", input="Write a long essay about rivers.", max_output_tokens=5)
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def test_an_upstream_cut_mid_stream_raises_in_the_sdk_and_is_logged(
    client: openai.OpenAI, sim: Sim, db_path: Path
) -> None:
    sim.fault("mixtral-8x7b", {"disconnect_after_chunks": 3})
    with client.responses.with_streaming_response.create(model="cheap", input="Write a poem.", stream=True) as raw:
        request_id = raw.headers["x-router-request-id"]
        with pytest.raises(openai.APIError):
            list(raw.parse())
    status, error = logged_row(db_path, request_id, "status, error")
    assert status >= 500 and error

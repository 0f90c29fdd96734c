"""The simulator's Anthropic Messages and OpenAI Responses endpoints, read by the providers' own SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import SIM_KEY, Sim

CLAUDE = "claude-3-5-haiku-20241022"
WEATHER: Any = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture
def claude(sim_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim_url, api_key=SIM_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def oai(sim_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{sim_url}/v1", api_key=SIM_KEY, max_retries=0) as client:
        yield client


def test_messages_whole_and_streamed_agree(claude: anthropic.Anthropic, sim: Sim) -> None:
    ask: Any = [{"role": "user", "content": "Say hello."}]
    whole = claude.messages.create(
        model=CLAUDE, max_tokens=60, system="Be terse.", messages=ask, extra_body={"top_k": 3}
    )
    with claude.messages.stream(model=CLAUDE, max_tokens=60, system="Be terse.", messages=ask) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert whole.content[0].type == "text" and final.content[0].type == "text"
    assert text == final.content[0].text == whole.content[0].text
    assert final.usage.input_tokens == whole.usage.input_tokens > 0
    assert final.usage.output_tokens == whole.usage.output_tokens > 0
    received = sim.requests()[0]
    assert received["path"] == "/v1/messages" and received["body"]["top_k"] == 3


def test_messages_tool_use_streamed(claude: anthropic.Anthropic) -> None:
    tool: Any = {"name": "get_weather", "input_schema": WEATHER}
    ask: Any = [{"role": "user", "content": "Weather in Oslo?"}]
    with claude.messages.stream(model=CLAUDE, max_tokens=100, messages=ask, tools=[tool]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input


def test_messages_errors_are_anthropic_shaped(claude: anthropic.Anthropic, sim: Sim) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["type"] == "error"  # type: ignore[index]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    sim.fault(CLAUDE, {"status": 529, "message": "busy"})
    with pytest.raises(anthropic.InternalServerError) as busy:
        claude.messages.create(model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert busy.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_responses_whole_and_streamed_agree(oai: openai.OpenAI, sim: Sim) -> None:
    whole = oai.responses.create(model="gpt-4o", input="Say hello.", instructions="Be terse.")
    with oai.responses.stream(model="gpt-4o", input="Say hello.", instructions="Be terse.") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert deltas == final.output_text == whole.output_text != ""
    assert final.usage is not None and whole.usage is not None
    assert final.usage.output_tokens == whole.usage.output_tokens > 0
    assert sim.requests()[0]["path"] == "/v1/responses"


def test_responses_function_call_streamed(oai: openai.OpenAI) -> None:
    tool: Any = {"type": "function", "name": "get_weather", "parameters": WEATHER}
    with oai.responses.stream(model="gpt-4o", input="Weather in Oslo?", tools=[tool]) as stream:
        final = stream.get_final_response()
    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and "city" in call.arguments

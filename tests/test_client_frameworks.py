"""Frameworks whose default is the Responses API, against the gateway over HTTP: the OpenAI Agents SDK
(its Responses model, with a tool, run and streamed) and LangChain's ChatOpenAI(use_responses_api=True)."""

from __future__ import annotations

import asyncio
from typing import Any

import agents
import openai
import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.conftest import Sim

CALLED: list[str] = []


@agents.function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLED.append(city)
    return f"{city}: -3C, snow"


def weather_agent(client: openai.AsyncOpenAI) -> agents.Agent[Any]:
    model = agents.OpenAIResponsesModel("router", openai_client=client)
    return agents.Agent(name="forecaster", instructions="Use the tool.", tools=[get_weather], model=model)


def client_for(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="client-key", max_retries=0, timeout=30)


def test_agents_sdk_runs_a_tool_through_the_responses_api(proxy_url: str, sim: Sim) -> None:
    CALLED.clear()

    async def run() -> Any:
        async with client_for(proxy_url) as client:
            config = agents.RunConfig(tracing_disabled=True)
            return await agents.Runner.run(weather_agent(client), "Weather in Oslo?", run_config=config)

    result = asyncio.run(run())
    assert CALLED and isinstance(result.final_output, str) and result.final_output
    assert len(sim.requests()) == 2  # the tool call, then the answer with the tool's output
    assert sim.last_body()["messages"][-1]["role"] == "tool"


def test_agents_sdk_streamed(proxy_url: str) -> None:
    CALLED.clear()

    async def run() -> tuple[list[str], Any]:
        async with client_for(proxy_url) as client:
            config = agents.RunConfig(tracing_disabled=True)
            streamed = agents.Runner.run_streamed(weather_agent(client), "Weather in Oslo?", run_config=config)
            kinds = [event.type async for event in streamed.stream_events()]
            return kinds, streamed.final_output

    kinds, final = asyncio.run(run())
    assert CALLED and "raw_response_event" in kinds and isinstance(final, str) and final


@tool
def lookup(city: str) -> str:
    """Look up a city's weather."""
    return f"{city}: -3C"


@pytest.fixture
def chat_model(proxy_url: str) -> ChatOpenAI:
    return ChatOpenAI(
        model="router", base_url=f"{proxy_url}/v1", api_key="client-key", use_responses_api=True, max_retries=0
    )


def test_langchain_responses_invoke_stream_and_tools(chat_model: ChatOpenAI) -> None:
    reply = chat_model.invoke("Say hello in one sentence.")
    assert reply.text and reply.response_metadata.get("status") == "completed"
    streamed = "".join(chunk.text for chunk in chat_model.stream("Write a haiku."))
    assert streamed
    call = chat_model.bind_tools([lookup]).invoke("Weather in Oslo?")
    assert call.tool_calls and call.tool_calls[0]["name"] == "lookup" and "city" in call.tool_calls[0]["args"]

"""Backends that speak Anthropic's Messages API or OpenAI's Responses API, against the simulator's own
endpoints for them, through the real clients.

A chat call to an Anthropic backend is translated by litellm to Anthropic's wire format and back. A
Messages request to an Anthropic backend, and a Responses request to a Responses backend, are passed
through: the fields the chat translation would drop reach the upstream intact, and the answer (streamed
too) comes back as the upstream wrote it, logged and priced from its own usage, with the gateway's
retries, fallbacks and error shapes. The log row names the client's API (its `dialect`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.upstream import native
from tests.conftest import ENVIRON, SIM_KEY, Sim, logged_row
from tests.servers import serve_app

CLAUDE = "claude-3-5-haiku-20241022"
HI: Any = [{"role": "user", "content": "Say hello in one short sentence."}]
PRICES = {"input_cost_per_token": 1e-6, "output_cost_per_token": 5e-6}


@pytest.fixture(scope="module")
def proxy(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    db = tmp_path_factory.mktemp("native") / "calls.db"
    key = {"api_key_env": "SIM_KEY", **PRICES}
    raw = {
        "models_dir": str(db.parent / "no-models"),
        "log": {"path": str(db)},
        "reliability": {"retry_attempts": 1, "backoff_base_s": 0.01, "breaker_failures": 1_000_000},
        "backend": [
            # Anthropic's API for "anthropic/..." models, by default; its base URL is the host, as litellm takes it.
            {"name": "claude", "model": f"anthropic/{CLAUDE}", "api_base": sim_url, "accuracy": 0.9, **key},
            {"name": "claude-chat", "model": f"anthropic/{CLAUDE}", "api_base": sim_url, "api": "chat", **key},
            {"name": "gpt-native", "model": "openai/gpt-4o", "api_base": f"{sim_url}/v1", "api": "responses", **key},
            # Dearer and weaker than claude: the alias tries claude first.
            {"name": "mixtral", "model": "openai/mixtral-8x7b", "api_base": f"{sim_url}/v1", "accuracy": 0.75, **key}
            | {"input_cost_per_token": 1e-5, "output_cost_per_token": 5e-5},
        ],
        "alias": [{"name": "pair", "candidates": ["claude", "mixtral"]}],
    }
    with serve_app(create_app(config_mod.parse(raw, environ=ENVIRON), environ=ENVIRON)) as url:
        yield url, db


@pytest.fixture
def claude(proxy: tuple[str, Path]) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=proxy[0], api_key="client-key", max_retries=0, timeout=30) as client:
        yield client


@pytest.fixture
def oai(proxy: tuple[str, Path]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{proxy[0]}/v1", api_key="client-key", max_retries=0, timeout=30) as client:
        yield client


# -- chat to an Anthropic backend: litellm's translation, end to end ---------------------------------------


def test_chat_to_an_anthropic_backend_through_litellm(oai: openai.OpenAI, sim: Sim, proxy: tuple[str, Path]) -> None:
    ask: Any = [{"role": "system", "content": "Be terse."}, *HI]
    raw = oai.chat.completions.with_raw_response.create(model="claude", messages=ask, max_tokens=40)
    completion = raw.parse()
    assert completion.model == "claude" and completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    received = sim.requests()[-1]
    assert received["path"] == "/v1/messages" and received["headers"]["x-api-key"] == SIM_KEY
    assert received["body"]["model"] == CLAUDE and received["body"]["max_tokens"] == 40
    assert received["body"]["system"] == [{"type": "text", "text": "Be terse."}]  # litellm's Anthropic wire format
    request_id = raw.headers["x-router-request-id"]
    tokens, cost, dialect = logged_row(proxy[1], request_id, "output_tokens, cost_usd, dialect")
    assert tokens == completion.usage.completion_tokens and cost > 0 and dialect == "chat"


def test_chat_stream_to_an_anthropic_backend_is_priced(oai: openai.OpenAI, proxy: tuple[str, Path]) -> None:
    stream = oai.chat.completions.create(
        model="claude", messages=HI, max_tokens=60, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text and usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0
    assert {c.model for c in chunks} == {"claude"}


def test_messages_translated_for_a_backend_set_to_chat(claude: anthropic.Anthropic, sim: Sim) -> None:
    message = claude.messages.create(model="claude-chat", max_tokens=50, messages=HI, extra_body={"top_k": 7})
    assert message.content[0].type == "text" and message.content[0].text and message.model == "claude-chat"
    with claude.messages.stream(model="claude-chat", max_tokens=50, messages=HI) as stream:
        assert "".join(stream.text_stream) == stream.get_final_message().content[0].text  # type: ignore[union-attr]
    sent = sim.requests()[0]["body"]
    assert sent["model"] == CLAUDE and "top_k" not in sent  # the chat translation has no top_k


# -- pass-through --------------------------------------------------------------------------------------


def test_messages_pass_through_keeps_what_translation_drops(
    claude: anthropic.Anthropic, sim: Sim, proxy: tuple[str, Path]
) -> None:
    system: Any = [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}]
    extra = {"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}, "service_tier": "auto"}
    raw = claude.messages.with_raw_response.create(
        model="claude",
        max_tokens=2000,
        system=system,
        messages=HI,
        metadata={"user_id": "u-1"},
        extra_body=extra,
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    message = raw.parse()
    received = sim.requests()[-1]
    sent = received["body"]
    assert sent == {
        "model": CLAUDE,
        "max_tokens": 2000,
        "system": system,
        "messages": HI,
        "metadata": {"user_id": "u-1"},
        **extra,
    }
    assert received["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert received["headers"]["x-api-key"] == SIM_KEY and received["path"] == "/v1/messages"
    assert message.model == "claude" and message.id.startswith("msg_") and message.content[0].type == "text"
    assert raw.headers["x-router-model"] == "claude"
    row = logged_row(proxy[1], raw.headers["x-router-request-id"], "dialect, input_tokens, output_tokens, cost_usd")
    assert row[:3] == ("messages", message.usage.input_tokens, message.usage.output_tokens) and row[3] > 0


def test_messages_stream_passed_through(claude: anthropic.Anthropic, sim: Sim, proxy: tuple[str, Path]) -> None:
    with claude.messages.stream(model="claude", max_tokens=80, messages=HI, extra_body={"top_k": 3}) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-router-request-id"]
    assert text and final.content[0].type == "text" and final.content[0].text == text
    assert final.model == "claude" and final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    sent = sim.last_body()
    assert sent["top_k"] == 3 and sent["stream"] is True
    row = logged_row(proxy[1], request_id, "stream, input_tokens, output_tokens, cost_usd, usage_source, response_json")
    assert row[:5] == (1, final.usage.input_tokens, final.usage.output_tokens, row[3], "upstream") and row[3] > 0
    assert text in row[5]  # the streamed answer, reassembled for the log


def test_messages_tool_use_passed_through(claude: anthropic.Anthropic) -> None:
    tool: Any = {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    ask: Any = [{"role": "user", "content": "Weather in Oslo?"}]
    with claude.messages.stream(model="claude", max_tokens=200, messages=ask, tools=[tool]) as stream:
        final = stream.get_final_message()
    call = next(b for b in final.content if b.type == "tool_use")
    assert final.stop_reason == "tool_use" and call.name == "get_weather" and "city" in call.input  # type: ignore[operator]


def test_upstream_errors_keep_anthropic_s_shape(claude: anthropic.Anthropic, sim: Sim) -> None:
    sim.fault(CLAUDE, {"status": 400, "message": "max_tokens: too large for this model"})
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(model="claude", max_tokens=10, messages=HI)
    body: Any = bad.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "too large for this model" in body["error"]["message"]


def test_a_failing_native_backend_falls_back_to_a_translated_one(claude: anthropic.Anthropic, sim: Sim) -> None:
    sim.fault(CLAUDE, {"status": 529, "message": "overloaded"})
    raw = claude.messages.with_raw_response.create(
        model="pair", max_tokens=50, messages=HI, extra_body={"router": {"candidates": ["claude", "mixtral"]}}
    )
    assert raw.headers["x-router-fallbacks"] == "claude" and raw.headers["x-router-model"] == "mixtral"
    message = raw.parse()
    assert message.type == "message" and message.content[0].type == "text" and message.model == "mixtral"
    paths = [r["path"] for r in sim.requests()]
    assert paths == ["/v1/messages", "/v1/chat/completions"]  # the fallback got the chat translation


def test_a_native_stream_failing_before_its_first_event_falls_back(claude: anthropic.Anthropic, sim: Sim) -> None:
    sim.fault(CLAUDE, {"status": 500, "message": "internal"})
    router: Any = {"router": {"candidates": ["claude", "mixtral"]}}
    with claude.messages.stream(model="pair", max_tokens=50, messages=HI, extra_body=router) as stream:
        text = "".join(stream.text_stream)
        assert stream.response.headers["x-router-fallbacks"] == "claude"
    assert text and stream.get_final_message().model == "mixtral"


def test_a_native_stream_cut_mid_way_ends_with_anthropic_s_error_event(
    claude: anthropic.Anthropic, sim: Sim, proxy: tuple[str, Path]
) -> None:
    sim.fault(CLAUDE, {"disconnect_after_chunks": 4})
    with pytest.raises(anthropic.APIStatusError) as cut:  # noqa: PT012  # the error arrives while reading
        with claude.messages.stream(model="claude", max_tokens=200, messages=HI) as stream:
            request_id = stream.response.headers["x-router-request-id"]
            "".join(stream.text_stream)
    assert "mid-stream" in str(cut.value)
    status, error = logged_row(proxy[1], request_id, "status, error")
    assert status == 502 and "mid-stream" in error


def test_responses_pass_through_keeps_items_and_settings(oai: openai.OpenAI, sim: Sim, proxy: tuple[str, Path]) -> None:
    items: Any = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
    ]
    settings: Any = {
        "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "low", "summary": "auto"},
        "truncation": "auto",
        "prompt_cache_key": "pc-1",
    }
    raw = oai.responses.with_raw_response.create(
        model="gpt-native", input=items, instructions="Be terse.", store=True, **settings
    )
    response = raw.parse()
    sent = sim.requests()[-1]
    assert sent["path"] == "/v1/responses" and sent["headers"]["authorization"] == f"Bearer {SIM_KEY}"
    assert sent["body"] == {"model": "gpt-4o", "input": items, "instructions": "Be terse.", "store": True, **settings}
    request_id = raw.headers["x-router-request-id"]
    assert response.id == f"resp_{request_id}" and response.model == "gpt-native" and response.output_text
    assert response.usage is not None
    row = logged_row(proxy[1], request_id, "dialect, input_tokens, output_tokens, cost_usd")
    assert row[:3] == ("responses", response.usage.input_tokens, response.usage.output_tokens) and row[3] > 0
    assert oai.responses.retrieve(response.id).output_text == response.output_text  # kept by the gateway


def test_responses_stream_passed_through(oai: openai.OpenAI, sim: Sim, proxy: tuple[str, Path]) -> None:
    with oai.responses.stream(model="gpt-native", input="Say hello.", include=["reasoning.encrypted_content"]) as s:
        deltas = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert deltas and final.output_text == deltas and final.model == "gpt-native"
    assert final.id.startswith("resp_") and final.usage is not None and final.usage.output_tokens > 0
    assert sim.last_body()["include"] == ["reasoning.encrypted_content"]
    tokens, cost = logged_row(proxy[1], final.id.removeprefix("resp_"), "output_tokens, cost_usd")
    assert tokens == final.usage.output_tokens and cost > 0


def test_a_continued_response_is_translated(oai: openai.OpenAI, sim: Sim) -> None:
    first = oai.responses.create(model="gpt-native", input="Name a prime number.")
    second = oai.responses.create(model="gpt-native", input="And another?", previous_response_id=first.id)
    assert second.output_text and sim.requests()[-1]["path"] == "/v1/chat/completions"


def test_the_log_row_names_the_dialect(
    oai: openai.OpenAI, claude: anthropic.Anthropic, proxy: tuple[str, Path]
) -> None:
    ids = {
        "chat": oai.chat.completions.with_raw_response.create(model="mixtral", messages=HI),
        "completions": oai.completions.with_raw_response.create(model="mixtral", prompt="Say hello."),
        "messages": claude.messages.with_raw_response.create(model="mixtral", max_tokens=20, messages=HI),
        "responses": oai.responses.with_raw_response.create(model="mixtral", input="Say hello."),
    }
    for dialect, raw in ids.items():
        assert logged_row(proxy[1], raw.headers["x-router-request-id"], "dialect") == (dialect,)
    detail = httpx.get(f"{proxy[0]}/ui/api/calls/{ids['messages'].headers['x-router-request-id']}", timeout=10)
    assert detail.json()["dialect"] == "messages"  # shown on the dashboard's call detail


def test_where_each_api_lives() -> None:
    assert native.url("anthropic", None) == "https://api.anthropic.com/v1/messages"
    for base in ("http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/messages"):
        assert native.url("anthropic", base) == "http://h:1/v1/messages"  # however litellm's users spell it
    assert native.url("responses", None) == "https://api.openai.com/v1/responses"
    assert native.url("responses", "http://h:1/v1/") == "http://h:1/v1/responses"


def test_a_backend_s_api_is_checked() -> None:
    backend = {"name": "x", "model": "openai/gpt-4o", "api": "messages"}
    with pytest.raises(config_mod.ConfigError, match="api"):
        config_mod.parse({"backend": [backend]}, environ=ENVIRON)

"""POST /v1/completions with the OpenAI SDK's `completions.create`, over HTTP, routed and named."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.conftest import Sim, logged_row


def test_named_non_streamed(client: openai.OpenAI, sim: Sim, db_path: Path) -> None:
    raw = client.completions.with_raw_response.create(model="cheap", prompt="Say hello.", max_tokens=20, seed=3)
    completion = raw.parse()
    assert completion.object == "text_completion" and completion.choices[0].text
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert raw.headers["x-router-model"] == "cheap"
    body = sim.last_body()
    assert body["messages"] == [{"role": "user", "content": "Say hello."}] and body["seed"] == 3
    rows = logged_row(db_path, raw.headers["x-router-request-id"], "backend, input_tokens, output_tokens, cost_usd")
    assert rows[0] == "cheap" and rows[1] > 0 and rows[2] == completion.usage.completion_tokens and rows[3] > 0


@pytest.mark.parametrize("include_usage", [False, True])
def test_routed_streamed(client: openai.OpenAI, db_path: Path, include_usage: bool) -> None:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    with client.completions.with_streaming_response.create(
        model="router", prompt="Write a haiku about rivers.", stream=True, **options
    ) as raw:
        assert raw.headers["x-router-alias"] == "router" and raw.headers["x-router-model"] == "cheap"
        chunks = list(raw.parse())
        request_id = raw.headers["x-router-request-id"]
    assert "".join(c.choices[0].text for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert (chunks[-1].usage is not None) is include_usage
    backend, tokens, cost = logged_row(db_path, request_id, "backend, output_tokens, cost_usd")
    assert backend == "cheap" and tokens > 0 and cost > 0


def test_echo_and_logprobs(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="cheap", prompt="Count: ", echo=True, logprobs=2, max_tokens=8)
    choice = completion.choices[0]
    assert choice.text.startswith("Count: ") and choice.logprobs is not None
    assert choice.logprobs.tokens and len(choice.logprobs.top_logprobs or []) == len(choice.logprobs.tokens)


def test_a_refused_field_is_a_400_naming_it(client: openai.OpenAI, sim: Sim) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="cheap", prompt="a", suffix="b")
    assert info.value.param == "suffix"
    assert sim.requests() == []

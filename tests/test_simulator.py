"""The simulated backends over real HTTP, through the OpenAI SDK and raw httpx."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from proxy.simulator.app import create_app
from proxy.simulator.draws import rng
from proxy.simulator.profiles import DEFAULT_PATH, load_profiles
from proxy.simulator.schema_values import value_for
from proxy.simulator.settings import SimSettings
from proxy.training.dataset import iter_rows
from tests.servers import serve_app

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODEL = "gpt-4-1106-preview"
HELLO = [{"role": "user", "content": "Explain briefly why the sky is blue."}]

NESTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string", "minLength": 3}, "zip": {"type": "string", "maxLength": 5}},
            "required": ["street", "zip"],
            "additionalProperties": False,
        }
    },
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "active": {"type": "boolean"},
        "tier": {"enum": ["free", "pro", "team"]},
        "home": {"$ref": "#/$defs/address"},
        "contact": {"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}]},
        "orders": {
            "type": "array",
            "minItems": 2,
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 1},
                    "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                    "ship_to": {"$ref": "#/$defs/address"},
                },
                "required": ["sku", "quantity", "ship_to"],
            },
        },
    },
    "required": ["name", "age", "tier", "home", "orders"],
    "additionalProperties": False,
}
TOOLS = [{"type": "function", "function": {"name": "create_customer", "parameters": NESTED_SCHEMA}}]


def validate(value: Any, schema: Any, root: Any = None, path: str = "$") -> None:
    """A tiny JSON-schema validator for the keywords the tests use (jsonschema is not a dependency)."""
    root = schema if root is None else root
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return validate(value, root["$defs"][name], root, path)
    if "anyOf" in schema:
        errors = []
        for branch in schema["anyOf"]:
            try:
                return validate(value, branch, root, path)
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{path}: no anyOf branch matches: {errors}")
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in enum"
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    kind = schema.get("type")
    if kind in kinds:
        assert isinstance(value, kinds[kind]), f"{path}: {value!r} is not {kind}"
    if kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r} is not an integer"
    if kind == "number":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: not a number"
    if kind in ("integer", "number"):
        assert value >= schema.get("minimum", -math.inf) and value <= schema.get("maximum", math.inf), path
        assert value > schema.get("exclusiveMinimum", -math.inf), path
    if isinstance(value, str):
        assert schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9), f"{path}: length"
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{path}: missing required {name!r}"
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(properties), f"{path}: extra properties {set(value) - set(properties)}"
        for name, item in value.items():
            if name in properties:
                validate(item, properties[name], root, f"{path}.{name}")
    if isinstance(value, list):
        assert schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9), f"{path}: item count"
        for i, item in enumerate(value):
            validate(item, schema.get("items", {}), root, f"{path}[{i}]")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_app(create_app(SimSettings(speed=0.0))) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    httpx.delete(f"{url}/_sim/faults").raise_for_status()
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=20) as sdk:
        yield sdk
    httpx.delete(f"{url}/_sim/faults").raise_for_status()


def sse_events(url: str, body: dict[str, Any]) -> list[str]:
    """The raw `data:` payloads of a streamed response."""
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    assert text.endswith("data: [DONE]\n\n")
    return [block.removeprefix("data: ") for block in text.strip().split("\n\n")]


# --- plain completions -------------------------------------------------------------------------------


def test_non_stream_completion_has_openai_shape_and_verdict(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO)
    completion = raw.parse()
    assert raw.headers["x-sim-acceptable"] in ("0", "1")
    assert raw.headers["x-sim-label-source"] == "profile"
    body = json.loads(raw.text)
    assert body["sim"] == {
        "acceptable": raw.headers["x-sim-acceptable"] == "1",
        "label_source": "profile",
        "task_family": raw.headers["x-sim-task-family"],
        "length_source": "profile",
        "speed_source": raw.headers["x-sim-speed-source"],
    }
    assert raw.headers["x-sim-length-source"] == "profile"
    assert completion.id.startswith("chatcmpl-") and completion.object == "chat.completion"
    assert completion.model == MODEL
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0
    # About four characters per token.
    assert len(choice.message.content) / 6 <= usage.completion_tokens <= len(choice.message.content)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_same_request_gets_same_verdict_and_content(client: openai.OpenAI) -> None:
    answers = [client.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO) for _ in range(2)]
    assert answers[0].headers["x-sim-acceptable"] == answers[1].headers["x-sim-acceptable"]
    assert answers[0].parse().choices[0].message.content == answers[1].parse().choices[0].message.content


def test_verdicts_follow_measured_accuracy_across_prompts(client: openai.OpenAI) -> None:
    verdicts = {
        model: [
            client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": f"Question {i}: name a prime number."}], max_tokens=1
            ).headers["x-sim-acceptable"]
            == "1"
            for i in range(40)
        ]
        for model in (MODEL, "llama3-chatqa-1.5-8b")  # profile accuracy about .9 vs .2 on open questions
    }
    assert sum(verdicts[MODEL]) > sum(verdicts["llama3-chatqa-1.5-8b"]) + 10


def test_content_parts_count_as_prompt_text(client: openai.OpenAI) -> None:
    text = "word " * 200
    plain = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])
    parts = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": [{"type": "text", "text": text}]}]
    )
    assert plain.usage is not None and parts.usage is not None
    assert parts.usage.prompt_tokens == plain.usage.prompt_tokens > 200


def test_max_tokens_truncates_with_finish_reason_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=5)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    newer = client.chat.completions.create(model=MODEL, messages=HELLO, max_completion_tokens=3)
    assert newer.choices[0].finish_reason == "length" and newer.usage and newer.usage.completion_tokens == 3


def test_stop_cuts_at_first_stop_string(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model=MODEL, messages=HELLO).choices[0].message.content
    assert full and len(full) > 20
    stop = full[10:14]
    cut = client.chat.completions.create(model=MODEL, messages=HELLO, stop=[stop, "zzzz"])
    assert cut.choices[0].message.content == full[: full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_n_choices_and_logprobs(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=HELLO, n=2, logprobs=True, top_logprobs=3)
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.choices[0].message.content != completion.choices[1].message.content
    for choice in completion.choices:
        assert choice.logprobs is not None and choice.logprobs.content
        assert "".join(t.token for t in choice.logprobs.content) == choice.message.content
        first = choice.logprobs.content[0]
        assert first.logprob <= 0 and len(first.top_logprobs) == 3
        assert first.top_logprobs[0].logprob >= first.top_logprobs[1].logprob >= first.top_logprobs[2].logprob
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == sum(len(c.logprobs.content) for c in completion.choices if c.logprobs)


# --- streaming -------------------------------------------------------------------------------------


def test_stream_without_usage(client: openai.OpenAI, url: str) -> None:
    body = {"model": MODEL, "messages": HELLO, "stream": True}
    events = sse_events(url, body)
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("usage" not in c for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) > 3
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    whole = client.chat.completions.create(model=MODEL, messages=HELLO).choices[0].message.content
    assert streamed == whole


def test_stream_with_include_usage_ends_with_usage_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    whole = client.chat.completions.create(model=MODEL, messages=HELLO)
    assert chunks[-1].usage == whole.usage


def test_stream_n2_interleaves_both_choices(url: str) -> None:
    body = {"model": MODEL, "messages": HELLO, "stream": True, "n": 2, "stream_options": {"include_usage": True}}
    chunks = [json.loads(e) for e in sse_events(url, body)[:-1]]
    texts = {0: "", 1: ""}
    finishes = {}
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        texts[choice["index"]] += choice["delta"].get("content") or ""
        if choice["finish_reason"]:
            finishes[choice["index"]] = choice["finish_reason"]
    assert texts[0] and texts[1] and texts[0] != texts[1]
    assert finishes == {0: "stop", 1: "stop"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


# --- tools and structured output -----------------------------------------------------------------------


def test_tool_call_arguments_validate_against_nested_schema(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Add Ada as a customer."}]
    completion = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "create_customer"
    validate(json.loads(call.function.arguments), NESTED_SCHEMA)


def test_streamed_tool_call_reassembles(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Add Grace as a customer."}]
    stream = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "create_customer"}},
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    fragments = 0
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                if delta.id:
                    call["id"] = delta.id
                if delta.function and delta.function.name:
                    call["name"] = delta.function.name
                if delta.function and delta.function.arguments:
                    call["arguments"] += delta.function.arguments
                    fragments += 1
    assert finish == "tool_calls" and fragments > 2
    assert calls[0]["id"].startswith("call_") and calls[0]["name"] == "create_customer"
    validate(json.loads(calls[0]["arguments"]), NESTED_SCHEMA)


def test_tool_choice_none_and_tool_result_give_text(client: openai.OpenAI) -> None:
    none = client.chat.completions.create(model=MODEL, messages=HELLO, tools=TOOLS, tool_choice="none")
    assert none.choices[0].message.content and not none.choices[0].message.tool_calls
    after_tool = [
        {"role": "user", "content": "Add Ada."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "create_customer", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "created"},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=after_tool, tools=TOOLS)
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content


def test_response_format_json_schema_and_json_object(client: openai.OpenAI) -> None:
    structured = client.chat.completions.create(
        model="mistralai/Mixtral-8x7B-Instruct-v0.1",
        messages=HELLO,
        response_format={"type": "json_schema", "json_schema": {"name": "customer", "schema": NESTED_SCHEMA}},
    )
    validate(json.loads(structured.choices[0].message.content or ""), NESTED_SCHEMA)
    loose = client.chat.completions.create(model=MODEL, messages=HELLO, response_format={"type": "json_object"})
    assert isinstance(json.loads(loose.choices[0].message.content or ""), dict)


def test_schema_generator_handles_recursion_and_combinators() -> None:
    schema = {
        "$defs": {
            "node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}
        },
        "allOf": [
            {"properties": {"a": {"const": 3}}, "required": ["a"]},
            {"properties": {"b": {"type": ["null", "integer"], "multipleOf": 5}}},
        ],
        "properties": {
            "tree": {"$ref": "#/$defs/node"},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]},
        },
    }
    for seed in range(5):
        value = value_for(schema, rng("test", seed))
        assert value["a"] == 3 and value["b"] % 5 == 0
        assert isinstance(value["pair"][0], str) and isinstance(value["pair"][1], float)
        assert isinstance(value["tree"], dict)


# --- embeddings, models, errors ------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(client: openai.OpenAI, url: str) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["the cat sat", "the cat sat", "x"])
    vectors = [d.embedding for d in result.data]
    assert [d.index for d in result.data] == [0, 1, 2] and len(vectors[0]) == 256
    assert vectors[0] == vectors[1] and vectors[0] != vectors[2]
    assert math.isclose(sum(v * v for v in vectors[2]), 1.0, rel_tol=1e-5)
    assert result.usage.prompt_tokens > 0
    raw = httpx.post(f"{url}/v1/embeddings", json={"model": MODEL, "input": "hello", "dimensions": 64}).json()
    assert len(raw["data"][0]["embedding"]) == 64 and raw["usage"]["total_tokens"] == raw["usage"]["prompt_tokens"]
    assert httpx.post(f"{url}/v1/embeddings", json={"model": "nope", "input": "a"}).status_code == 404


def test_models_and_health(url: str) -> None:
    ids = {m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]}
    assert {MODEL, "mistralai/Mixtral-8x7B-Instruct-v0.1", "meta/llama-2-70b-chat", "qwen2.5-7b-instruct"} <= ids
    assert {"mixtral-8x7b", "llama-2-70b-chat"} <= ids  # the data README's short names
    assert httpx.get(f"{url}/health").json()["status"] == "ok"


def test_unknown_model_is_404_openai_shaped(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-17", messages=HELLO)
    error = caught.value.body
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (b"{not json", None),
        (json.dumps({"model": MODEL}).encode(), "messages"),
        (json.dumps({"messages": HELLO}).encode(), "model"),
        (json.dumps({"model": MODEL, "messages": HELLO, "n": 0}).encode(), "n"),
        (json.dumps({"model": MODEL, "messages": HELLO, "sim_fault": {"bogus": 1}}).encode(), "sim_fault"),
    ],
)
def test_bad_requests_are_400_openai_shaped(url: str, payload: bytes, param: str | None) -> None:
    response = httpx.post(f"{url}/v1/chat/completions", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_api_key_is_required_when_configured() -> None:
    with serve_app(create_app(SimSettings(speed=0.0, api_key="sim-secret"))) as base:
        presented = "sk-wrong-1234567890"
        with openai.OpenAI(base_url=f"{base}/v1", api_key=presented, max_retries=0) as bad:
            with pytest.raises(openai.AuthenticationError) as caught:
                bad.chat.completions.create(model=MODEL, messages=HELLO)
        assert caught.value.status_code == 401
        assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "invalid_api_key"
        assert caught.value.body["type"] == "invalid_request_error"
        assert presented not in caught.value.response.text
        with openai.OpenAI(base_url=f"{base}/v1", api_key="sim-secret", max_retries=0) as good:
            assert good.chat.completions.create(model=MODEL, messages=HELLO).choices
            assert good.models.list().data
        assert httpx.get(f"{base}/v1/models").status_code == 401
        assert httpx.get(f"{base}/health").status_code == 200
        # The rejected request was still recorded, with the key it presented.
        seen = httpx.get(f"{base}/_sim/requests").json()
        assert seen[0]["headers"]["authorization"] == f"Bearer {presented}"


def test_request_log_records_what_arrived(client: openai.OpenAI, url: str) -> None:
    httpx.delete(f"{url}/_sim/requests").raise_for_status()
    client.chat.completions.create(
        model=MODEL,
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"my_field": {"x": 1}},
        extra_headers={"X-Trace": "abc"},
    ).close()
    (seen,) = httpx.get(f"{url}/_sim/requests").json()
    assert seen["method"] == "POST" and seen["path"] == "/v1/chat/completions"
    assert seen["headers"]["x-trace"] == "abc" and seen["headers"]["authorization"] == "Bearer x"
    assert seen["body"]["my_field"] == {"x": 1} and seen["body"]["stream_options"] == {"include_usage": True}
    assert httpx.delete(f"{url}/_sim/requests").json() == {"cleared": 1}
    assert httpx.get(f"{url}/_sim/requests").json() == []


# --- faults ----------------------------------------------------------------------------------------


def test_fault_status_429_has_retry_after(url: str) -> None:
    fault = {"status": 429, "message": "slow down", "retry_after": 2}
    response = httpx.post(f"{url}/v1/chat/completions", json={"model": MODEL, "messages": HELLO, "sim_fault": fault})
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["error"] == {
        "message": "slow down",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }


def test_fault_status_through_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=HELLO, extra_body={"sim_fault": {"status": 429}})
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, extra_body={"sim_fault": {"status": 503}})
    assert caught.value.status_code == 503


def test_fault_delay_and_ttft(client: openai.OpenAI) -> None:
    start = time.monotonic()
    client.chat.completions.create(model=MODEL, messages=HELLO, extra_body={"sim_fault": {"delay_s": 0.4}})
    assert time.monotonic() - start >= 0.4
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.2).chat.completions.create(
            model=MODEL, messages=HELLO, extra_body={"sim_fault": {"delay_s": 1.0}}
        )
    start = time.monotonic()
    stream = client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, extra_body={"sim_fault": {"ttft_s": 0.4}}
    )
    next(iter(stream))
    assert time.monotonic() - start >= 0.4
    stream.close()


def test_fault_disconnect_mid_stream_surfaces_as_error(client: openai.OpenAI, url: str) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, extra_body={"sim_fault": {"disconnect_after_chunks": 3}}
    )
    received = []
    with pytest.raises(openai.APIConnectionError):  # the SDK's wrapping of the incomplete chunked body
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    body = {"model": MODEL, "messages": HELLO, "sim_fault": {"disconnect_after_chunks": 0}}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{url}/v1/chat/completions", json=body)


def test_fault_malformed_event_mid_stream_then_the_rest(url: str) -> None:
    body = {"model": MODEL, "messages": HELLO, "stream": True, "sim_fault": {"malformed_after_chunks": 2}}
    events = sse_events(url, body)
    assert [json.loads(e) for e in events[:2]]  # two good chunks first
    with pytest.raises(ValueError):
        json.loads(events[2])
    assert all(json.loads(e) for e in events[3:-1]) and events[-1] == "[DONE]"
    whole = {"model": MODEL, "messages": HELLO, "sim_fault": {"malformed_after_chunks": 0}}
    response = httpx.post(f"{url}/v1/chat/completions", json=whole)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_queued_faults_hit_the_next_requests_then_clear(client: openai.OpenAI, url: str) -> None:
    queued = httpx.post(
        f"{url}/_sim/faults", json={"model": MODEL, "count": 2, "fault": {"status": 500, "message": "boom"}}
    )
    assert queued.status_code == 200 and queued.json()["queued"][0]["remaining"] == 2
    for _ in range(2):
        with pytest.raises(openai.InternalServerError, match="boom"):
            client.chat.completions.create(model=MODEL, messages=HELLO)
    assert client.chat.completions.create(model=MODEL, messages=HELLO).choices
    # Other models are untouched by a model-specific fault; "*" hits any model, also by its short name.
    httpx.post(f"{url}/_sim/faults", json={"model": MODEL, "count": 1, "fault": {"status": 500}}).raise_for_status()
    assert client.chat.completions.create(model="mixtral-8x7b", messages=HELLO).choices
    httpx.post(f"{url}/_sim/faults", json={"model": "*", "count": 5, "fault": {"status": 429}}).raise_for_status()
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="mixtral-8x7b", messages=HELLO)
    assert len(httpx.get(f"{url}/_sim/faults").json()["queued"]) == 2
    assert httpx.delete(f"{url}/_sim/faults").json() == {"cleared": 2}
    assert client.chat.completions.create(model=MODEL, messages=HELLO).choices
    bad = httpx.post(f"{url}/_sim/faults", json={"model": MODEL, "count": 1, "fault": {"status": 200}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "fault.status"


# --- latency -------------------------------------------------------------------------------------


def test_speed_scales_measured_latency(tmp_path: Path) -> None:
    # A profile with a fixed latency: 0.3 s to the first token, then 50 tokens/s.
    profiles = json.loads(DEFAULT_PATH.read_text())
    latency = profiles["models"][MODEL]["latency"]
    latency.update(ttft_s_p10=0.3, ttft_s_p50=0.3, ttft_s_p90=0.3)
    latency.update(tokens_per_s_p10=50.0, tokens_per_s_p50=50.0, tokens_per_s_p90=50.0)
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps(profiles))
    with serve_app(create_app(SimSettings(speed=1.0, profiles_path=path))) as base:
        with openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0) as sdk:
            start = time.monotonic()
            completion = sdk.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=10)
            assert time.monotonic() - start >= 0.3 + 10 / 50
            assert completion.usage is not None and completion.usage.completion_tokens == 10
            start = time.monotonic()
            chunks = list(sdk.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=10, stream=True))
            assert time.monotonic() - start >= 0.3 + 9 / 50
            assert len(chunks) >= 10


# --- the real data ------------------------------------------------------------------------------------


def _requires_data() -> None:
    if not DATA_DIR.is_dir():
        pytest.skip(f"../shared/data not present: {DATA_DIR} holds the real routing data these tests replay")


@pytest.fixture(scope="module")
def data_url() -> Iterator[str]:
    _requires_data()
    # Start-up indexes every labelled row of the data (about 360,000): give it time on a busy machine.
    with serve_app(create_app(SimSettings(speed=0.0, data_dir=DATA_DIR)), startup_timeout_s=180) as base:
        yield base


@pytest.mark.data
def test_known_prompts_get_their_real_labels(data_url: str) -> None:
    path = DATA_DIR / "routerbench" / "routerbench_subset_long.csv.gz"
    models = {MODEL, "meta/llama-2-70b-chat", "mistralai/mistral-7b-chat"}
    rows: dict[str, dict[str, list[tuple[float, int | None]]]] = {}
    for row in iter_rows(path):
        if row.model in models and row.correct is not None and row.task == "mbpp":
            rows.setdefault(row.prompt, {}).setdefault(row.model, []).append((row.correct, row.response_chars))
    # Prompts asked once per model on which the three disagree: each model must get its own label back.
    labels = {
        p: {m: r[0] for m, r in by_model.items()}
        for p, by_model in rows.items()
        if len(by_model) == 3 and all(len(r) == 1 for r in by_model.values())
    }
    split = [p for p, by_model in labels.items() if len({c for c, _ in by_model.values()}) == 2]
    assert len(split) >= 3
    with openai.OpenAI(base_url=f"{data_url}/v1", api_key="x", max_retries=0) as sdk:
        for prompt in split[:3]:
            for model, (correct, chars) in labels[prompt].items():
                raw = sdk.chat.completions.with_raw_response.create(
                    model=model, messages=[{"role": "user", "content": prompt}]
                )
                assert raw.headers["x-sim-label-source"] == "data"
                assert raw.headers["x-sim-acceptable"] == ("1" if correct >= 0.5 else "0"), (model, prompt[:60])
                content = raw.parse().choices[0].message.content or ""
                # The real answer's length, give or take the code fence the filler wraps it in.
                assert chars is not None and abs(len(content) - chars) < max(80, chars // 5)


@pytest.mark.data
def test_committed_profiles_match_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    _requires_data()
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_sim_profiles", Path(__file__).resolve().parents[1] / "scripts" / "build_sim_profiles.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    built = json.loads(json.dumps(module.build(DATA_DIR)))
    committed = json.loads((Path(__file__).resolve().parents[1] / "proxy" / "simulator" / "profiles.json").read_text())
    assert built == committed, "profiles.json is stale: run python scripts/build_sim_profiles.py"


def test_a_renamed_model_answers_like_the_model_it_plays() -> None:
    with serve_app(create_app(SimSettings(speed=0.0, renames=(("acme-nova", MODEL),)))) as base:
        body = {"model": MODEL, "messages": HELLO}
        original = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=20)
        renamed = httpx.post(f"{base}/v1/chat/completions", json={**body, "model": "acme-nova"}, timeout=20)
        names = [m["id"] for m in httpx.get(f"{base}/v1/models", timeout=20).json()["data"]]
    assert original.status_code == renamed.status_code == 200
    assert renamed.json()["sim"] == original.json()["sim"]  # the same verdict, drawn for the same model
    assert "acme-nova" in names


def test_renaming_an_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="no simulated model named 'nope'"):
        load_profiles().renamed([("acme", "nope")])


@pytest.mark.data
def test_2024_models_answer_the_data_prompts_as_they_did_under_any_spelling(data_url: str) -> None:
    # Llama-3.1-70B ran ZeroEval and MMLU-Pro under two spellings; the simulated model pools both.
    wanted = {"Meta-Llama-3.1-70B-Instruct": "zeroeval", "Meta-Llama-3_1-70B-Instruct": "mmlu_pro"}
    picked: dict[str, str] = {}  # spelling -> a prompt it got wrong
    for spelling, folder in wanted.items():
        for row in iter_rows(next((DATA_DIR / folder).glob("*_long.csv.gz"))):
            if row.model == spelling and row.correct == 0.0 and row.task != "gsm8k":
                picked[spelling] = row.prompt
                break
    assert set(picked) == set(wanted)
    with openai.OpenAI(base_url=f"{data_url}/v1", api_key="x", max_retries=0) as sdk:
        for spelling, prompt in picked.items():
            for name in ("llama-3.1-70b-instruct", spelling):
                raw = sdk.chat.completions.with_raw_response.create(
                    model=name, messages=[{"role": "user", "content": prompt}]
                )
                assert raw.headers["x-sim-label-source"] == "data", (name, spelling)
                assert raw.headers["x-sim-acceptable"] == "0", (name, spelling)


def test_measured_models_play_the_catalogs_latency_and_prices() -> None:
    # The router predicts with the catalog's numbers; the simulator must play the same ones.
    from proxy.route.catalog import load_catalog

    catalog, profiles = load_catalog(), load_profiles()
    measured = [name for name in profiles.models if catalog.entries[name].ttft_s is not None]
    assert {"gpt-4o", "gpt-4o-mini", "gemini-1.5-pro", "llama-3.1-70b-instruct"} <= set(measured)
    for name in measured:
        entry, latency = catalog.entries[name], profiles.models[name].latency
        assert (latency.ttft_s_p50, latency.tokens_per_s_p50) == (entry.ttft_s, entry.tokens_per_s), name
    for name, profile in profiles.models.items():
        entry = catalog.entries[name]
        assert profile.input_usd_per_mtok == pytest.approx((entry.input_per_token or 0) * 1e6), name
    o1 = profiles.get("o1-mini-2024-09-12")
    assert o1 is not None and o1.name == "o1-mini" and "gpt-4o-mini" in o1.latency.measured_as

"""Bad input and upstream failures: always an OpenAI-shaped error with the right status, never a 500."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ENVIRON, SIM_KEY, Sim, logged_row

HI = [{"role": "user", "content": "Hello there"}]


def body(**fields: Any) -> bytes:
    """A chat body for model `cheap` saying hello, with `fields` set (None removes a field)."""
    data: dict[str, Any] = {"model": "cheap", "messages": HI, **fields}
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


@pytest.mark.parametrize(
    "payload,param",
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", None),
        (b'"a string"', None),
        (body(messages=None), "messages"),
        (body(model=None), "model"),
        (body(messages="hi"), "messages"),
        (body(messages=[]), "messages"),
        (body(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
        (body(messages=[{"role": "user"}]), "messages[0].content"),
        (body(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        (body(temperature="hot"), "temperature"),
        (body(n=0), "n"),
        (body(max_tokens=-1), "max_tokens"),
        (body(stream="yes"), "stream"),
        (body(stop=[1]), "stop"),
        (
            body(tools=[{"type": "function"}]),
            "tools[0].function.name",
        ),
        (body(tool_choice="required"), "tool_choice"),
        (
            body(response_format={"type": "yaml"}),
            "response_format",
        ),
        (
            body(stream_options={"include_usage": True}),
            "stream_options",
        ),
        (
            body(model="router", router={"min_acceptability": 2}),
            "router.min_acceptability",
        ),
        (
            body(model="router", router={"candidates": ["nope"]}),
            "router.candidates",
        ),
    ],
)
def test_bad_requests_get_400(proxy_url: str, payload: bytes, param: str | None) -> None:
    response = httpx.post(
        f"{proxy_url}/v1/chat/completions", content=payload, headers={"content-type": "application/json"}
    )
    error = assert_openai_error(response, 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unknown_model_is_404_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-17", messages=HI)
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_oversize_body_is_413(proxy_url: str) -> None:
    big = {"model": "cheap", "messages": [{"role": "user", "content": "x" * 300_000}]}
    assert_openai_error(httpx.post(f"{proxy_url}/v1/chat/completions", json=big), 413)


def test_oversize_body_without_content_length_is_413(proxy_url: str) -> None:
    def chunks() -> Any:
        yield b'{"model": "cheap", "messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"y" * 10_000
        yield b'"}]}'

    assert_openai_error(httpx.post(f"{proxy_url}/v1/chat/completions", content=chunks()), 413)


def test_unknown_path_and_wrong_method_are_openai_shaped(proxy_url: str) -> None:
    assert_openai_error(httpx.get(f"{proxy_url}/v1/nothing-here"), 404)
    assert_openai_error(httpx.get(f"{proxy_url}/v1/chat/completions"), 405)


def test_unknown_path_names_the_path_and_the_endpoints_served(proxy_url: str) -> None:
    """A bare "Not Found" made clients say the *model* does not exist; the message says what is wrong."""
    message = httpx.post(f"{proxy_url}/v1/nothing-here", json={}).json()["error"]["message"]
    assert "POST /v1/nothing-here" in message
    assert "POST /v1/chat/completions" in message and "GET /v1/models/{model}," in message
    assert "POST /v1/responses" in message and "POST /v1/messages" in message and "POST /v1/completions" in message
    assert "/admin" not in message and "/ui" not in message  # the client API only


def test_upstream_rejecting_our_key_is_a_bad_gateway_not_the_clients_auth_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="badkey", messages=HI)
    assert info.value.status_code == 502 and not isinstance(info.value, openai.AuthenticationError)
    text = json.dumps(info.value.body)
    assert "badkey" in text and "gateway's credentials" in text
    assert ENVIRON["WRONG_KEY"] not in text and ENVIRON["WRONG_KEY"][:8] not in text
    assert SIM_KEY not in text


def test_upstream_429_is_rate_limit_error_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="cheap", messages=HI, extra_body={"sim_fault": {"status": 429}})
    assert info.value.response.headers.get("retry-after")


@pytest.mark.parametrize("upstream,status", [(500, 502), (503, 503), (404, 404), (422, 422), (403, 502)])
def test_upstream_status_is_mapped(client: openai.OpenAI, upstream: int, status: int) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="cheap", messages=HI, extra_body={"sim_fault": {"status": upstream}})
    assert info.value.status_code == status
    assert info.value.body["message"].startswith("Upstream cheap ")  # type: ignore[index]


def test_unreachable_upstream_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="down", messages=HI)
    assert info.value.status_code == 502


def test_upstream_timeout_is_504(client: openai.OpenAI, sim: Sim) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="router",
            messages=HI,
            extra_body={"sim_fault": {"delay_s": 30}, "router": {"candidates": ["down"], "fallbacks": False}},
        )
    assert info.value.status_code in (502, 504)


def test_a_passing_upstream_failure_is_retried_on_the_same_backend(client: openai.OpenAI, sim: Sim) -> None:
    sim.fault("mixtral-8x7b", {"status": 503}, count=1)
    raw = client.chat.completions.with_raw_response.create(model="router", messages=HI)
    assert raw.headers["x-router-model"] == "cheap"
    assert raw.headers["x-router-attempts"] == "2"
    assert "x-router-fallbacks" not in raw.headers


def test_routed_call_falls_back_before_the_first_byte(client: openai.OpenAI, sim: Sim) -> None:
    sim.fault("mixtral-8x7b", {"status": 503}, count=2)  # both tries on cheap fail
    raw = client.chat.completions.with_raw_response.create(model="router", messages=HI)
    assert raw.headers["x-router-fallbacks"] == "cheap"
    assert raw.headers["x-router-model"] == "strong"  # the next in the router's own ranking
    assert raw.parse().choices[0].message.content


def test_client_can_turn_fallbacks_off(client: openai.OpenAI, sim: Sim) -> None:
    sim.fault("mixtral-8x7b", {"status": 503}, count=2)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="router", messages=HI, extra_body={"router": {"fallbacks": False}})
    assert info.value.status_code == 503


def test_streamed_fallback_before_first_chunk(client: openai.OpenAI, sim: Sim) -> None:
    sim.fault("mixtral-8x7b", {"status": 500}, count=2)
    with client.chat.completions.with_streaming_response.create(model="router", messages=HI, stream=True) as raw:
        assert raw.headers["x-router-fallbacks"] == "cheap"
        assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)


def test_failure_after_the_first_chunk_surfaces_as_an_sdk_error(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="cheap",
        messages=HI,
        stream=True,
        max_tokens=400,
        extra_body={"sim_fault": {"disconnect_after_chunks": 2}},
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_every_call_is_logged_with_usage_and_cost(client: openai.OpenAI, db_path: Path) -> None:
    with client.chat.completions.with_streaming_response.create(model="router", messages=HI, stream=True) as raw:
        for _ in raw.parse():
            pass
        request_id = raw.headers["x-router-request-id"]
    row = logged_row(
        db_path, request_id, "backend, stream, status, input_tokens, output_tokens, cost_usd, decision_json"
    )
    backend, stream, status, tokens_in, tokens_out, cost, decision = row
    assert (backend, stream, status) == ("cheap", 1, 200)
    assert tokens_in > 0 and tokens_out > 0
    assert cost == pytest.approx(tokens_in * 6e-7 + tokens_out * 6e-7)
    assert json.loads(decision)["candidates"][0]["name"] == "cheap"


def test_failed_call_is_logged_with_its_error(client: openai.OpenAI, db_path: Path) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="badkey", messages=HI)
    request_id = info.value.response.headers["x-router-request-id"]
    status, error, attempts = logged_row(db_path, request_id, "status, error, attempts_json")
    assert status == 502 and "badkey" in error
    assert [a["status"] for a in json.loads(attempts)] == [502]  # not retried: the same key fails again


def test_no_secret_in_the_log(client: openai.OpenAI, db_path: Path) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="badkey", messages=HI)
    logged_row(db_path, info.value.response.headers["x-router-request-id"], "id")
    dump = "\n".join(sqlite3.connect(db_path).iterdump())
    assert SIM_KEY not in dump and ENVIRON["WRONG_KEY"] not in dump and ENVIRON["WRONG_KEY"][:8] not in dump

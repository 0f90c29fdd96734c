"""Hostile input and tenancy (issue 19): one caller must never hurt another, bypass its limits, or poison
the training labels. Each test is an attack that worked before, sent over real HTTP to a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from proxy import config as config_mod
from proxy.http.app import create_app
from tests.conftest import ENVIRON, Sim, logged_row, make_config_dict
from tests.servers import serve_app

KEY_A = "sk-tenant-a-0123456789abcdef"
KEY_B = "sk-tenant-b-0123456789abcdef"
KEY_C = "sk-tenant-c-0123456789abcdef"
KEY_BUDGET = "sk-budget-0123456789abcdef"
ADMIN_KEY = "sk-admin-0123456789abcdefgh"
HI = [{"role": "user", "content": "Hello"}]
BUDGET_USD = 1e-4


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _gateway_config(sim_url: str, db: Path, **server: Any) -> dict[str, Any]:
    raw: dict[str, Any] = make_config_dict(sim_url, db)
    raw["server"].update(server)
    raw["reliability"]["breaker_failures"] = 2  # so a client's input blamed on a backend would open its circuit
    raw["limits"] = {"json_max_depth": 1000, "max_messages": 3, "max_tools": 2, "max_content_parts": 2}
    raw["auth"] = {"admin_key_env": "ADMIN_KEY"}
    raw["key"] = [
        {"id": "tenant-a", "key_env": "KEY_A", "models": ["router", "cheap"], "rpm": 1000},
        {"id": "tenant-b", "key_env": "KEY_B", "rpm": 4},
        {"id": "tenant-c", "key_env": "KEY_C"},
        {"id": "budget", "key_env": "KEY_BUDGET", "budget_usd": BUDGET_USD, "models": ["cheap"]},
    ]
    return raw


ENV = {**ENVIRON, "KEY_A": KEY_A, "KEY_B": KEY_B, "KEY_C": KEY_C, "KEY_BUDGET": KEY_BUDGET, "ADMIN_KEY": ADMIN_KEY}


@pytest.fixture(scope="module")
def gateway(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    db = tmp_path_factory.mktemp("hostile") / "calls.db"
    config = config_mod.parse(_gateway_config(sim_url, db), environ=ENV)
    with serve_app(create_app(config, environ=ENV)) as url:
        yield url, db


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deep_nesting_in_any_field_is_a_400_naming_the_limit(gateway: tuple[str, Path]) -> None:
    url, _ = gateway
    with httpx.Client(base_url=url, headers=_auth(KEY_A), timeout=30) as http:
        for path, body in [
            ("/v1/chat/completions", '{"model": "cheap", "messages": [], "vendor": ' + _nested(1030) + "}"),
            ("/v1/route", '{"model": "router", "messages": ' + _nested(1030) + "}"),
            ("/v1/feedback", '{"request_id": ' + _nested(1030) + "}"),
            ("/v1/embeddings", '{"model": "embed", "input": ' + _nested(1030) + "}"),
        ]:
            response = http.post(path, content=body, headers={"content-type": "application/json"})
            assert response.status_code == 400, (path, response.text)
            assert "limits.json_max_depth" in response.json()["error"]["message"]
        # The same connection still serves the next request.
        assert http.post("/v1/chat/completions", json={"model": "cheap", "messages": HI}).status_code == 200


@pytest.mark.parametrize("model", ["cheap", "strong"])  # the direct transport, and litellm's (it encodes itself)
def test_a_body_too_deep_to_write_again_is_the_clients_error_not_the_upstreams(
    gateway: tuple[str, Path], sim: Sim, model: str
) -> None:
    url, db = gateway
    head = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})[:-1]
    deep = head + ', "vendor": ' + _nested(998) + "}"
    with httpx.Client(base_url=url, headers=_auth(KEY_C), timeout=30) as http:
        for _ in range(3):  # breaker_failures is 2: were these blamed on 'cheap', its circuit would open
            response = http.post("/v1/chat/completions", content=deep, headers={"content-type": "application/json"})
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "json_too_deep"
        request_id = response.headers.get("x-router-request-id")
        ok = http.post("/v1/chat/completions", json={"model": model, "messages": HI})
        assert ok.status_code == 200, ok.text
    assert request_id is None or logged_row(db, request_id, "status") == (400,)
    assert len(sim.requests()) == 1  # only the innocent call reached the upstream


def test_a_huge_integer_is_a_400_not_an_overflow(gateway: tuple[str, Path]) -> None:
    body = '{"model": "router", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1' + "0" * 400 + "}"
    response = httpx.post(
        f"{gateway[0]}/v1/chat/completions",
        content=body,
        headers={**_auth(KEY_A), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "limits.max_integer" in response.json()["error"]["message"]


def test_a_lone_surrogate_in_feedback_is_a_400(gateway: tuple[str, Path]) -> None:
    response = httpx.post(
        f"{gateway[0]}/v1/feedback",
        content=b'{"request_id": "abc\\ud800", "thumbs": "up"}',
        headers={**_auth(KEY_A), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "limits.reject_lone_surrogates" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("limit", "body"),
    [
        ("limits.max_messages", {"messages": HI * 4}),
        ("limits.max_content_parts", {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}] * 3}]}),
        (
            "limits.max_tools",
            {"messages": HI, "tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(3)]},
        ),
    ],
)
def test_each_count_limit_is_a_400_naming_it(gateway: tuple[str, Path], limit: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{gateway[0]}/v1/chat/completions", json={"model": "cheap", **body}, headers=_auth(KEY_A))
    assert response.status_code == 400
    assert limit in response.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_router_candidates_cannot_name_a_model_the_key_may_not_use(
    gateway: tuple[str, Path], sim: Sim, stream: bool
) -> None:
    body = {"model": "router", "messages": HI, "router": {"candidates": ["strong"]}, "stream": stream}
    response = httpx.post(f"{gateway[0]}/v1/chat/completions", json=body, headers=_auth(KEY_A))
    assert response.status_code == 403
    assert response.json()["error"]["param"] == "router.candidates"
    decision = httpx.post(f"{gateway[0]}/v1/route", json=body, headers=_auth(KEY_A))
    assert decision.status_code == 403
    assert sim.requests() == []
    allowed = {"model": "router", "messages": HI, "router": {"candidates": ["cheap"]}}
    assert httpx.post(f"{gateway[0]}/v1/chat/completions", json=allowed, headers=_auth(KEY_A)).status_code == 200


def _labels(db: Path, request_id: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT source, api_key_id FROM labels WHERE call_id = ?", (request_id,)).fetchall()


def test_feedback_only_from_the_key_that_made_the_call_or_the_admin(gateway: tuple[str, Path]) -> None:
    url, db = gateway
    call = httpx.post(f"{url}/v1/chat/completions", json={"model": "cheap", "messages": HI}, headers=_auth(KEY_A))
    request_id = call.headers["x-router-request-id"]
    logged_row(db, request_id, "status")
    label = {"request_id": request_id, "thumbs": "down"}
    stranger = httpx.post(f"{url}/v1/feedback", json=label, headers=_auth(KEY_C))
    assert stranger.status_code == 404  # as for a call that does not exist: ids of others cannot be probed
    assert httpx.post(f"{url}/v1/feedback", json=label, headers=_auth(KEY_A)).status_code == 201
    assert httpx.post(f"{url}/v1/feedback", json=label, headers=_auth(ADMIN_KEY)).status_code == 201
    rows = _wait_for(lambda: _labels(db, request_id), 2)
    assert sorted(rows, key=str) == sorted([("human", "tenant-a"), ("human", None)], key=str)


def _wait_for(read: Any, count: int) -> list[Any]:
    """Rows the log writer (off the request path) has written, once there are `count` of them (bounded)."""
    deadline = time.monotonic() + 10
    rows: list[Any] = read()
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = read()
    return rows


def test_route_and_feedback_are_charged_to_the_keys_rate(gateway: tuple[str, Path]) -> None:
    url, _ = gateway
    statuses = []
    for _ in range(3):
        statuses.append(
            httpx.post(f"{url}/v1/route", json={"model": "router", "messages": HI}, headers=_auth(KEY_B)).status_code
        )
        statuses.append(
            httpx.post(f"{url}/v1/feedback", json={"request_id": "x", "score": 1}, headers=_auth(KEY_B)).status_code
        )
    assert statuses[:4] == [200, 404, 200, 404]  # tenant-b may send 4 requests a minute
    assert statuses[4:] == [429, 429]


async def test_concurrent_calls_overrun_a_budget_by_at_most_one_calls_worst_case(gateway: tuple[str, Path]) -> None:
    url, db = gateway
    body = {"model": "cheap", "messages": HI, "max_tokens": 40}
    async with httpx.AsyncClient(base_url=url, headers=_auth(KEY_BUDGET), timeout=30) as http:
        responses = await asyncio.gather(*(http.post("/v1/chat/completions", json=body) for _ in range(40)))
    served = [r.headers["x-router-request-id"] for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(served) + len(refused) == 40 and refused
    assert all(r.json()["error"]["code"] == "insufficient_quota" for r in refused)
    costs = [logged_row(db, request_id, "cost_usd")[0] for request_id in served]
    # One call's worst case: its prompt and 40 output tokens at the 'cheap' backend's 6e-7 USD a token.
    worst = (20 + 40) * 6e-7
    assert max(costs) <= worst
    assert sum(costs) <= BUDGET_USD + worst, f"{len(served)} calls spent {sum(costs)}"


def _slow_body(url: str, key: str) -> socket.socket:
    """A connection that sends a request's headers, promises a body and sends none of it."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + key.encode() + b"\r\ncontent-length: 100\r\n\r\n{"
    )
    return sock


def test_a_key_trickling_bodies_fills_only_its_own_slots_and_gets_408(sim_url: str, tmp_path: Path) -> None:
    raw = _gateway_config(sim_url, tmp_path / "calls.db", max_in_flight=4, max_in_flight_per_key=2, body_timeout_s=1.0)
    with serve_app(create_app(config_mod.parse(raw, environ=ENV), environ=ENV)) as url:
        slow = [_slow_body(url, KEY_A) for _ in range(2)]
        try:
            with httpx.Client(base_url=url, timeout=30) as http:
                # Both of tenant-a's slots are held by bodies that do not come (wait until they are).
                refused = None
                for _ in range(100):
                    refused = http.post(
                        "/v1/chat/completions", json={"model": "cheap", "messages": HI}, headers=_auth(KEY_A)
                    )
                    if refused.status_code == 429:
                        break
                assert refused is not None and refused.status_code == 429
                assert refused.json()["error"]["code"] == "too_many_in_flight"
                other = http.post("/v1/chat/completions", json={"model": "cheap", "messages": HI}, headers=_auth(KEY_B))
                assert other.status_code == 200
            for sock in slow:
                sock.settimeout(10)
                answer = sock.recv(4096)
                assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
                assert b"server.body_timeout_s" in answer
        finally:
            for sock in slow:
                sock.close()


UPSTREAM_SECRET = "sk-echo-0123456789abcdefghijklmnopqrstuv"


def _echoing_upstream() -> Starlette:
    """An OpenAI-compatible upstream that echoes the API key it was called with in a 200 body, in full and
    masked, as providers do in messages."""

    async def chat(request: Request) -> JSONResponse:
        key = request.headers["authorization"].removeprefix("Bearer ")
        text = f"You called me with {key}; shown as {key[:3]}...{key[-4:]} or {key[:8]}********{key[-4:]}."
        return JSONResponse(
            {
                "id": "chatcmpl-echo",
                "object": "chat.completion",
                "created": 0,
                "model": "echo",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 20, "total_tokens": 23},
                "debug": {"openai_api_key": key},
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def test_secrets_are_redacted_by_value_and_by_name_in_log_rows_and_the_dashboard(tmp_path: Path) -> None:
    db = tmp_path / "calls.db"
    with serve_app(_echoing_upstream()) as upstream:
        raw = {
            "log": {"path": str(db)},
            "models_dir": str(tmp_path / "no-models"),
            "backend": [{"name": "echo", "model": "openai/echo", "api_base": f"{upstream}/v1", "api_key_env": "ECHO"}],
        }
        environ = {"ECHO": UPSTREAM_SECRET}
        with serve_app(create_app(config_mod.parse(raw), environ=environ)) as url:
            body = {
                "model": "echo",
                "messages": HI,
                "metadata": {"access_token": "tok-1", "client_secret": "cs-2", "openai_api_key": "oak-3"},
            }
            call = httpx.post(f"{url}/v1/chat/completions", json=body)
            assert call.status_code == 200
            request_id = call.headers["x-router-request-id"]
            row = logged_row(db, request_id, "request_json, response_json")
            shown = httpx.get(f"{url}/ui/api/calls/{request_id}").text
    stored = " ".join(row)
    for text in (stored, shown):
        for leaked in (UPSTREAM_SECRET, UPSTREAM_SECRET[:8], "sk-...stuv", "********stuv", "tok-1", "cs-2", "oak-3"):
            assert leaked not in text
        assert "[redacted]" in text and "You called me with ***" in text

"""Timeouts, circuit breakers, backpressure and graceful shutdown, each against a proxy configured for it."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn

from proxy import config as config_mod
from proxy.http.app import create_app
from tests.conftest import ENVIRON, ROOT, SIM_KEY, Sim, logged_row, make_config_dict
from tests.servers import free_port, serve_app

HI = [{"role": "user", "content": "Hello"}]


def proxy_with(sim_url: str, db: Path, **changes: Any) -> Any:
    raw = make_config_dict(sim_url, db)
    raw["reliability"].update(changes.pop("reliability", {}))
    raw["server"].update(changes.pop("server", {}))
    for backend in raw["backend"]:
        backend.update(changes.get(backend["name"], {}))
    return serve_app(create_app(config_mod.parse(raw), environ=ENVIRON))


@pytest.fixture(scope="module")
def timeouts(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    db = tmp_path_factory.mktemp("timeouts") / "calls.db"
    with proxy_with(
        sim_url,
        db,
        reliability={"retry_attempts": 1},
        cheap={"timeout_s": 0.5, "ttft_timeout_s": 0.4, "idle_timeout_s": 0.4},
    ) as url:
        yield url, db


def test_no_first_token_in_time_is_504_before_any_byte(
    timeouts: tuple[str, Path], sim: Sim, sdk: Callable[..., openai.OpenAI]
) -> None:
    c = sdk(timeouts[0])
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model="cheap", messages=HI, stream=True, extra_body={"sim_fault": {"ttft_s": 5}})
    assert info.value.status_code == 504
    assert "no first token within 0.4s" in info.value.body["message"]  # type: ignore[index]
    assert time.monotonic() - started < 3


def test_a_slow_whole_answer_is_504(timeouts: tuple[str, Path], sdk: Callable[..., openai.OpenAI]) -> None:
    c = sdk(timeouts[0])
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model="cheap", messages=HI, extra_body={"sim_fault": {"delay_s": 5}})
    assert info.value.status_code == 504
    assert "did not answer within 0.5s" in info.value.body["message"]  # type: ignore[index]


def test_a_stall_mid_stream_ends_it_with_an_error_and_logs_the_partial_call(
    timeouts: tuple[str, Path], sdk: Callable[..., openai.OpenAI]
) -> None:
    url, db = timeouts
    c = sdk(url)
    fault = {"stall_after_chunks": 3, "stall_s": 5}
    with c.chat.completions.with_streaming_response.create(
        model="cheap", messages=HI, stream=True, max_tokens=300, extra_body={"sim_fault": fault}
    ) as raw:
        request_id = raw.headers["x-router-request-id"]
        received = ""
        with pytest.raises(openai.APIError) as info:
            for chunk in raw.parse():
                received += "".join(ch.delta.content or "" for ch in chunk.choices)
    assert "sent nothing for 0.4s" in info.value.message
    status, usage_source, tokens_out, cost = logged_row(db, request_id, "status, usage_source, output_tokens, cost_usd")
    assert status == 504 and usage_source == "estimated"
    assert tokens_out == -(-len(received) // 4) and cost > 0


@pytest.fixture
def breaker_proxy(sim_url: str, tmp_path: Path) -> Iterator[str]:
    rel = {"breaker_failures": 2, "breaker_cooldown_s": 1.0, "retry_attempts": 1}
    with proxy_with(sim_url, tmp_path / "calls.db", reliability=rel) as url:
        yield url


def test_circuit_opens_after_repeated_failures_then_probes_and_closes(
    breaker_proxy: str, sim: Sim, sdk: Callable[..., openai.OpenAI]
) -> None:
    c = sdk(breaker_proxy)
    sim.fault("mixtral-8x7b", {"status": 500}, count=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="cheap", messages=HI)
    sim.clear()
    # Open: refused at once, nothing sent upstream, dropped from routing with the reason.
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model="cheap", messages=HI)
    assert info.value.status_code == 503 and info.value.response.headers["retry-after"]
    assert sim.requests() == []
    ranking = httpx.post(f"{breaker_proxy}/v1/route", json={"model": "router", "messages": HI}).json()
    reasons = {x["name"]: x["dropped"] for x in ranking["candidates"]}
    assert reasons["cheap"].startswith("circuit open")
    raw = c.chat.completions.with_raw_response.create(model="router", messages=HI)
    assert raw.headers["x-router-model"] == "strong"
    # After the cool-down one probe goes through; its success closes the circuit.
    time.sleep(1.1)
    c.chat.completions.create(model="cheap", messages=HI)
    raw = c.chat.completions.with_raw_response.create(model="router", messages=HI)
    assert raw.headers["x-router-model"] == "cheap"


def test_client_errors_do_not_open_circuits(breaker_proxy: str, sdk: Callable[..., openai.OpenAI]) -> None:
    c = sdk(breaker_proxy)
    for _ in range(3):
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="cheap", messages=HI, extra_body={"sim_fault": {"status": 400}})
    assert c.chat.completions.create(model="cheap", messages=HI).choices


def test_an_upstream_refusing_the_gateways_key_does_not_open_its_circuit_and_falls_back(
    breaker_proxy: str, sim: Sim, sdk: Callable[..., openai.OpenAI]
) -> None:
    c = sdk(breaker_proxy)
    sim.fault("mixtral-8x7b", {"status": 401, "message": "Incorrect API key provided"}, count=3)
    for _ in range(3):  # breaker_failures is 2: an open circuit would answer the third with a 503
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="cheap", messages=HI)
        assert info.value.status_code == 502 and info.value.code == "upstream_auth_failed"
    sim.fault("mixtral-8x7b", {"status": 403}, count=1)
    raw = c.chat.completions.with_raw_response.create(
        model="router", messages=HI, extra_body={"router": {"candidates": ["cheap", "strong"]}}
    )
    assert raw.headers["x-router-fallbacks"] == "cheap" and raw.headers["x-router-model"] == "strong"


async def test_past_the_in_flight_limit_requests_get_a_fast_503(sim_url: str, tmp_path: Path) -> None:
    with proxy_with(sim_url, tmp_path / "calls.db", server={"max_in_flight": 2}) as url:
        slow = {"model": "cheap", "messages": HI, "sim_fault": {"delay_s": 1.5}}
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            busy = [asyncio.create_task(http.post("/v1/chat/completions", json=slow)) for _ in range(2)]
            await asyncio.sleep(0.5)
            started = time.monotonic()
            refused = await http.post("/v1/chat/completions", json={"model": "cheap", "messages": HI})
            refused_in = time.monotonic() - started
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["code"] == "overloaded"
            assert refused_in < 1.0  # refused at once, not queued behind the slow ones
            assert (await http.get("/health")).status_code == 200  # health is never refused
            assert [r.status_code for r in await asyncio.gather(*busy)] == [200, 200]


def _served(sim_url: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m proxy` on the test config, as an operator runs it, once it answers /ready."""
    port = free_port()
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["server"]["port"] = port
    config_path = tmp_path / "config.toml"
    config_path.write_text(to_toml(raw))
    env = {"PATH": "/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True", **ENVIRON}
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", "--config", str(config_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, base


def test_sigterm_finishes_in_flight_calls_and_drains_the_log(sim_url: str, tmp_path: Path) -> None:
    proc, base = _served(sim_url, tmp_path)
    try:
        slow = {"model": "cheap", "messages": HI, "sim_fault": {"delay_s": 2}}
        with httpx.Client(base_url=base, timeout=30) as http:
            pending = http.build_request("POST", "/v1/chat/completions", json=slow)
            result: dict[str, httpx.Response] = {}
            worker = threading.Thread(target=lambda: result.update(r=http.send(pending)))
            worker.start()
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            worker.join(timeout=30)
        assert result["r"].status_code == 200  # the in-flight call finished
        # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status says 'terminated'.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        request_id = result["r"].headers["x-router-request-id"]
        assert logged_row(tmp_path / "calls.db", request_id, "status") == (200,)
    finally:
        if proc.poll() is None:
            proc.kill()


def _graced(raw: dict[str, Any]) -> tuple[uvicorn.Server, threading.Thread, int]:
    """The app under a real uvicorn with a 1 s shutdown grace (what `python -m proxy` sets from
    server.shutdown_grace_s), started in a thread; stop it with `server.should_exit = True`, as SIGTERM does."""
    port = free_port()
    config = uvicorn.Config(
        create_app(config_mod.parse(raw), environ=ENVIRON), port=port, log_level="critical", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, port


def _only_row(db_path: Path) -> tuple[Any, ...]:
    """(status, error) of the log's one call."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT status, error FROM calls").fetchall()
    assert len(rows) == 1, rows
    return tuple(rows[0])


def test_a_call_cut_by_the_shutdown_grace_gets_a_503_and_is_logged_as_a_shutdown(sim_url: str, tmp_path: Path) -> None:
    server, thread, port = _graced(make_config_dict(sim_url, tmp_path / "calls.db"))
    slow = {"model": "cheap", "messages": HI, "sim_fault": {"delay_s": 10}}  # outlasts the 1 s grace
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        pending = http.build_request("POST", "/v1/chat/completions", json=slow)
        result: dict[str, httpx.Response] = {}
        worker = threading.Thread(target=lambda: result.update(r=http.send(pending)))
        worker.start()
        time.sleep(0.3)
        server.should_exit = True  # what SIGTERM does
        worker.join(timeout=30)
    thread.join(timeout=30)
    cut = result["r"]
    assert cut.status_code == 503, cut.text  # not uvicorn's plain-text 500
    assert cut.json()["error"]["code"] == "shutting_down"
    status, error = _only_row(tmp_path / "calls.db")
    assert status == 503 and "shutdown" in error  # not 499 "client disconnected"


def test_a_stream_cut_by_the_shutdown_grace_is_logged_as_a_shutdown(sim_url: str, tmp_path: Path) -> None:
    """A stream already answering has sent its 200: the cut cannot change that, but the log must not call it
    a client that left (499)."""
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["backend"][1]["idle_timeout_s"] = 30.0  # the stall must outlast the grace, not the backend's idle limit
    server, thread, port = _graced(raw)
    stalls = {"stall_after_chunks": 2, "stall_s": 10}  # two chunks, then silence past the 1 s grace
    body = {"model": "cheap", "stream": True, "messages": HI, "sim_fault": stalls}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")  # the stream is answering
            server.should_exit = True  # what SIGTERM does
            with pytest.raises(httpx.HTTPError):
                for _ in lines:  # the server cuts the stream at the end of its grace
                    pass
    thread.join(timeout=30)
    status, error = _only_row(tmp_path / "calls.db")
    assert status == 503 and "shutdown" in error, (status, error)  # not 499 "client disconnected"


def to_toml(raw: dict[str, Any]) -> str:
    """Just enough TOML for the test config: tables, arrays of tables, scalars and lists."""

    def value(v: Any) -> str:
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines: list[str] = []
    for key, v in raw.items():
        if isinstance(v, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {value(x)}" for k, x in v.items()]
        elif isinstance(v, list):
            for item in v:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {value(x)}" for k, x in item.items()]
    return "\n".join(lines) + "\n"


def test_sim_key_is_never_in_a_response_header(timeouts: tuple[str, Path]) -> None:
    response = httpx.post(f"{timeouts[0]}/v1/chat/completions", json={"model": "strong", "messages": HI})
    assert SIM_KEY not in json.dumps(dict(response.headers)) and SIM_KEY not in response.text


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_before_the_answer_cancels_the_call_and_it_is_logged_499(
    proxy_url: str, db_path: Path, stream: bool
) -> None:
    marker = f"leaving-client-{stream}-{time.time_ns()}"
    body = {
        "model": "cheap",
        "stream": stream,
        "messages": [{"role": "user", "content": marker}],
        "sim_fault": {"delay_s": 3},  # the upstream answers (or starts streaming) after 3 s
    }
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{proxy_url}/v1/chat/completions", json=body, timeout=httpx.Timeout(30, read=0.5))
    deadline = time.monotonic() + 10
    row = None
    while row is None and time.monotonic() < deadline:
        with sqlite3.connect(db_path) as db:
            row = db.execute(
                "SELECT status, error, latency_s, attempts_json FROM calls WHERE request_json LIKE ?", (f"%{marker}%",)
            ).fetchone()
        time.sleep(0.05)
    assert row is not None, "the abandoned call was not logged"
    status, error, latency_s, attempts = row
    assert (status, error) == (499, "client disconnected")
    assert latency_s < 2.5  # cancelled when the client left, not when the upstream answered
    assert json.loads(attempts)[-1]["status"] == 499


def test_a_request_that_cannot_be_parsed_gets_a_json_400_from_the_served_proxy(sim_url: str, tmp_path: Path) -> None:
    """`python -m proxy` serves with the JSON-error wire protocol: uvicorn's own 400 was plain text."""
    proc, base = _served(sim_url, tmp_path)
    port = int(base.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower(), head
        assert json.loads(body)["error"]["code"] == "malformed_http"
    finally:
        proc.terminate()
        proc.wait(timeout=30)

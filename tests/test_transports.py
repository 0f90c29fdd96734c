"""The two ways out, side by side: the direct path for OpenAI-compatible upstreams and litellm.

The same simulated model is configured twice, once per transport; each behaviour a client can see
must be the same on both: answers, streams and their usage, forwarded fields, error statuses and
messages (secrets redacted), connection failures, embeddings.
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from tests.conftest import ENVIRON, SIM_KEY, Sim, logged_row
from tests.servers import serve_app

TRANSPORTS = ("direct", "litellm")
HI = [{"role": "user", "content": "Name a prime number."}]


@pytest.fixture(scope="module")
def proxy(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    db = tmp_path_factory.mktemp("transports") / "calls.db"
    base = f"{sim_url}/v1"
    backends: list[dict[str, Any]] = []
    for t in TRANSPORTS:
        common = {"api_key_env": "SIM_KEY", "transport": t, "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
        backends += [
            {"name": f"m-{t}", "model": "openai/mixtral-8x7b", "api_base": base, **common},
            {"name": f"badkey-{t}", "model": "openai/mixtral-8x7b", "api_base": base, **common, "api_key_env": "BAD"},
            {"name": f"down-{t}", "model": "openai/mixtral-8x7b", "api_base": "http://127.0.0.1:9/v1", **common},
        ]
    raw = {
        "models_dir": str(db.parent / "no-models"),
        "log": {"path": str(db)},
        "reliability": {"retry_attempts": 1, "breaker_failures": 1_000_000},
        "backend": backends,
        "embedding": [
            {"name": f"e-{t}", "model": "openai/text-embedding-3-small", "api_base": base, "api_key_env": "SIM_KEY"}
            for t in ("direct",)
        ],
    }
    env = {**ENVIRON, "BAD": "sk-bad-secret-key-0123456789"}
    with serve_app(create_app(config_mod.parse(raw, environ=env), environ=env)) as url:
        yield url, db


def post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)


def test_answers_are_the_same_on_both_paths(proxy: tuple[str, Path], sim: Sim) -> None:
    url, _ = proxy
    bodies = {t: post(url, {"model": f"m-{t}", "messages": HI, "max_tokens": 20}).json() for t in TRANSPORTS}
    direct, via_litellm = bodies["direct"], bodies["litellm"]
    assert direct["choices"][0]["message"]["content"] == via_litellm["choices"][0]["message"]["content"]
    assert direct["usage"]["completion_tokens"] == via_litellm["usage"]["completion_tokens"] > 0
    assert direct["object"] == via_litellm["object"] == "chat.completion"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_fields_reach_the_upstream_and_the_upstream_model_name_is_sent(
    proxy: tuple[str, Path], sim: Sim, transport: str
) -> None:
    url, _ = proxy
    assert post(url, {"model": f"m-{transport}", "messages": HI, "top_k": 7, "seed": 3}).status_code == 200
    sent = sim.last_body()
    assert (sent["model"], sent["top_k"], sent["seed"]) == ("mixtral-8x7b", 7, 3)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_streams_end_with_done_and_are_priced(proxy: tuple[str, Path], transport: str) -> None:
    url, db = proxy
    body = {"model": f"m-{transport}", "messages": HI, "stream": True, "max_tokens": 20}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
        request_id = response.headers["x-router-request-id"]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all("usage" not in c or c["usage"] is None for c in chunks)  # the client did not ask for usage
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text
    tokens, cost, source = logged_row(db, request_id, "output_tokens, cost_usd, usage_source")
    assert tokens > 0 and cost > 0 and source == "upstream"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_keep_their_status_and_retry_after(
    proxy: tuple[str, Path], transport: str, stream: bool
) -> None:
    url, _ = proxy
    fault = {"status": 429, "message": "slow down", "retry_after": 7}
    r = post(url, {"model": f"m-{transport}", "messages": HI, "stream": stream, "sim_fault": fault})
    assert r.status_code == 429
    assert r.headers.get("retry-after") == "7"
    assert "answered 429" in r.json()["error"]["message"] and "slow down" in r.json()["error"]["message"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_error_is_502_and_a_refused_gateway_key_is_502_without_the_key(
    proxy: tuple[str, Path], transport: str
) -> None:
    url, _ = proxy
    r = post(url, {"model": f"m-{transport}", "messages": HI, "sim_fault": {"status": 500, "message": "boom"}})
    assert r.status_code == 502 and "boom" in r.json()["error"]["message"]
    # A 401 would tell the client its own key is wrong; it is the gateway's key for the upstream.
    r = post(url, {"model": f"badkey-{transport}", "messages": HI})
    error = r.json()["error"]
    assert r.status_code == 502 and error["type"] == "upstream_error" and error["code"] == "upstream_auth_failed"
    assert "rejected the gateway's credentials" in error["message"]
    assert "sk-bad-secret-key" not in r.text and "sk-bad-s" not in r.text


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_error_keeps_its_param(proxy: tuple[str, Path], transport: str, stream: bool) -> None:
    url, _ = proxy
    r = post(url, {"model": f"m-{transport}", "messages": HI, "stream": stream, "top_logprobs": 3})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "top_logprobs"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_stream_cut_by_the_upstream_says_so(proxy: tuple[str, Path], transport: str) -> None:
    url, _ = proxy
    fault = {"disconnect_after_chunks": 2}
    body = {"model": f"m-{transport}", "messages": HI, "stream": True, "max_tokens": 200, "sim_fault": fault}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    message = events[-1]["error"]["message"]
    assert "cut the connection mid-stream" in message and "Could not reach" not in message


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("stream", [False, True])
def test_the_answer_names_the_backend_and_the_log_keeps_the_upstreams_name(
    proxy: tuple[str, Path], transport: str, stream: bool
) -> None:
    url, db = proxy
    body: dict[str, Any] = {"model": f"m-{transport}", "messages": HI, "max_tokens": 20, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
            lines = [line[6:] for line in response.iter_lines() if line.startswith("data: {")]
        models = {json.loads(line)["model"] for line in lines}
    else:
        response = post(url, body)
        models = {response.json()["model"]}
    assert models == {f"m-{transport}"} == {response.headers["x-router-model"]}
    request_id = response.headers["x-router-request-id"]
    assert logged_row(db, request_id, "upstream_model") == ("mixtral-8x7b",)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("stream", [False, True])
def test_an_unreachable_upstream_is_502(proxy: tuple[str, Path], transport: str, stream: bool) -> None:
    url, _ = proxy
    r = post(url, {"model": f"down-{transport}", "messages": HI, "stream": stream})
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "upstream_error"


def test_embeddings_on_the_direct_path_in_float_and_base64(proxy: tuple[str, Path]) -> None:
    url, _ = proxy
    floats = httpx.post(f"{url}/v1/embeddings", json={"model": "e-direct", "input": ["a b"]}, timeout=30).json()
    packed = httpx.post(
        f"{url}/v1/embeddings", json={"model": "e-direct", "input": ["a b"], "encoding_format": "base64"}, timeout=30
    ).json()
    vector = floats["data"][0]["embedding"]
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(vector, rel=1e-6)


def test_without_litellm_backends_litellm_is_never_imported(sim_url: str, tmp_path: Path) -> None:
    from scripts.harness import to_toml

    raw = {
        "models_dir": str(tmp_path / "no-models"),
        "log": {"path": str(tmp_path / "calls.db")},
        "backend": [
            {"name": "m", "model": "openai/mixtral-8x7b", "api_base": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}
        ],
    }
    config = tmp_path / "config.toml"
    config.write_text(to_toml(raw))
    code = (
        "import sys, httpx\n"
        "from proxy import config as c\n"
        "from proxy.http.app import create_app\n"
        "from tests.servers import serve_app\n"
        f"with serve_app(create_app(c.load({str(config)!r}))) as url:\n"
        "    r = httpx.post(url + '/v1/chat/completions', json={'model': 'm', 'messages': [{'role': 'user', "
        "'content': 'hi'}]}, timeout=30)\n"
        "    assert r.status_code == 200, r.text\n"
        "print('litellm' in sys.modules)\n"
    )
    out = _in_a_fresh_interpreter(code)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_proxy_with_litellm_backends_is_ready_only_once_litellm_is_imported(sim_url: str, tmp_path: Path) -> None:
    """Before, /ready said ready seconds before the import was done, and the first calls to a litellm backend
    took five seconds: slower to the client, and evidence to live speed that the backend is slow."""
    from scripts.harness import to_toml

    raw = {
        "models_dir": str(tmp_path / "no-models"),
        "log": {"path": str(tmp_path / "calls.db")},
        "backend": [
            {"name": "m", "model": "anthropic/claude-3-5-haiku", "api_base": sim_url, "api_key_env": "SIM_KEY"}
        ],
    }
    config = tmp_path / "config.toml"
    config.write_text(to_toml(raw))
    code = (
        "import sys, time, httpx\n"
        "from proxy import config as c\n"
        "from proxy.http.app import create_app\n"
        "from tests.servers import serve_app\n"
        f"with serve_app(create_app(c.load({str(config)!r}))) as url:\n"
        "    seen = []\n"
        "    for _ in range(3000):\n"
        "        r = httpx.get(url + '/ready', timeout=30)\n"
        "        seen.append((r.status_code, r.json()['checks']['transports']))\n"
        "        if r.status_code == 200:\n"
        "            break\n"
        "        time.sleep(0.01)\n"
        "    print(seen[0], seen[-1], sys.modules['litellm'].acompletion is not None)\n"
    )
    out = _in_a_fresh_interpreter(code)
    # The import takes seconds in a fresh process: the first look finds it running, the last one done.
    assert out.stdout.strip().splitlines()[-1] == "(503, False) (200, True) True", out.stdout


def _in_a_fresh_interpreter(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a new Python process (nothing imported yet), from the checkout; it must exit 0."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        env={"PATH": "/usr/bin:/bin", "SIM_KEY": SIM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out

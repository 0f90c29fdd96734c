"""Process-level behaviour: import hygiene, health and readiness, the routing endpoint, client disconnects."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from proxy import config as config_mod
from proxy.errors import ServiceUnavailable
from proxy.http.app import create_app
from proxy.http.body import unless_client_leaves
from proxy.pipeline import CLIENT_LEFT
from proxy.simulator.app import create_app as create_simulator
from proxy.simulator.settings import SimSettings
from tests.conftest import ENVIRON, ROOT, SIM_KEY, logged_row, make_config_dict
from tests.servers import await_ready, serve_app

IMPORT_PROBE = """
import sys
seen = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and not args[0].endswith((".py", ".pyc", ".so", ".pth")):
        if not args[0].startswith(("/proc", "/sys")) and "__pycache__" not in args[0]:
            seen.append(args[0])
    if event == "socket.connect":
        seen.append(repr(args))
sys.addaudithook(hook)
import proxy, proxy.http.app, proxy.pipeline, proxy.config, proxy.request
import proxy.route.features, proxy.route.scoring, proxy.route.choice
import proxy.upstream.forward, proxy.log.sqlite, proxy.simulator.app
assert "litellm" not in sys.modules, "litellm imported at import time"
print(repr(seen))
"""


def test_importing_the_package_does_no_io_and_needs_no_environment() -> None:
    env = {"PATH": os.environ["PATH"]}  # no LITELLM_*, no keys, nothing else
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    opened = [p for p in eval(out.stdout.strip()) if "site-packages" not in p and "/lib/python" not in p]
    assert opened == []


def test_health_and_ready(proxy_url: str) -> None:
    assert httpx.get(f"{proxy_url}/health").json()["status"] == "ok"
    ready = await_ready(proxy_url)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"scorer": True, "log_store": True, "transports": True}}


def test_route_ranks_without_calling_any_llm(proxy_url: str, sim_url: str) -> None:
    httpx.delete(f"{sim_url}/_sim/requests")
    body = {"model": "router", "messages": [{"role": "user", "content": "What is 2+2?"}]}
    ranking = httpx.post(f"{proxy_url}/v1/route", json=body).json()
    assert ranking["object"] == "router.decision"
    assert ranking["model"] == "cheap"
    assert {c["name"] for c in ranking["candidates"]} == {"strong", "cheap", "weak", "no-tools"}
    for c in ranking["candidates"]:
        assert 0 <= c["p_acceptable"] <= 1 and c["latency_s"] > 0 and c["cost_usd"] > 0
    # Each candidate's speed says where it comes from: measured, a named stand-in's, the config's, or defaults.
    sources = ranking["speed_sources"]
    assert set(sources) == {"strong", "cheap", "weak", "no-tools"}
    assert all(s.split(":")[0] in ("measured", "stand-in", "config", "default") for s in sources.values())
    assert httpx.get(f"{sim_url}/_sim/requests").json() == []


def test_route_agrees_with_the_headers_of_the_routed_call(proxy_url: str, client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Write a haiku about routers."}]
    ranking = httpx.post(f"{proxy_url}/v1/route", json={"model": "router", "messages": messages}).json()
    raw = client.chat.completions.with_raw_response.create(model="router", messages=messages)
    chosen = next(c for c in ranking["candidates"] if c["name"] == ranking["model"])
    assert raw.headers["x-router-model"] == ranking["model"]
    assert float(raw.headers["x-router-p-acceptable"]) == pytest.approx(chosen["p_acceptable"], abs=1e-4)
    assert float(raw.headers["x-router-predicted-cost-usd"]) == pytest.approx(chosen["cost_usd"], rel=1e-4)


def test_explain_header_carries_the_same_ranking(proxy_url: str, client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Translate 'good morning' into French."}]
    ranking = httpx.post(f"{proxy_url}/v1/route", json={"model": "router", "messages": messages}).json()
    raw = client.chat.completions.with_raw_response.create(
        model="router", messages=messages, extra_headers={"x-router-explain": "1"}
    )
    explained = json.loads(raw.headers["x-router-explain"])
    assert explained["model"] == ranking["model"] == raw.headers["x-router-model"]
    assert [c["name"] for c in explained["candidates"]] == [c["name"] for c in ranking["candidates"]]
    assert explained["task"] == ranking["task"]
    plain = client.chat.completions.with_raw_response.create(model="router", messages=messages)
    assert "x-router-explain" not in plain.headers


def test_route_on_a_backend_name_is_a_400(proxy_url: str) -> None:
    response = httpx.post(
        f"{proxy_url}/v1/route", json={"model": "cheap", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 400


def test_models_show_prices_and_capabilities(proxy_url: str) -> None:
    models = {m["id"]: m for m in httpx.get(f"{proxy_url}/v1/models").json()["data"]}
    assert models["strong"]["switchyard"]["prices"]["input_per_token"] == 1e-5
    assert models["no-tools"]["switchyard"]["supports_tools"] is False
    assert models["no-tools"]["switchyard"]["context_window"] == 100_000  # the catalog's: the config leaves it out
    assert models["router"]["switchyard"]["candidates"] == ["strong", "cheap", "weak", "no-tools"]
    assert SIM_KEY not in json.dumps(models)


@pytest.fixture(scope="module")
def paced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """A proxy in front of a simulator that keeps real measured speeds, so streams take seconds."""
    with serve_app(create_simulator(SimSettings(speed=1.0, api_key=SIM_KEY))) as sim_url:
        db = tmp_path_factory.mktemp("paced") / "calls.db"
        config = config_mod.parse(make_config_dict(sim_url, db))
        with serve_app(create_app(config, environ=ENVIRON)) as url:
            yield url, db, sim_url


def test_client_disconnect_frees_the_upstream_within_a_second_and_is_logged(
    paced: tuple[str, Path, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    url, db, sim_url = paced
    httpx.delete(f"{sim_url}/_sim/streams")
    with sdk(url).chat.completions.with_streaming_response.create(
        model="cheap", messages=[{"role": "user", "content": "Tell me a long story."}], stream=True, max_tokens=1500
    ) as raw:
        request_id = raw.headers["x-router-request-id"]
        next(iter(raw.parse()))
    hung_up_at = time.time()
    # 1500 tokens at the simulated ~74 tokens/s would take ~20 s; the upstream must hear of the hang-up at once.
    status, error, latency = logged_row(db, request_id, "status, error, latency_s")
    assert status == 499 and error == "client disconnected"
    deadline = time.monotonic() + 5
    while not (streams := httpx.get(f"{sim_url}/_sim/streams").json()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [s["outcome"] for s in streams] == ["client_disconnected"]
    assert streams[0]["ended_at"] - hung_up_at < 1.0
    assert latency < 5


class _StaysConnected:
    """A request whose client never hangs up (what `unless_client_leaves` reads of it)."""

    async def receive(self) -> dict[str, str]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}


async def test_an_answer_that_finished_as_its_handler_was_cancelled_is_still_answered() -> None:
    # A server shutdown can cancel the handler after the upstream answered but before the response
    # went out; the answer is then sent (and recorded) as usual rather than lost.
    finished = asyncio.Event()

    async def work() -> str:
        finished.set()
        return "answer"

    handler = asyncio.ensure_future(unless_client_leaves(_StaysConnected(), work()))  # type: ignore[arg-type]
    await finished.wait()
    handler.cancel()
    assert await handler == "answer"


async def test_work_cut_by_a_shutdown_is_a_503_and_is_not_called_a_client_disconnect() -> None:
    cancelled_with: list[tuple[object, ...]] = []
    started = asyncio.Event()

    async def work() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            cancelled_with.append(exc.args)
            raise
        return "never"

    handler = asyncio.ensure_future(unless_client_leaves(_StaysConnected(), work()))  # type: ignore[arg-type]
    await started.wait()
    handler.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")  # what uvicorn does
    with pytest.raises(ServiceUnavailable) as info:
        await handler
    assert info.value.code == "shutting_down"
    assert cancelled_with and CLIENT_LEFT not in cancelled_with[0]

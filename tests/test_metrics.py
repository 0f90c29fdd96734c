"""GET /metrics after known traffic against the simulated backends: it parses with the official Prometheus
client's parser and every series holds the value that traffic implies."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.log.records import Observation
from proxy.log.sqlite import SqliteLogStore
from proxy.metrics import Metrics
from tests.conftest import ENVIRON, Sim, logged_row, make_config_dict
from tests.servers import serve_app

HI = [{"role": "user", "content": "What is the capital of France?"}]
UPSTREAM = {
    "strong": "gpt-4-1106-preview",
    "cheap": "mixtral-8x7b",
    "weak": "mistral-7b",
    "no-tools": "claude-instant-v1",
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, **headers: str) -> Samples:
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


@pytest.fixture(scope="module")
def traffic(sim_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[httpx.Headers]]]:
    """A proxy whose circuits open at the first failure, and this traffic, in order:
    2 routed calls, 1 routed stream, 1 call naming "weak", 1 routed call whose first choice fails once
    (fallback; its circuit opens), 1 call naming that backend (refused: circuit open)."""
    db = tmp_path_factory.mktemp("metrics") / "calls.db"
    raw = make_config_dict(sim_url, db)
    raw["reliability"].update(retry_attempts=1, breaker_failures=1, breaker_cooldown_s=600)
    sim = Sim(sim_url)
    sim.clear()
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)
        headers: list[httpx.Headers] = []
        try:
            for _ in range(2):
                headers.append(client.chat.completions.with_raw_response.create(model="router", messages=HI).headers)
            with client.chat.completions.with_streaming_response.create(
                model="router", messages=HI, stream=True, stream_options={"include_usage": True}
            ) as stream:
                headers.append(stream.headers)
                assert [chunk for chunk in stream.iter_lines() if chunk]
            headers.append(client.chat.completions.with_raw_response.create(model="weak", messages=HI).headers)
            sim.fault(UPSTREAM[headers[0]["x-router-model"]], {"status": 500}, count=1)
            headers.append(client.chat.completions.with_raw_response.create(model="router", messages=HI).headers)
            with pytest.raises(openai.APIStatusError) as refused:
                client.chat.completions.create(model=headers[0]["x-router-model"], messages=HI)
            assert refused.value.status_code == 503
            headers.append(refused.value.response.headers)
        finally:
            client.close()
            sim.clear()
        yield url, db, headers


def test_calls_are_counted_by_alias_backend_and_status(traffic: tuple[str, Path, list[httpx.Headers]]) -> None:
    url, _, headers = traffic
    samples = scrape(url)
    first = headers[0]["x-router-model"]
    fallback = headers[4]["x-router-model"]
    assert headers[4]["x-router-fallbacks"] == first and fallback != first
    assert total(samples, "switchyard_requests_total") == 6
    assert total(samples, "switchyard_requests_total", alias="router", status="200") == 4
    assert value(samples, "switchyard_requests_total", alias="", backend="weak", status="200") == 1
    assert value(samples, "switchyard_requests_total", alias="", backend=first, status="503") == 1
    assert total(samples, "switchyard_request_duration_seconds_count") == 6
    assert total(samples, "switchyard_request_duration_seconds_sum") > 0
    assert value(samples, "switchyard_proxy_overhead_seconds_count") == 6
    assert (
        0
        < value(samples, "switchyard_proxy_overhead_seconds_sum")
        < total(samples, "switchyard_request_duration_seconds_sum")
    )
    streamed = headers[2]["x-router-model"]
    assert total(samples, "switchyard_time_to_first_token_seconds_count") == 1
    assert value(samples, "switchyard_time_to_first_token_seconds_count", backend=streamed) == 1


def test_decisions_fallbacks_and_circuits(traffic: tuple[str, Path, list[httpx.Headers]]) -> None:
    url, _, headers = traffic
    samples = scrape(url)
    first = headers[0]["x-router-model"]
    assert total(samples, "switchyard_routing_decisions_total") == 4
    chosen = [h["x-router-model"] for h in headers[:3]] + [first]  # the fallback call chose `first`, then fell back
    for backend in set(chosen):
        assert total(samples, "switchyard_routing_decisions_total", backend=backend) == chosen.count(backend)
    assert value(samples, "switchyard_fallbacks_total", backend=first) == 1
    assert total(samples, "switchyard_fallbacks_total") == 1
    circuits = {dict(ls)["backend"]: v for (n, ls), v in samples.items() if n == "switchyard_circuit_state"}
    assert circuits.pop(first) == 2.0  # open: one failure was enough here
    assert set(circuits) == {"strong", "cheap", "weak", "no-tools", "badkey", "down"} - {first}
    assert set(circuits.values()) == {0.0}
    assert value(samples, "switchyard_model_info", version=headers[0]["x-router-model-version"]) == 1
    assert value(samples, "switchyard_price_usd", backend="strong", unit="input_token") == 1e-5
    assert value(samples, "switchyard_price_usd", backend="weak", unit="output_token") == 2e-7


def test_prediction_errors_match_the_logged_calls(traffic: tuple[str, Path, list[httpx.Headers]]) -> None:
    url, db, headers = traffic
    for h in headers:
        logged_row(db, h["x-router-request-id"], "id")
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT backend, latency_s, cost_usd, decision_json FROM calls WHERE status = 200 AND alias IS NOT NULL"
        ).fetchall()
    assert len(rows) == 4
    expected: dict[tuple[str, str], float] = {}
    for backend, latency, cost, decision in rows:
        predicted = next(c for c in json.loads(decision)["candidates"] if c["name"] == backend)
        for name, amount in (
            ("switchyard_predicted_latency_seconds_total", predicted["latency_s"]),
            ("switchyard_observed_latency_seconds_total", latency),
            ("switchyard_predicted_cost_usd_total", predicted["cost_usd"]),
            ("switchyard_observed_cost_usd_total", cost),
        ):
            expected[name, backend] = expected.get((name, backend), 0.0) + amount
    samples = scrape(url)
    for (name, backend), amount in expected.items():
        assert value(samples, name, backend=backend) == pytest.approx(amount, rel=1e-9)
    assert total(samples, "switchyard_latency_prediction_error_seconds_count") == 4
    assert total(samples, "switchyard_cost_prediction_error_ratio_count") == 4
    # The signed error's distribution: calls faster than predicted are at or below the 0 bucket.
    errors = [
        latency - next(c for c in json.loads(d)["candidates"] if c["name"] == b)["latency_s"]
        for b, latency, _, d in rows
    ]
    assert total(samples, "switchyard_latency_prediction_error_seconds_bucket", le="0.0") == sum(e <= 0 for e in errors)
    assert total(samples, "switchyard_latency_prediction_error_seconds_bucket", le="+Inf") == 4


def test_the_log_writer_is_visible(traffic: tuple[str, Path, list[httpx.Headers]]) -> None:
    url, db, headers = traffic
    for h in headers:
        logged_row(db, h["x-router-request-id"], "id")
    deadline = time.monotonic() + 10
    while (samples := scrape(url))[("switchyard_log_written_rows_total", frozenset())] < 6:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert value(samples, "switchyard_log_written_rows_total") == 6
    assert value(samples, "switchyard_log_dropped_rows_total") == 0
    assert value(samples, "switchyard_log_queue_depth") == 0


def test_queue_depth_and_dropped_rows_are_read_from_the_store(tmp_path: Path) -> None:
    store = SqliteLogStore(tmp_path / "calls.db", queue_size=2)  # not started: nothing drains the queue
    for i in range(5):
        store.record(
            Observation(id=f"c{i}", started_at=0.0, requested_model="m", stream=False, status=200, latency_s=1)
        )
    metrics = Metrics()
    metrics.watched.store = store
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }
    assert value(samples, "switchyard_log_queue_depth") == 2
    assert value(samples, "switchyard_log_dropped_rows_total") == 3


def test_two_apps_in_one_process_count_separately(sim_url: str, tmp_path: Path) -> None:
    apps = [
        create_app(config_mod.parse(make_config_dict(sim_url, tmp_path / f"{i}.db")), environ=ENVIRON) for i in (0, 1)
    ]
    with serve_app(apps[0]) as first, serve_app(apps[1]) as second:
        httpx.post(
            f"{first}/v1/chat/completions", json={"model": "weak", "messages": HI}, timeout=30
        ).raise_for_status()
        assert total(scrape(first), "switchyard_requests_total") == 1
        assert total(scrape(second), "switchyard_requests_total") == 0


def admin_config(sim_url: str, db: Path, **metrics: Any) -> Any:
    raw = make_config_dict(sim_url, db)
    raw["auth"] = {"admin_key_env": "ADMIN"}
    if metrics:
        raw["metrics"] = metrics
    return config_mod.parse(raw, environ={"ADMIN": "admin-secret-key-0123"})


@pytest.mark.parametrize(
    "metrics,anonymous",
    [({}, 401), ({"require_admin_key": False}, 200)],
    ids=["admin-key-configured", "opened-explicitly"],
)
async def test_metrics_take_the_admin_key_when_one_is_configured(
    sim_url: str, tmp_path: Path, metrics: dict[str, Any], anonymous: int
) -> None:
    app = create_app(admin_config(sim_url, tmp_path / "calls.db", **metrics), environ=ENVIRON)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
        assert (await client.get("/metrics")).status_code == anonymous
        ok = await client.get("/metrics", headers={"authorization": "Bearer admin-secret-key-0123"})
        assert ok.status_code == 200 and "# TYPE switchyard_requests_total counter" in ok.text
        wrong = await client.get("/metrics", headers={"authorization": "Bearer not-the-admin-key"})
        assert wrong.status_code == (403 if anonymous == 401 else 200)


def test_requiring_the_admin_key_without_one_is_a_config_error(sim_url: str, tmp_path: Path) -> None:
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["metrics"] = {"require_admin_key": True}
    with pytest.raises(config_mod.ConfigError, match="metrics.require_admin_key"):
        config_mod.parse(raw)

"""Live speed: the router's latency prediction follows what the backends' own calls show."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.route.speed import HALF_LIFE_S, LiveSpeed, Speed
from proxy.simulator.app import create_app as create_simulator
from proxy.simulator.settings import SimSettings
from tests.conftest import ENVIRON, SIM_KEY
from tests.servers import serve_app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_streamed_calls_move_ttft_and_decoding_apart() -> None:
    clock = Clock()
    speed = LiveSpeed(clock)
    for _ in range(10):
        clock.now += 1.0
        # prior: 0.5 s to the first token, 50 tokens/s; observed: 2.5 s to the first token, then 100 tokens in 2 s
        speed.observe("b", prior_ttft_s=0.5, prior_tokens_per_s=50.0, total_s=4.5, output_tokens=100, ttft_s=2.5)
    got = speed.speeds()["b"]
    assert 3.5 < got.ttft_factor < 5.0  # 5x, shrunk towards 1 by the prior's weight
    assert got.decode_factor == pytest.approx(1.0)
    assert got.tokens_per_s(50.0) == pytest.approx(50.0)


def test_a_non_streamed_call_shifts_both_parts_alike() -> None:
    clock = Clock()
    speed = LiveSpeed(clock)
    for _ in range(20):
        speed.observe("b", prior_ttft_s=0.5, prior_tokens_per_s=50.0, total_s=7.5, output_tokens=50)
    got = speed.speeds()["b"]
    assert got.ttft_factor == pytest.approx(got.decode_factor) and 4.0 < got.ttft_factor < 5.0


def test_old_evidence_fades_back_to_the_prior() -> None:
    clock = Clock()
    speed = LiveSpeed(clock)
    for _ in range(10):
        speed.observe("b", prior_ttft_s=0.5, prior_tokens_per_s=50.0, total_s=7.5, output_tokens=50)
    assert speed.speeds()["b"].ttft_factor > 3.5
    clock.now += 8 * HALF_LIFE_S
    assert speed.speeds()["b"].ttft_factor < 1.05


def test_adjust_scales_only_backends_with_evidence() -> None:
    speed = LiveSpeed(Clock())
    ttft, latency = np.array([0.5, 0.5]), np.array([2.5, 2.5])
    assert speed.adjust(("a", "b"), ttft, latency)[0] is ttft  # no evidence: the prediction as it was
    for _ in range(50):
        speed.observe("a", prior_ttft_s=0.5, prior_tokens_per_s=50.0, total_s=5.0, output_tokens=100, ttft_s=1.0)
    new_ttft, new_latency = speed.adjust(("a", "b"), ttft, latency)
    assert new_ttft[1] == 0.5 and new_latency[1] == 2.5
    # Both parts took twice the prior (shrunk by 2 pseudo-observations in 52): TTFT 0.5 -> ~0.97 s, 2 s of decoding
    # -> ~3.9 s.
    assert 0.95 < new_ttft[0] < 1.0 and 4.8 < new_latency[0] < 4.95


def test_calls_in_flight_past_their_prediction_count_as_slow_until_they_end() -> None:
    """The calls that finish first are the fast ones: counting only finished calls, a backend with slow calls
    still running looks fast, and one that has just slowed down shows nothing until its calls end."""
    clock = Clock()
    speed = LiveSpeed(clock)
    calls = [speed.begin("b", 2.0) for _ in range(4)]
    streamed = speed.begin("s", 1.6, ttft_only=True)
    clock.now += 1.5  # within the prediction: says nothing yet
    assert speed.speeds() == {}
    clock.now += 6.5  # 8 s against 2 s predicted: four calls at least four times slower
    slow = speed.speeds()["b"]
    assert slow.ttft_factor == slow.decode_factor == pytest.approx(np.exp(4 * np.log(4.0) / (4 + 2.0)))
    assert slow.evidence == 4.0
    # A stream waiting for its first token says something of its TTFT only.
    assert speed.speeds()["s"].ttft_factor > 1.5 and speed.speeds()["s"].decode_factor == 1.0
    for call in calls:
        speed.end(call)
    speed.end(streamed)
    clock.now += 1.0
    assert speed.speeds()["b"] == Speed()  # ended without an observation (a failure): no evidence left


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[str]:
    """Simulated backends at 0.4 of their measured latency: fast enough for a test, slow enough to time
    (Mixtral's pooled measurements answer a limerick in about 0.7 s; at a twentieth the proxy's own
    milliseconds blurred the fivefold slowdown on a busy machine: TTFT can be 0.12 s)."""
    with serve_app(create_simulator(SimSettings(speed=0.4, api_key=SIM_KEY))) as url:
        yield url


@pytest.fixture(scope="module")
def twins(slow_sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two backends the router cannot tell apart but by speed, behind an alias where only latency counts."""
    db: Path = tmp_path_factory.mktemp("speed") / "calls.db"

    def backend(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": "openai/mixtral-8x7b",
            "api_base": f"{slow_sim}/v1",
            "api_key_env": "SIM_KEY",
            "accuracy": 0.74,
            "input_cost_per_token": 6e-7,
            "output_cost_per_token": 6e-7,
            "ttft_s": 0.4,
            "tokens_per_s": 70.0,
        }

    raw = {
        "models_dir": str(db.parent / "no-models"),
        "log": {"path": str(db)},
        "backend": [backend("twin-a"), backend("twin-b")],
        "alias": [
            {"name": "quick", "min_acceptability": 0.0, "cost_weight": 0.0, "latency_weight": 1.0, "stickiness": 0.0}
        ],
    }
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        yield url


def _route(url: str) -> dict[str, Any]:
    body = {"model": "quick", "messages": [{"role": "user", "content": "Write a limerick about trains."}]}
    decision: dict[str, Any] = httpx.post(f"{url}/v1/route", json=body, timeout=10).json()
    return decision


def _named_calls(url: str, model: str, n: int) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "Write a limerick about trains."}]}

    def call(stream: bool) -> None:
        httpx.post(f"{url}/v1/chat/completions", json={**body, "stream": stream}, timeout=30).raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(call, [i % 2 == 0 for i in range(n)]))


def test_a_slowed_backend_is_predicted_slower_and_loses_the_choice(twins: str, slow_sim: str) -> None:
    before = _route(twins)
    assert before["model"] == "twin-a" and before.get("live_speed") is None  # a tie, broken by name
    httpx.post(
        f"{slow_sim}/_sim/faults", json={"model": "mixtral-8x7b", "rate": 1.0, "fault": {"slowdown": 5.0}}
    ).raise_for_status()
    try:
        _named_calls(twins, "twin-a", 8)
    finally:
        httpx.delete(f"{slow_sim}/_sim/faults").raise_for_status()
    _named_calls(twins, "twin-b", 8)
    after = _route(twins)
    latency = {c["name"]: c["latency_s"] for c in after["candidates"]}
    assert after["model"] == "twin-b", after
    assert latency["twin-a"] > 2.0 * latency["twin-b"], latency
    live = after["live_speed"]
    assert live["twin-a"]["evidence"] > 4 and live["twin-a"]["ttft_s"] > 2.0 * live["twin-b"]["ttft_s"], live
    metrics = httpx.get(f"{twins}/metrics").text
    assert 'switchyard_live_ttft_seconds{backend="twin-a"}' in metrics
    overview = httpx.get(f"{twins}/ui/api/overview").json()
    assert overview["live_speed"]["twin-a"]["ttft_s"] > overview["live_speed"]["twin-b"]["ttft_s"]

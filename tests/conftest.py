"""Shared fixtures: the simulated backends and the proxy, each a real uvicorn server on loopback."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.simulator.app import create_app as create_simulator
from proxy.simulator.settings import SimSettings
from tests import pg
from tests.servers import serve_app

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
SIM_KEY = "sim-test-key-0123456789"
ENVIRON = {"SIM_KEY": SIM_KEY, "WRONG_KEY": "sk-wrong-key-abcdefghijklmnop"}


def logged_row(db_path: Path, request_id: str, columns: str) -> tuple[Any, ...]:
    """The call's log row, waiting (bounded) for the writer task, which runs off the request path."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path) as db:
            row = db.execute(f"SELECT {columns} FROM calls WHERE id = ?", (request_id,)).fetchone()
        if row is not None:
            return tuple(row)
        time.sleep(0.05)
    raise AssertionError(f"call {request_id} was not logged within 10 s")


def requires_data() -> None:
    if not DATA_DIR.is_dir():
        pytest.skip(f"{DATA_DIR} not present: this test needs the real routing data (../shared/data)")


class Sim:
    """The simulator's control and inspection endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url

    def requests(self) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = httpx.get(f"{self.url}/_sim/requests").json()
        return requests

    def last_body(self) -> dict[str, Any]:
        return self.requests()[-1]["body"]

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_sim/requests").raise_for_status()
        httpx.delete(f"{self.url}/_sim/faults").raise_for_status()

    def fault(self, model: str, fault: dict[str, Any], count: int = 1) -> None:
        httpx.post(f"{self.url}/_sim/faults", json={"model": model, "count": count, "fault": fault}).raise_for_status()


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    with serve_app(create_simulator(SimSettings(speed=0.0, api_key=SIM_KEY))) as url:
        yield url


@pytest.fixture
def sim(sim_url: str) -> Iterator[Sim]:
    s = Sim(sim_url)
    s.clear()
    yield s
    s.clear()


def make_config_dict(sim_url: str, db_path: Path) -> dict[str, Any]:
    """A small config: four simulated backends with distinct strengths, two aliases, one embedding model."""
    base = f"{sim_url}/v1"

    def backend(name: str, model: str, **kw: Any) -> dict[str, Any]:
        return {"name": name, "model": f"openai/{model}", "api_base": base, "api_key_env": "SIM_KEY", **kw}

    return {
        # The prior rule, not the shipped trained models: these tests pin routing outcomes to known priors.
        "models_dir": str(db_path.parent / "no-models"),
        "log": {"path": str(db_path)},
        "server": {"max_body_bytes": 200_000},
        # Tests inject failures on purpose: keep circuits closed here (tests/test_reliability.py checks them).
        "reliability": {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "breaker_failures": 10_000},
        "backend": [
            backend(
                "strong",
                "gpt-4-1106-preview",
                transport="litellm",  # the others take the direct path: both are exercised
                accuracy=0.88,
                input_cost_per_token=1e-5,
                output_cost_per_token=3e-5,
                supports_vision=True,
                ttft_s=0.6,
                tokens_per_s=29.0,
            ),
            backend(
                "cheap",
                "mixtral-8x7b",
                accuracy=0.74,
                input_cost_per_token=6e-7,
                output_cost_per_token=6e-7,
                ttft_s=0.2,
                tokens_per_s=74.0,
            ),
            backend(
                "weak",
                "mistral-7b",
                accuracy=0.59,
                input_cost_per_token=2e-7,
                output_cost_per_token=2e-7,
                ttft_s=0.5,
                tokens_per_s=100.0,
            ),
            backend(
                "no-tools",
                "claude-instant-v1",
                accuracy=0.67,
                input_cost_per_token=8e-7,
                output_cost_per_token=2.4e-6,
                supports_tools=False,
                ttft_s=0.45,
                tokens_per_s=150.0,
            ),
            {**backend("badkey", "gpt-3.5-turbo-1106", accuracy=0.7), "api_key_env": "WRONG_KEY"},
            backend("down", "gpt-3.5-turbo-1106", accuracy=0.7, api_base="http://127.0.0.1:9/v1", timeout_s=5.0),
        ],
        "alias": [
            {"name": "router", "candidates": ["strong", "cheap", "weak", "no-tools"]},
            {"name": "strict", "candidates": ["strong", "cheap", "weak"], "min_acceptability": 0.85},
            {"name": "sticky", "candidates": ["strong", "cheap", "weak"], "stickiness": 10.0},
        ],
        "embedding": [
            {"name": "embed", "model": "openai/text-embedding-3-small", "api_base": base, "api_key_env": "SIM_KEY"}
        ],
    }


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A DSN (with password) whose tables live in a fresh schema, dropped after the test; skips without a server."""
    server = pg.server_dsn()
    schema = pg.new_schema(server)
    yield pg.with_settings(server, search_path=schema)
    pg.drop_schema(server, schema)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("log") / "calls.db"


@pytest.fixture(scope="module")
def proxy_url(sim_url: str, db_path: Path) -> Iterator[str]:
    config = config_mod.parse(make_config_dict(sim_url, db_path))
    with serve_app(create_app(config, environ=ENVIRON)) as url:
        yield url


@pytest.fixture
def sdk() -> Iterator[Callable[..., openai.OpenAI]]:
    """Make OpenAI SDK clients for a proxy URL; all are closed after the test (no leaked sockets)."""
    made: list[openai.OpenAI] = []

    def make(url: str, api_key: str = "client-key") -> openai.OpenAI:
        made.append(openai.OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0, timeout=30))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(proxy_url: str, sdk: Callable[..., openai.OpenAI]) -> openai.OpenAI:
    return sdk(proxy_url)

"""Live prices: a price file served over real HTTP re-prices the routing costs without a restart; a bad one
changes nothing."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.settings import Backend, Prices
from proxy.upstream.pricefeed import PriceFeed
from proxy.upstream.prices import PriceBook, PriceFileError, parse_price_file
from tests.conftest import ENVIRON, make_config_dict
from tests.servers import serve_app

HI = [{"role": "user", "content": "What is the capital of France?"}]
INTERVAL_S = 0.3


class PriceServer:
    """A local web server whose price file the test rewrites; counts the fetches."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.fetches = 0

    def app(self) -> Starlette:
        async def prices(request: Request) -> Response:
            self.fetches += 1
            return Response(self.body, media_type="application/json")

        return Starlette(routes=[Route("/prices.json", prices)])

    def publish(self, entries: dict[str, Any]) -> None:
        self.body = json.dumps({"sample_spec": {"input_cost_per_token": "a description"}, **entries}).encode()

    def wait_for_fetches(self, n: int) -> None:
        target = self.fetches + n
        deadline = time.monotonic() + 10
        while self.fetches < target:
            assert time.monotonic() < deadline, "the proxy stopped fetching the price file"
            time.sleep(0.02)


def entry(input_cost: float, output_cost: float) -> dict[str, Any]:
    return {"input_cost_per_token": input_cost, "output_cost_per_token": output_cost, "litellm_provider": "openai"}


@pytest.fixture(scope="module")
def price_server() -> Iterator[tuple[PriceServer, str]]:
    server = PriceServer()
    server.publish({"test-cheap": entry(1e-6, 2e-6), "gpt-4-1106-preview": entry(1.0, 1.0)})
    with serve_app(server.app()) as url:
        yield server, f"{url}/prices.json"


@pytest.fixture(scope="module")
def priced_proxy(
    sim_url: str, price_server: tuple[PriceServer, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    raw = make_config_dict(sim_url, tmp_path_factory.mktemp("prices") / "calls.db")
    for backend in raw["backend"]:
        if backend["name"] == "cheap":  # priced by the feed, not by the config
            del backend["input_cost_per_token"], backend["output_cost_per_token"]
            backend["price_key"] = "test-cheap"
    raw["prices"] = {"refresh_url": price_server[1], "refresh_interval_s": INTERVAL_S}
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        yield url


def route_costs(url: str) -> dict[str, float]:
    body = {"model": "router", "messages": HI}
    ranking = httpx.post(f"{url}/v1/route", json=body, timeout=10).json()
    return {c["name"]: c["cost_usd"] for c in ranking["candidates"]}


def model_prices(url: str) -> dict[str, dict[str, Any]]:
    data = httpx.get(f"{url}/v1/models", timeout=10).json()["data"]
    return {m["id"]: m["switchyard"]["prices"] for m in data if m["switchyard"]["kind"] == "backend"}


def wait_until(check: Callable[[], bool], within_s: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, f"not within {within_s}s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_routing_costs_follow_the_price_file_without_a_restart(
    priced_proxy: str, price_server: tuple[PriceServer, str]
) -> None:
    server, _ = price_server
    server.publish({"test-cheap": entry(1e-6, 2e-6), "gpt-4-1106-preview": entry(1.0, 1.0)})
    wait_until(lambda: model_prices(priced_proxy)["cheap"]["input_per_token"] == 1e-6, within_s=5)
    before = route_costs(priced_proxy)
    listed = model_prices(priced_proxy)
    assert listed["cheap"] == {
        "input_per_token": 1e-6,
        "output_per_token": 2e-6,
        "per_second": 0.0,
        "per_call": 0.0,
        "source": "refresh",
    }
    refreshed_at = httpx.get(f"{priced_proxy}/v1/models", timeout=10).json()["data"][0]["switchyard"]
    assert refreshed_at["prices_refreshed_at"] > time.time() - 60
    # Prices set in the config win over the file's (which would make "strong" cost dollars a token).
    assert listed["strong"]["source"] == "config" and listed["strong"]["input_per_token"] == 1e-5

    server.publish({"test-cheap": entry(1e-5, 2e-5), "gpt-4-1106-preview": entry(1.0, 1.0)})
    took = wait_until(lambda: route_costs(priced_proxy)["cheap"] != before["cheap"], within_s=INTERVAL_S + 1.5)
    after = route_costs(priced_proxy)
    assert after["cheap"] == pytest.approx(10 * before["cheap"], rel=1e-9)
    assert after["strong"] == before["strong"]
    assert took <= INTERVAL_S + 1.5


@pytest.mark.parametrize(
    "body",
    [
        b'{"test-cheap": {"input_cost_per_token": 5e-6,',  # cut short
        b"[1, 2, 3]",
        json.dumps({"test-cheap": {"input_cost_per_token": "free", "output_cost_per_token": 1e-6}}).encode(),
        json.dumps({"test-cheap": {"input_cost_per_token": -1e-6}}).encode(),
        json.dumps({"test-cheap": {"max_tokens": 4096}}).encode(),
    ],
    ids=["truncated", "not-an-object", "string-price", "negative-price", "no-price"],
)
def test_an_invalid_price_file_changes_nothing(
    priced_proxy: str, price_server: tuple[PriceServer, str], body: bytes
) -> None:
    server, _ = price_server
    server.publish({"test-cheap": entry(3e-6, 3e-6)})
    wait_until(lambda: model_prices(priced_proxy)["cheap"]["input_per_token"] == 3e-6, within_s=5)
    before_costs, before_prices = route_costs(priced_proxy), model_prices(priced_proxy)
    server.body = body
    server.wait_for_fetches(2)  # at least one whole refresh of the bad file has run
    assert route_costs(priced_proxy) == before_costs
    assert model_prices(priced_proxy) == before_prices


def test_the_price_file_format_is_litellms() -> None:
    entries = parse_price_file(json.dumps({"sample_spec": {"input_cost_per_token": 0.0}, "m": entry(1, 2)}).encode())
    assert list(entries) == ["m"]
    with pytest.raises(PriceFileError, match="not JSON"):
        parse_price_file(b"<html>")
    with pytest.raises(PriceFileError, match="nested too deeply"):
        parse_price_file(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(PriceFileError, match="not UTF-8"):
        parse_price_file(b'{"m\xc3\x28": {}}')


def book() -> PriceBook:
    return PriceBook(
        [
            Backend("configured", "openai/a", prices=Prices(1.0, 1.0, source="config")),
            Backend("mapped", "openai/b", prices=Prices(2.0, 2.0, source="litellm")),
            Backend("keyed", "openai/c", price_key="c-key", prices=Prices(source="none")),
        ]
    )


def test_the_book_reprices_all_or_nothing() -> None:
    prices = book()
    changed = prices.apply({"a": entry(9, 9), "b": entry(3, 4), "c-key": {"output_cost_per_second": 0.5}})
    assert set(changed) == {"mapped", "keyed"}
    assert prices.backend("configured").prices == Prices(1.0, 1.0, source="config")  # type: ignore[union-attr]
    assert prices.backend("mapped").prices == Prices(3.0, 4.0, source="refresh")  # type: ignore[union-attr]
    assert prices.backend("keyed").prices == Prices(per_second=0.5, source="refresh")  # type: ignore[union-attr]
    table = prices.table()
    with pytest.raises(PriceFileError, match="'c-key'"):
        prices.apply({"b": entry(7, 7), "c-key": {"input_cost_per_token": float("nan")}})
    assert prices.table() is table  # nothing swapped, not even the valid entry for "mapped"
    prices.apply({"unrelated": entry(1, 1)})
    assert prices.backend("mapped").prices == Prices(3.0, 4.0, source="refresh")  # type: ignore[union-attr]


async def test_an_unreachable_url_keeps_the_prices_and_warns_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    prices = book()
    table = prices.table()
    url = "http://robot:hunter2-pw@127.0.0.1:9/prices.json?token=s3cret-token#frag"
    feed = PriceFeed(prices, url, interval_s=3600)
    await feed.start()
    try:
        with caplog.at_level(logging.WARNING, logger="proxy.upstream.pricefeed"):
            assert await feed.refresh() is False
    finally:
        await feed.aclose()
    assert prices.table() is table and feed.failures >= 1
    warning = caplog.text
    assert "http://127.0.0.1:9/prices.json" in warning and "keeping the current prices" in warning
    for secret in ("hunter2-pw", "robot", "s3cret-token", "frag"):
        assert secret not in warning


async def test_a_local_file_in_the_same_format_works(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"b": entry(5, 6)}))
    prices = book()
    assert await PriceFeed(prices, str(path), interval_s=3600).refresh() is True
    assert prices.backend("mapped").prices == Prices(5.0, 6.0, source="refresh")  # type: ignore[union-attr]
    path.write_text("{oops")
    assert await PriceFeed(prices, f"file://{path}", interval_s=3600).refresh() is False
    assert prices.backend("mapped").prices == Prices(5.0, 6.0, source="refresh")  # type: ignore[union-attr]

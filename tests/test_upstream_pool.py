"""Each backend's connection pool, against a small local upstream that counts the calls it holds at once.

aiohttp's default pool (100 connections) used to cap the calls in flight to one upstream; the cap is now
`max_connections` per backend (default 1000), and the wait for a free connection is not charged to the
backend's time-to-first-token limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy import config as config_mod
from proxy.config import ConfigError
from proxy.http.app import create_app
from tests.servers import serve_app

TRANSPORTS = ("direct", "litellm")
HI = [{"role": "user", "content": "hi"}]


def _chunk(delta: dict[str, Any], finish: str | None = None, model: str = "held") -> bytes:
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


COMPLETION = json.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "held",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


class HoldingUpstream:
    """An OpenAI-compatible upstream that holds each call until `gather` calls are in at once (at most
    `patience_s`), and keeps a stream open for `hold_s` after its first chunk. `most` is the largest
    number of calls it held at once."""

    def __init__(self, *, gather: int = 1, hold_s: float = 0.0, patience_s: float = 10.0, model: str = "held") -> None:
        self.gather, self.hold_s, self.patience_s, self.model = gather, hold_s, patience_s, model
        self.in_flight = self.most = 0
        self._all_in: asyncio.Event | None = None  # made in the server's own event loop

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if self._all_in is None:
            self._all_in = asyncio.Event()
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            if self.in_flight >= self.gather:
                self._all_in.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.patience_s):
                    await self._all_in.wait()
            await self._answer(json.loads(body).get("stream", False), send)
        finally:
            self.in_flight -= 1

    async def _answer(self, stream: bool, send: Any) -> None:
        kind = b"text/event-stream" if stream else b"application/json"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
        if not stream:
            await send({"type": "http.response.body", "body": COMPLETION})
            return
        first = _chunk({"role": "assistant", "content": "o"}, model=self.model)
        await send({"type": "http.response.body", "body": first, "more_body": True})
        await asyncio.sleep(self.hold_s)  # the stream stays open, as a long answer's would
        last = _chunk({"content": "k"}, "stop", self.model) + b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": last})


@contextlib.contextmanager
def proxy_for(upstream: HoldingUpstream, tmp_path: Path, transport: str, **backend: Any) -> Iterator[str]:
    with serve_app(upstream) as upstream_url:
        raw = {
            "models_dir": str(tmp_path / "no-models"),
            "log": {"path": str(tmp_path / "calls.db")},
            "reliability": {"retry_attempts": 1},
            "backend": [
                {"name": "held", "model": "openai/held", "api_base": f"{upstream_url}/v1", "transport": transport}
                | backend
            ],
        }
        with serve_app(create_app(config_mod.parse(raw, environ={}), environ={})) as url:
            yield url


def test_more_than_a_hundred_calls_reach_one_upstream_at_once(tmp_path: Path) -> None:
    # The direct transport only: litellm's takes its session from the same place, and 120 calls through
    # litellm cost some 20 s of CPU here.
    calls = 120
    upstream = HoldingUpstream(gather=calls)

    async def run(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=calls)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            body = {"model": "held", "messages": HI}
            answers = await asyncio.gather(*(client.post("/v1/chat/completions", json=body) for _ in range(calls)))
        return [a.status_code for a in answers]

    with proxy_for(upstream, tmp_path, "direct") as url:
        statuses = asyncio.run(run(url))
    assert statuses == [200] * calls
    assert upstream.most == calls


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_wait_for_a_free_connection_is_not_charged_to_the_first_token_limit(tmp_path: Path, transport: str) -> None:
    upstream = HoldingUpstream(hold_s=1.5)  # each stream keeps the one connection longer than ttft_timeout_s
    body = {"model": "held", "messages": HI, "stream": True}

    async def run(url: str) -> list[str]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            warm = await client.post("/v1/chat/completions", json={**body, "stream": False})  # litellm's first call
            assert warm.status_code == 200, warm.text  # is slow, and not what this test times
            async with client.stream("POST", "/v1/chat/completions", json=body) as first:
                lines = first.aiter_lines()
                assert (await anext(lines)).startswith("data: {")  # it holds the backend's only connection now
                second = asyncio.ensure_future(client.post("/v1/chat/completions", json=body))
                rest = [line async for line in lines if line]
            answer = await second
        assert answer.status_code == 200, answer.text
        return [rest[-1], answer.text.strip().splitlines()[-1]]

    with proxy_for(upstream, tmp_path, transport, max_connections=1, ttft_timeout_s=0.5) as url:
        ends = asyncio.run(run(url))
    assert ends == ["data: [DONE]", "data: [DONE]"]
    assert upstream.most == 1


@pytest.mark.parametrize("upstream_model", ["held", "Held-1.0"])
def test_chunks_name_the_backend_and_are_relayed_as_sent_when_they_already_do(
    tmp_path: Path, upstream_model: str
) -> None:
    body = {"model": "held", "messages": HI, "stream": True}
    with proxy_for(HoldingUpstream(model=upstream_model), tmp_path, "direct") as url:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=30) as response:
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: {")]
    assert len(events) == 2 and all(json.loads(e)["model"] == "held" for e in events)
    # json.dumps' spacing is kept only where the chunk was relayed as sent, not parsed and written again
    relayed_as_sent = all('"object": "chat.completion.chunk"' in e for e in events)
    assert relayed_as_sent == (upstream_model == "held")


@pytest.mark.parametrize("size", [0, -1, 1.5, "many"])
def test_max_connections_must_be_a_positive_integer(size: Any) -> None:
    raw = {"backend": [{"name": "b", "model": "openai/x", "max_connections": size}]}
    with pytest.raises(ConfigError, match="max_connections"):
        config_mod.parse(raw, environ={})

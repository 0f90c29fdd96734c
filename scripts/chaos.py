"""Chaos run: routed traffic while one backend always fails and another fails 30% of the time.

Usage: .venv/bin/python -m scripts.chaos [--requests 10000] [--concurrency 32] [--stream-share 0.3]

Three simulated backends are candidates of the `router` alias: `dead` answers every request with a 500,
`flaky` fails 30% of requests at random (half 503s, half stalls past its timeout) and `steady` works.
Afterwards every request id is looked up in the log: exactly one row each, with the fallbacks it went
through. Prints success rate, latency percentiles and the log check; exits non-zero if under the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from scripts.harness import backend, sim_fault, stack

PROMPT = [{"role": "user", "content": "Name three prime numbers."}]


def make_config(sim_url: str, db: Path) -> dict[str, Any]:
    # A stall past 1 s without a first token is a failure to fall back from; a whole call may take 30 s, so a
    # busy machine (the load generator shares the two cores with the proxy) does not cut answers short.
    fast = {
        "accuracy": 0.9,
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 1e-6,
        "ttft_timeout_s": 1.0,
        "timeout_s": 30.0,
    }
    return {
        "log": {"path": str(db)},
        # Retries stay short so a request's fallbacks fit well inside the deadline.
        "reliability": {
            "retry_attempts": 2,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.1,
            "deadline_s": 40,
            "breaker_failures": 5,
            "breaker_cooldown_s": 2,
        },
        "server": {"max_in_flight": 4096},
        "backend": [
            backend("dead", "gpt-3.5-turbo-1106", sim_url, **{**fast, "input_cost_per_token": 1e-7}),
            backend("flaky", "mixtral-8x7b", sim_url, **{**fast, "input_cost_per_token": 5e-7}),
            backend("steady", "gpt-4-1106-preview", sim_url, **fast),
        ],
        "alias": [{"name": "router", "candidates": ["dead", "flaky", "steady"], "min_acceptability": 0.5}],
    }


async def one(http: httpx.AsyncClient, i: int, stream: bool) -> tuple[int, str | None, float]:
    started = time.perf_counter()
    body = {"model": "router", "messages": PROMPT, "stream": stream, "max_tokens": 30}
    try:
        if stream:
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                text = "".join([chunk async for chunk in response.aiter_text()])
                ok = response.status_code == 200 and text.rstrip().endswith("data: [DONE]")
                status = response.status_code if ok else (599 if response.status_code == 200 else response.status_code)
                return status, response.headers.get("x-router-request-id"), time.perf_counter() - started
        response = await http.post("/v1/chat/completions", json=body)
        return response.status_code, response.headers.get("x-router-request-id"), time.perf_counter() - started
    except httpx.HTTPError:
        return 0, None, time.perf_counter() - started


async def drive(url: str, requests: int, concurrency: int, stream_share: float) -> list[tuple[int, str | None, float]]:
    results: list[tuple[int, str | None, float]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            results.append(await one(http, i, stream=(i % 100) < stream_share * 100))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return results


def check_log(db: Path, ids: list[str], expected: int, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        with sqlite3.connect(db) as conn:
            total = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        if total >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, backend, status, attempts_json FROM calls").fetchall()
    per_id = Counter(r[0] for r in rows)
    fell_back = sum(1 for r in rows if any(a["backend"] != r[1] for a in json.loads(r[3] or "[]")))
    return {
        "rows": len(rows),
        "requests_with_id": len(ids),
        "ids_missing_from_log": sum(1 for i in ids if per_id[i] == 0),
        "ids_logged_more_than_once": sum(1 for n in per_id.values() if n > 1),
        "rows_recording_fallbacks": fell_back,
        "answered_by": dict(Counter(r[1] for r in rows if r[2] == 200)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stream-share", type=float, default=0.3)
    parser.add_argument("--target", type=float, default=0.999, help="minimum success rate")
    args = parser.parse_args(argv)
    with stack(make_config) as s:
        sim_fault(s.sim_url, "gpt-3.5-turbo-1106", {"status": 500}, rate=1.0)
        sim_fault(s.sim_url, "mixtral-8x7b", {"status": 503}, rate=0.15)
        sim_fault(s.sim_url, "mixtral-8x7b", {"ttft_s": 3.0}, rate=0.15 / 0.85)  # of the rest: 15% overall
        started = time.perf_counter()
        results = asyncio.run(drive(s.proxy_url, args.requests, args.concurrency, args.stream_share))
        elapsed = time.perf_counter() - started
        ids = [r[1] for r in results if r[1]]
        log = check_log(s.db_path, ids, len(results))
    statuses = Counter(r[0] for r in results)
    ok = statuses[200] / len(results)
    latencies = sorted(r[2] for r in results)
    report = {
        "requests": len(results),
        "success_rate": round(ok, 5),
        "statuses": dict(statuses),
        "seconds": round(elapsed, 1),
        "latency_p50_s": round(statistics.median(latencies), 4),
        "latency_p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 4),
        "log": log,
    }
    print(json.dumps(report, indent=2))
    exact_log = log["ids_missing_from_log"] == 0 and log["ids_logged_more_than_once"] == 0 and log["rows"] == len(ids)
    return 0 if ok >= args.target and exact_log else 1


if __name__ == "__main__":
    sys.exit(main())

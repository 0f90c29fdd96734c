"""Chaos run: routed traffic while one backend is down and another fails 30% of the time in every way real
upstreams do.

Usage: .venv/bin/python -m scripts.chaos [--requests 10000] [--concurrency 32] [--stream-share 0.3]

Three backends are candidates of the `router` alias: `dead` points at a closed port (every connection is
refused), `flaky` (a simulated backend) fails 30% of requests, split evenly over the kinds in FLAKY_FAULTS,
and `steady` works. A failure that reached the client before any of the answer did (an error status, or a
stream that ended before its first good chunk) is one the proxy could have avoided by falling back, since
`steady` was always there: there must be none. A stream cut after bytes were sent cannot be taken back; those
are counted apart. Afterwards every request id is looked up in the log: exactly one row each. Prints the
report as JSON; exits non-zero on an avoidable failure, a non-streamed success rate under the target, or a
log that does not match the calls.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from scripts.harness import backend, free_port, sim_fault, stack

PROMPT = [{"role": "user", "content": "Name three prime numbers."}]
FAULT_RATE = 0.3
TTFT_TIMEOUT_S = 1.0
IDLE_TIMEOUT_S = 1.0
# What a faulty upstream does, each an equal share of FAULT_RATE. For a non-streamed call every kind fails
# before the client sees a byte (a stall or a slow first token only makes it slow); for a stream the last three
# fail after the first chunk was relayed.
FLAKY_FAULTS: dict[str, dict[str, Any]] = {
    "status_503": {"status": 503},
    "status_429_retry_after": {"status": 429, "retry_after": 1},
    "reset_before_first_byte": {"disconnect_after_chunks": 0},
    "slow_first_token": {"ttft_s": 3 * TTFT_TIMEOUT_S},
    "reset_after_first_byte": {"disconnect_after_chunks": 3},
    "stall_mid_stream": {"stall_after_chunks": 2, "stall_s": 3 * IDLE_TIMEOUT_S},
    "malformed_sse": {"malformed_after_chunks": 2},
}


def make_config(sim_url: str, db: Path) -> dict[str, Any]:
    # No first token within 1 s, or 1 s of silence mid-stream, is a failure; a whole call may take 30 s, so a
    # busy machine (the load generator shares the two cores with the proxy) does not cut answers short.
    fast = {
        "accuracy": 0.9,
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 1e-6,
        "ttft_timeout_s": TTFT_TIMEOUT_S,
        "idle_timeout_s": IDLE_TIMEOUT_S,
        "timeout_s": 30.0,
    }
    dead = backend("dead", "gpt-3.5-turbo-1106", sim_url, **{**fast, "input_cost_per_token": 1e-7})
    dead["api_base"] = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: connections are refused
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
            dead,
            backend("flaky", "mixtral-8x7b", sim_url, **{**fast, "input_cost_per_token": 5e-7}),
            backend("steady", "gpt-4-1106-preview", sim_url, **fast),
        ],
        "alias": [{"name": "router", "candidates": ["dead", "flaky", "steady"], "min_acceptability": 0.5}],
    }


def inject_faults(sim_url: str) -> None:
    """Each kind an equal share of FAULT_RATE. The simulator tries standing faults in order, each at its own
    rate, so each rate is its share of what the earlier ones left."""
    share, left = FAULT_RATE / len(FLAKY_FAULTS), 1.0
    for fault in FLAKY_FAULTS.values():
        sim_fault(sim_url, "mixtral-8x7b", fault, rate=share / left)
        left -= share


@dataclass(frozen=True)
class Outcome:
    stream: bool
    status: int  # HTTP status; 0 when the connection failed before one arrived
    request_id: str | None
    seconds: float
    chunks: int = 0  # good stream chunks received before the end
    complete: bool = False  # the answer arrived whole: a JSON body, or a stream ending in [DONE] with no error
    detail: str = ""

    @property
    def failed_before_first_byte(self) -> bool:
        """Nothing of the answer reached the client: the proxy could still have tried another backend."""
        return not self.complete and self.chunks == 0


async def one(http: httpx.AsyncClient, stream: bool) -> Outcome:
    started = time.perf_counter()
    body = {"model": "router", "messages": PROMPT, "stream": stream, "max_tokens": 30}
    status, request_id, chunks, done, error = 0, None, 0, False, ""
    try:
        if stream:
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                status, request_id = response.status_code, response.headers.get("x-router-request-id")
                if status != 200:
                    error = (await response.aread()).decode("utf-8", "replace")[:200]
                else:
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line.removeprefix("data:").strip()
                        if data == "[DONE]":
                            done = True
                            continue
                        event = json.loads(data)
                        if "error" in event:
                            error = str(event["error"].get("message", ""))[:200]
                        else:
                            chunks += 1
            complete = status == 200 and done and not error
        else:
            response = await http.post("/v1/chat/completions", json=body)
            status, request_id = response.status_code, response.headers.get("x-router-request-id")
            complete = status == 200
            error = "" if complete else response.text[:200]
    except (httpx.HTTPError, ValueError) as exc:
        complete, error = False, f"{type(exc).__name__}: {exc}"[:200]
    return Outcome(stream, status, request_id, time.perf_counter() - started, chunks, complete, error)


async def drive(url: str, requests: int, concurrency: int, stream_share: float) -> list[Outcome]:
    results: list[Outcome] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            results.append(await one(http, stream=(i % 100) < stream_share * 100))

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
    attempts = [(r, json.loads(r[3] or "[]")) for r in rows]
    failed_attempts = Counter(
        f"{a['backend']} {a.get('status', a.get('skipped', 'failed'))}"
        for _, tries in attempts
        for a in tries
        if a.get("error") or a.get("skipped")
    )
    return {
        "rows": len(rows),
        "requests_with_id": len(ids),
        "ids_missing_from_log": sum(1 for i in ids if per_id[i] == 0),
        "ids_logged_more_than_once": sum(1 for n in per_id.values() if n > 1),
        "rows_recording_fallbacks": sum(1 for r, tries in attempts if any(a["backend"] != r[1] for a in tries)),
        "answered_by": dict(Counter(r[1] for r in rows if r[2] == 200)),
        "failed_or_skipped_attempts": dict(failed_attempts.most_common()),
    }


def rate(part: int, whole: int) -> float:
    return round(part / whole, 5) if whole else 1.0


def summarise(results: list[Outcome], elapsed: float, log: dict[str, Any]) -> dict[str, Any]:
    whole = [r for r in results if not r.stream]
    streams = [r for r in results if r.stream]
    avoidable = [r for r in results if r.failed_before_first_byte]
    cut = [r for r in results if not r.complete and not r.failed_before_first_byte]
    latencies = sorted(r.seconds for r in results)
    return {
        "requests": len(results),
        "success_rate": rate(sum(r.complete for r in results), len(results)),
        "non_streamed": {"calls": len(whole), "success_rate": rate(sum(r.complete for r in whole), len(whole))},
        "streamed": {
            "calls": len(streams),
            "success_rate": rate(sum(r.complete for r in streams), len(streams)),
            "cut_after_first_byte": sum(1 for r in cut if r.stream),
        },
        "avoidable_failures": len(avoidable),
        "avoidable_examples": [
            {"stream": r.stream, "status": r.status, "request_id": r.request_id, "detail": r.detail}
            for r in avoidable[:5]
        ],
        "unavoidable_failures": len(cut),
        "unavoidable_examples": sorted(Counter(r.detail for r in cut).items(), key=lambda kv: -kv[1])[:5],
        "statuses": dict(Counter(r.status for r in results)),
        "faults": {"backend": "flaky", "rate": FAULT_RATE, "kinds": list(FLAKY_FAULTS)},
        "seconds": round(elapsed, 1),
        "latency_p50_s": round(statistics.median(latencies), 4),
        "latency_p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 4),
        "log": log,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stream-share", type=float, default=0.3)
    parser.add_argument("--target", type=float, default=0.999, help="minimum non-streamed success rate")
    args = parser.parse_args(argv)
    with stack(make_config) as s:
        inject_faults(s.sim_url)
        started = time.perf_counter()
        results = asyncio.run(drive(s.proxy_url, args.requests, args.concurrency, args.stream_share))
        elapsed = time.perf_counter() - started
        ids = [r.request_id for r in results if r.request_id]
        log = check_log(s.db_path, ids, len(results))
    report = summarise(results, elapsed, log)
    print(json.dumps(report, indent=2))
    exact_log = log["ids_missing_from_log"] == 0 and log["ids_logged_more_than_once"] == 0 and log["rows"] == len(ids)
    passed = report["avoidable_failures"] == 0 and report["non_streamed"]["success_rate"] >= args.target
    return 0 if passed and exact_log else 1


if __name__ == "__main__":
    sys.exit(main())

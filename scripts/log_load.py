"""The log under load: one row per request whatever happens to it, and what logging costs in throughput.

Usage:
  .venv/bin/python -m scripts.log_load rows [--requests 10000] [--concurrency 64]
  .venv/bin/python -m scripts.log_load throughput [--seconds 10] [--rounds 3] [--concurrency 64]

`rows`: against the simulated backends, a mix of twenty kinds of request in turn: routed and whole (10 of
20), routed and streamed (6), named to a backend that always fails, whole (1) and streamed (1), streamed
and dropped by the client after its first chunk (1, to a backend that stalls after one chunk), whole and
abandoned by the client after 0.3 s (1, to a backend that answers after 2 s). Then the log must hold
exactly one row per request sent: every request id the client saw, once, and as many rows as requests;
the cancelled calls are rows with status 499. Exits non-zero otherwise.

`throughput`: routed whole calls (10 candidates) at the given concurrency against the zero-latency plain
upstream, with `[log] enabled = true` and `false`, alternating for `--rounds` rounds; the proxy is
pinned to CPU 1 and the load generator to CPU 0 (`scripts/bench.py` harness). Reports requests/s of
each round, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from scripts.bench import measure
from scripts.bench_targets import process, switchyard_config
from scripts.harness import backend, free_port, sim_fault, stack, to_toml

PROMPT = [{"role": "user", "content": "Name three prime numbers."}]
KINDS = ["routed"] * 10 + ["routed-stream"] * 6 + ["failed", "failed-stream", "cancel-stream", "cancel-whole"]


def make_config(sim_url: str, db: Path) -> dict[str, Any]:
    fields = {"accuracy": 0.9, "input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6, "timeout_s": 30.0}
    return {
        "log": {"path": str(db)},
        "reliability": {"retry_attempts": 1, "backoff_base_s": 0.01, "breaker_failures": 1_000_000},
        "server": {"max_in_flight": 4096},
        "backend": [
            backend("a", "gpt-4-1106-preview", sim_url, **fields),
            backend("b", "mixtral-8x7b", sim_url, **fields),
            backend("broken", "gpt-3.5-turbo-1106", sim_url, **fields),
            backend("slow", "claude-instant-v1", sim_url, **fields),
            backend("stalling", "WizardLM-13B", sim_url, **fields),
        ],
        "alias": [{"name": "router", "candidates": ["a", "b"], "min_acceptability": 0.5}],
    }


async def one(http: httpx.AsyncClient, kind: str) -> tuple[str, int, str | None]:
    """(kind, status the client saw or 0 when it gave up, request id if it saw one)."""
    model = {"failed": "broken", "failed-stream": "broken", "cancel-whole": "slow", "cancel-stream": "stalling"}.get(
        kind, "router"
    )
    stream = kind.endswith("stream")
    body = {"model": model, "messages": PROMPT, "stream": stream, "max_tokens": 30}
    try:
        if stream:
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                rid = response.headers.get("x-router-request-id")
                async for _ in response.aiter_bytes():
                    if kind == "cancel-stream":
                        return kind, 0, rid  # leaving the block closes the connection mid-stream
                return kind, response.status_code, rid
        timeout = 0.3 if kind == "cancel-whole" else 60.0
        response = await http.post("/v1/chat/completions", json=body, timeout=timeout)
        return kind, response.status_code, response.headers.get("x-router-request-id")
    except httpx.TimeoutException:
        return kind, 0, None


async def drive(url: str, requests: int, concurrency: int) -> list[tuple[str, int, str | None]]:
    todo = iter(range(requests))
    results: list[tuple[str, int, str | None]] = []

    async def worker(http: httpx.AsyncClient) -> None:
        for i in todo:
            results.append(await one(http, KINDS[i % len(KINDS)]))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return results


def logged(db: Path, expected: int, timeout_s: float = 60) -> list[tuple[str, int]]:
    """The (id, status) rows, once there are `expected` of them or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT id, status FROM calls").fetchall()
        if len(rows) >= expected or time.monotonic() > deadline:
            return [(str(i), int(s)) for i, s in rows]
        time.sleep(0.2)


def rows_check(requests: int, concurrency: int) -> dict[str, Any]:
    with stack(make_config) as s:
        sim_fault(s.sim_url, "gpt-3.5-turbo-1106", {"status": 500}, rate=1.0)
        sim_fault(s.sim_url, "claude-instant-v1", {"delay_s": 2.0}, rate=1.0)
        sim_fault(s.sim_url, "WizardLM-13B", {"stall_after_chunks": 1, "stall_s": 5.0}, rate=1.0)
        started = time.perf_counter()
        results = asyncio.run(drive(s.proxy_url, requests, concurrency))
        elapsed = time.perf_counter() - started
        rows = logged(s.db_path, len(results))
    per_id = Counter(i for i, _ in rows)
    ids = [r[2] for r in results if r[2]]
    by_kind = Counter((k, status) for k, status, _ in results)
    report = {
        "requests": len(results),
        "seconds": round(elapsed, 1),
        "client_saw": {f"{k} {s}": n for (k, s), n in sorted(by_kind.items())},
        "rows": len(rows),
        "ids_seen_by_client": len(ids),
        "ids_missing_from_log": sum(1 for i in ids if per_id[i] == 0),
        "ids_logged_more_than_once": sum(1 for n in per_id.values() if n > 1),
        "logged_status": dict(sorted(Counter(str(s) for _, s in rows).items())),
    }
    report["exactly_one_row_per_request"] = (
        report["rows"] == len(results)
        and report["ids_missing_from_log"] == 0
        and not report["ids_logged_more_than_once"]
    )
    return report


@contextmanager
def _proxy(up_url: str, work: Path, enabled: bool) -> Iterator[tuple[str, int]]:
    port = free_port()
    raw = switchyard_config(up_url, work / f"calls-{enabled}.db", port)
    raw["log"]["enabled"] = enabled
    config = work / f"switchyard-log-{enabled}.toml"
    config.write_text(to_toml(raw))
    cmd = [sys.executable, "-m", "proxy", "--config", str(config), "--log-level", "warning"]
    with process(cmd, f"http://127.0.0.1:{port}/ready", work / f"switchyard-log-{enabled}.log", cpu=1) as proc:
        yield f"http://127.0.0.1:{port}", proc.pid


def throughput(seconds: float, rounds: int, concurrency: int) -> dict[str, Any]:
    os.sched_setaffinity(0, {0})
    work = Path(tempfile.mkdtemp(prefix="switchyard-logload-"))
    up_port = free_port()
    up_url = f"http://127.0.0.1:{up_port}"
    rps: dict[str, list[float]] = {"on": [], "off": []}
    cmd = [sys.executable, "-m", "scripts.plain_upstream", "--port", str(up_port)]
    with process(cmd, f"{up_url}/health", work / "upstream.log", cpu=0):
        for _ in range(rounds):
            for label, enabled in (("on", True), ("off", False)):
                with _proxy(up_url, work, enabled) as (url, pid):
                    r = measure(f"log-{label}", "plain", "routed", url, "router", False, concurrency, seconds, pid)
                    rps[label].append(round(r.rps, 1))
    on, off = statistics.median(rps["on"]), statistics.median(rps["off"])
    return {
        "concurrency": concurrency,
        "seconds_per_round": seconds,
        "rps_logging_on": rps["on"],
        "rps_logging_off": rps["off"],
        "median_on": on,
        "median_off": off,
        "on_over_off": round(on / off, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    rows = sub.add_parser("rows")
    rows.add_argument("--requests", type=int, default=10_000)
    rows.add_argument("--concurrency", type=int, default=64)
    tp = sub.add_parser("throughput")
    tp.add_argument("--seconds", type=float, default=10)
    tp.add_argument("--rounds", type=int, default=3)
    tp.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    if args.what == "rows":
        report = rows_check(args.requests, args.concurrency)
        print(json.dumps(report, indent=2))
        return 0 if report["exactly_one_row_per_request"] else 1
    print(json.dumps(throughput(args.seconds, args.rounds, args.concurrency), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

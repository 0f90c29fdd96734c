"""The proxy CPU each API dialect costs over chat: the same routed call sent as a chat completion, a legacy
completion, an Anthropic Message and a Responses API request, streamed and not.

Usage: .venv/bin/python -m scripts.bench_dialects [--seconds 5] [--concurrency 16] [--rounds 3] [--native] [--json FILE]

Against the zero-latency plain upstream (`scripts.plain_upstream`), the proxy pinned to CPU 1 as in
scripts/bench.py. Each round measures every dialect once, in turn, so drift over the run falls on all
alike; the figures are the median over rounds of proxy CPU per request and of each dialect's extra CPU over
chat's in the same round, judged against the 0.5 ms budget (issue #17).

With --native the backends speak the request's own API (`api = "anthropic"`, then `api = "responses"`), so
Messages and Responses calls are passed through (proxy/upstream/native.py) rather than translated; each is set
against chat calls to the same proxy in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from scripts.bench_targets import cpu_seconds, process, start_switchyard
from scripts.harness import free_port

ASK = "Give me one short sentence about the sea."
MESSAGES = [{"role": "user", "content": ASK}]
BUDGET_MS = 0.5

# dialect -> the `api` setting of a backend that speaks it (--native)
NATIVE = {"messages": "anthropic", "responses": "responses"}
# dialect -> (path, body, how a complete stream ends)
CALLS: dict[str, tuple[str, dict[str, Any], bytes]] = {
    "chat": ("/v1/chat/completions", {"model": "router", "messages": MESSAGES, "max_tokens": 16}, b"[DONE]"),
    "completions": ("/v1/completions", {"model": "router", "prompt": ASK, "max_tokens": 16}, b"[DONE]"),
    "messages": ("/v1/messages", {"model": "router", "messages": MESSAGES, "max_tokens": 16}, b"message_stop"),
    "responses": ("/v1/responses", {"model": "router", "input": ASK, "max_output_tokens": 16}, b"response.completed"),
}


async def load(url: str, dialect: str, stream: bool, concurrency: int, seconds: float) -> tuple[int, int]:
    """Closed-loop load; returns (requests sent, errors)."""
    path, body, end = CALLS[dialect]
    body = {**body, "stream": stream}
    sent = errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal sent, errors
            while time.perf_counter() < deadline:
                sent += 1
                try:
                    async with http.post(url + path, json=body) as response:
                        payload = await response.read()
                        ok = response.status == 200 and (not stream or end in payload[-4000:])
                except aiohttp.ClientError:
                    ok = False
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent, errors


def cpu_ms_per_request(url: str, pid: int, dialect: str, stream: bool, concurrency: int, seconds: float) -> float:
    asyncio.run(load(url, dialect, stream, concurrency, min(1.0, seconds / 5)))  # warm-up
    cpu0 = cpu_seconds(pid)
    sent, errors = asyncio.run(load(url, dialect, stream, concurrency, seconds))
    if errors:
        raise SystemExit(f"{dialect} (stream={stream}): {errors} of {sent} requests failed")
    return (cpu_seconds(pid) - cpu0) * 1000 / max(1, sent)


def compare(samples: dict[tuple[str, bool], list[float]], api: str | None) -> list[dict[str, Any]]:
    """Each dialect's median CPU per request and its extra over chat's, paired round by round (drift over the
    run, other load on the machine, cancels); printed as they come."""
    rows = []
    for (dialect, stream), values in samples.items():
        ms = statistics.median(values)
        extra = statistics.median(v - c for v, c in zip(values, samples[("chat", stream)], strict=True))
        name = dialect if api is None else f"{dialect} [api={api}]"
        rows.append(
            {
                "dialect": name,
                "stream": stream,
                "cpu_ms_per_request": ms,
                "extra_ms_over_chat": extra,
                "samples_ms": values,
            }
        )
        verdict = "" if dialect == "chat" else f"  extra {extra:+.3f} ms {'ok' if extra <= BUDGET_MS else 'OVER'}"
        print(f"{name:28} stream={stream!s:5} {ms:.3f} ms CPU/request{verdict}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--native", action="store_true", help="backends that speak Messages / Responses: pass-through")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {0})  # the load generator stays off the proxy's core
    work = Path(tempfile.mkdtemp(prefix="switchyard-bench-dialects-"))
    up_port = free_port()
    up_url = f"http://127.0.0.1:{up_port}"
    upstream = [sys.executable, "-m", "scripts.plain_upstream", "--port", str(up_port)]
    # (the backends' api setting, the dialects measured against it); chat is in each: the others are set against it
    setups = [(api, ("chat", d)) for d, api in NATIVE.items()] if args.native else [(None, tuple(CALLS))]
    rows: list[dict[str, Any]] = []
    with process(upstream, f"{up_url}/health", work / "plain.log", cpu=0):
        for api, dialects in setups:
            samples: dict[tuple[str, bool], list[float]] = {(d, s): [] for s in (False, True) for d in dialects}
            with start_switchyard(up_url, work, f"plain-{api or 'chat'}", False, api=api) as (url, pid, _):
                for _ in range(args.rounds):
                    for dialect, stream in samples:
                        ms = cpu_ms_per_request(url, pid, dialect, stream, args.concurrency, args.seconds)
                        samples[(dialect, stream)].append(ms)
            rows += compare(samples, api)
    ok = all(r["extra_ms_over_chat"] <= BUDGET_MS for r in rows)
    print(f"every dialect within {BUDGET_MS} ms of chat's CPU: {'yes' if ok else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps({"concurrency": args.concurrency, "rounds": args.rounds, "rows": rows}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

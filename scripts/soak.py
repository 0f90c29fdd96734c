"""Soak: a steady request rate for a long time, watching the proxy's memory and file descriptors.

Usage: .venv/bin/python -m scripts.soak [--minutes 30] [--rate 50] [--warmup-s 60]

Drives routed calls (a third of them streamed) at a fixed rate against a proxy process in front of the
simulated backends, samples the proxy's resident memory (VmRSS) and open file descriptors every few
seconds, and reports their growth from the end of the warm-up to the end. Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from scripts.harness import backend, open_fds, rss_bytes, stack

PROMPTS = ["What is the capital of Peru?", "Write a haiku about rivers.", "Explain recursion briefly.", "2+2?"]


def make_config(sim_url: str, db: Path) -> dict[str, Any]:
    return {
        "log": {"path": str(db)},
        "backend": [
            backend("cheap", "mixtral-8x7b", sim_url, accuracy=0.75, input_cost_per_token=6e-7),
            backend("strong", "gpt-4-1106-preview", sim_url, accuracy=0.9, input_cost_per_token=1e-5),
            backend("small", "mistral-7b", sim_url, accuracy=0.6, input_cost_per_token=2e-7),
        ],
        "alias": [{"name": "router"}],
    }


async def drive(url: str, pid: int, seconds: float, rate: float, sample_s: float) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    samples: list[tuple[float, int, int]] = []
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def call(i: int) -> None:
            body = {
                "model": "router",
                "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                "max_tokens": 50,
                "stream": i % 3 == 0,
            }
            try:
                async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                    await response.aread()
                    statuses[response.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1

        tasks: set[asyncio.Task[None]] = set()
        i, next_sample = 0, started
        while (now := time.monotonic()) - started < seconds:
            if now >= next_sample:
                samples.append((now - started, rss_bytes(pid), open_fds(pid)))
                next_sample += sample_s
            task = asyncio.create_task(call(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        await asyncio.gather(*tasks)
        samples.append((time.monotonic() - started, rss_bytes(pid), open_fds(pid)))
    return {"statuses": statuses, "samples": samples, "requests": i}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=50, help="requests per second")
    parser.add_argument("--warmup-s", type=float, default=60)
    parser.add_argument("--sample-s", type=float, default=5)
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    args = parser.parse_args(argv)
    with stack(make_config) as s:
        result = asyncio.run(drive(s.proxy_url, s.proxy_pid, args.minutes * 60, args.rate, args.sample_s))
    samples = result["samples"]
    after_warmup = [x for x in samples if x[0] >= args.warmup_s] or samples[-2:]
    rss0, rss1 = after_warmup[0][1], statistics.median(x[1] for x in after_warmup[-3:])
    fd0, fd1 = after_warmup[0][2], after_warmup[-1][2]
    report = {
        "requests": result["requests"],
        "statuses": dict(result["statuses"]),
        "rss_mb_after_warmup": round(rss0 / 2**20, 1),
        "rss_mb_at_end": round(rss1 / 2**20, 1),
        "rss_growth": round(rss1 / rss0 - 1, 4),
        "fds_after_warmup": fd0,
        "fds_at_end": fd1,
        "samples": [(round(t), round(r / 2**20, 1), f) for t, r, f in samples],
    }
    print(json.dumps(report))
    ok = report["rss_growth"] < args.max_rss_growth and fd1 <= fd0 + 2 and set(result["statuses"]) == {200}
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

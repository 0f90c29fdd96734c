"""Open-loop load: requests sent on a schedule at a fixed offered rate, whether or not earlier ones have answered.

A closed-loop client (N workers, each waiting for its answer) slows down with the server it measures, so
an overloaded server looks merely slower; an open-loop one keeps offering the rate, and queueing shows up
in the latency. Arrivals are Poisson (seeded), as independent clients' would be. Each latency is counted
from the request's scheduled time, not from when this process got round to sending it, so a late send
(the generator's own lag, reported apart) is charged to the run rather than hidden (coordinated omission).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass

import aiohttp

MESSAGES = [{"role": "user", "content": "Give me one short sentence about the sea."}]
TIMEOUT_S = 10.0  # a request still unanswered by then counts as an error


@dataclass(frozen=True)
class OpenLoopRun:
    offered_rps: float
    seconds: float
    latencies_ms: list[float]  # of the requests answered 200, from their scheduled time
    errors: int
    lag_p99_ms: float  # how late this process sent its requests (its own saturation, not the server's)

    @property
    def achieved_rps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, q: float) -> float:
        ms = sorted(self.latencies_ms)
        return ms[int(q * (len(ms) - 1))] if ms else float("nan")

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99)


async def offer(url: str, model: str, rate: float, seconds: float, *, seed: int = 0) -> OpenLoopRun:
    """Offer `rate` chat completions per second to `url` for `seconds`, then wait for the last answers."""
    body = {"model": model, "messages": MESSAGES, "max_tokens": 16}
    rng = random.Random(seed)
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    # No connection cap: a capped pool would queue requests in this process and turn the load closed-loop.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one(due: float) -> None:
            nonlocal errors
            lags.append(time.perf_counter() - due)
            try:
                async with http.post(f"{url}/v1/chat/completions", json=body) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                latencies.append((time.perf_counter() - due) * 1000)
            else:
                errors += 1

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        due = start + rng.expovariate(rate)
        while due < start + seconds:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(due)))
            due += rng.expovariate(rate)
        await asyncio.gather(*tasks)
    lag_ms = sorted(x * 1000 for x in lags) or [0.0]
    return OpenLoopRun(rate, seconds, latencies, errors, lag_ms[int(0.99 * (len(lag_ms) - 1))])

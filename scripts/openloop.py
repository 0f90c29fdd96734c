"""Open-loop load: requests sent on a schedule at a fixed offered rate, whether or not earlier ones have answered.

A closed-loop client (N workers, each waiting for its answer) slows down with the server it measures, so
an overloaded server looks merely slower; an open-loop one keeps offering the rate, and queueing shows up
in the latency. Arrivals are Poisson (seeded), as independent clients' would be. Each latency is counted
from the request's scheduled time, not from when this process got round to sending it, so a late send
(the generator's own lag, reported apart) is charged to the run rather than hidden (coordinated omission).

Targets compared with one another (a proxy and going direct) take turns (`offer_in_turns`): on a machine
shared with other work, minutes apart is not the same machine, and a p99 is the slowest 1% - a few
seconds of someone else's load in one target's run and not the other's decide it.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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


async def offer_in_turns(
    targets: Sequence[tuple[str, str]],
    rate: float,
    seconds: float,
    *,
    turn_s: float = 1.0,
    warmup_s: float = 0.0,
    measuring: Callable[[], None] | None = None,
    seed: int = 0,
) -> list[OpenLoopRun]:
    """Offer `rate` to each (url, model) of `targets` in turns of `turn_s`, until each has had `seconds`:
    one run per target, all measured over the same stretch of the machine's life. The order of the turns
    reverses every round (A B, B A, A B, ...), so a drift in the machine's load favours neither.

    Each target keeps one client session, its connections reused from turn to turn as a real client's are;
    `warmup_s` of load each first opens them (not measured), and `measuring()` is called when measuring starts.
    """
    rng = random.Random(seed)
    # This process's own collections paused its sends and reads for up to ~20 ms (generation 2, at 800/s),
    # charged to whichever target's turn they fell in: none run while it measures.
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    # No connection cap: a capped pool would queue requests in this process and turn the load closed-loop.
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) for _ in targets]
    try:
        if warmup_s > 0:
            for http, (url, model) in zip(sessions, targets, strict=True):
                await _Client(http, url, model).offer(rate, warmup_s, rng)
        if measuring is not None:
            measuring()
        clients = [_Client(http, url, model) for http, (url, model) in zip(sessions, targets, strict=True)]
        rounds = max(1, math.ceil(seconds / turn_s - 1e-9))
        for r in range(rounds):
            turn = min(turn_s, seconds - r * turn_s) if rounds > 1 else seconds
            for client in clients if r % 2 == 0 else clients[::-1]:
                await client.send(rate, turn, rng)
        return [await client.result(rate) for client in clients]
    finally:
        for http in sessions:
            await http.close()
        if collecting:
            gc.enable()


@dataclass
class _Client:
    """One target's requests over every turn it gets, and what came back."""

    http: aiohttp.ClientSession
    url: str
    model: str
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def offer(self, rate: float, seconds: float, rng: random.Random) -> None:
        """Send for `seconds` and wait for every answer."""
        await self.send(rate, seconds, rng)
        await asyncio.gather(*self.tasks)

    async def send(self, rate: float, seconds: float, rng: random.Random) -> None:
        """Send Poisson arrivals at `rate` for `seconds`; their answers are awaited by `result`."""
        start = time.perf_counter()
        due = start + rng.expovariate(rate)
        while due < start + seconds:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            self.tasks.append(asyncio.create_task(self._one(due)))
            due += rng.expovariate(rate)
        self.seconds += seconds

    async def result(self, rate: float) -> OpenLoopRun:
        await asyncio.gather(*self.tasks)
        lag_ms = sorted(x * 1000 for x in self.lags) or [0.0]
        return OpenLoopRun(rate, self.seconds, self.latencies, self.errors, lag_ms[int(0.99 * (len(lag_ms) - 1))])

    async def _one(self, due: float) -> None:
        self.lags.append(time.perf_counter() - due)
        body: dict[str, Any] = {"model": self.model, "messages": MESSAGES, "max_tokens": 16}
        try:
            async with self.http.post(f"{self.url}/v1/chat/completions", json=body) as response:
                await response.read()
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self.latencies.append((time.perf_counter() - due) * 1000)
        else:
            self.errors += 1

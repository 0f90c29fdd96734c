"""Capacity: the highest offered rate at which a proxy's p99 added latency stays within a bound.

Each step offers one rate open-loop (scripts/openloop.py) to the proxy and, at the same rate, straight to
the upstream; the added p99 is the difference, so the upstream's own time and the load generator's share
of it cancel out. A step passes when nothing failed and the added p99 is within `max_added_p99_ms`.

The two are measured in turns of `TURN_S` (direct, floor, proxy, then proxy, floor, direct, ...) over the
same stretch of time, at least `min_requests` each, so a burst of another job's load on this shared machine
(they last a second or more) falls on both rather than decide the difference. The floor is
`scripts.plain_proxy`, a forwarder that does nothing else, on the proxy's core: its added p99 is what one
more hop costs on this machine just then, shown beside each step (not subtracted: the bound is the
proxy's). So is the proxy's wait for its core (`waited`: seconds per second it was ready to run while the
core ran something else), which is not the proxy's work.

Given rates are stepped in increasing order until one fails. Without them the rate doubles from `start`
until a step fails, then the gap between the last pass and the first failure is halved `refine` times.
The proxy runs as one process pinned to one CPU, so the rate it sustains is its capacity per core; each
step also records the CPU it used (busy cores: CPU seconds over the seconds of its turns) to show it.

`run` is `python -m scripts.bench --capacity`: Switchyard and (with --litellm) litellm's proxy, routed and
named, in front of the plain upstream answering after 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.bench_targets import (
    process,
    scheduled_seconds,
    start_litellm,
    start_plain_proxy,
    start_switchyard,
)
from scripts.harness import free_port
from scripts.openloop import OpenLoopRun, offer_in_turns


@dataclass(frozen=True)
class Step:
    rate: float
    run: OpenLoopRun
    direct: OpenLoopRun
    busy_cores: float | None  # the proxy's CPU over the step (None for going direct)
    max_added_p99_ms: float
    floor: OpenLoopRun | None = None  # the no-op forwarder (scripts/plain_proxy.py), in the same turns
    waited_cores: float | None = None  # the proxy's wait for its core, seconds per second of its turns

    @property
    def added_p99_ms(self) -> float:
        return self.run.p99_ms - self.direct.p99_ms

    @property
    def floor_added_p99_ms(self) -> float | None:
        """What one more hop added at p99 in this step (the machine's share of any proxy's added p99)."""
        return None if self.floor is None else self.floor.p99_ms - self.direct.p99_ms

    @property
    def added_p50_ms(self) -> float:
        return self.run.p50_ms - self.direct.p50_ms

    @property
    def passed(self) -> bool:
        return self.run.errors == 0 and self.added_p99_ms <= self.max_added_p99_ms


@dataclass(frozen=True)
class Capacity:
    steps: list[Step]

    @property
    def rate(self) -> float:
        """The highest rate that passed (0 when none did)."""
        return max((s.rate for s in self.steps if s.passed), default=0.0)


def search(
    step: Callable[[float], Step],
    rates: Sequence[float] | None = None,
    *,
    start: float = 50,
    refine: int = 3,
    ceiling: float = 10_000,
) -> Capacity:
    """Step the offered rate (`step(rate)` measures one) to the highest that passes; no higher than `ceiling`,
    past which the load generator, not the proxy, would be measured."""
    steps: list[Step] = []
    if rates:
        for rate in sorted(rates):
            steps.append(step(rate))
            if not steps[-1].passed:
                break
        return Capacity(steps)
    passed, failed = 0.0, start
    while True:
        steps.append(step(failed))
        if not steps[-1].passed:
            break
        passed, failed = failed, failed * 2
        if failed > ceiling:
            return Capacity(steps)
    for _ in range(refine):
        rate = round((passed + failed) / 2)
        if rate in (passed, failed):
            break
        steps.append(step(rate))
        if steps[-1].passed:
            passed = rate
        else:
            failed = rate
    return Capacity(steps)


def run(
    work: Path, rates: list[float] | None, seconds: float, min_requests: int, litellm: bool, out: Path | None
) -> int:
    """Capacity of each proxy, routed and named, in front of the 50 ms upstream (scripts/capacity.py)."""
    up_port = free_port()
    up_url = f"http://127.0.0.1:{up_port}"
    cmd = [sys.executable, "-m", "scripts.plain_upstream", "--port", str(up_port), "--delay-ms", "50"]
    found: dict[tuple[str, str], Capacity] = {}
    with process(cmd, f"{up_url}/health", work / "plain50.log", cpu=0), start_plain_proxy(up_url, work) as floor:
        targets = [("switchyard", start_switchyard(up_url, work, "capacity", False))]
        if litellm:
            targets.append(("litellm-proxy", start_litellm(up_url, work, "capacity", False)))
        print(_CAPACITY_HEAD, flush=True)
        for name, starter in targets:
            with starter as (url, pid, _):
                for mode, model in (("routed", "router"), ("named", "b0")):

                    def step(rate: float, url: str = url, pid: int = pid, model: str = model) -> Step:
                        return measure_step(
                            rate, (up_url, "plain"), (floor, "plain"), (url, model), pid, seconds, min_requests
                        )

                    def printed(rate: float, name: str = name, mode: str = mode, step: Any = step) -> Step:
                        result = step(rate)
                        print(_capacity_row(name, mode, result), flush=True)
                        return result

                    found[(name, mode)] = search(printed, rates)
    for (name, mode), capacity in found.items():
        print(f"{name} {mode}: capacity {capacity.rate:.0f} req/s per core at p99 added <= {MAX_ADDED_P99_MS:g} ms")
    lines = capacity_verdicts(found)
    print("\n".join(lines))
    if out:
        report = {
            f"{name} {mode}": {"capacity_rps": c.rate, "steps": [_step_dict(s) for s in c.steps]}
            for (name, mode), c in found.items()
        }
        out.write_text(json.dumps({"capacity": report}, indent=1))
    return 0


Target = tuple[str, str]  # (base URL, model)


def measure_step(
    rate: float, direct: Target, floor: Target, proxy: Target, pid: int, seconds: float, min_requests: int
) -> Step:
    """One step at `rate`: going direct, the no-op forwarder and the proxy in turns, each for `seconds` or
    long enough for `min_requests`, so a low rate's p99 is not simply its slowest few calls."""
    span = max(seconds, min_requests / rate)
    start: list[tuple[float, float]] = []

    def measuring() -> None:
        start.append(scheduled_seconds(pid))

    runs = asyncio.run(
        offer_in_turns(
            [direct, floor, proxy],
            rate,
            span,
            turn_s=TURN_S,
            warmup_s=min(1.0, span / 5),
            measuring=measuring,
            seed=1,
        )
    )
    went_direct, floored, proxied = runs
    (ran0, waited0), (ran1, waited1) = start[0], scheduled_seconds(pid)
    busy, waited = (ran1 - ran0) / proxied.seconds, (waited1 - waited0) / proxied.seconds
    return Step(rate, proxied, went_direct, busy, MAX_ADDED_P99_MS, floored, waited)


MAX_ADDED_P99_MS = 10.0
# Turns shorter than the stalls this machine's other jobs cause: with 1 s turns, one stall of ~1 s fell on
# going direct alone (direct p99 614 ms at 50/s) or on the proxy alone (p99 1.75 s), passing or failing a step.
TURN_S = 0.25
_CAPACITY_HEAD = (
    f"{'target':14} {'mode':6} {'offered':>8} {'done/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'direct99':>8} "
    f"{'added99':>8} {'floor99':>8} {'errs':>5} {'busy':>5} {'waited':>6} {'lag99':>6} verdict"
)


def _capacity_row(name: str, mode: str, s: Step) -> str:
    busy = "" if s.busy_cores is None else f"{s.busy_cores:5.2f}"
    waited = "" if s.waited_cores is None else f"{s.waited_cores:6.3f}"
    floor = "" if s.floor_added_p99_ms is None else f"{s.floor_added_p99_ms:8.2f}"
    return (
        f"{name:14} {mode:6} {s.rate:8.0f} {s.run.achieved_rps:8.1f} {s.run.p50_ms:8.2f} {s.run.p99_ms:8.2f} "
        f"{s.direct.p99_ms:8.2f} {s.added_p99_ms:8.2f} {floor:>8} {s.run.errors:5} {busy:>5} {waited:>6} "
        f"{s.run.lag_p99_ms:6.2f} {'pass' if s.passed else 'FAIL'}"
    )


def _step_dict(s: Step) -> dict[str, Any]:
    return {
        "offered_rps": s.rate,
        "achieved_rps": s.run.achieved_rps,
        "requests": len(s.run.latencies_ms) + s.run.errors,
        "p50_ms": s.run.p50_ms,
        "p99_ms": s.run.p99_ms,
        "direct_p50_ms": s.direct.p50_ms,
        "direct_p99_ms": s.direct.p99_ms,
        "added_p50_ms": s.added_p50_ms,
        "added_p99_ms": s.added_p99_ms,
        "floor_added_p99_ms": s.floor_added_p99_ms,
        "errors": s.run.errors,
        "busy_cores": s.busy_cores,
        "waited_cores": s.waited_cores,
        "generator_lag_p99_ms": s.run.lag_p99_ms,
        "direct_generator_lag_p99_ms": s.direct.lag_p99_ms,
        "passed": s.passed,
    }


def capacity_verdicts(found: dict[tuple[str, str], Capacity]) -> list[str]:
    """The issue's capacity target, and the ratio to litellm's proxy where both were measured."""
    out: list[str] = []
    routed = found.get(("switchyard", "routed"))
    if routed is not None:
        ok = routed.rate >= 1200
        out.append(f"{'MET    ' if ok else 'NOT MET'} routed capacity >= 1200 req/s per core: {routed.rate:.0f}")
    for mode in ("routed", "named"):
        ours, theirs = found.get(("switchyard", mode)), found.get(("litellm-proxy", mode))
        if ours and theirs and theirs.rate > 0:
            out.append(f"        {mode} capacity over litellm's proxy: {ours.rate / theirs.rate:.1f}x")
    return out

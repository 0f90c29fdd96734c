"""Capacity: the highest offered rate at which a proxy's p99 added latency stays within a bound.

Each step offers one rate open-loop (scripts/openloop.py) to the proxy and, at the same rate, straight to
the upstream; the added p99 is the difference, so the upstream's own time and the load generator's share
of it cancel out. A step passes when nothing failed and the added p99 is within `max_added_p99_ms`.

Given rates are stepped in increasing order until one fails. Without them the rate doubles from `start`
until a step fails, then the gap between the last pass and the first failure is halved `refine` times.
The proxy runs as one process pinned to one CPU, so the rate it sustains is its capacity per core; each
step also records the CPU it used (busy cores: CPU seconds over wall seconds) to show it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scripts.openloop import OpenLoopRun


@dataclass(frozen=True)
class Step:
    rate: float
    run: OpenLoopRun
    direct: OpenLoopRun
    busy_cores: float | None  # the proxy's CPU over the step (None for going direct)
    max_added_p99_ms: float

    @property
    def added_p99_ms(self) -> float:
        return self.run.p99_ms - self.direct.p99_ms

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

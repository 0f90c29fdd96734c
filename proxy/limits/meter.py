"""Per-key rate limits (requests and tokens per minute) and spend budgets.

Counts live in memory, per process (with the Postgres log store, `limits_shared.SharedMeter` keeps
them in Postgres instead, shared by every replica): windows of the last 60 s, and spend per budget period, seeded at
start-up from the log store (so a restart does not reset a budget) and fed by every logged call's
actual cost. A key past its rate gets 429 with Retry-After; past its budget, 429 `insufficient_quota`;
with `on_budget_low = "cheaper"`, a key whose budget is running low is routed to cheaper candidates
instead of being refused until the budget is spent.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from proxy.errors import RateLimited
from proxy.settings import ApiKey

WINDOW_S = 60.0


def period_start(period: str, now: float) -> float:
    """Unix time at which the budget period containing `now` began (UTC)."""
    if period == "total":
        return 0.0
    day = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        day = day.replace(day=1)
    return day.timestamp()


def budget_exhausted(key: ApiKey) -> RateLimited:
    return RateLimited(
        f"API key '{key.id}' has spent its budget of ${key.budget_usd} for this {key.budget_period}.",
        code="insufficient_quota",
    )


@dataclass(frozen=True)
class Budget:
    spent_usd: float
    remaining_usd: float | None  # None: no budget
    state: str  # "ok", "low" or "exhausted"


class Meter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._requests: dict[str, deque[float]] = defaultdict(deque)
        self._tokens: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._spend: dict[str, tuple[float, float]] = {}  # key id -> (period start, USD spent in it)

    async def admit(self, key: ApiKey | None) -> None:
        """Count a request for `key`, or raise 429 if it is over its budget, requests or tokens per minute."""
        if key is None:
            return
        if self.budget(key).state == "exhausted":
            raise budget_exhausted(key)
        now = self.clock()
        requests = self._prune(key.id, now)
        if key.rpm is not None and len(requests) >= key.rpm:
            raise RateLimited(
                f"API key '{key.id}' is over its limit of {key.rpm} requests per minute.",
                code="rate_limit_exceeded",
                retry_after_s=requests[0] + WINDOW_S - now,
            )
        tokens = self._tokens[key.id]
        used = sum(n for _, n in tokens)
        if key.tpm is not None and used >= key.tpm:
            raise RateLimited(
                f"API key '{key.id}' is over its limit of {key.tpm} tokens per minute.",
                code="rate_limit_exceeded",
                retry_after_s=tokens[0][0] + WINDOW_S - now,
            )
        requests.append(now)

    def add_usage(self, key: ApiKey | None, tokens: int, cost_usd: float) -> None:
        if key is None:
            return
        now = self.clock()
        if tokens:
            self._tokens[key.id].append((now, tokens))
        if cost_usd:
            start, spent = self._current_spend(key, now)
            self._spend[key.id] = (start, spent + cost_usd)

    def seed_spend(self, key: ApiKey, spent_usd: float) -> None:
        """What the key already spent in its current period, read from the log at start-up."""
        self._spend[key.id] = (period_start(key.budget_period, self.clock()), spent_usd)

    def budget(self, key: ApiKey | None) -> Budget:
        if key is None:
            return Budget(0.0, None, "ok")
        _, spent = self._current_spend(key, self.clock())
        if key.budget_usd is None:
            return Budget(spent, None, "ok")
        remaining = key.budget_usd - spent
        if remaining <= 0:
            return Budget(spent, 0.0, "exhausted")
        return Budget(spent, remaining, "low" if remaining <= key.low_budget_fraction * key.budget_usd else "ok")

    def usage(self, key: ApiKey) -> dict[str, float]:
        now = self.clock()
        return {
            "requests_last_minute": len(self._prune(key.id, now)),
            "tokens_last_minute": sum(n for _, n in self._tokens[key.id]),
            "spent_usd": self._current_spend(key, now)[1],
        }

    def _prune(self, key_id: str, now: float) -> deque[float]:
        requests, tokens = self._requests[key_id], self._tokens[key_id]
        while requests and requests[0] <= now - WINDOW_S:
            requests.popleft()
        while tokens and tokens[0][0] <= now - WINDOW_S:
            tokens.popleft()
        return requests

    def _current_spend(self, key: ApiKey, now: float) -> tuple[float, float]:
        start = period_start(key.budget_period, now)
        held = self._spend.get(key.id)
        if held is None or held[0] != start:
            return start, 0.0
        return held

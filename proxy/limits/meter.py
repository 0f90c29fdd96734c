"""Per-key rate limits (requests and tokens per minute) and spend budgets.

Counts live in memory, per process (with the Postgres log store, `limits_shared.SharedMeter` keeps
them in Postgres instead, shared by every replica): windows of the last 60 s, and spend per budget period, seeded at
start-up from the log store (so a restart does not reset a budget) and fed by every logged call's
actual cost. A key past its rate gets 429 with Retry-After; past its budget, 429 `insufficient_quota`;
with `on_budget_low = "cheaper"`, a key whose budget is running low is routed to cheaper candidates
instead of being refused until the budget is spent.

Budgets are reserved: a call's worst-case cost (`budget.worst_case_cost`) is held against the key's budget
from admission until the call is recorded, when the hold is released and the actual cost added. A call
is admitted while spend plus holds is below the budget, so however many calls run at once the budget is
overrun by at most one call's worst case (without holds, 40 concurrent calls once overran it 9.3x).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

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


def budget_exhausted(key: ApiKey, *, reserved: bool = False) -> RateLimited:
    if reserved:
        return RateLimited(
            f"API key '{key.id}' has spent or holds for calls in flight its budget of ${key.budget_usd} for "
            f"this {key.budget_period}; retry when they finish.",
            code="insufficient_quota",
            retry_after_s=1.0,
        )
    return RateLimited(
        f"API key '{key.id}' has spent its budget of ${key.budget_usd} for this {key.budget_period}.",
        code="insufficient_quota",
    )


@dataclass(frozen=True)
class Budget:
    spent_usd: float
    remaining_usd: float | None  # None: no budget
    state: str  # "ok", "low" or "exhausted"


@dataclass
class Reservation:
    """A call's worst-case cost held against its key's budget until `settle()` (once; later calls do nothing)."""

    meter: Meter = field(repr=False)
    key_id: str
    usd: float
    settled: bool = False

    def settle(self) -> None:
        if not self.settled:
            self.settled = True
            self.meter._release(self)


class Meter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._requests: dict[str, deque[float]] = defaultdict(deque)
        self._tokens: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._spend: dict[str, tuple[float, float]] = {}  # key id -> (period start, USD spent in it)
        self._reserved: dict[str, float] = defaultdict(float)  # key id -> USD held by calls in flight

    def reserve(self, key: ApiKey | None, worst_usd: float) -> Reservation | None:
        """Hold `worst_usd` against `key`'s budget for one call, or 429 when spend and holds already reach it."""
        if key is None or key.budget_usd is None:
            return None
        if self.budget(key).spent_usd + self._reserved[key.id] >= key.budget_usd:
            raise budget_exhausted(key, reserved=self._reserved[key.id] > 0)
        self._reserved[key.id] += worst_usd
        return Reservation(self, key.id, worst_usd)

    def reserved(self, key: ApiKey) -> float:
        return self._reserved.get(key.id, 0.0)

    def _release(self, reservation: Reservation) -> None:
        left = self._reserved[reservation.key_id] - reservation.usd
        if left <= 1e-12:  # float crumbs of many holds and releases must not block a key forever
            self._reserved.pop(reservation.key_id, None)
        else:
            self._reserved[reservation.key_id] = left

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
            "reserved_usd": self.reserved(key),
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

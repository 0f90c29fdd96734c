"""Per-key rate limits and budgets shared by every replica through the Postgres log store.

`Meter` (limits.py) counts in process memory, which is right for one process and wrong for several:
N replicas would each let a key through at its full rate. With the Postgres store, `SharedMeter`
keeps the counts in Postgres instead, and the hot path stays one statement (one round trip, one
row lock) per request of a limited key; keys without limits never touch the database.

Why this design:

- Requests per minute: a counter row per key per clock minute (`rate_windows`), incremented by one
  atomic upsert that increments only if the limits hold; `ON CONFLICT ... WHERE` re-checks the locked
  row, so two replicas racing for the last slot cannot both win. The sliding minute is estimated as
  this minute's count plus the previous minute's count weighted by how much of it the sliding minute
  still covers (rounded up), the usual sliding-window counter: exact within a clock minute, and
  within one request of an exact sliding log when traffic straddles a boundary, at one row per key per
  minute instead of one row per request. A lease of tokens per replica would save the round trip but
  let a key through at up to the leased amount per replica; a limit that must hold exactly across
  replicas needs the shared counter. Postgres' clock is the one clock every replica agrees on.
- Tokens per minute: tokens are only known when a call ends, so the log writer adds each batch's
  tokens to the same window rows in the transaction that writes the calls; admission checks them
  like requests. As in process, a request is refused once the minute's tokens reach the limit.
- Budgets: spend is in `calls.cost_usd`; the writer keeps `key_spend` (USD per key per UTC day) in the
  same transaction, and admission reads the period's sum (at most 31 rows) in the same statement.
  The check sees every call written by any replica plus this replica's own calls still waiting in its
  queue (`pending_spend`). It cannot see calls still being answered, so a budget can be overrun by the
  cost of the requests in flight when it runs out: one in-flight request per replica for a client that
  sends one request at a time, and in general the requests admitted before the spend that exhausted
  the budget was recorded (plus another replica's writer lag, milliseconds). Once a key is seen
  exhausted this replica refuses it without asking the database until the period ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from proxy.config import ApiKey
from proxy.errors import RateLimited
from proxy.limits import WINDOW_S, Meter, budget_exhausted, period_start
from proxy.logstore import LogStore
from proxy.logstore_pg import PostgresLogStore, WindowState


class SharedMeter(Meter):
    def __init__(self, store: PostgresLogStore, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.store = store
        self._seen: dict[str, tuple[float, WindowState]] = {}  # key id -> (budget period start, last state)

    async def admit(self, key: ApiKey | None) -> None:
        if key is None or (key.rpm is None and key.tpm is None and key.budget_usd is None):
            return
        start = period_start(key.budget_period, self.clock())
        state = await self.store.admit(key.id, rpm=key.rpm, tpm=key.tpm, budget_usd=key.budget_usd, period_start=start)
        self._seen[key.id] = (start, state)
        if state.admitted:
            return
        if self.budget(key).state == "exhausted":
            raise budget_exhausted(key)
        # Only the writer moves token counts, so they are read exactly; request counts can move under a
        # racing replica between the read and the locked re-check, so a refusal that is neither budget
        # nor tokens is the request rate.
        if key.tpm is not None and state.tokens >= key.tpm:
            raise RateLimited(
                f"API key '{key.id}' is over its limit of {key.tpm} tokens per minute.",
                code="rate_limit_exceeded",
                retry_after_s=WINDOW_S - state.elapsed_s,
            )
        if key.rpm is None:  # then only the budget can have refused it (spend moved since the read)
            raise budget_exhausted(key)
        raise RateLimited(
            f"API key '{key.id}' is over its limit of {key.rpm} requests per minute.",
            code="rate_limit_exceeded",
            retry_after_s=_retry_after(state, key.rpm),
        )

    def add_usage(self, key: ApiKey | None, tokens: int, cost_usd: float) -> None:
        """Nothing to do: the log writer adds every call's tokens and cost to the shared counters."""

    def usage(self, key: ApiKey) -> dict[str, float]:
        _, spent = self._current_spend(key, self.clock())
        seen = self._seen.get(key.id)
        requests, tokens = (seen[1].requests, seen[1].tokens) if seen else (0.0, 0.0)
        return {"requests_last_minute": requests, "tokens_last_minute": tokens, "spent_usd": spent}

    def _current_spend(self, key: ApiKey, now: float) -> tuple[float, float]:
        start = period_start(key.budget_period, now)
        seen = self._seen.get(key.id)
        written = seen[1].spent_usd if seen is not None and seen[0] == start else 0.0
        return start, written + self.store.pending_spend.get(key.id, 0.0)


def _retry_after(state: WindowState, rpm: int) -> float:
    """Seconds until the sliding-minute estimate drops below the limit again."""
    weight = 1 - state.elapsed_s / WINDOW_S
    current = max(state.requests, rpm) - math.ceil(state.previous_requests * weight)
    if current >= rpm:  # full on its own: wait for the next window, then for this one's weight to fade
        return WINDOW_S - state.elapsed_s + WINDOW_S * (1 - rpm / current)
    if state.previous_requests == 0:
        return WINDOW_S - state.elapsed_s
    fade = WINDOW_S * (1 - (rpm - current) / state.previous_requests) - state.elapsed_s
    return max(1.0, fade)


def meter_for(store: LogStore) -> Meter:
    """Shared counters when the log is in Postgres (every replica sees them), else counts in this process."""
    return SharedMeter(store) if isinstance(store, PostgresLogStore) else Meter()

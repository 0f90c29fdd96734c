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
  The check sees every call written by any replica, plus this replica's own calls still waiting in its
  queue (`pending_spend`) and the worst-case costs it holds for its calls in flight (`Meter.reserve`).
  What this guarantees: within one replica, as with the in-process meter, concurrent calls overrun a
  budget by at most one call's worst case. Across N replicas, a replica cannot see another's holds
  (they are not in Postgres), so the overrun is at most one worst case per replica, plus what another
  replica's writer has not yet committed (milliseconds of calls). Once a key is seen exhausted this
  replica refuses it without asking the database until the period ends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from proxy.errors import RateLimited, ServiceUnavailable
from proxy.limits.meter import WINDOW_S, Meter, budget_exhausted, period_start
from proxy.log.postgres import PostgresLogStore
from proxy.log.records import LogStore, LogStoreError
from proxy.settings import ApiKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowState:
    """A key's rate counters as Postgres sees them, for one admission decision."""

    admitted: bool
    requests: float  # requests in the sliding minute (previous window weighted), this one included if admitted
    tokens: float  # tokens in the sliding minute, likewise estimated
    elapsed_s: float  # seconds into the current minute window
    previous_requests: int  # requests in the previous minute window
    spent_usd: float  # written spend in the budget period


# The sliding minute is estimated from two fixed windows: this minute's count plus the previous
# minute's, weighted by the share of the sliding minute that still overlaps it (rounded up).
# Postgres' clock is the one clock every replica agrees on. The increment happens only when every
# limit holds, and the ON CONFLICT ... WHERE re-checks the locked row, so concurrent replicas can
# never admit more than the limit between them.
_ADMIT = """
WITH clock AS (
    SELECT extract(epoch FROM clock_timestamp())::float8 AS now
), win AS (
    SELECT (floor(now / 60) * 60)::bigint AS start, now - floor(now / 60) * 60 AS elapsed FROM clock
), prev AS (
    SELECT COALESCE(MAX(p.requests), 0) AS requests, COALESCE(MAX(p.tokens), 0) AS tokens,
           1 - win.elapsed / 60 AS weight
    FROM win LEFT JOIN rate_windows p ON p.key_id = $1 AND p.window_start = win.start - 60 GROUP BY win.elapsed
), cur AS (
    SELECT COALESCE(MAX(c.requests), 0) AS requests, COALESCE(MAX(c.tokens), 0) AS tokens
    FROM win LEFT JOIN rate_windows c ON c.key_id = $1 AND c.window_start = win.start
), spend AS (
    SELECT COALESCE(SUM(usd), 0) AS usd FROM key_spend
    WHERE key_id = $1 AND day >= (to_timestamp($5) AT TIME ZONE 'UTC')::date
), est AS (
    SELECT ceil(prev.requests * prev.weight) AS requests, ceil(prev.tokens * prev.weight) AS tokens,
           spend.usd + $6 < $4 AS budget_ok
    FROM prev, spend
), up AS (
    INSERT INTO rate_windows AS r (key_id, window_start, requests)
    SELECT $1, win.start, 1 FROM win, est, cur
    WHERE est.budget_ok AND est.requests + cur.requests < $2 AND est.tokens + cur.tokens < $3
    ON CONFLICT (key_id, window_start) DO UPDATE SET requests = r.requests + 1
    WHERE r.requests + (SELECT requests FROM est) < $2 AND r.tokens + (SELECT tokens FROM est) < $3
      AND (SELECT budget_ok FROM est)
    RETURNING r.requests, r.tokens
)
SELECT (SELECT COUNT(*) FROM up) > 0 AS admitted,
       COALESCE((SELECT requests FROM up), cur.requests) + est.requests AS requests,
       COALESCE((SELECT tokens FROM up), cur.tokens) + est.tokens AS tokens,
       win.elapsed, prev.requests AS previous_requests, spend.usd AS spent_usd
FROM win, prev, cur, est, spend
"""

NO_LIMIT = 2**62  # stands for "no limit" in the admission query


ADMIT_TIMEOUT_S = 5.0


async def count_request(
    store: PostgresLogStore, key_id: str, *, rpm: int | None, tpm: int | None, budget_usd: float | None,
    period_start: float, held_usd: float = 0.0,
) -> WindowState:  # fmt: skip
    """Count one request for the key if its rate limits and budget all hold: one statement, one round trip.
    `held_usd`: what this replica holds against the budget for the key's calls in flight."""
    try:
        row = await store.fetchrow(
            _ADMIT,
            key_id,
            rpm if rpm is not None else NO_LIMIT,
            tpm if tpm is not None else NO_LIMIT,
            budget_usd if budget_usd is not None else float("inf"),
            period_start,
            store.pending_spend.get(key_id, 0.0) + held_usd,
            timeout=ADMIT_TIMEOUT_S,
        )
    except LogStoreError as exc:  # fail closed: a limit that cannot be checked is not waived
        log.warning("shared limits unavailable: %s", exc)
        raise ServiceUnavailable(
            "The shared rate-limit store is unavailable; try again shortly.",
            code="limits_unavailable",
            retry_after_s=1.0,
        ) from None
    return WindowState(
        admitted=bool(row["admitted"]),
        requests=float(row["requests"]),
        tokens=float(row["tokens"]),
        elapsed_s=float(row["elapsed"]),
        previous_requests=int(row["previous_requests"]),
        spent_usd=float(row["spent_usd"]),
    )


class SharedMeter(Meter):
    def __init__(self, store: PostgresLogStore, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.store = store
        self._seen: dict[str, tuple[float, WindowState]] = {}  # key id -> (budget period start, last state)

    async def admit(self, key: ApiKey | None) -> None:
        if key is None or (key.rpm is None and key.tpm is None and key.budget_usd is None):
            return
        if self.budget(key).state == "exhausted":  # spend only grows within a period: no need to ask again
            raise budget_exhausted(key)
        start = period_start(key.budget_period, self.clock())
        state = await count_request(
            self.store,
            key.id,
            rpm=key.rpm,
            tpm=key.tpm,
            budget_usd=key.budget_usd,
            period_start=start,
            held_usd=self.reserved(key),
        )
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

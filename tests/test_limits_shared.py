"""Rate limits and budgets shared by replicas through Postgres: two stores stand for two replicas."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from proxy.errors import RateLimited, ServiceUnavailable
from proxy.limits.meter import Meter
from proxy.limits.shared import SharedMeter, count_request, meter_for
from proxy.log.postgres import PostgresLogStore
from proxy.log.records import Observation
from proxy.log.sqlite import SqliteLogStore
from proxy.settings import ApiKey
from tests import pg


async def away_from_a_minute_boundary(margin_s: float = 5.0) -> None:
    """Counts are per clock minute (the previous one weighted): run a burst inside one minute."""
    into = time.time() % 60
    if into > 60 - margin_s:
        await asyncio.sleep(60 - into + 0.2)


@pytest.fixture
async def replicas(pg_dsn: str) -> AsyncIterator[tuple[PostgresLogStore, PostgresLogStore]]:
    a, b = PostgresLogStore(dsn=pg_dsn), PostgresLogStore(dsn=pg_dsn)
    await a.start()
    await b.start()
    yield a, b
    await a.aclose()
    await b.aclose()


def call(i: int, key: str, **kw: object) -> Observation:
    return Observation(
        id=f"c{i:05d}", started_at=time.time(), requested_model="router", stream=False, status=200, latency_s=0.1,
        api_key_id=key, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_requests_per_minute_hold_across_replicas(replicas: tuple[PostgresLogStore, PostgresLogStore]) -> None:
    key = ApiKey(id="team", sha256="x", rpm=7)
    meters = [SharedMeter(replicas[0]), SharedMeter(replicas[1])]
    await away_from_a_minute_boundary()
    results = await asyncio.gather(*(meters[i % 2].admit(key) for i in range(20)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert sum(r is None for r in results) == 7 and len(refused) == 13
    assert all(r.code == "rate_limit_exceeded" and "7 requests per minute" in str(r) for r in refused)
    assert all(r.retry_after_s is not None and 0 < r.retry_after_s <= 120 for r in refused)
    other = ApiKey(id="other", sha256="y", rpm=1)
    await meters[1].admit(other)  # counts are per key
    with pytest.raises(RateLimited):
        await meters[0].admit(other)


async def test_a_budget_spent_through_one_replica_is_refused_by_the_other(
    replicas: tuple[PostgresLogStore, PostgresLogStore],
) -> None:
    key = ApiKey(id="team", sha256="x", budget_usd=0.01, budget_period="day")
    a, b = replicas
    meter_b = SharedMeter(b)
    await meter_b.admit(key)
    assert meter_b.budget(key).state == "ok"
    a.record(call(1, "team", cost_usd=0.004))
    a.record(call(2, "team", cost_usd=0.007))
    await a.flush()
    with pytest.raises(RateLimited) as refused:
        await meter_b.admit(key)
    assert refused.value.code == "insufficient_quota"
    assert meter_b.budget(key).state == "exhausted" and meter_b.usage(key)["spent_usd"] == pytest.approx(0.011)
    requests = await b.fetchrow("SELECT requests FROM rate_windows WHERE key_id = 'team'", timeout=5)
    with pytest.raises(RateLimited, match="spent its budget"):
        await meter_b.admit(key)  # refused again, and a refused request counts against no rate
    assert await b.fetchrow("SELECT requests FROM rate_windows WHERE key_id = 'team'", timeout=5) == requests


async def test_a_replica_counts_its_own_spend_before_it_is_written(
    replicas: tuple[PostgresLogStore, PostgresLogStore],
) -> None:
    key = ApiKey(id="team", sha256="x", budget_usd=0.01)
    a, _ = replicas
    a.pending_spend["team"] += 0.02  # what `record` adds while the row waits in the queue
    with pytest.raises(RateLimited) as refused:
        await SharedMeter(a).admit(key)
    assert refused.value.code == "insufficient_quota"


async def test_tokens_per_minute_come_from_the_written_calls(
    replicas: tuple[PostgresLogStore, PostgresLogStore],
) -> None:
    key = ApiKey(id="team", sha256="x", tpm=100)
    a, b = replicas
    await away_from_a_minute_boundary()
    meter_b = SharedMeter(b)
    await meter_b.admit(key)
    a.record(call(1, "team", input_tokens=60, output_tokens=50))
    await a.flush()
    with pytest.raises(RateLimited) as refused:
        await meter_b.admit(key)
    assert refused.value.code == "rate_limit_exceeded" and "100 tokens per minute" in str(refused.value)


async def test_a_batch_retried_after_it_was_written_counts_nothing_twice(
    replicas: tuple[PostgresLogStore, PostgresLogStore],
) -> None:
    a, b = replicas
    await away_from_a_minute_boundary()
    first = call(1, "team", cost_usd=0.5, input_tokens=10, output_tokens=5)
    a.record(first)
    await a.flush()
    b.record(first)  # as if a batch were retried after its commit's acknowledgement was lost
    b.record(call(2, "team", cost_usd=0.25))
    await b.flush()
    assert await b.spend_since("team", 0.0) == 0.75
    assert b.written == 2 and b.dropped == 0
    state = await count_request(b, "team", rpm=None, tpm=None, budget_usd=None, period_start=0.0)
    assert state.spent_usd == 0.75 and state.tokens == 15


async def test_the_meter_follows_the_store(tmp_path: Path, replicas: tuple[PostgresLogStore, PostgresLogStore]) -> None:
    assert isinstance(meter_for(replicas[0]), SharedMeter)
    sqlite_meter = meter_for(SqliteLogStore(tmp_path / "x.db"))
    assert type(sqlite_meter) is Meter


async def test_limits_fail_closed_with_503_when_postgres_is_unreachable(pg_dsn: str) -> None:
    """A replica that loses its database refuses limited keys (OpenAI-shaped 503), never waves them through."""
    role, secret = f"r_{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    schema = dict(parse_qsl(urlsplit(pg_dsn).query))["search_path"]
    await pg.fetch(pg_dsn, f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
    await pg.fetch(pg_dsn, f"GRANT ALL ON SCHEMA {schema} TO {role}")
    dsn, _ = pg.without_password(pg_dsn)
    store = PostgresLogStore(dsn=dsn.replace("postgres@", f"{role}@", 1), password=secret)
    try:
        await store.start()
        meter, key = SharedMeter(store), ApiKey(id="team", sha256="x", rpm=100)
        await meter.admit(key)
        await pg.fetch(pg_dsn, f"ALTER ROLE {role} NOLOGIN")
        await pg.fetch(pg_dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
        with pytest.raises(ServiceUnavailable) as refused:
            await meter.admit(key)
        assert refused.value.status == 503 and refused.value.code == "limits_unavailable"
        assert secret not in str(refused.value)
    finally:
        await store.aclose()
        await pg.fetch(pg_dsn, f"DROP OWNED BY {role} CASCADE")
        await pg.fetch(pg_dsn, f"DROP ROLE {role}")

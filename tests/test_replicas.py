"""Scale-out: replicas and uvicorn workers sharing one log, as real processes against the simulator."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from tests import pg
from tests.replicas import BULK_KEY, LIMITED_KEY, proxies, send


def wait_outside_a_minute_boundary(margin_s: float) -> None:
    """Shared request counts are per clock minute (the previous one weighted): keep a burst inside one."""
    into = time.time() % 60
    if into > 60 - margin_s:
        time.sleep(60 - into + 0.2)


def test_two_replicas_share_one_postgres_log_and_one_rate_limit(tmp_path: Path, pg_dsn: str) -> None:
    dsn, password = pg.without_password(pg_dsn)
    log = {"dsn": dsn, "password_env": "SWITCHYARD_PG_PASSWORD"}
    env = {"SWITCHYARD_PG_PASSWORD": password}
    started = time.monotonic()
    with proxies(tmp_path, lambda: log, count=2, limited_rpm=40, env=env) as replicas:
        urls = [r.url for r in replicas]
        # Named backend: the same logging path as a routed call at less CPU, to fit the 2-core CI box.
        answers = asyncio.run(send(urls, 2000, BULK_KEY, concurrency=64, model="cheap"))
        wait_outside_a_minute_boundary(margin_s=8)
        limited = asyncio.run(send(urls, 100, LIMITED_KEY, concurrency=8))
    elapsed = time.monotonic() - started
    assert Counter(status for status, _ in answers) == {200: 2000}
    # 40 requests per minute for the key, whichever replica each request hit: the other 60 are refused.
    assert Counter(limited) == {(200, None): 40, (429, "rate_limit_exceeded"): 60}
    refused_by = Counter(i % 2 for i, (status, _) in enumerate(limited) if status == 429)
    assert refused_by[0] > 0 and refused_by[1] > 0
    rows = pg.fetch_sync(pg_dsn, "SELECT api_key_id, count(*), count(DISTINCT id) FROM calls GROUP BY 1 ORDER BY 1")
    assert rows == [("bulk", 2000, 2000), ("limited", 40, 40)]
    print(f"2 replicas, 2000 + 100 requests, shared Postgres log: {elapsed:.1f} s")


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_several_uvicorn_workers_lose_no_row(tmp_path: Path, store: str, request: pytest.FixtureRequest) -> None:
    env = {}
    if store == "postgres":
        dsn, password = pg.without_password(request.getfixturevalue("pg_dsn"))
        log = {"dsn": dsn, "password_env": "SWITCHYARD_PG_PASSWORD"}
        env = {"SWITCHYARD_PG_PASSWORD": password}
    else:
        log = {"path": str(tmp_path / "calls.db")}
    with proxies(tmp_path, lambda: log, count=1, workers=2, env=env) as [proxy]:
        before = proxy.worker_cpu_s()
        answers = asyncio.run(send([proxy.url], 300, BULK_KEY, concurrency=32, model="cheap", fresh=True))
        after = proxy.worker_cpu_s()
    assert Counter(status for status, _ in answers) == {200: 300}
    # 300 calls are ~0.2 s of CPU per worker; an idle process (the resource tracker) stays near zero.
    busy = [pid for pid in before if after.get(pid, 0) - before[pid] > 0.05]
    assert len(busy) == 2, f"both workers should have served requests: CPU s {before} -> {after}"
    if store == "postgres":
        [(count,)] = pg.fetch_sync(request.getfixturevalue("pg_dsn"), "SELECT count(DISTINCT id) FROM calls")
    else:
        with sqlite3.connect(tmp_path / "calls.db") as db:
            [(count,)] = db.execute("SELECT count(DISTINCT id) FROM calls").fetchall()
    assert count == 300

"""Log store behaviour, the same for every store: each test runs against SQLite and Postgres."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import httpx
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.log import postgres as logstore_pg
from proxy.log import sqlite as logstore
from proxy.log.postgres import PostgresLogStore
from proxy.log.queue import QueuedLogStore
from proxy.log.records import Label, Observation
from proxy.log.redact import Redactor
from proxy.log.sqlite import SqliteLogStore
from proxy.route.features import feature_names, rows_from_log
from tests import pg
from tests.conftest import ENVIRON, make_config_dict
from tests.servers import await_ready, serve_app


def observation(i: int, **kw: Any) -> Observation:
    fields: dict[str, Any] = {"started_at": 1.0, "requested_model": "router", "stream": False, "status": 200}
    return Observation(id=f"id{i:04d}", latency_s=0.1, **{**fields, **kw})


class Sqlite:
    module: Any = logstore

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "log.db"

    def store(self, **kw: Any) -> QueuedLogStore:
        return SqliteLogStore(self.path, **kw)

    async def migrate(self) -> list[str]:
        async with aiosqlite.connect(self.path) as db:
            return await logstore.migrate(db)

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        async with aiosqlite.connect(self.path) as db, db.execute(sql) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    async def execute(self, sql: str) -> None:
        async with aiosqlite.connect(self.path) as db:
            await db.execute(sql)
            await db.commit()


class Postgres:
    module: Any = logstore_pg

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def store(self, **kw: Any) -> QueuedLogStore:
        return PostgresLogStore(dsn=self.dsn, **kw)

    async def migrate(self) -> list[str]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await logstore_pg.migrate(conn)
        finally:
            await conn.close()

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return await pg.fetch(self.dsn, sql)

    async def execute(self, sql: str) -> None:
        await pg.fetch(self.dsn, sql)


@pytest.fixture(params=["sqlite", "postgres"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sqlite | Postgres]:
    if request.param == "sqlite":
        yield Sqlite(tmp_path)
    else:
        yield Postgres(request.getfixturevalue("pg_dsn"))


def test_both_stores_have_the_same_named_migrations() -> None:
    shared = [name for name, _ in logstore.MIGRATIONS]
    assert [name for name, _ in logstore_pg.MIGRATIONS if name in shared] == shared  # in the same order
    assert set(logstore_pg.TYPES) == set(logstore.COLUMNS)


async def test_migrations_on_a_blank_database(kind: Sqlite | Postgres) -> None:
    assert await kind.migrate() == [name for name, _ in kind.module.MIGRATIONS]
    assert await kind.migrate() == []  # idempotent
    names = await kind.rows("SELECT name FROM _migrations ORDER BY name")
    assert sorted(n for (n,) in names) == sorted(name for name, _ in kind.module.MIGRATIONS)


async def test_migrations_upgrade_an_existing_database(
    kind: Sqlite | Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kind.migrate()
    await kind.execute(
        "INSERT INTO calls (id, started_at, requested_model, stream, status, latency_s) "
        "VALUES ('old', 1, 'm', 0, 200, 0.5)"
    )
    later = (*kind.module.MIGRATIONS, ("999_add_note", "ALTER TABLE calls ADD COLUMN note TEXT"))
    monkeypatch.setattr(kind.module, "MIGRATIONS", later)
    assert await kind.migrate() == ["999_add_note"]
    assert await kind.rows("SELECT id, note FROM calls") == [("old", None)]


async def test_replicas_starting_together_apply_each_migration_once(kind: Sqlite | Postgres) -> None:
    results = await asyncio.gather(*(kind.migrate() for _ in range(4)))
    applied = [name for names in results for name in names]
    assert sorted(applied) == sorted(name for name, _ in kind.module.MIGRATIONS)


async def test_records_are_written_in_batches_and_flushed_on_close(kind: Sqlite | Postgres) -> None:
    store = kind.store(batch=7)
    await store.start()
    for i in range(50):
        store.record(observation(i, request={"messages": [{"role": "user", "content": f"q{i}"}]}))
    await store.aclose()
    rows = await kind.rows("SELECT id, request_json FROM calls ORDER BY id")
    assert len(rows) == 50 and store.written == 50
    assert json.loads(rows[3][1])["messages"][0]["content"] == "q3"


class LoopTurns:
    """Counts the event loop's turns, as the requests it serves meanwhile would see them."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)


class NotingRedactor(Redactor):
    """Notes the loop's turn at each body it redacts: when each row of a batch was encoded."""

    def __init__(self, turns: LoopTurns) -> None:
        super().__init__()
        self.turns = turns
        self.seen: list[int] = []

    def value(self, value: Any) -> Any:
        self.seen.append(self.turns.count)
        return super().value(value)


async def test_the_writer_lets_requests_run_while_it_encodes_a_batch(kind: Sqlite | Postgres) -> None:
    """Rows are encoded on the event loop; a batch of 64 encoded in one go would hold every request waiting."""
    turns = LoopTurns()
    store = kind.store()
    store.redactor = redactor = NotingRedactor(turns)
    await store.start()
    for i in range(64):  # queued at once: one batch
        store.record(observation(i, request={"messages": [{"role": "user", "content": f"q{i}"}]}))
    ticking = asyncio.create_task(turns.run())
    await store.aclose()
    ticking.cancel()
    assert store.written == 64 and len(redactor.seen) == 64
    assert len(set(redactor.seen)) >= 64 // store.encode_slice  # the loop turned between slices of rows


async def test_bodies_can_be_kept_as_hashes_only(kind: Sqlite | Postgres) -> None:
    store = kind.store(bodies="hash")
    await store.start()
    store.record(observation(1, request={"secret": "patient record"}, response={"x": 1}))
    await store.aclose()
    [(req, resp)] = await kind.rows("SELECT request_json, response_json FROM calls")
    assert "patient" not in req and len(json.loads(req)["sha256"]) == 64
    assert len(json.loads(resp)["sha256"]) == 64


async def test_a_full_queue_drops_and_counts_instead_of_blocking(kind: Sqlite | Postgres) -> None:
    store = kind.store(queue_size=2)  # not started: nothing drains the queue
    for i in range(5):
        store.record(observation(i))
    assert store.dropped == 3 and store.queue.qsize() == 2


def test_with_logging_disabled_calls_are_served_and_nothing_is_written(sim_url: str, tmp_path: Path) -> None:
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["log"]["enabled"] = False
    hi = {"model": "router", "messages": [{"role": "user", "content": "Say hi."}]}
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        assert await_ready(url).status_code == 200
        answer = httpx.post(f"{url}/v1/chat/completions", json=hi, timeout=30)
        assert answer.status_code == 200
        label = {"request_id": answer.headers["x-router-request-id"], "thumbs": "up"}
        assert httpx.post(f"{url}/v1/feedback", json=label).status_code == 404  # there is no logged call to label
    assert not (tmp_path / "calls.db").exists()


async def test_a_row_that_cannot_be_written_is_written_reduced_and_loses_no_other_row(
    kind: Sqlite | Postgres,
) -> None:
    store = kind.store()
    await store.start()
    deep: Any = []
    for _ in range(1100):  # past what any JSON encoder follows
        deep = [deep]
    for i in range(6):
        kw: dict[str, Any] = {"request": {"messages": [{"role": "user", "content": f"call {i}"}]}}
        if i == 2:
            kw["error"] = "bad \ud800 text"  # no store can encode a lone surrogate
        if i == 4:
            kw["request"] = {"vendor": deep}
        store.record(observation(i, **kw))
    await store.aclose()
    rows = await kind.rows("SELECT id, error, request_json FROM calls ORDER BY id")
    assert [r[0] for r in rows] == [f"id{i:04d}" for i in range(6)]
    by_id = {r[0]: r for r in rows}
    assert by_id["id0002"][1].startswith("bad ? text [log row reduced:") and by_id["id0002"][2] is None
    assert by_id["id0004"][1].startswith("[log row reduced:") and by_id["id0004"][2] is None
    assert "call 3" in by_id["id0003"][2]
    assert store.written == 6 and store.reduced == 2 and store.dropped == 0


async def test_values_come_back_with_the_same_types(kind: Sqlite | Postgres) -> None:
    store = kind.store()
    await store.start()
    full = observation(
        7,
        stream=True,
        input_tokens=12,
        output_tokens=30,
        cost_usd=1.25e-5,
        ttft_s=0.125,
        error="NUL \x00 inside",
        attempts=[{"backend": "b", "status": 200}],
        exploration=True,
        selection_probability=0.25,
        api_key_id="k",
    )
    store.record(full)
    store.record_label(Label(call_id="id0007", score=1.0, source="human", created_at=2.5, comment="ok"))
    await store.aclose()
    [row] = await kind.rows(
        "SELECT stream, input_tokens, cost_usd, ttft_s, attempts_json, exploration, selection_probability FROM calls"
    )
    assert row == (1, 12, 1.25e-5, 0.125, '[{"backend":"b","status":200}]', 1, 0.25)
    [(error,)] = await kind.rows("SELECT error FROM calls")
    assert error.startswith("NUL ") and error.endswith(" inside")  # Postgres text holds no NUL: replaced there
    assert await kind.rows("SELECT call_id, score, source, comment, created_at FROM labels") == [
        ("id0007", 1.0, "human", "ok", 2.5)
    ]


async def test_has_call_and_spend_since(kind: Sqlite | Postgres) -> None:
    store = kind.store()
    await store.start()
    try:
        store.record(observation(1, api_key_id="team", cost_usd=0.5))
        store.record(observation(2, api_key_id="team", cost_usd=0.25))
        store.record(observation(3, api_key_id="other", cost_usd=9.0))
        assert await store.has_call("id0001") and not await store.has_call("nope")
        assert await store.spend_since("team", 0.0) == 0.75
        assert await store.spend_since("team", 5.0) == 0.0
    finally:
        await store.aclose()


async def test_sqlite_retries_a_batch_while_another_process_holds_the_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteLogStore(tmp_path / "log.db")
    store.busy_timeout_s = 0.05
    await store.start()
    async with aiosqlite.connect(tmp_path / "log.db", isolation_level=None) as other:
        await other.execute("BEGIN IMMEDIATE")  # another worker's write transaction
        with caplog.at_level(logging.WARNING, logger="proxy.log.sqlite"):
            for i in range(20):
                store.record(observation(i))
            await asyncio.sleep(0.4)
            assert store.written == 0
        await other.execute("COMMIT")
    await store.aclose()
    assert store.written == 20 and store.dropped == 0
    assert any("retrying" in r.getMessage() for r in caplog.records)


async def test_postgres_writer_survives_a_lost_connection(pg_dsn: str) -> None:
    dsn = pg.with_settings(pg_dsn, application_name="victim")
    store = PostgresLogStore(dsn=dsn)
    await store.start()
    for i in range(10):
        store.record(observation(i))
    await store.flush()
    killed = await pg.fetch(
        pg_dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'"
    )
    assert killed and all(ok for (ok,) in killed)
    for i in range(10, 20):
        store.record(observation(i))
    await store.aclose()
    assert await pg.fetch(pg_dsn, "SELECT count(*), count(DISTINCT id) FROM calls") == [(20, 20)]
    assert store.dropped == 0


async def test_read_calls_gives_the_same_calls_and_labels_on_both_stores(kind: Sqlite | Postgres) -> None:
    store = kind.store()
    await store.start()
    try:
        for i in range(4):
            store.record(
                observation(i, started_at=10.0 + i, request={"messages": [i]}, response={"ok": i}, decision={"n": i})
            )
        store.record_label(Label(call_id="id0002", score=0.5, source="human", created_at=20.0))
        await store.flush()
        window = await store.read_calls(since=11.0, until=13.0)
        assert [c.id for c in window] == ["id0002", "id0001"]  # newest first, `until` excluded
        assert window[0].labels == (Label(call_id="id0002", score=0.5, source="human", created_at=20.0),)
        assert window[0].decision == {"n": 2} and window[0].request is None  # bodies only for one call
        [one] = await store.read_calls(call_id="id0003")
        assert (one.request, one.response) == ({"messages": [3]}, {"ok": 3})
        assert [c.id for c in await store.read_calls(limit=1)] == ["id0003"]
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("bodies", "feature_rows", "kept"), [("full", "auto", False), ("hash", "auto", True), ("full", "always", True)]
)
def test_feature_rows_are_kept_when_the_request_cannot_recompute_them(
    sim_url: str, tmp_path: Path, bodies: str, feature_rows: str, kept: bool
) -> None:
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["log"].update(bodies=bodies, feature_rows=feature_rows)
    hi = {"model": "router", "messages": [{"role": "user", "content": "Say hi."}]}
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        answer = httpx.post(f"{url}/v1/chat/completions", json=hi, timeout=30)
        assert answer.status_code == 200
        request_id = answer.headers["x-router-request-id"]
    with sqlite3.connect(tmp_path / "calls.db") as db:
        (text,) = db.execute("SELECT features_json FROM calls WHERE id = ?", (request_id,)).fetchone()
    logged = json.loads(text)
    assert logged["candidates"] == ["strong", "cheap", "weak", "no-tools"]
    assert ("rows_f32le_b64" in logged) == kept
    if kept:
        assert rows_from_log(logged).shape == (4, len(feature_names()))

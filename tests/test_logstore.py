from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import aiosqlite
import httpx
import pytest

from proxy import config as config_mod
from proxy import logstore
from proxy.app import create_app
from proxy.logstore import Observation, SqliteLogStore
from tests.conftest import ENVIRON, make_config_dict
from tests.servers import serve_app


def observation(i: int, **kw: object) -> Observation:
    return Observation(
        id=f"id{i:04d}", started_at=1.0, requested_model="router", stream=False, status=200, latency_s=0.1, **kw
    )  # type: ignore[arg-type]


async def test_migrations_on_a_blank_database(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "x.db") as db:
        assert await logstore.migrate(db) == [name for name, _ in logstore.MIGRATIONS]
        assert await logstore.migrate(db) == []  # idempotent


async def test_migrations_upgrade_an_existing_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.db"
    async with aiosqlite.connect(path) as db:
        await logstore.migrate(db)
        await db.execute(
            "INSERT INTO calls (id, started_at, requested_model, stream, status, latency_s) "
            "VALUES ('old', 1, 'm', 0, 200, 0.5)"
        )
        await db.commit()
    later = (*logstore.MIGRATIONS, ("999_add_note", "ALTER TABLE calls ADD COLUMN note TEXT"))
    monkeypatch.setattr(logstore, "MIGRATIONS", later)
    async with aiosqlite.connect(path) as db:
        assert await logstore.migrate(db) == ["999_add_note"]
        async with db.execute("SELECT id, note FROM calls") as cur:
            assert await cur.fetchall() == [("old", None)]


async def test_records_are_written_in_batches_and_flushed_on_close(tmp_path: Path) -> None:
    store = SqliteLogStore(tmp_path / "log.db", batch=7)
    await store.start()
    for i in range(50):
        store.record(observation(i, request={"messages": [{"role": "user", "content": f"q{i}"}]}))
    await store.aclose()
    rows = sqlite3.connect(tmp_path / "log.db").execute("SELECT id, request_json FROM calls ORDER BY id").fetchall()
    assert len(rows) == 50 and store.written == 50
    assert json.loads(rows[3][1])["messages"][0]["content"] == "q3"


async def test_bodies_can_be_kept_as_hashes_only(tmp_path: Path) -> None:
    store = SqliteLogStore(tmp_path / "log.db", bodies="hash")
    await store.start()
    store.record(observation(1, request={"secret": "patient record"}, response={"x": 1}))
    await store.aclose()
    req, resp = sqlite3.connect(tmp_path / "log.db").execute("SELECT request_json, response_json FROM calls").fetchone()
    assert "patient" not in req and len(json.loads(req)["sha256"]) == 64
    assert len(json.loads(resp)["sha256"]) == 64


async def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    store = SqliteLogStore(tmp_path / "log.db", queue_size=2)  # not started: nothing drains the queue
    for i in range(5):
        store.record(observation(i))
    assert store.dropped == 3 and store.queue.qsize() == 2


def test_with_logging_disabled_calls_are_served_and_nothing_is_written(sim_url: str, tmp_path: Path) -> None:
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["log"]["enabled"] = False
    hi = {"model": "router", "messages": [{"role": "user", "content": "Say hi."}]}
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        assert httpx.get(f"{url}/ready").status_code == 200
        answer = httpx.post(f"{url}/v1/chat/completions", json=hi, timeout=30)
        assert answer.status_code == 200
        label = {"request_id": answer.headers["x-router-request-id"], "thumbs": "up"}
        assert httpx.post(f"{url}/v1/feedback", json=label).status_code == 404  # there is no logged call to label
    assert not (tmp_path / "calls.db").exists()

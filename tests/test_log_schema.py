"""One schema, two dialects: the DDL each store runs builds what the old hand-written DDL built, a database
made by the old code opens and upgrades cleanly, and the SQLite and Postgres tables never drift apart.

`tests/log_schema_v3.py` holds the old DDL verbatim: the fixture of a database created before the schema
had one definition. Each test runs on SQLite and, with a server, on Postgres."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import fields
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest

from proxy.log import postgres as logstore_pg
from proxy.log import sqlite as logstore
from proxy.log.postgres import PostgresLogStore
from proxy.log.queue import QueuedLogStore
from proxy.log.records import COLUMNS, LABEL_COLUMNS, Label, Observation
from proxy.log.sqlite import SqliteLogStore
from tests import log_schema_v3 as old
from tests import pg

Migrations = Sequence[tuple[str, str]]


class SqliteDb:
    dialect = "sqlite"
    old: Migrations = old.SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path

    async def migrate(self, migrations: Migrations | None = None) -> list[str]:
        """Migrate with today's code, or as the code that ran `migrations` would have."""
        with pytest.MonkeyPatch.context() as patch:
            if migrations is not None:
                patch.setattr(logstore, "MIGRATIONS", migrations)
            async with aiosqlite.connect(self.path) as db:
                return await logstore.migrate(db)

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.path)) as conn, conn:
            return [tuple(r) for r in conn.execute(sql)]

    async def shape(self) -> dict[str, Any]:
        """Everything SQLite knows of the schema: each object's DDL (comments and spacing aside), each table's
        columns (type, NOT NULL, default, key) and each index's columns."""
        objects = await self.rows("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        shape: dict[str, Any] = {"objects": [(*o[:3], _normal(o[3])) for o in objects]}
        for kind, name, *_ in objects:
            pragma = "table_xinfo" if kind == "table" else "index_xinfo"
            shape[name] = await self.rows(f"SELECT * FROM pragma_{pragma}('{name}')")
        return shape

    def store(self) -> QueuedLogStore:
        return SqliteLogStore(self.path)


class PostgresDb:
    dialect = "postgres"
    old: Migrations = old.POSTGRES

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def migrate(self, migrations: Migrations | None = None) -> list[str]:
        with pytest.MonkeyPatch.context() as patch:
            if migrations is not None:
                patch.setattr(logstore_pg, "MIGRATIONS", migrations)
            conn = await asyncpg.connect(self.dsn)
            try:
                return await logstore_pg.migrate(conn)
            finally:
                await conn.close()

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return await pg.fetch(self.dsn, sql)

    async def shape(self) -> dict[str, Any]:
        """Columns (type, nullability, default, collation, identity), indexes and constraints, schema name aside."""
        here = "table_schema = current_schema()"
        return {
            "columns": await self.rows(
                "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, column_default, "
                "collation_name, is_identity, identity_generation, identity_start, identity_increment "
                f"FROM information_schema.columns WHERE {here} ORDER BY 1, 2"
            ),
            "indexes": await self.rows(
                "SELECT tablename, indexname, replace(indexdef, current_schema() || '.', '') "
                "FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 2"
            ),
            "constraints": await self.rows(
                "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = current_schema()::regnamespace ORDER BY 2"
            ),
        }

    def store(self) -> QueuedLogStore:
        return PostgresLogStore(dsn=self.dsn)


Db = SqliteDb | PostgresDb


def _normal(sql: str | None) -> str | None:
    """DDL without comments, with spacing made uniform."""
    if sql is None:
        return None
    sql = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql)).strip()
    return re.sub(r"\s*([(),])\s*", r"\1", sql)


@pytest.fixture(params=["sqlite", "postgres"])
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Db, Db]]:
    """Two empty databases of one kind, to compare."""
    if request.param == "sqlite":
        yield SqliteDb(tmp_path / "a.db"), SqliteDb(tmp_path / "b.db")
        return
    first = request.getfixturevalue("pg_dsn")
    server = pg.server_dsn()
    schema = pg.new_schema(server)
    try:
        yield PostgresDb(first), PostgresDb(pg.with_settings(server, search_path=schema))
    finally:
        pg.drop_schema(server, schema)


# The migrations released after the old DDL, each adding to what it built.
LATER = ["004_dialect"]


def _today(db: Db) -> Migrations:
    return (logstore if db.dialect == "sqlite" else logstore_pg).MIGRATIONS


async def test_the_ddl_builds_what_the_old_ddl_built(dbs: tuple[Db, Db]) -> None:
    made_by_old, made_by_new = dbs
    assert await made_by_old.migrate(made_by_old.old) == [name for name, _ in made_by_old.old]
    released = _today(made_by_new)[: len(made_by_new.old)]
    assert await made_by_new.migrate(released) == [name for name, _ in made_by_new.old]  # the same names
    assert await made_by_new.shape() == await made_by_old.shape()
    assert [name for name, _ in _today(made_by_new)[len(made_by_new.old) :]] == LATER


async def test_a_database_the_old_code_left_part_way_is_upgraded_to_the_same_schema(dbs: tuple[Db, Db]) -> None:
    part_way, made_by_old = dbs
    await part_way.migrate(part_way.old[:1])
    assert await part_way.migrate() == [name for name, _ in part_way.old[1:]] + LATER
    await made_by_old.migrate(made_by_old.old)
    assert await made_by_old.migrate() == LATER  # today's code upgrades what the old code made
    assert await part_way.shape() == await made_by_old.shape()


async def test_an_old_database_gets_only_the_later_migrations_and_reads_and_writes(dbs: tuple[Db, Db]) -> None:
    db, _ = dbs
    await db.migrate(db.old)
    await db.rows(
        "INSERT INTO calls (id, started_at, requested_model, stream, status, latency_s, api_key_id, cost_usd, "
        "attempts_json, exploration) VALUES ('old', 1.5, 'router', 0, 200, 0.5, 'team', 0.25, '[]', 0)"
    )
    await db.rows(
        "INSERT INTO labels (call_id, score, source, created_at) VALUES ('old', 1.0, 'human', 2.0)"
    )  # fmt: skip
    migrations = await db.rows("SELECT name, applied_at FROM _migrations ORDER BY name")
    store = db.store()
    await store.start()
    try:
        store.record(Observation(id="new", started_at=3.0, requested_model="router", stream=True, status=200,
                                 latency_s=0.1, api_key_id="team", cost_usd=0.5, exploration=True))  # fmt: skip
        store.record_label(Label(call_id="new", score=0.0, source="judge:x", created_at=4.0, comment="no"))
        await store.flush()
        after = await db.rows("SELECT name, applied_at FROM _migrations ORDER BY name")
        assert [row for row in after if row in migrations] == migrations  # applied once, never again
        assert [name for name, _ in after if name not in dict(migrations)] == LATER
        newest, oldest = await store.read_calls()  # type: ignore[attr-defined]
        assert (newest.id, newest.stream, newest.exploration, oldest.id, oldest.attempts) == ("new", 1, 1, "old", [])
        assert (newest.dialect, oldest.dialect) == ("chat", None)  # a row from before the column: no dialect
        assert [x.source for x in newest.labels + oldest.labels] == ["judge:x", "human"]
        assert await store.has_call("old") and await store.has_call("new")  # type: ignore[attr-defined]
        assert await store.spend_since("team", 0.0) == 0.75  # type: ignore[attr-defined]
    finally:
        await store.aclose()
    assert store.written == 2 and store.dropped == 0


def _columns(migrations: Migrations) -> dict[str, list[str]]:
    """Each table's columns, in order, as the rendered DDL creates and alters them."""
    tables: dict[str, list[str]] = {}
    for _, sql in migrations:
        for statement in re.sub(r"--[^\n]*", "", sql).split(";"):
            if create := re.match(r"\s*CREATE TABLE (\w+) \((.*)\)\s*$", statement, re.S):
                items = re.split(r",(?![^(]*\))", create[2])  # commas not inside parentheses
                names = [item.split()[0] for item in items]
                tables[create[1]] = [n for n in names if n not in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK")]
            elif add := re.match(r"\s*ALTER TABLE (\w+) ADD COLUMN (\w+)", statement):
                tables[add[1]].append(add[2])
    return tables


def test_sqlite_and_postgres_render_the_same_columns_in_the_same_order() -> None:
    sqlite_tables, postgres_tables = _columns(logstore.MIGRATIONS), _columns(logstore_pg.MIGRATIONS)
    assert set(sqlite_tables) == {"calls", "labels"}
    assert {name: postgres_tables[name] for name in sqlite_tables} == sqlite_tables
    assert sqlite_tables["calls"] == list(COLUMNS)
    assert [c for c in sqlite_tables["labels"] if c != "id"] == list(LABEL_COLUMNS)


async def test_the_tables_on_disk_have_the_rendered_columns(dbs: tuple[Db, Db]) -> None:
    db, _ = dbs
    await db.migrate()
    module = logstore if db.dialect == "sqlite" else logstore_pg
    for table, columns in _columns(module.MIGRATIONS).items():
        if db.dialect == "sqlite":
            on_disk = await db.rows(f"SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
        else:
            on_disk = await db.rows(
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
            )
        assert [name for (name,) in on_disk] == columns, table


def test_every_column_is_a_field_of_the_records() -> None:
    """A `calls` column is the `Observation` field of its name (or `<field>_json`), a `labels` column a `Label`
    field: a column added without its field (or a field without its column) fails here, not in the writer."""
    as_fields = [c.removesuffix("_json") for c in COLUMNS]
    assert sorted(as_fields) == sorted(f.name for f in fields(Observation))
    assert set(LABEL_COLUMNS) == {f.name for f in fields(Label)}


# The two edits `proxy/log/__init__.py` says a new column takes, made in a fresh interpreter: a migration
# appended to `schema.MIGRATIONS`, and the field in `records.py` (on `Observation`, and on `LoggedCall` so the
# dashboard reads it back). Nothing else changes, yet the column is created, written and read.
NEW_COLUMN = """
import asyncio, os, sys, types
from pathlib import Path
from proxy.log import schema

schema.MIGRATIONS += (
    schema.Migration("004_note", (schema.AddColumn("calls", schema.Column("note", schema.Type.TEXT, "a note")),)),
)
path = Path(schema.__file__).with_name("records.py")
source = path.read_text()
assert source.count("    latency_s: float\\n") == 2  # Observation's and LoggedCall's
source = source.replace("    latency_s: float\\n", "    latency_s: float\\n    note: str | None = None\\n")
records = sys.modules["proxy.log.records"] = types.ModuleType("proxy.log.records")
exec(compile(source, str(path), "exec"), records.__dict__)

from proxy.log.records import Observation
from proxy.log.sqlite import store_for

async def main() -> None:
    store = store_for(os.environ["LOG_TARGET"])
    await store.start()
    store.record(Observation(id="b", started_at=2.0, requested_model="m", stream=False, status=200, latency_s=0.1,
                             note="hello"))
    await store.flush()
    print([call.note for call in await store.read_calls()])
    await store.aclose()

asyncio.run(main())
"""


async def test_a_new_column_takes_a_migration_and_a_record_field_and_nothing_else(dbs: tuple[Db, Db]) -> None:
    db, _ = dbs
    await db.migrate()  # a log written before the column existed
    await db.rows("INSERT INTO calls (id, started_at, requested_model, stream, status, latency_s) "
                  "VALUES ('a', 1.0, 'm', 0, 200, 0.1)")  # fmt: skip
    target = str(db.path) if isinstance(db, SqliteDb) else db.dsn
    run = subprocess.run(
        [sys.executable, "-c", NEW_COLUMN], env={**os.environ, "LOG_TARGET": target}, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['hello', None]"
    assert await db.rows("SELECT name FROM _migrations WHERE name = '004_note'") == [("004_note",)]

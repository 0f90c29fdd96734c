"""Record: every call becomes one row of training data, written off the request path.

The request path calls `record(observation)`, which only puts it on a bounded queue; one writer
task drains the queue in batches into SQLite (WAL mode), each batch in one worker-thread call on the
writer's own connection; reads go through one long-lived aiosqlite connection. The schema grows by
named, append-only migrations, applied in order and noted in `_migrations`.

Log stores sit behind the `LogStore` interface (`records.py`) and the `STORES` registry: this SQLite
store (the default) and the Postgres one in `postgres.py` (chosen by `[log] dsn`), both built on
`SqlLogStore` (`queries.py`: the reads) over `QueuedLogStore` (`queue.py`: the writer). Both run the
migrations of `schema.py`, rendered by `dialect.py`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from proxy.log import dsn as dsn_mod
from proxy.log.dialect import SQLITE
from proxy.log.queries import Query, SqlLogStore
from proxy.log.records import (
    COLUMNS,
    LABEL_COLUMNS,
    Label,
    LoggedCall,
    LogStore,
    Observation,
    label_row,
)
from proxy.settings import LogSettings

log = logging.getLogger(__name__)

MIGRATIONS: Sequence[tuple[str, str]] = SQLITE.migrations()


async def migrate(db: aiosqlite.Connection) -> list[str]:
    """Apply every migration not yet applied, in order; return the names applied now.

    Safe when several processes (uvicorn workers) start at once: each migration runs in one
    `BEGIN IMMEDIATE` transaction (the write lock; others wait for it) that first notes its name in
    `_migrations`, whose primary key then refuses a second application, which is rolled back whole.
    """
    await db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    async with db.execute("SELECT name FROM _migrations") as cur:
        done = {row[0] for row in await cur.fetchall()}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        note = f"INSERT INTO _migrations VALUES ('{name}', datetime('now'))"
        try:
            await db.executescript(f"BEGIN IMMEDIATE; {note}; {sql}; COMMIT;")
        except sqlite3.IntegrityError:
            await db.rollback()  # another process applied it first
            continue
        except sqlite3.Error:
            await db.rollback()
            raise
        applied.append(name)
    return applied


class SqliteLogStore(SqlLogStore):
    """The embedded default: one SQLite file in WAL mode, over one long-lived aiosqlite connection.

    Several processes (uvicorn workers) may share the file: a writer that finds it locked waits up to
    `busy_timeout_s`, and a batch that still fails for a busy database is retried, never lost.
    """

    busy_timeout_s = 30.0
    dialect = SQLITE

    def __init__(self, path: Path, *, bodies: str = "full", queue_size: int = 10_000, batch: int = 256) -> None:
        super().__init__(bodies=bodies, queue_size=queue_size, batch=batch)
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._writer_conn: sqlite3.Connection | None = None

    _errors = (sqlite3.Error, ValueError)  # ValueError: text SQLite cannot encode (a lone surrogate)

    @property
    def ready(self) -> bool:
        return self._db is not None and super().ready

    async def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, timeout=self.busy_timeout_s)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await migrate(self._db)
        self._writer_conn = await asyncio.to_thread(self._connect_writer)

    def _connect_writer(self) -> sqlite3.Connection:
        """The writer's own connection (reads stay on aiosqlite's); used from one worker thread at a time."""
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    async def _close(self) -> None:
        if self._writer_conn is not None:
            await asyncio.to_thread(self._writer_conn.close)
            self._writer_conn = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    def _transient(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))

    def _connected(self) -> bool:
        return self._db is not None

    async def _fetch(self, *queries: Query) -> list[list[Sequence[Any]]]:
        assert self._db is not None, "start() first"
        results: list[list[Any]] = []  # aiosqlite's rows are plain tuples (no row factory)
        for sql, args in queries:
            async with self._db.execute(sql, args) as cur:
                results.append(list(await cur.fetchall()))
        return results

    async def _write(self, items: Sequence[Observation | Label]) -> None:
        calls = await self.call_rows(items)
        labels = [label_row(x) for x in items if isinstance(x, Label)]
        # One hop to a worker thread per batch (inserts and commit together): aiosqlite's one hop per
        # statement cost a routed call ~0.5 ms of CPU at low load, when every batch is a single row.
        await asyncio.to_thread(self._write_now, calls, labels)

    def _write_now(self, calls: list[tuple[Any, ...]], labels: list[tuple[Any, ...]]) -> None:
        conn = self._writer_conn
        assert conn is not None, "start() first"
        try:
            if calls:
                conn.executemany(_INSERT_CALL, calls)
            if labels:
                conn.executemany(_INSERT_LABEL, labels)
            conn.commit()
        except (sqlite3.Error, ValueError):
            conn.rollback()  # all or none: a retried batch must not find half of itself written
            raise


_INSERT_CALL = SQLITE.insert("calls", COLUMNS)
_INSERT_LABEL = SQLITE.insert("labels", LABEL_COLUMNS)


class NoLogStore:
    """`[log] enabled = false`: nothing is written. Feedback then finds no call (404) and budgets start at zero."""

    ready = True
    written = 0
    dropped = 0

    async def start(self) -> None:
        return None

    def record(self, observation: Observation) -> None:
        return None

    def record_label(self, label: Label) -> None:
        return None

    async def has_call(self, call_id: str) -> bool:
        return False

    async def spend_since(self, api_key_id: str, since: float) -> float:
        return 0.0

    async def read_calls(
        self, *, since: float | None = None, until: float | None = None, limit: int = 10_000, call_id: str | None = None
    ) -> list[LoggedCall]:
        return []  # the dashboard shows empty panels

    async def aclose(self) -> None:
        return None


def _postgres(**kwargs: Any) -> LogStore:
    from proxy.log.postgres import PostgresLogStore  # imports asyncpg: only when Postgres is configured

    return PostgresLogStore(**kwargs)


STORES: dict[str, Callable[..., LogStore]] = {"sqlite": SqliteLogStore, "postgres": _postgres}


def store_for(source: str | Path, **kwargs: Any) -> LogStore:
    """A store on the log a script names: a `postgresql://` DSN (password from PGPASSWORD) or a SQLite path."""
    if isinstance(source, str) and dsn_mod.is_dsn(source):
        return STORES["postgres"](dsn=source, **kwargs)
    return STORES["sqlite"](Path(source), **kwargs)


def open_store(settings: LogSettings) -> LogStore:
    """The log store the settings name: none when logging is off, Postgres when `dsn` is set, else the
    SQLite file at `path`."""
    if not settings.enabled:
        return NoLogStore()
    common = {"bodies": settings.bodies, "queue_size": settings.queue_size}
    if settings.dsn:
        return STORES["postgres"](dsn=settings.dsn, password=settings.password, **common)
    return STORES["sqlite"](settings.path, **common)

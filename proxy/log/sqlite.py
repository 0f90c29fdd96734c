"""Record: every call becomes one row of training data, written off the request path.

The request path calls `record(observation)`, which only puts it on a bounded queue; one writer
task drains the queue in batches into SQLite (WAL mode), each batch in one worker-thread call on the
writer's own connection; reads go through one long-lived aiosqlite connection. The schema grows by
named, append-only migrations, applied in order and noted in `_migrations`.

Log stores sit behind the `LogStore` interface (`records.py`) and the `STORES` registry: this SQLite
store (the default) and the Postgres one in `logstore_pg.py` (chosen by `[log] dsn`; same schema, same
migration names), both built on `QueuedLogStore` (`logqueue.py`).

Schema notes beyond the column comments in `MIGRATIONS`: `calls.status` is the call's outcome, which
for a stream that failed after its first byte is the error's status (the HTTP status already sent was
200) and 499 when the client went away; `attempts_json` lists every try in order, each with its
status and error when it failed; `decision_json` is what `/v1/route` shows for the call;
`features_json` is `Features.for_log()`: the candidates, a digest of the feature names and, when the
request body is not kept in full (or `[log] feature_rows = "always"`), the float32 rows in base64
(`proxy.route.features.rows_from_log` decodes them; rows logged before this format hold JSON lists).
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
from proxy.log.queue import QueuedLogStore
from proxy.log.records import (  # re-exported: the log's record types are imported from here throughout
    COLUMNS,
    LABEL_COLUMNS,
    READ_COLUMNS,
    Label,
    LoggedCall,
    LogStore,
    Observation,
    label_row,
    logged_call,
)
from proxy.settings import LogSettings

log = logging.getLogger(__name__)


MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "001_calls",
        """
        CREATE TABLE calls (
            id TEXT PRIMARY KEY,            -- time-sortable (ULID)
            started_at REAL NOT NULL,       -- unix seconds
            requested_model TEXT NOT NULL,  -- what the client asked for: a backend or a routing alias
            alias TEXT,
            backend TEXT,                   -- the backend that answered, or the last one tried
            upstream_model TEXT,
            stream INTEGER NOT NULL,
            status INTEGER NOT NULL,        -- HTTP status returned to the client
            error TEXT,
            ttft_s REAL,
            latency_s REAL NOT NULL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd REAL,                  -- from usage x the backend's prices
            feature_version TEXT,
            model_version TEXT,
            api_key_id TEXT,
            decision_json TEXT,
            features_json TEXT,
            attempts_json TEXT,
            request_json TEXT,
            response_json TEXT
        );
        CREATE INDEX calls_started_at ON calls(started_at);
        CREATE INDEX calls_backend ON calls(backend);
        """,
    ),
    (
        "002_usage_source",
        """
        ALTER TABLE calls ADD COLUMN usage_source TEXT;  -- "upstream" or "estimated" (stream cut short)
        CREATE INDEX calls_api_key ON calls(api_key_id, started_at);
        """,
    ),
    (
        "003_labels_and_exploration",
        """
        ALTER TABLE calls ADD COLUMN exploration INTEGER;         -- 1: an exploration pick
        ALTER TABLE calls ADD COLUMN selection_probability REAL;  -- P(pick) under the routing policy
        CREATE TABLE labels (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            call_id TEXT NOT NULL,          -- calls.id
            score REAL NOT NULL,            -- 0..1, 1 = acceptable
            source TEXT NOT NULL,           -- human, judge:<model>, exact_match, rouge_l, ...
            comment TEXT,
            api_key_id TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX labels_call ON labels(call_id);
        """,
    ),
)


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


class SqliteLogStore(QueuedLogStore):
    """The embedded default: one SQLite file in WAL mode, over one long-lived aiosqlite connection.

    Several processes (uvicorn workers) may share the file: a writer that finds it locked waits up to
    `busy_timeout_s`, and a batch that still fails for a busy database is retried, never lost.
    """

    busy_timeout_s = 30.0

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

    async def has_call(self, call_id: str) -> bool:
        """Whether the call is logged (waiting for the queue first, so a call just answered is found)."""
        assert self._db is not None, "start() first"
        await self.flush()
        async with self._db.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)) as cur:
            return await cur.fetchone() is not None

    async def spend_since(self, api_key_id: str, since: float) -> float:
        """USD the key spent since `since` (unix seconds), from the calls on disk."""
        assert self._db is not None, "start() first"
        sql = "SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE api_key_id = ? AND started_at >= ?"
        async with self._db.execute(sql, (api_key_id, since)) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row else 0.0

    async def read_calls(
        self, *, since: float | None = None, until: float | None = None, limit: int = 10_000, call_id: str | None = None
    ) -> list[LoggedCall]:
        """Logged calls started in [since, until), newest first, at most `limit`, each with its labels.

        Without bodies (they can be large) except when one call is asked for by `call_id`. Reads only what
        is on disk: a call still on the write queue shows up a moment later.
        """
        assert self._db is not None, "start() first"
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if call_id is not None:
            where.append("id = ?")
            args.append(call_id)
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        if until is not None:
            where.append("started_at < ?")
            args.append(until)
        bodies = ", request_json, response_json" if call_id is not None else ""
        window = f"FROM calls WHERE {' AND '.join(where)} ORDER BY started_at DESC, id DESC LIMIT ?"
        async with self._db.execute(f"SELECT {', '.join(READ_COLUMNS)}{bodies} {window}", (*args, limit)) as cur:
            rows = await cur.fetchall()
        labels: dict[str, list[Label]] = {}
        async with self._db.execute(
            "SELECT l.call_id, l.score, l.source, l.created_at, l.comment, l.api_key_id FROM labels l "
            f"JOIN (SELECT id {window}) c ON c.id = l.call_id ORDER BY l.id",
            (*args, limit),
        ) as cur:
            for label in await cur.fetchall():
                labels.setdefault(label[0], []).append(Label(*label))
        # Decoding thousands of JSON columns is CPU work: off the event loop, which serves the proxy's traffic.
        return await asyncio.to_thread(lambda: [logged_call(row, labels.get(row[0], ())) for row in rows])

    async def _write(self, items: Sequence[Observation | Label]) -> None:
        calls = [self.call_row(o) for o in items if isinstance(o, Observation)]
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


_INSERT_CALL = f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_INSERT_LABEL = f"INSERT INTO labels ({', '.join(LABEL_COLUMNS)}) VALUES ({', '.join('?' * len(LABEL_COLUMNS))})"


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

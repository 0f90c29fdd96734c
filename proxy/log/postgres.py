"""The Postgres log store: the SQLite store's schema and behaviour, shared by every replica.

Chosen by `[log] dsn`. The only module that imports asyncpg, and only when a store opens or a log is
read, so the SQLite default never needs it. Same tables, columns and migration names as `sqlite.py`
(one definition, `schema.py`, in Postgres' types: `dialect.py`), plus `limits_001`, the tables behind
the replicas' shared rate limits and budgets (`proxy/limits/shared.py` queries them through `fetchrow`).
Migrations run under an advisory lock, so replicas that start together apply each one exactly once.

The writer inserts a batch in one statement that also adds the batch's cost to `key_spend` and its
tokens to `rate_windows`, in the same transaction: the counters never disagree with `calls`, and a
batch retried after a lost connection skips the calls already there (`ON CONFLICT DO NOTHING`) and
counts nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from proxy.log import dsn as dsn_mod
from proxy.log import schema
from proxy.log.dialect import POSTGRES, POSTGRES_ARRAYS
from proxy.log.queries import LOG_LABELS, Query, SqlLogStore
from proxy.log.records import COLUMNS, LABEL_COLUMNS, Label, LogStoreError, Observation, label_row

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key: any 64-bit constant shared by every replica ("switchyd" in ASCII).
MIGRATION_LOCK = 0x7377697463687964

MIGRATIONS: Sequence[tuple[str, str]] = POSTGRES.migrations()

TYPES = {c.name: POSTGRES_ARRAYS[c.type] for c in schema.columns("calls", "postgres")}  # for the batch's arrays
_TEXT = [i for i, c in enumerate(COLUMNS) if TYPES[c] == "text" and not c.endswith("_json")]

_INSERT_BATCH = f"""
WITH new AS (
    INSERT INTO calls ({", ".join(COLUMNS)})
    SELECT * FROM unnest({", ".join(f"${i + 1}::{TYPES[c]}[]" for i, c in enumerate(COLUMNS))})
    ON CONFLICT (id) DO NOTHING
    RETURNING api_key_id, started_at, cost_usd, COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0) AS tokens
), spend AS (
    INSERT INTO key_spend AS s (key_id, day, usd)
    SELECT api_key_id, (to_timestamp(started_at) AT TIME ZONE 'UTC')::date, SUM(cost_usd) FROM new
    WHERE api_key_id IS NOT NULL AND cost_usd IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (key_id, day) DO UPDATE SET usd = s.usd + EXCLUDED.usd
)
INSERT INTO rate_windows AS w (key_id, window_start, tokens)
SELECT api_key_id, (floor(started_at / 60) * 60)::bigint, SUM(tokens) FROM new
WHERE api_key_id IS NOT NULL AND tokens > 0 GROUP BY 1, 2
ON CONFLICT (key_id, window_start) DO UPDATE SET tokens = w.tokens + EXCLUDED.tokens
"""
_INSERT_LABEL = POSTGRES.insert("labels", LABEL_COLUMNS)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply every migration not yet applied, in order, in one transaction; return the names applied now.

    The transaction first takes an advisory lock, so a replica starting at the same time waits, then
    finds the migrations applied and applies nothing.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {row["name"] for row in await conn.fetch("SELECT name FROM _migrations")}
        applied = []
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ($1, now())", name)
            applied.append(name)
    return applied


class PostgresLogStore(SqlLogStore):
    """Calls and labels in Postgres, through a small asyncpg pool (the writer holds one connection)."""

    prune_every_s = 60.0  # rate windows older than two minutes are deleted this often
    dialect = POSTGRES

    def __init__(
        self,
        *,
        dsn: str,
        password: str | None = None,
        bodies: str = "full",
        queue_size: int = 10_000,
        batch: int = 256,
        pool_size: int = 8,
    ) -> None:
        super().__init__(bodies=bodies, queue_size=queue_size, batch=batch)
        self.dsn = dsn
        self._password = password
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._pruned_at = 0.0

    def __repr__(self) -> str:
        return f"PostgresLogStore({dsn_mod.redact(self.dsn)!r})"

    @property
    def ready(self) -> bool:
        return self._pool is not None and super().ready

    async def _open(self) -> None:
        import asyncpg

        self._errors = (
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,  # e.g. a connection killed mid-query: the pool replaces it
            OSError,
            TimeoutError,
            ValueError,
        )
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn, password=self._password, min_size=1, max_size=self.pool_size, command_timeout=30
            )
            async with self._pool.acquire() as conn:
                applied = await migrate(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
            raise LogStoreError(f"cannot open the Postgres log at {self.where}: {self._describe(exc)}") from None
        if applied:
            log.info("Postgres log %s: applied migrations %s", self.where, ", ".join(applied))

    @property
    def where(self) -> str:
        return dsn_mod.redact(self.dsn)

    async def _close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _describe(self, exc: Exception) -> str:
        return dsn_mod.scrub(f"{type(exc).__name__}: {exc}", self._password, dsn_mod.password(self.dsn))

    def _transient(self, exc: Exception) -> bool:
        """Lost or refused connections, a server shutting down, serialization failures: worth retrying."""
        state = str(getattr(exc, "sqlstate", "") or "")
        if state:
            return state[:2] in ("08", "40", "53") or state[:3] == "57P"
        return isinstance(exc, OSError | TimeoutError) or type(exc).__name__ in (
            "InterfaceError",
            "ConnectionDoesNotExistError",
            "InternalClientError",
        )

    async def _write(self, items: Sequence[Observation | Label]) -> None:
        assert self._pool is not None
        calls = [_clean(row) for row in await self.call_rows(items)]
        labels = [label_row(x) for x in items if isinstance(x, Label)]
        async with self._pool.acquire() as conn, conn.transaction():
            if calls:
                await conn.execute(_INSERT_BATCH, *(list(col) for col in zip(*calls, strict=True)))
            if labels:
                await conn.executemany(_INSERT_LABEL, labels)
            if time.monotonic() - self._pruned_at > self.prune_every_s:
                await conn.execute("DELETE FROM rate_windows WHERE window_start < $1", int(time.time()) - 180)
                self._pruned_at = time.monotonic()

    def _connected(self) -> bool:
        return self._pool is not None

    async def _fetch(self, *queries: Query) -> list[list[Sequence[Any]]]:
        assert self._pool is not None, "start() first"
        async with self._pool.acquire() as conn:
            return [list(await conn.fetch(sql, *args)) for sql, args in queries]

    async def fetchrow(self, sql: str, *args: Any, timeout: float) -> Mapping[str, Any]:
        """One row of a query on the pool (for the shared limits); LogStoreError, password-free, on failure."""
        assert self._pool is not None, "start() first"
        try:
            row = await self._pool.fetchrow(sql, *args, timeout=timeout)
        except self._errors as exc:
            raise LogStoreError(f"query on the Postgres log at {self.where} failed: {self._describe(exc)}") from None
        assert row is not None, "the query returns one row"
        return cast(Mapping[str, Any], row)


def _clean(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Postgres text cannot hold NUL: replace it in the plain text columns (JSON ones are ASCII-escaped)."""
    if not any(isinstance(row[i], str) and "\x00" in row[i] for i in _TEXT):
        return row
    out = list(row)
    for i in _TEXT:
        if isinstance(out[i], str):
            out[i] = out[i].replace("\x00", "\ufffd")
    return tuple(out)


def read_log(dsn: str, since: float = 0.0, page: int = 1000) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every successful call started at or after `since`, oldest first, with its labels (see `read.py`).

    Synchronous, for scripts: it runs its own event loop and reads the calls a page at a time.
    """
    import asyncpg

    loop = asyncio.new_event_loop()

    def run(step: Any) -> Any:
        try:
            return loop.run_until_complete(step)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            message = dsn_mod.scrub(f"{type(exc).__name__}: {exc}", dsn_mod.password(dsn))
            raise LogStoreError(f"cannot read the Postgres log at {dsn_mod.redact(dsn)}: {message}") from None

    try:
        conn = run(asyncpg.connect(dsn, timeout=30))
        try:
            labels: dict[str, list[dict[str, Any]]] = {}
            for row in run(conn.fetch(LOG_LABELS)):
                labels.setdefault(row["call_id"], []).append(dict(row))
            last = ""
            query = "SELECT * FROM calls WHERE status = 200 AND started_at >= $1 AND id > $2 ORDER BY id LIMIT $3"
            while rows := run(conn.fetch(query, since, last, page)):
                for row in rows:
                    yield dict(row), labels.get(row["id"], [])
                last = rows[-1]["id"]
        finally:
            loop.run_until_complete(conn.close())
    finally:
        loop.close()

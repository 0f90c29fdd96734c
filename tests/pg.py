"""A throwaway Postgres schema per test, on the server named by SWITCHYARD_TEST_PG_DSN.

`eval "$(scripts/ci_postgres.sh)"` starts a server and sets the variable (`.ci/run` does); without
it, the tests that need Postgres are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

DSN_ENV = "SWITCHYARD_TEST_PG_DSN"


def server_dsn() -> str:
    dsn = os.environ.get(DSN_ENV)
    if not dsn:
        pytest.skip(f'no PostgreSQL server: {DSN_ENV} is not set (eval "$(scripts/ci_postgres.sh)" starts one)')
    return dsn


def with_settings(dsn: str, **settings: str) -> str:
    """The DSN with server settings (e.g. search_path) as query parameters, which asyncpg passes on."""
    parts = urlsplit(dsn)
    query = "&".join([*(q for q in [parts.query] if q), *(f"{k}={v}" for k, v in settings.items())])
    return urlunsplit(parts._replace(query=query))


def without_password(dsn: str) -> tuple[str, str]:
    """(the DSN without its password, the password): how a config names a database."""
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}")), parts.password or ""


async def fetch(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def fetch_sync(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return asyncio.run(fetch(dsn, sql, *args))


def new_schema(dsn: str) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    fetch_sync(dsn, f"CREATE SCHEMA {schema}")
    return schema


def drop_schema(dsn: str, schema: str) -> None:
    fetch_sync(dsn, f"DROP SCHEMA {schema} CASCADE")

"""Read a call log from either store: a SQLite file or a Postgres DSN, one function for both.

Training (`switchyard train --log`), replay and export all read through `read_log`, so a log
kept in Postgres by several replicas feeds the learning loop exactly as a local SQLite file does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from proxy.log import dsn as dsn_mod
from proxy.log.queries import LOG_LABELS
from proxy.log.records import LogStoreError

Row = dict[str, Any]


def read_log(source: str | Path, since: float = 0.0) -> Iterator[tuple[Row, list[Row]]]:
    """Every successful call (status 200) started at or after `since`, oldest first, with its labels.

    `source` is a `postgresql://` DSN (the password may come from PGPASSWORD) or a SQLite path.
    Each call is its `calls` row as a dict (same columns and value types from either store); each
    label has `call_id`, `score`, `source`, `comment` and `created_at`, oldest first.
    """
    if isinstance(source, str) and dsn_mod.is_dsn(source):
        from proxy.log.postgres import read_log as read_postgres

        yield from read_postgres(source, since)
        return
    path = Path(source)
    if not path.is_file():
        raise LogStoreError(f"no such log database: {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        labels: dict[str, list[Row]] = {}
        for row in conn.execute(LOG_LABELS):
            labels.setdefault(row["call_id"], []).append(dict(row))
        for row in conn.execute("SELECT * FROM calls WHERE status = 200 AND started_at >= ? ORDER BY id", (since,)):
            yield dict(row), labels.get(row["id"], [])
    finally:
        conn.close()


def describe(source: str | Path) -> str:
    """`source` as it may be shown: a DSN without its password, or the path."""
    return dsn_mod.redact(source) if isinstance(source, str) and dsn_mod.is_dsn(source) else str(source)

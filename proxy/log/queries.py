"""The reads every store answers, written once: each query is built for the store's dialect (`?` or `$1`
placeholders) and run through the store's one `_fetch`, so SQLite and Postgres read the same rows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from proxy.log.dialect import Dialect
from proxy.log.queue import QueuedLogStore
from proxy.log.records import BODY_COLUMNS, READ_COLUMNS, Label, LoggedCall, logged_call

Query = tuple[str, Sequence[Any]]

# Every label of a log, oldest first, as the scripts read them (`read.py`).
LOG_LABELS = "SELECT call_id, score, source, comment, created_at FROM labels ORDER BY id"
_LABEL = ", ".join(f"l.{f.name}" for f in fields(Label))  # in `Label`'s order


def has_call(d: Dialect, call_id: str) -> Query:
    return f"SELECT EXISTS (SELECT 1 FROM calls WHERE id = {d.placeholder(1)})", (call_id,)


def spend_since(d: Dialect, api_key_id: str, since: float) -> Query:
    where = f"api_key_id = {d.placeholder(1)} AND started_at >= {d.placeholder(2)}"
    return f"SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE {where}", (api_key_id, since)


def read_calls(
    d: Dialect, *, since: float | None, until: float | None, limit: int, call_id: str | None
) -> tuple[Query, Query]:
    """The calls started in [since, until), newest first, at most `limit` (bodies only for one `call_id`),
    and the labels of those calls, oldest first."""
    where, args = ["1 = 1"], []
    for clause, value in (("id =", call_id), ("started_at >=", since), ("started_at <", until)):
        if value is not None:
            args.append(value)
            where.append(f"{clause} {d.placeholder(len(args))}")
    args.append(limit)
    window = (
        f"FROM calls WHERE {' AND '.join(where)} ORDER BY started_at DESC, id DESC LIMIT {d.placeholder(len(args))}"
    )
    columns = READ_COLUMNS + (BODY_COLUMNS if call_id is not None else ())
    calls = f"SELECT {', '.join(columns)} {window}"
    labels = f"SELECT {_LABEL} FROM labels l JOIN (SELECT id {window}) c ON c.id = l.call_id ORDER BY l.id"
    return (calls, args), (labels, args)


class SqlLogStore(QueuedLogStore):
    """A queued store that answers the reads with SQL in its `dialect`; it implements `_connected` and `_fetch`."""

    dialect: Dialect

    def _connected(self) -> bool:
        raise NotImplementedError

    async def _fetch(self, *queries: Query) -> list[list[Sequence[Any]]]:
        """Each query's rows, the queries run one after another on one connection."""
        raise NotImplementedError

    async def has_call(self, call_id: str) -> bool:
        """Whether the call is logged (waiting for this store's queue first, so a call just answered is found)."""
        assert self._connected(), "start() first"
        await self.flush()
        [[row]] = await self._fetch(has_call(self.dialect, call_id))
        return bool(row[0])

    async def spend_since(self, api_key_id: str, since: float) -> float:
        """USD the key spent since `since` (unix seconds), from the calls written (by every replica)."""
        assert self._connected(), "start() first"
        [[row]] = await self._fetch(spend_since(self.dialect, api_key_id, since))
        return float(row[0])

    async def read_calls(
        self, *, since: float | None = None, until: float | None = None, limit: int = 10_000, call_id: str | None = None
    ) -> list[LoggedCall]:
        """Logged calls started in [since, until), newest first, at most `limit`, each with its labels.

        Without bodies (they can be large) except when one call is asked for by `call_id`. Reads only what
        is written: a call still on the write queue shows up a moment later.
        """
        assert self._connected(), "start() first"
        queries = read_calls(self.dialect, since=since, until=until, limit=limit, call_id=call_id)
        rows, labelled = await self._fetch(*queries)
        labels: dict[str, list[Label]] = {}
        for label in labelled:
            labels.setdefault(label[0], []).append(Label(*label))
        # Decoding thousands of JSON columns is CPU work: off the event loop, which serves the proxy's traffic.
        return await asyncio.to_thread(lambda: [logged_call(tuple(row), labels.get(row[0], ())) for row in rows])

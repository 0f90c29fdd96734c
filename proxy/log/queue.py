"""The writer every log store shares: a bounded queue the request path puts records on without waiting,
and one task that drains it in batches, retries what failed for a transient reason and keeps every row
it can. Subclasses (`sqlite.SqliteLogStore`, `postgres.PostgresLogStore`, through `queries.SqlLogStore`) say how
a batch is written."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

from proxy.errors import Unencodable
from proxy.log.records import BODY_COLUMNS, COLUMNS, Label, Observation, to_json
from proxy.log.redact import BY_NAME, Redactor

log = logging.getLogger(__name__)


class QueuedLogStore:
    """What every log store shares: the bounded queue, one writer task, batches, retries, the row layout.

    `record` never waits: a full queue drops the row and counts it (`dropped`). The writer retries a batch
    that failed for a transient reason (a busy database, a lost connection) until it is written; a batch
    refused for good (or holding a row that cannot be written as JSON) is retried row by row, and a row
    that still cannot be written is written reduced (`reduced`): its bodies, features, decision and
    attempts left out and its text made valid UTF-8, with the reason in its error. One bad row (a body
    nested too deeply to encode, a lone surrogate) never takes the other rows of its batch with it;
    only a row that cannot be written even reduced is dropped.
    `pending_spend` is the cost of recorded calls not yet written, per API key (for shared budgets).
    Subclasses implement `_open`, `_close`, `_write` and `_transient`.
    """

    drain_timeout_s = 30.0  # on close, how long the writer gets to empty the queue
    # Rows encoded (bodies redacted, JSON written) between the writer's yields to the event loop. A batch
    # encoded in one go held the loop for all of it: ~0.02-0.04 ms a row (0.75 ms for a 400 KB body), so
    # 2.5 ms for the 60 rows of one linger at 1,200 calls/s and 5-10 ms for a full batch of 256, during
    # which no request moved.
    encode_slice = 8
    # How long the writer lets a batch gather after its first row. Each batch is one transaction, and at
    # low load, when every batch would be a single row, its hop and commit were a quarter of a routed call's CPU.
    linger_s = 0.05

    def __init__(self, *, bodies: str = "full", queue_size: int = 10_000, batch: int = 256) -> None:
        self.bodies = bodies
        self.batch = batch
        self.queue: asyncio.Queue[Observation | Label] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0
        self.written = 0
        self.reduced = 0  # rows written without their bodies (counted in `written` too)
        # Bodies are stored with secrets redacted; the app gives it the configured upstream keys to mask.
        self.redactor: Redactor = BY_NAME
        self.pending_spend: dict[str, float] = defaultdict(float)
        self._writer: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._writer is not None and not self._writer.done()

    async def start(self) -> None:
        await self._open()
        self._writer = asyncio.create_task(self._write_forever(), name="logstore-writer")

    def record(self, observation: Observation) -> None:
        if self._enqueue(observation) and observation.api_key_id and observation.cost_usd:
            self.pending_spend[observation.api_key_id] += observation.cost_usd

    def record_label(self, label: Label) -> None:
        self._enqueue(label)

    def _enqueue(self, item: Observation | Label) -> bool:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("log queue full (%d): %s not written", self.queue.maxsize, _what(item))
            return False
        return True

    async def flush(self) -> None:
        """Wait until everything recorded so far is written."""
        await self.queue.join()

    async def aclose(self) -> None:
        if self._writer is not None:
            try:
                await asyncio.wait_for(self.flush(), self.drain_timeout_s)
            except TimeoutError:
                lost = self.queue.qsize()
                log.error("log writer did not drain in %.0f s: %d rows not written", self.drain_timeout_s, lost)
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self._close()

    async def _write_forever(self) -> None:
        while True:
            items = [await self.queue.get()]
            if self.queue.qsize() < self.batch - 1:
                await asyncio.sleep(self.linger_s)
            while len(items) < self.batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            try:
                await self._write_batch(items)
            except Exception:  # a bug here must not stop the writer: every later row would be lost too
                self.dropped += len(items)
                log.exception("log writer: unexpected error, %d rows not written", len(items))
            finally:
                for item in items:
                    if isinstance(item, Observation) and item.api_key_id and item.cost_usd:
                        self.pending_spend[item.api_key_id] -= item.cost_usd
                    self.queue.task_done()

    async def _write_batch(self, items: list[Observation | Label]) -> None:
        delay = 0.02
        while True:
            try:
                await self._write(items)
                self.written += len(items)
                return
            except Unencodable:
                break
            except self._errors as exc:
                if not self._transient(exc):
                    break
                log.warning("log write failed (%s), retrying %d rows in %.2f s", self._describe(exc), len(items), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        unwritable: tuple[type[Exception], ...] = (Unencodable, *self._errors)
        for item in items:  # refused for good: keep every row that can be written, reduced if need be
            try:
                await self._write([item])
                self.written += 1
                continue
            except unwritable as exc:
                reason = self._describe(exc)
            try:
                await self._write([reduced(item, reason)])
            except unwritable as exc:
                self.dropped += 1
                log.error("log row not written (%s): %s", _what(item), self._describe(exc))
                continue
            self.written += 1
            self.reduced += 1
            log.warning("log row written without its bodies (%s): %s", _what(item), reason)

    _errors: tuple[type[Exception], ...] = ()

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def _write(self, items: Sequence[Observation | Label]) -> None:
        """Write the rows in one transaction: all or none."""
        raise NotImplementedError

    def _transient(self, exc: Exception) -> bool:
        raise NotImplementedError

    def _describe(self, exc: Exception) -> str:
        return f"{type(exc).__name__}: {exc}"

    async def call_rows(self, items: Sequence[Observation | Label]) -> list[tuple[Any, ...]]:
        """The `calls` rows of a batch's observations (`call_row`), letting requests run every `encode_slice` rows."""
        rows: list[tuple[Any, ...]] = []
        for o in items:
            if isinstance(o, Observation):
                if rows and len(rows) % self.encode_slice == 0:
                    await asyncio.sleep(0)
                rows.append(self.call_row(o))
        return rows

    def call_row(self, o: Observation) -> tuple[Any, ...]:
        """The `calls` row of an observation, in `COLUMNS` order (the same for every store): each column is
        the field of its name, a flag as 0 or 1, `<field>_json` the field as JSON (a body as `bodies` says)."""
        row: list[Any] = []
        for name, kind in _ROW:
            value = getattr(o, name)
            if kind == "body":
                value = self._body(value)
            elif kind == "json":
                value = to_json(value)
            elif isinstance(value, bool):
                value = int(value)
            row.append(value)
        return tuple(row)

    def _body(self, body: Any) -> str | None:
        if body is None or self.bodies == "none":
            return None
        text = to_json(self.redactor.value(body))
        if self.bodies == "hash" and text is not None:
            return json.dumps({"sha256": hashlib.sha256(text.encode()).hexdigest()})
        return text


def reduced(item: Observation | Label, reason: str) -> Observation | Label:
    """`item` in a form every store can write: no JSON blobs, every text valid UTF-8, the reason in its error."""
    changes: dict[str, Any] = {}
    for f in fields(item):
        value = getattr(item, f.name)
        if isinstance(value, str):
            changes[f.name] = _valid_utf8(value)
    if isinstance(item, Observation):
        note = f"[log row reduced: {_valid_utf8(reason)[:200]}]"
        error = changes.get("error")
        changes.update(
            request=None,
            response=None,
            features=None,
            decision=None,
            attempts=[],
            error=f"{error} {note}" if error else note,
        )
    return replace(item, **changes)


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


# (the Observation field, how it is stored) for each column of `COLUMNS`
_ROW = tuple(
    (c.removesuffix("_json"), "body" if c in BODY_COLUMNS else "json" if c.endswith("_json") else "value")
    for c in COLUMNS
)


def _what(item: Observation | Label) -> str:
    """A row as its log lines name it."""
    return f"call {item.id}" if isinstance(item, Observation) else f"label for {item.call_id}"

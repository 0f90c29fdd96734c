"""The log's tables, defined once: append-only named migrations of typed, commented columns.

Every store renders the same `MIGRATIONS` in its own SQL (`dialect.py`) and notes each name it applies
in `_migrations`, so a migration already applied is never run again. A migration is never edited once
released; a change to the schema is a new migration at the end. A table's current columns are what its
migrations created and added, in that order (`columns`), which is also the order of `records.COLUMNS`.

Schema notes beyond the column comments: `calls.status` is the call's outcome, which for a stream that
failed after its first byte is the error's status (the HTTP status already sent was 200) and 499 when
the client went away; `attempts_json` lists every try in order, each with its status and error when it
failed; `decision_json` is what `/v1/route` shows for the call; `features_json` is `Features.for_log()`:
the candidates, a digest of the feature names and, when the request body is not kept in full (or
`[log] feature_rows = "always"`), the float32 rows in base64 (`proxy.route.features.rows_from_log`
decodes them; rows logged before this format hold JSON lists). JSON is TEXT in every store, so every
store gives readers the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Type(Enum):
    """A column's logical type; each dialect names the SQL type that stores it."""

    TEXT = "text"
    REAL = "real"  # an 8-byte float
    INT = "int"  # a 4-byte integer (flags and HTTP statuses)
    BIGINT = "bigint"  # an 8-byte integer (token counts, unix seconds)
    ID = "id"  # text that sorts byte by byte: the time-sortable call ids
    ROW_NUMBER = "row_number"  # the table's own increasing number, its primary key
    DATE = "date"  # a calendar day (Postgres only)


@dataclass(frozen=True)
class Column:
    name: str
    type: Type
    comment: str = ""
    not_null: bool = False
    primary_key: bool = False
    default: str | None = None  # an SQL literal


@dataclass(frozen=True)
class CreateTable:
    table: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()  # a key of several columns
    comment: str = ""


@dataclass(frozen=True)
class AddColumn:
    table: str
    column: Column


@dataclass(frozen=True)
class CreateIndex:
    name: str
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """SQL that moves data rather than shaping a table, run as written: its migration names the dialects."""

    sql: str


Step = CreateTable | AddColumn | CreateIndex | Statement

EVERY_STORE = frozenset({"sqlite", "postgres"})


@dataclass(frozen=True)
class Migration:
    name: str
    steps: tuple[Step, ...]
    dialects: frozenset[str] = EVERY_STORE


TEXT, REAL, INT, BIGINT = Type.TEXT, Type.REAL, Type.INT, Type.BIGINT

# fmt: off

MIGRATIONS: tuple[Migration, ...] = (
    Migration("001_calls", (
        CreateTable("calls", (
            Column("id", Type.ID, "time-sortable (ULID)", primary_key=True),
            Column("started_at", REAL, "unix seconds", not_null=True),
            Column("requested_model", TEXT, "what the client asked for: a backend or a routing alias", not_null=True),
            Column("alias", TEXT),
            Column("backend", TEXT, "the backend that answered, or the last one tried"),
            Column("upstream_model", TEXT),
            Column("stream", INT, not_null=True),
            Column("status", INT, "HTTP status returned to the client", not_null=True),
            Column("error", TEXT),
            Column("ttft_s", REAL),
            Column("latency_s", REAL, not_null=True),
            Column("input_tokens", BIGINT),
            Column("output_tokens", BIGINT),
            Column("cost_usd", REAL, "from usage x the backend's prices"),
            Column("feature_version", TEXT),
            Column("model_version", TEXT),
            Column("api_key_id", TEXT),
            Column("decision_json", TEXT),
            Column("features_json", TEXT),
            Column("attempts_json", TEXT),
            Column("request_json", TEXT),
            Column("response_json", TEXT),
        )),
        CreateIndex("calls_started_at", "calls", ("started_at",)),
        CreateIndex("calls_backend", "calls", ("backend",)),
    )),
    Migration("002_usage_source", (
        AddColumn("calls", Column("usage_source", TEXT, '"upstream" or "estimated" (stream cut short)')),
        CreateIndex("calls_api_key", "calls", ("api_key_id", "started_at")),
    )),
    Migration("003_labels_and_exploration", (
        AddColumn("calls", Column("exploration", INT, "1: an exploration pick")),
        AddColumn("calls", Column("selection_probability", REAL, "P(pick) under the routing policy")),
        CreateTable("labels", (
            Column("id", Type.ROW_NUMBER),
            Column("call_id", TEXT, "calls.id", not_null=True),
            Column("score", REAL, "0..1, 1 = acceptable", not_null=True),
            Column("source", TEXT, "human, judge:<model>, exact_match, rouge_l, ...", not_null=True),
            Column("comment", TEXT),
            Column("api_key_id", TEXT),
            Column("created_at", REAL, not_null=True),
        )),
        CreateIndex("labels_call", "labels", ("call_id",)),
    )),
    # The replicas' shared rate limits and budgets (`proxy/limits/shared.py`); one process counts in memory.
    Migration("limits_001", (
        CreateTable("rate_windows", (
            Column("key_id", TEXT, not_null=True),
            Column("window_start", BIGINT, "unix seconds, a multiple of 60", not_null=True),
            Column("requests", BIGINT, not_null=True, default="0"),
            Column("tokens", BIGINT, not_null=True, default="0"),
        ), primary_key=("key_id", "window_start"), comment="Requests admitted and tokens used per key per minute."),
        CreateTable("key_spend", (
            Column("key_id", TEXT, not_null=True),
            Column("day", Type.DATE, not_null=True),
            Column("usd", REAL, not_null=True),
        ), primary_key=("key_id", "day"),
           comment="USD spent per key per UTC day: the sum of calls.cost_usd, kept with every batch of calls."),
        Statement(
            "INSERT INTO key_spend (key_id, day, usd)\n"
            "    SELECT api_key_id, (to_timestamp(started_at) AT TIME ZONE 'UTC')::date, SUM(cost_usd) FROM calls\n"
            "    WHERE api_key_id IS NOT NULL AND cost_usd IS NOT NULL GROUP BY 1, 2"
        ),
    ), dialects=frozenset({"postgres"})),
    Migration("004_dialect", (
        AddColumn("calls", Column("dialect", TEXT, "the client's API: chat, completions, messages or responses")),
    )),
)
# fmt: on


def columns(table: str, dialect: str | None = None) -> tuple[Column, ...]:
    """The table's columns after every migration (of the dialect, if named), in the order they were made."""
    found: list[Column] = []
    for migration in MIGRATIONS:
        if dialect is not None and dialect not in migration.dialects:
            continue
        for step in migration.steps:
            if isinstance(step, CreateTable) and step.table == table:
                found = list(step.columns)
            elif isinstance(step, AddColumn) and step.table == table:
                found.append(step.column)
    if not found:
        raise KeyError(f"no table {table!r} in the {dialect} log schema")
    return tuple(found)

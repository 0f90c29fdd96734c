"""What a call leaves behind, whatever store keeps it: the `Observation` and `Label` records, the
`LogStore` interface, and the row shapes every store writes and reads, taken from the schema
(`schema.py`): a `calls` column is an `Observation` field of the same name (`<field>_json` for one
kept as JSON), a `labels` column a `Label` field, and the dashboard reads the columns `LoggedCall` has."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from proxy import jsonio
from proxy.log import schema


class LogStoreError(RuntimeError):
    """A log cannot be opened or read; the message names it, never with a password."""


@dataclass(frozen=True)
class Observation:
    id: str
    started_at: float  # unix seconds
    requested_model: str
    stream: bool
    status: int
    latency_s: float
    alias: str | None = None
    backend: str | None = None  # the backend that answered (or last tried)
    upstream_model: str | None = None
    error: str | None = None
    ttft_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    feature_version: str | None = None
    model_version: str | None = None
    decision: dict[str, Any] | None = None  # candidates with predictions, the choice, why others were dropped
    features: dict[str, Any] | None = None  # the feature rows (`Features.for_log`), to retrain without recomputing
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every backend tried, in order
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    api_key_id: str | None = None
    usage_source: str | None = None  # "upstream", or "estimated" when a stream ended before the upstream's usage
    exploration: bool = False  # the pick was an exploration among acceptable-but-not-best candidates
    selection_probability: float | None = None  # P(this backend was picked) under the policy, for off-policy estimates
    dialect: str = "chat"  # the client's API: chat, completions, messages or responses


@dataclass(frozen=True)
class Label:
    """A quality label for a logged call: from a person (feedback) or an automated metric or judge."""

    call_id: str
    score: float  # in [0, 1]; 1 = acceptable
    source: str  # "human", "judge:<model>", "exact_match", "rouge_l", ...
    created_at: float
    comment: str | None = None
    api_key_id: str | None = None


@dataclass(frozen=True)
class LoggedCall:
    """A call as read back from the log (for the dashboard): the typed columns, decoded JSON, its labels."""

    id: str
    started_at: float
    requested_model: str
    status: int
    latency_s: float
    alias: str | None = None
    backend: str | None = None
    error: str | None = None
    ttft_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    model_version: str | None = None
    api_key_id: str | None = None
    stream: bool = False
    exploration: bool = False
    dialect: str | None = None  # None on rows logged before the column existed
    decision: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    labels: tuple[Label, ...] = ()
    request: dict[str, Any] | None = None  # only when read with bodies=True
    response: dict[str, Any] | None = None


class LogStore(Protocol):
    async def start(self) -> None: ...
    def record(self, observation: Observation) -> None: ...
    def record_label(self, label: Label) -> None: ...
    async def has_call(self, call_id: str) -> bool: ...
    async def spend_since(self, api_key_id: str, since: float) -> float: ...
    async def read_calls(
        self, *, since: float | None = None, until: float | None = None, limit: int = 10_000, call_id: str | None = None
    ) -> list[LoggedCall]: ...
    async def aclose(self) -> None: ...


COLUMNS = tuple(c.name for c in schema.columns("calls"))  # the order of every row written
LABEL_COLUMNS = tuple(c.name for c in schema.columns("labels") if c.type is not schema.Type.ROW_NUMBER)
BODY_COLUMNS = ("request_json", "response_json")  # kept as `[log] bodies` says; read only for one call

_READ = {f.name for f in fields(LoggedCall)} - {"labels", "request", "response"}
READ_COLUMNS = tuple(c for c in COLUMNS if c.removesuffix("_json") in _READ)  # `id` first
_FLAGS = {f.name for f in fields(LoggedCall) if f.type == "bool"}  # stored as 0 or 1


def logged_call(row: Sequence[Any], labels: Sequence[Label]) -> LoggedCall:
    n = len(READ_COLUMNS)
    values = dict(zip(READ_COLUMNS, row[:n], strict=True))
    bodies = [_loads(v) for v in row[n:]] + [None, None]
    plain: dict[str, Any] = {k: bool(v) if k in _FLAGS else v for k, v in values.items() if not k.endswith("_json")}
    return LoggedCall(
        **plain,
        decision=_loads(values["decision_json"]),
        attempts=_loads(values["attempts_json"]) or [],
        labels=tuple(labels),
        request=bodies[0],
        response=bodies[1],
    )


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def label_row(label: Label) -> tuple[Any, ...]:
    return tuple(getattr(label, c) for c in LABEL_COLUMNS)


def to_json(value: Any) -> str | None:
    return None if value is None else jsonio.dumps_text(value)

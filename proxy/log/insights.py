"""Insights: what the dashboard shows, computed from logged calls; pure (the log store does the reading).

Every aggregate is over the calls given (the dashboard's time window), and each answers one question:

- `traffic`: which backend got the calls, over time and per task type (routed calls carry the task the
  router saw; a call that named its backend has none and counts as "direct");
- `savings`: what the routed calls cost against two counterfactual policies priced from the same calls'
  logged predictions: always the strongest candidate (highest predicted P(acceptable)) and always the
  cheapest, among the candidates that could serve each call; with the realised quality where labels exist;
- `accuracy`: predicted vs observed latency and cost of the backend that answered, per call and per backend;
- `calibration`: predicted P(acceptable) of the backend that answered against its labels, in bins.

A call's prediction is that of the backend that answered it (after a fallback, not the first choice).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from proxy.log.records import LoggedCall
from proxy.log.redact import BY_NAME, Redactor

DIRECT = "direct"  # the task column of calls that named their backend: the router saw no task
NO_BACKEND = "(none)"
BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
MAX_BUCKETS = 48
MAX_POINTS = 500


def traffic(calls: Sequence[LoggedCall], bucket_s: int | None = None) -> dict[str, Any]:
    """Calls per backend (with their share), per time bucket and per task type."""
    per_backend = Counter(c.backend or NO_BACKEND for c in calls)
    bucket = bucket_s or auto_bucket(calls)
    over_time: dict[float, Counter[str]] = defaultdict(Counter)
    by_task: dict[str, Counter[str]] = defaultdict(Counter)
    for c in calls:
        over_time[math.floor(c.started_at / bucket) * bucket][c.backend or NO_BACKEND] += 1
        by_task[task_of(c)][c.backend or NO_BACKEND] += 1
    return {
        "object": "dashboard.traffic",
        "calls": len(calls),
        "bucket_s": bucket,
        "backends": [{"backend": name, "calls": n, "share": n / len(calls)} for name, n in _most_common(per_backend)],
        "over_time": [{"start": start, "calls": dict(sorted(over_time[start].items()))} for start in sorted(over_time)],
        "by_task": [
            {"task": task, "calls": sum(by_task[task].values()), "backends": dict(sorted(by_task[task].items()))}
            for task, _ in _most_common(Counter({t: sum(b.values()) for t, b in by_task.items()}))
        ],
    }


def savings(calls: Sequence[LoggedCall]) -> dict[str, Any]:
    """Realised cost of the routed calls against always-strongest and always-cheapest, from their predictions."""
    routed = [(c, kept, p) for c in calls if (kept := servable(c)) and (p := prediction(c)) is not None]
    strongest = [max(kept, key=lambda k: (k["p_acceptable"], -k["cost_usd"])) for _, kept, _ in routed]
    cheapest = [min(kept, key=lambda k: (k["cost_usd"], -k["p_acceptable"])) for _, kept, _ in routed]
    answered = [a for _, _, a in routed]
    realised = sum(c.cost_usd or 0.0 for c, _, _ in routed)
    labelled = [(c, a) for c, _, a in routed if c.labels]
    always_strongest = _policy("always_strongest", sum(k["cost_usd"] for k in strongest), strongest)
    # Like with like: the counterfactual is a prediction, so the saving compares it with the routed calls'
    # predictions made the same way (a realised cost against a predicted one would count prediction error
    # as saving). The realised cost stands beside it in the routed policy.
    predicted = sum(a["cost_usd"] for a in answered)
    return {
        "object": "dashboard.savings",
        "calls": len(routed),
        "policies": [
            {**_policy("routed", realised, answered), "predicted_cost_usd": predicted},
            always_strongest,
            _policy("always_cheapest", sum(k["cost_usd"] for k in cheapest), cheapest),
        ],
        "saved_vs_strongest_usd": always_strongest["cost_usd"] - predicted,
        "saved_vs_strongest_share": (
            1 - predicted / always_strongest["cost_usd"] if always_strongest["cost_usd"] > 0 else None
        ),
        "saved_basis": "predicted",
        "quality": {
            "labelled_calls": len(labelled),
            "realised_acceptability": _mean([label_score(c) for c, _ in labelled]),
            "predicted_acceptability": _mean([a["p_acceptable"] for _, a in labelled]),
        },
    }


def accuracy(calls: Sequence[LoggedCall]) -> dict[str, Any]:
    """Predicted vs observed latency and cost for the successful routed calls: points and per-backend means."""
    pairs = [(c, p) for c in calls if c.status == 200 and (p := prediction(c)) is not None]
    per_backend: dict[str, list[tuple[LoggedCall, Mapping[str, Any]]]] = defaultdict(list)
    for c, p in pairs:
        per_backend[c.backend or NO_BACKEND].append((c, p))
    return {
        "object": "dashboard.accuracy",
        "calls": len(pairs),
        "points": [
            {
                "id": c.id,
                "backend": c.backend,
                "predicted_latency_s": p["latency_s"],
                "observed_latency_s": c.latency_s,
                "predicted_cost_usd": p["cost_usd"],
                "observed_cost_usd": c.cost_usd,
            }
            for c, p in pairs[:MAX_POINTS]
        ],
        "bucket_s": (bucket := auto_bucket([c for c, _ in pairs])),
        "over_time": _ratios_over_time(pairs, bucket),
        "backends": [
            {
                "backend": name,
                "calls": len(rows),
                "predicted_latency_s": _mean([p["latency_s"] for _, p in rows]),
                "observed_latency_s": _mean([c.latency_s for c, _ in rows]),
                "predicted_cost_usd": _mean([p["cost_usd"] for _, p in rows]),
                "observed_cost_usd": _mean([c.cost_usd for c, _ in rows if c.cost_usd is not None]),
            }
            for name, rows in sorted(per_backend.items())
        ],
    }


def _ratios_over_time(pairs: Sequence[tuple[LoggedCall, Mapping[str, Any]]], bucket: int) -> list[dict[str, Any]]:
    """Per time bucket and backend, the median of observed / predicted latency and cost (1 = on target)."""
    cells: dict[float, dict[str, list[tuple[float, float | None]]]] = defaultdict(lambda: defaultdict(list))
    for c, p in pairs:
        latency = c.latency_s / p["latency_s"] if p["latency_s"] > 0 else math.nan
        cost = c.cost_usd / p["cost_usd"] if c.cost_usd is not None and p["cost_usd"] > 0 else None
        cells[math.floor(c.started_at / bucket) * bucket][c.backend or NO_BACKEND].append((latency, cost))
    return [
        {
            "start": start,
            "backends": {
                name: {
                    "calls": len(rows),
                    "latency_ratio": _median([r for r, _ in rows if not math.isnan(r)]),
                    "cost_ratio": _median([r for _, r in rows if r is not None]),
                }
                for name, rows in sorted(cells[start].items())
            },
        }
        for start in sorted(cells)
    ]


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def calibration(calls: Sequence[LoggedCall], bins: int = 10) -> dict[str, Any]:
    """Predicted P(acceptable) against the mean label, in `bins` equal-width bins (empty bins left out)."""
    pairs = [(p["p_acceptable"], label_score(c)) for c in calls if c.labels and (p := prediction(c)) is not None]
    grouped: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for p, y in pairs:
        grouped[min(int(p * bins), bins - 1)].append((p, y))
    return {
        "object": "dashboard.calibration",
        "labelled_calls": len(pairs),
        "brier": _mean([(p - y) ** 2 for p, y in pairs]),
        "bins": [
            {
                "low": i / bins,
                "high": (i + 1) / bins,
                "calls": len(grouped[i]),
                "mean_predicted": _mean([p for p, _ in grouped[i]]),
                "mean_observed": _mean([y for _, y in grouped[i]]),
            }
            for i in sorted(grouped)
        ],
    }


def call_summary(c: LoggedCall) -> dict[str, Any]:
    """One row of the latest-calls table: the choice, its prediction, every candidate, fallbacks, outcome."""
    decision = c.decision or {}
    return {
        "id": c.id,
        "started_at": c.started_at,
        "requested_model": c.requested_model,
        "alias": c.alias,
        "backend": c.backend,
        "task": task_of(c),
        "reason": decision.get("reason"),
        "model_version": c.model_version,
        "status": c.status,
        "error": c.error,
        "latency_s": c.latency_s,
        "cost_usd": c.cost_usd,
        "predicted": prediction(c),
        "candidates": decision.get("candidates", []),
        "fallbacks": list(dict.fromkeys(a["backend"] for a in c.attempts if a.get("backend") != c.backend)),
        "label": label_score(c) if c.labels else None,
    }


def call_detail(c: LoggedCall, redactor: Redactor = BY_NAME) -> dict[str, Any]:
    """Everything logged about one call except its features, with secrets in the bodies redacted (by name,
    and by value with the redactor of the configured upstream keys): rows written before the log writer
    redacted bodies may hold them."""
    decision = c.decision or {}
    return {
        **call_summary(c),
        "object": "dashboard.call",
        "threshold": decision.get("threshold"),
        "exploration": c.exploration,
        "dialect": c.dialect,
        "stream": c.stream,
        "ttft_s": c.ttft_s,
        "input_tokens": c.input_tokens,
        "output_tokens": c.output_tokens,
        "api_key_id": c.api_key_id,
        "attempts": c.attempts,
        "labels": [
            {"score": x.score, "source": x.source, "comment": x.comment, "created_at": x.created_at} for x in c.labels
        ],
        "request": redactor.value(c.request),
        "response": redactor.value(c.response),
    }


def servable(c: LoggedCall) -> list[Mapping[str, Any]]:
    """The candidates of a routed call that could have served it (not dropped)."""
    return [k for k in (c.decision or {}).get("candidates", []) if not k.get("dropped")]


def prediction(c: LoggedCall) -> Mapping[str, Any] | None:
    """The logged prediction for the backend that answered the call (None for a call that named its backend)."""
    return next((k for k in (c.decision or {}).get("candidates", []) if k.get("name") == c.backend), None)


def task_of(c: LoggedCall) -> str:
    return str((c.decision or {}).get("task") or DIRECT)


def label_score(c: LoggedCall) -> float:
    """A call's quality: the mean of its labels (a person's and a judge's may both exist)."""
    return sum(x.score for x in c.labels) / len(c.labels)


def auto_bucket(calls: Sequence[LoggedCall]) -> int:
    """The smallest bucket that spans the calls in at most MAX_BUCKETS buckets."""
    if not calls:
        return BUCKETS_S[0]
    span = max(c.started_at for c in calls) - min(c.started_at for c in calls)
    return next((b for b in BUCKETS_S if span / b < MAX_BUCKETS), BUCKETS_S[-1])


def _policy(name: str, cost: float, picks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"policy": name, "cost_usd": cost, "mean_p_acceptable": _mean([k["p_acceptable"] for k in picks])}


def _most_common(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None

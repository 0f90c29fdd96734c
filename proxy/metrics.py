"""Prometheus metrics, served at GET /metrics. The only module that imports prometheus_client.

Two kinds, both in a registry of the app's own (never the process-global one, so several apps in one
process, as in the tests, do not collide):

- per call, fed once from the pipeline's record step (`observe`): calls by alias / backend / status, total
  latency, proxy overhead (request to routing decision), time to first token, routing decisions, the error
  of the predicted latency and cost against what was observed, fallbacks;
  prediction errors come twice: as histograms of the signed error (how often and how far off; a histogram
  with negative buckets has no `_sum`), and as running sums of predicted and observed values, whose ratio
  and difference per call are the calibration and the bias;
- state, read when Prometheus scrapes (`_StateCollector`), so the request path pays nothing for it:
  circuit-breaker state, log queue depth and dropped rows, the router model version in use, current prices
  and the price feed's health.

A call is what the log records: requests refused before routing (auth, rate limits, invalid bodies) are
not counted here. Labels are configured names only (aliases, backends, reasons, statuses): never keys,
key ids or prompts. A call that named its backend has alias "".

Counts are per process: run one uvicorn worker per pod (as deploy/ does) and let Prometheus add up the pods;
several workers behind one port would each answer a scrape with only their own counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from proxy.log.records import Observation
    from proxy.route.router import Decision, Router
    from proxy.upstream.pricefeed import PriceFeed

CONTENT_TYPE = CONTENT_TYPE_LATEST
CIRCUIT_STATES = {"closed": 0.0, "half-open": 1.0, "open": 2.0}

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
_OVERHEAD = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_LATENCY_ERROR = (-20.0, -10.0, -5.0, -2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
_RATIO_ERROR = (-0.9, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


@dataclass
class Watched:
    """What the state collector reads at scrape time; filled in by the app's lifespan."""

    router: Router | None = None
    store: Any = None  # a LogStore; queue, dropped and written are read if it has them
    feed: PriceFeed | None = None


@dataclass(frozen=True)
class _BackendSeries:
    """One backend's child of every series labelled by backend alone."""

    duration: Any
    ttft: Any
    latency_error: Any
    cost_error: Any
    predicted_latency: Any
    observed_latency: Any
    predicted_cost: Any
    observed_cost: Any


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "switchyard_requests",
            "Calls by routing alias, backend and status.",
            ["alias", "backend", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "switchyard_request_duration_seconds", "Total time of a call.", ["backend"], buckets=_SECONDS, registry=r
        )
        self.overhead = Histogram(
            "switchyard_proxy_overhead_seconds",
            "Time from the request to its routing decision (parse, features, scores, choice).",
            buckets=_OVERHEAD,
            registry=r,
        )
        self.ttft = Histogram(
            "switchyard_time_to_first_token_seconds",
            "Time to the first token of a stream.",
            ["backend"],
            buckets=_SECONDS,
            registry=r,
        )
        self.decisions = Counter(
            "switchyard_routing_decisions",
            "Routed calls by the backend chosen first and why.",
            ["alias", "backend", "reason"],
            registry=r,
        )
        self.latency_error = Histogram(
            "switchyard_latency_prediction_error_seconds",
            "Observed minus predicted latency of successful routed calls, by the backend that answered.",
            ["backend"],
            buckets=_LATENCY_ERROR,
            registry=r,
        )
        self.cost_error = Histogram(
            "switchyard_cost_prediction_error_ratio",
            "(observed - predicted) / predicted cost of successful routed calls, by the backend that answered.",
            ["backend"],
            buckets=_RATIO_ERROR,
            registry=r,
        )
        self.predicted_latency, self.observed_latency, self.predicted_cost, self.observed_cost = (
            Counter(
                f"switchyard_{kind}_{what}",
                f"Sum of the {kind} {what} of successful routed calls.",
                ["backend"],
                registry=r,
            )
            for what in ("latency_seconds", "cost_usd")
            for kind in ("predicted", "observed")
        )
        self.fallbacks = Counter(
            "switchyard_fallbacks", "Times a call moved on from this backend to the next.", ["backend"], registry=r
        )
        self.watched = Watched()
        r.register(_StateCollector(self.watched))
        # Children looked up once per backend (per alias/backend/status, per alias/backend/reason), not per call.
        self._backends: dict[str, _BackendSeries] = {}
        self._calls: dict[tuple[str, str, int], Any] = {}
        self._decisions: dict[tuple[str, str, str], Any] = {}

    def observe(self, obs: Observation, decision: Decision, overhead_s: float | None) -> None:
        """Count one finished call (every call is recorded exactly once, so it is counted exactly once)."""
        alias, backend = obs.alias or "", obs.backend or ""
        series = self._backends.get(backend) or self._add_backend(backend)
        key = (alias, backend, obs.status)
        calls = self._calls.get(key) or self._calls.setdefault(
            key, self.requests.labels(alias, backend, str(obs.status))
        )
        calls.inc()
        series.duration.observe(obs.latency_s)
        if overhead_s is not None:
            self.overhead.observe(overhead_s)
        if obs.ttft_s is not None:
            series.ttft.observe(obs.ttft_s)
        if len(obs.attempts) > 1:
            tried = [a["backend"] for a in obs.attempts]
            for before, after in zip(tried, tried[1:], strict=False):
                if before != after:
                    self.fallbacks.labels(before).inc()
        if decision.choice is None:
            return
        chose = (alias, decision.choice.chosen.name, decision.choice.reason)
        chosen = self._decisions.get(chose) or self._decisions.setdefault(chose, self.decisions.labels(*chose))
        chosen.inc()
        predicted = decision.predictions(backend)
        if obs.status != 200 or predicted is None:
            return
        series.latency_error.observe(obs.latency_s - predicted["latency_s"])
        series.predicted_latency.inc(predicted["latency_s"])
        series.observed_latency.inc(obs.latency_s)
        if obs.cost_usd is None:
            return
        series.predicted_cost.inc(predicted["cost_usd"])
        series.observed_cost.inc(obs.cost_usd)
        if predicted["cost_usd"] > 0:
            series.cost_error.observe((obs.cost_usd - predicted["cost_usd"]) / predicted["cost_usd"])

    def _add_backend(self, backend: str) -> _BackendSeries:
        series = _BackendSeries(
            *(
                m.labels(backend)
                for m in (
                    self.duration,
                    self.ttft,
                    self.latency_error,
                    self.cost_error,
                    self.predicted_latency,
                    self.observed_latency,
                    self.predicted_cost,
                    self.observed_cost,
                )
            )
        )
        self._backends[backend] = series
        return series

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector:
    def __init__(self, watched: Watched) -> None:
        self.watched = watched

    def collect(self) -> Iterator[Metric]:
        router, store, feed = self.watched.router, self.watched.store, self.watched.feed
        if router is not None:
            circuits = GaugeMetricFamily(
                "switchyard_circuit_state",
                "Circuit breaker per backend: 0 closed, 1 half-open, 2 open.",
                labels=["backend"],
            )
            prices = GaugeMetricFamily(
                "switchyard_price_usd", "Current price of each backend.", labels=["backend", "unit"]
            )
            for name, backend in router.prices.table().items():
                circuits.add_metric([name], CIRCUIT_STATES[router.breakers.state(name)])
                p = backend.prices
                for unit, value in (("input_token", p.input_per_token), ("output_token", p.output_per_token)):
                    prices.add_metric([name, unit], value)
                for unit, value in (("second", p.per_second), ("call", p.per_call)):
                    if value:
                        prices.add_metric([name, unit], value)
            model = GaugeMetricFamily("switchyard_model_info", "The router model version in use.", labels=["version"])
            model.add_metric([router.scorer.version], 1.0)
            yield from (circuits, prices, model)
            yield from _live_speed(router.live_speeds())
        if store is not None:
            queue = getattr(store, "queue", None)
            if queue is not None:
                yield GaugeMetricFamily("switchyard_log_queue_depth", "Log rows waiting to be written.", queue.qsize())
            for attr, help_text in (
                ("dropped", "Log rows dropped: the queue was full."),
                ("written", "Log rows written."),
                ("reduced", "Log rows written without their bodies: the full row could not be written."),
            ):
                rows = getattr(store, attr, None)
                if rows is not None:
                    yield CounterMetricFamily(f"switchyard_log_{attr}_rows", help_text, rows)
        if feed is not None:
            yield CounterMetricFamily(
                "switchyard_price_refresh_failures", "Price refreshes that left the prices unchanged.", feed.failures
            )
            if feed.last_success is not None:
                yield GaugeMetricFamily(
                    "switchyard_price_refresh_last_success_timestamp_seconds",
                    "Unix time of the last price refresh that succeeded.",
                    feed.last_success,
                )


def _live_speed(speeds: dict[str, dict[str, float]]) -> Iterator[Metric]:
    """Each backend's live speed estimate (route/speed.py): the prior shifted by its recent calls."""
    families = {
        "ttft_s": GaugeMetricFamily(
            "switchyard_live_ttft_seconds", "Live estimate of time to first token.", labels=["backend"]
        ),
        "tokens_per_s": GaugeMetricFamily(
            "switchyard_live_tokens_per_second", "Live estimate of output tokens per second.", labels=["backend"]
        ),
        "evidence": GaugeMetricFamily(
            "switchyard_live_speed_evidence",
            "Decayed number of calls behind the live speed estimate.",
            labels=["backend"],
        ),
    }
    for name, speed in speeds.items():
        for key, family in families.items():
            family.add_metric([name], speed[key])
    yield from families.values()

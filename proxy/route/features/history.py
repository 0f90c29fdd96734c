"""Prior success of a model on similar prompts: smoothed per-bucket rates with leave-one-out.

A bucket is a way of saying "similar prompt": `all`, `task:<type>` (predicted task type),
`domain:<name>` (top domain) and `sem:<code>` (sign pattern of the first semantic dimensions, a cheap
locality-sensitive hash). Counts are (sum of labels, n) per (model key, bucket), buildable from the
long-format data (`from_outcomes`), from the catalog's measured counts, and later from the proxy's logs.

Rates are smoothed twice (empirical Bayes with pseudo-count `strength`): a model's overall rate
toward its catalog/config accuracy, else toward the global rate; a bucket rate toward the model's
overall rate. A model never seen gets its prior, so a new backend still gets a number.

Leave-one-out: when training on a prompt, `without(outcomes, buckets)` hides that prompt's own labels
(every model's), so the feature never contains the label it is used to predict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from proxy.route.catalog import Catalog

DEFAULT_STRENGTH = 20.0
_MEMO_SIZE = 100_000
_ROWS_MEMO_SIZE = 10_000  # candidate lists x buckets seen; each entry is a small array
NEUTRAL_RATE = 0.6  # used only when there is no history at all and no prior for the model

Counts = Mapping[tuple[str, str], tuple[float, int]]


@dataclass(frozen=True)
class Rate:
    value: float
    n: int  # observations behind the bucket (after leave-one-out)


@dataclass(frozen=True)
class History:
    counts: Counts = field(default_factory=dict)
    strength: float = DEFAULT_STRENGTH
    minus: Counts = field(default_factory=dict)  # leave-one-out: subtracted from `counts`
    _memo: dict[tuple[str, float | None, tuple[str, ...]], tuple[float, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _rows: dict[tuple[tuple[tuple[str, float | None], ...], tuple[str, ...]], np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_outcomes(
        cls, outcomes: Iterable[tuple[str, Sequence[str], float]], strength: float = DEFAULT_STRENGTH
    ) -> History:
        """From (model key, buckets of the prompt, label in [0, 1]) triples."""
        acc: dict[tuple[str, str], tuple[float, int]] = {}
        for model, buckets, label in outcomes:
            for b in buckets:
                s, n = acc.get((model, b), (0.0, 0))
                acc[(model, b)] = (s + label, n + 1)
        return cls(counts=MappingProxyType(acc), strength=strength)

    @classmethod
    def from_counts(
        cls, by_model: Mapping[str, Mapping[str, tuple[float, int]]], strength: float = DEFAULT_STRENGTH
    ) -> History:
        """From model key -> bucket -> (sum, n), e.g. `LLMProfile.measured` of every catalog entry."""
        acc = {(m, b): (float(s), int(n)) for m, buckets in by_model.items() for b, (s, n) in buckets.items()}
        return cls(counts=MappingProxyType(acc), strength=strength)

    @classmethod
    def from_catalog(cls, catalog: Catalog, strength: float = DEFAULT_STRENGTH) -> History:
        """From the per-task success counts the catalog measured on the data (`catalog_measured.json`)."""
        return cls.from_counts({cid: p.measured for cid, p in catalog.entries.items() if p.measured}, strength)

    def merged(self, other: History) -> History:
        acc = dict(self.counts)
        for key, (s, n) in other.counts.items():
            s0, n0 = acc.get(key, (0.0, 0))
            acc[key] = (s0 + s, n0 + n)
        return History(counts=MappingProxyType(acc), strength=self.strength)

    def without(self, outcomes: Mapping[str, float], buckets: Sequence[str]) -> History:
        """This history minus one prompt's labels: `outcomes` maps model key -> that prompt's label."""
        minus = {(m, b): (label, 1) for m, label in outcomes.items() for b in buckets if (m, b) in self.counts}
        return History(counts=self.counts, strength=self.strength, minus=MappingProxyType(minus))

    def get(self, model: str, bucket: str) -> tuple[float, int]:
        s, n = self.counts.get((model, bucket), (0.0, 0))
        if self.minus:
            ds, dn = self.minus.get((model, bucket), (0.0, 0))
            s, n = s - ds, n - dn
        return s, n

    @cached_property
    def global_rate(self) -> float:
        s = n = 0.0
        for model, bucket in self.counts:
            if bucket == "all":
                ms, mn = self.get(model, bucket)
                s, n = s + ms, n + mn
        return s / n if n > 0 else NEUTRAL_RATE

    def model_rate(self, model: str, prior: float | None = None) -> Rate:
        s, n = self.get(model, "all")
        mean = prior if prior is not None else self.global_rate
        return Rate((s + self.strength * mean) / (n + self.strength), n)

    def rate(self, model: str, bucket: str, model_rate: float) -> Rate:
        s, n = self.get(model, bucket)
        return Rate((s + self.strength * model_rate) / (n + self.strength), n)

    def priors(self, model: str, prior: float | None, buckets: Sequence[str]) -> tuple[float, ...]:
        """The prior-success features of `model` for a prompt in `buckets` ("all", task, domain, similar):
        the overall, task, domain and similar-prompt rates and log(1 + task evidence). Memoised: a
        history is immutable and serving asks for the same few combinations on every request."""
        key = (model, prior, tuple(buckets))
        hit = self._memo.get(key)
        if hit is None:
            overall = self.model_rate(model, prior)
            task = self.rate(model, buckets[1], overall.value)
            domain = self.rate(model, buckets[2], overall.value)
            similar = self.rate(model, buckets[3], overall.value)
            hit = (overall.value, task.value, domain.value, similar.value, math.log1p(task.n))
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = hit
        return hit

    def prior_rows(self, models: tuple[tuple[str, float | None], ...], buckets: tuple[str, ...]) -> np.ndarray:
        """`priors` of each (model, prior) of a candidate list as rows, (len(models), 5); memoised like `priors`,
        so a routed request with a candidate list and buckets seen before makes no Python call per candidate."""
        key = (models, buckets)
        hit = self._rows.get(key)
        if hit is None:
            hit = np.asarray([self.priors(m, p, buckets) for m, p in models], dtype=np.float64).reshape(len(models), 5)
            hit.flags.writeable = False
            if len(self._rows) >= _ROWS_MEMO_SIZE:
                self._rows.clear()
            self._rows[key] = hit
        return hit

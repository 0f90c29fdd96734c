"""Measured latency per catalog model, from the request-level files of ../shared/data/latency.

One reading of those files for everyone: `scripts/build_catalog.py` writes the medians into the catalog
(what the router's latency prediction uses) and `scripts/build_sim_profiles.py` writes the same medians,
with their spread, into the simulator's profiles, so the router predicts the latency the simulator plays.
A sample is (TTFT, decode tokens/s), the two numbers of latency = TTFT + output tokens / tokens-per-second:
LLMPerf's decode rate is output tokens / (end-to-end - TTFT); coder543's "Response Tok/s" and
thefastest.ai's tokens_per_s are decode rates already (thefastest.ai's 999 means "one chunk": its TTFT
counts, its rate does not).
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from proxy.route.catalog import CATALOG_FILE, Catalog


@dataclass(frozen=True)
class Sample:
    name: str  # the endpoint's model name as the latency file spells it
    ttft_s: float
    tokens_per_s: float | None


@dataclass(frozen=True)
class Measured:
    n: int
    ttft_s: tuple[float, float, float]  # p10, p50, p90
    tokens_per_s: tuple[float, float, float]

    def as_json(self) -> dict[str, float | int]:
        return {
            "ttft_s": round(self.ttft_s[1], 4),
            "tokens_per_s": round(self.tokens_per_s[1], 2),
            "n": self.n,
            "ttft_s_p10": round(self.ttft_s[0], 4),
            "ttft_s_p90": round(self.ttft_s[2], 4),
            "tokens_per_s_p10": round(self.tokens_per_s[0], 2),
            "tokens_per_s_p90": round(self.tokens_per_s[2], 2),
        }


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_samples(folder: Path) -> Iterator[Sample]:
    with open(folder / "llmperf_leaderboard_requests.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            ttft, e2e, tokens = _float(r["ttft_s"]), _float(r["end_to_end_latency_s"]), _float(r["output_tokens"])
            if not r["error_code"] and ttft and e2e and tokens and e2e > ttft:
                yield Sample(r["model"], ttft, tokens / (e2e - ttft))
    with open(folder / "thefastest_ai_runs.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            ttft, tps = _float(r["ttft_s"]), _float(r["tokens_per_s"])
            # The early runs left `model` blank and put the model in `provider`.
            if r["mode"] == "text" and ttft:
                yield Sample(r["model"] or r["provider"], ttft, tps if tps and tps < 999 else None)
    with open(folder / "coder543_llm_speed_runs.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            ttft, tps = _float(r["Time To First Token"]), _float(r["Response Tok/s"])
            if ttft and tps:
                yield Sample(r["model"], ttft, tps)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _summary(samples: list[Sample]) -> Measured:
    ttft = [s.ttft_s for s in samples]
    tps = [s.tokens_per_s for s in samples if s.tokens_per_s is not None]
    return Measured(
        n=len(samples),
        ttft_s=(quantile(ttft, 0.1), quantile(ttft, 0.5), quantile(ttft, 0.9)),
        tokens_per_s=(quantile(tps, 0.1), quantile(tps, 0.5), quantile(tps, 0.9)),
    )


def _latency_names(path: Path) -> dict[str, str]:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return {n.lower(): cid for cid, spec in raw["models"].items() for n in spec.get("latency_names", ())}


def catalog_id(catalog: Catalog, name: str, latency_names: Mapping[str, str]) -> str | None:
    """The catalog model a latency file's endpoint name measures (provider prefixes and ':version' dropped)."""
    entry = catalog.find(name) or catalog.find(name.split(":")[0].rsplit("/", 1)[-1])
    if entry is not None:
        return entry.catalog_id
    return latency_names.get(name.lower())


def measure(catalog: Catalog, folder: Path, catalog_file: Path = CATALOG_FILE) -> tuple[dict[str, Measured], set[str]]:
    """Per catalog id, the pooled measurements of every endpoint serving it; and the names no model claims."""
    names = _latency_names(catalog_file)
    pooled: dict[str, list[Sample]] = defaultdict(list)
    unmatched: set[str] = set()
    for sample in read_samples(folder):
        cid = catalog_id(catalog, sample.name, names)
        if cid is None:
            unmatched.add(sample.name)
        else:
            pooled[cid].append(sample)
    # A model needs both numbers: without a measured rate there is no latency to predict.
    measured = {cid: samples for cid, samples in sorted(pooled.items()) if any(s.tokens_per_s for s in samples)}
    return {cid: _summary(samples) for cid, samples in measured.items()}, unmatched

"""Measured latency per catalog model, from the request-level files of ../shared/data/latency.

One reading of those files for everyone: `scripts/build_catalog.py` writes the medians into the catalog
(what the router's latency prediction uses) and `scripts/build_sim_profiles.py` writes the same medians,
with their spread, into the simulator's profiles, so the router predicts the latency the simulator plays.
A sample is (TTFT, decode tokens/s), the two numbers of latency = TTFT + output tokens / tokens-per-second:
LLMPerf's decode rate is output tokens / (end-to-end - TTFT); coder543's "Response Tok/s" and
thefastest.ai's tokens_per_s are decode rates already (thefastest.ai's 999 means "one chunk": its TTFT
counts, its rate does not).

A model's measurements pool every provider that served it, which is right for a model that may be served
anywhere, but a backend is one provider: pooled, Llama-3-70B's decode rate spans 15 to 357 tokens/s
(Anyscale's slowest to Groq's fastest), at Together alone 87 to 161. So each model also keeps the
measurements of every provider with `MIN_PROVIDER_SAMPLES` of them, which a stand-in can name
(`llama-3-70b-instruct@together`, `proxy.route.catalog.split_speed_name`).
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from proxy.route.catalog import CATALOG_FILE, Catalog, split_speed_name

# A provider's own measurements of a model are kept from this many samples with a decode rate on.
MIN_PROVIDER_SAMPLES = 20


@dataclass(frozen=True)
class Sample:
    name: str  # the endpoint's model name as the latency file spells it
    provider: str | None  # who served it, without the domain ("together"); None where the file does not say
    ttft_s: float
    tokens_per_s: float | None


@dataclass(frozen=True)
class Measured:
    n: int
    ttft_s: tuple[float, float, float]  # p10, p50, p90
    tokens_per_s: tuple[float, float, float]
    providers: Mapping[str, Measured] = field(default_factory=dict)  # the same, per provider with enough samples

    def as_json(self) -> dict[str, object]:
        own: dict[str, object] = {
            "ttft_s": round(self.ttft_s[1], 4),
            "tokens_per_s": round(self.tokens_per_s[1], 2),
            "n": self.n,
            "ttft_s_p10": round(self.ttft_s[0], 4),
            "ttft_s_p90": round(self.ttft_s[2], 4),
            "tokens_per_s_p10": round(self.tokens_per_s[0], 2),
            "tokens_per_s_p90": round(self.tokens_per_s[2], 2),
        }
        if self.providers:
            own["providers"] = {name: m.as_json() for name, m in sorted(self.providers.items())}
        return own

    def named(self, provider: str | None) -> Measured | None:
        """These measurements (`provider` None), or one provider's (None when it has too few)."""
        return self if provider is None else self.providers.get(provider)


def find(measured: Mapping[str, Measured], name: str) -> Measured | None:
    """The measurements a speed name means: a catalog id, or `id@provider` for one provider's."""
    cid, provider = split_speed_name(name)
    pooled = measured.get(cid)
    return pooled.named(provider) if pooled is not None else None


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
                yield Sample(r["model"], _provider(r["provider"]), ttft, tokens / (e2e - ttft))
    with open(folder / "thefastest_ai_runs.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            ttft, tps = _float(r["ttft_s"]), _float(r["tokens_per_s"])
            # The early runs left `model` blank and put the model in `provider`.
            if r["mode"] == "text" and ttft:
                rate = tps if tps and tps < 999 else None
                if r["model"]:
                    yield Sample(r["model"], _provider(r["provider"]), ttft, rate)
                else:
                    yield Sample(r["provider"], None, ttft, rate)
    with open(folder / "coder543_llm_speed_runs.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            ttft, tps = _float(r["Time To First Token"]), _float(r["Response Tok/s"])
            if ttft and tps:
                yield Sample(r["model"], None, ttft, tps)


def _provider(text: str) -> str | None:
    """The provider without its domain: together.ai and together.xyz (one company, two domains) -> together."""
    return text.strip().lower().split(".")[0] or None


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _summary(samples: list[Sample], by_provider: bool = True) -> Measured:
    ttft = [s.ttft_s for s in samples]
    tps = [s.tokens_per_s for s in samples if s.tokens_per_s is not None]
    providers: dict[str, list[Sample]] = defaultdict(list)
    for s in samples if by_provider else ():
        if s.provider is not None:
            providers[s.provider].append(s)
    return Measured(
        n=len(samples),
        ttft_s=(quantile(ttft, 0.1), quantile(ttft, 0.5), quantile(ttft, 0.9)),
        tokens_per_s=(quantile(tps, 0.1), quantile(tps, 0.5), quantile(tps, 0.9)),
        providers={
            name: _summary(own, by_provider=False)
            for name, own in sorted(providers.items())
            if sum(s.tokens_per_s is not None for s in own) >= MIN_PROVIDER_SAMPLES
        },
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

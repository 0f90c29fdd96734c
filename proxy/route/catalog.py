"""What the router knows about each LLM: a shipped catalog overlaid by the backend's own config.

`catalog.toml` (next to this module, so an installed wheel has it) describes models: maker, family,
size, release date, training domain, specialisations, context window, capabilities, the litellm
cost-map key of its prices, and aliases (upstream data-set spellings, provider-prefixed names).
`catalog_measured.json`, written by `scripts/build_catalog.py` from `../shared/data`, adds measured
latency (median TTFT and tokens/s over the latency files) and per-task success counts.

`Catalog.profile(backend)` matches `backend.model` as given, without its litellm provider prefix,
then by alias (all case-insensitive), and overlays the backend's fields: a field the config sets wins.
`Backend` cannot say whether a boolean was set, so capabilities combine: vision if either says so,
tools and JSON only if neither says no. A model the catalog does not know still gets a profile from
the backend alone, with `catalog_id=None` and unknowns left `None` (the features turn them into
neutral values plus "unknown" flags): that is the cold-start path.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from proxy.settings import Backend
from proxy.upstream import costmap

CATALOG_FILE = Path(__file__).with_name("catalog.toml")
MAKERS = ("openai", "anthropic", "google", "meta", "mistral", "alibaba", "nvidia", "other")


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the model and the key."""


@dataclass(frozen=True)
class LLMProfile:
    name: str  # the backend's name (the catalog id for a profile made without a backend)
    model: str  # litellm model string
    catalog_id: str | None = None  # None: the catalog does not know this model
    maker: str = "other"
    provider: str | None = None
    family: str | None = None
    parameters_b: float | None = None
    active_parameters_b: float | None = None  # mixture-of-experts models
    open_weights: bool | None = None
    release_date: str | None = None  # ISO date
    training_domain: str = "general"
    specializations: tuple[str, ...] = ()
    context_window: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool = True
    supports_vision: bool = False
    supports_json: bool = True
    reasoning: bool = False
    input_per_token: float | None = None  # USD
    output_per_token: float | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    accuracy: float | None = None
    # Per-task success counts measured on the data: "all" or a task type -> (sum of labels, n).
    measured: Mapping[str, tuple[float, int]] = field(default_factory=dict, compare=False)

    @property
    def history_key(self) -> str:
        """The model's identity in `History`: the catalog id when known, else the model string."""
        return self.catalog_id or self.model.lower()

    @classmethod
    def from_backend(cls, backend: Backend) -> LLMProfile:
        """A profile from the backend's fields only (no catalog)."""
        return _overlay(cls(name=backend.name, model=backend.model), backend)


@dataclass(frozen=True)
class Catalog:
    entries: Mapping[str, LLMProfile]  # catalog id -> profile (name = id, model = id)
    _lookup: Mapping[str, str] = field(default_factory=dict, repr=False)  # lower-cased name or alias -> id

    def find(self, model: str) -> LLMProfile | None:
        """The catalog entry for a model string, an upstream data-set spelling or an alias."""
        key = model.lower()
        cid = self._lookup.get(key)
        if cid is None and "/" in key:
            cid = self._lookup.get(key.split("/", 1)[1])
        return self.entries[cid] if cid is not None else None

    def profile(self, backend: Backend) -> LLMProfile:
        entry = self.find(backend.model)
        if entry is None:
            return LLMProfile.from_backend(backend)
        return _overlay(replace(entry, name=backend.name, model=backend.model), backend)


def load_catalog(path: Path = CATALOG_FILE, measured: Path | None = None) -> Catalog:
    """Read the catalog TOML and, if present, the measured aggregates beside it (`measured` in the TOML)."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    measured_path = measured or (Path(path).parent / raw["measured"] if "measured" in raw else None)
    stats: dict[str, Any] = {}
    if measured_path is not None and measured_path.is_file():
        stats = json.loads(measured_path.read_text(encoding="utf-8"))["models"]
    entries: dict[str, LLMProfile] = {}
    lookup: dict[str, str] = {}
    for cid, spec in raw.get("models", {}).items():
        entries[cid] = _entry(cid, spec, stats.get(cid, {}))
        for name in (cid, *spec.get("aliases", ())):
            other = lookup.setdefault(name.lower(), cid)
            if other != cid:
                raise CatalogError(f"models.{cid}.aliases: {name!r} already names {other!r}")
    return Catalog(entries=MappingProxyType(entries), _lookup=MappingProxyType(lookup))


_KEYS = {
    "maker",
    "family",
    "parameters_b",
    "active_parameters_b",
    "open_weights",
    "release_date",
    "training_domain",
    "specializations",
    "context_window",
    "max_output_tokens",
    "supports_tools",
    "supports_vision",
    "supports_json",
    "reasoning",
    "price_key",
    "input_cost_per_mtok",
    "output_cost_per_mtok",
    "aliases",
    "latency_names",
    "notes",
}


def _entry(cid: str, spec: Mapping[str, Any], stats: Mapping[str, Any]) -> LLMProfile:
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise CatalogError(f"models.{cid}.{unknown[0]}: unknown key")
    maker = spec.get("maker", "other")
    if maker not in MAKERS:
        raise CatalogError(f"models.{cid}.maker: expected one of {list(MAKERS)}, got {maker!r}")
    known = costmap.lookup(spec.get("price_key", cid)) or {}
    latency = stats.get("latency", {})
    accuracy = {k: (float(v[0]), int(v[1])) for k, v in stats.get("accuracy", {}).items()}
    overall = accuracy.get("all")
    return LLMProfile(
        name=cid,
        model=cid,
        catalog_id=cid,
        maker=maker,
        provider=known.get("litellm_provider") if isinstance(known.get("litellm_provider"), str) else None,
        family=spec.get("family"),
        parameters_b=_opt_float(spec.get("parameters_b")),
        active_parameters_b=_opt_float(spec.get("active_parameters_b")),
        open_weights=spec.get("open_weights"),
        release_date=str(spec["release_date"]) if "release_date" in spec else None,
        training_domain=spec.get("training_domain", "general"),
        specializations=tuple(spec.get("specializations", ())),
        context_window=spec.get("context_window") or _opt_int(known.get("max_input_tokens")),
        max_output_tokens=spec.get("max_output_tokens") or _opt_int(known.get("max_output_tokens")),
        supports_tools=bool(spec.get("supports_tools", known.get("supports_function_calling", True))),
        supports_vision=bool(spec.get("supports_vision", known.get("supports_vision", False))),
        supports_json=bool(spec.get("supports_json", True)),
        reasoning=bool(spec.get("reasoning", known.get("supports_reasoning", False))),
        input_per_token=_price(spec, "input_cost_per_mtok", known, "input_cost_per_token"),
        output_per_token=_price(spec, "output_cost_per_mtok", known, "output_cost_per_token"),
        ttft_s=_opt_float(latency.get("ttft_s")),
        tokens_per_s=_opt_float(latency.get("tokens_per_s")),
        accuracy=overall[0] / overall[1] if overall and overall[1] else None,
        measured=MappingProxyType(accuracy),
    )


def _overlay(base: LLMProfile, b: Backend) -> LLMProfile:
    priced = b.prices.source != "none"
    return replace(
        base,
        provider=b.provider or base.provider,
        family=b.family or base.family,
        parameters_b=b.parameters_b if b.parameters_b is not None else base.parameters_b,
        release_date=b.release_date or base.release_date,
        training_domain=b.training_domain if b.training_domain != "general" else base.training_domain,
        specializations=b.specializations or base.specializations,
        context_window=b.context_window or base.context_window,
        max_output_tokens=b.max_output_tokens or base.max_output_tokens,
        supports_tools=b.supports_tools and base.supports_tools,
        supports_vision=b.supports_vision or base.supports_vision,
        supports_json=b.supports_json and base.supports_json,
        input_per_token=b.prices.input_per_token if priced else base.input_per_token,
        output_per_token=b.prices.output_per_token if priced else base.output_per_token,
        ttft_s=b.ttft_s if b.ttft_s is not None else base.ttft_s,
        tokens_per_s=b.tokens_per_s if b.tokens_per_s is not None else base.tokens_per_s,
        accuracy=b.accuracy if b.accuracy is not None else base.accuracy,
    )


def _price(spec: Mapping[str, Any], key: str, known: Mapping[str, Any], known_key: str) -> float | None:
    if key in spec:
        return float(spec[key]) / 1e6
    value = known.get(known_key)
    return float(value) if isinstance(value, int | float) else None


def _opt_float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _opt_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None

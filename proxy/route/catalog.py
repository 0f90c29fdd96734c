"""What the router knows about each LLM before its backend's config: a shipped catalog, and litellm's cost map.

`catalog.toml` (next to this module, so an installed wheel has it) describes models: maker, family,
size, release date, training domain, specialisations, context window, capabilities, the litellm
cost-map key of its prices, and aliases (upstream data-set spellings, provider-prefixed names).
`catalog_measured.json`, written by `scripts/build_catalog.py` from `../shared/data`, adds measured
latency (median TTFT and tokens/s over the latency files, pooled over providers and per provider) and
per-task success counts. `Catalog.measured_speed` reads a speed by name, for a backend whose model nobody
measured and whose config names a stand-in (`speed_as`): a model's pooled speed, or with `@provider` the
speed one provider served it at (`split_speed_name`).

`Catalog.listing(model)` matches `model` as given, without its litellm provider prefix, then by alias
(all case-insensitive). A model the catalog does not know is described by litellm's cost map alone, with
`catalog_id=None` and unknowns left `None` (the features turn them into neutral values plus "unknown"
flags): that is the cold-start path. `config.py` builds each backend's one profile from the listing plus
the descriptive keys its config sets.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from proxy.route.profile import DEFAULT_SPEED, MAKERS, LLMProfile
from proxy.settings import Prices
from proxy.upstream import costmap
from proxy.upstream.prices import list_prices

CATALOG_FILE = Path(__file__).with_name("catalog.toml")
PROVIDER_SEP = "@"  # "llama-3-70b-instruct@together": the model's speed as one provider served it


def split_speed_name(name: str) -> tuple[str, str | None]:
    """A speed name -> (model, provider or None for the model's speed pooled over providers)."""
    model, sep, provider = name.partition(PROVIDER_SEP)
    return model, (provider.lower() if sep else None)


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the model and the key."""


@dataclass(frozen=True)
class Listing:
    """What is known of a model before its backend's config: its profile, its start-up prices (already in the
    profile's per-token prices) and the cost-map key a price refresh looks them up under (None: the model)."""

    profile: LLMProfile
    prices: Prices
    price_key: str | None = None


@dataclass(frozen=True)
class MeasuredSpeed:
    """A speed the latency files measured: a catalog model's over every provider, or one provider's."""

    name: str  # the catalog id, with "@provider" for one provider's
    n: int
    ttft_s: float
    tokens_per_s: float
    ttft_s_p10_p90: tuple[float, float] | None
    tokens_per_s_p10_p90: tuple[float, float] | None


@dataclass(frozen=True)
class Catalog:
    entries: Mapping[str, LLMProfile]  # catalog id -> profile (name = id, model = id)
    _lookup: Mapping[str, str] = field(default_factory=dict, repr=False)  # lower-cased name or alias -> id
    _listings: Mapping[str, Listing] = field(default_factory=dict, repr=False)  # catalog id -> its listing
    _latency: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)  # id -> measured latency

    def find(self, model: str) -> LLMProfile | None:
        """The catalog entry for a model string, an upstream data-set spelling or an alias."""
        cid = self._id(model)
        return self.entries[cid] if cid is not None else None

    def measured_speed(self, name: str) -> MeasuredSpeed | None:
        """The measured speed `name` means (a model, or `model@provider`), None where nothing was measured."""
        model, provider = split_speed_name(name)
        cid = self._id(model)
        latency = self._latency.get(cid) if cid is not None else None
        if latency is not None and provider is not None:
            latency = latency.get("providers", {}).get(provider)
        ttft, tokens_per_s = _opt_float((latency or {}).get("ttft_s")), _opt_float((latency or {}).get("tokens_per_s"))
        if latency is None or ttft is None or tokens_per_s is None:
            return None
        return MeasuredSpeed(
            name=f"{cid}{PROVIDER_SEP}{provider}" if provider else str(cid),
            n=int(latency.get("n", 0)),
            ttft_s=ttft,
            tokens_per_s=tokens_per_s,
            ttft_s_p10_p90=_spread(latency, "ttft_s"),
            tokens_per_s_p10_p90=_spread(latency, "tokens_per_s"),
        )

    def _id(self, model: str) -> str | None:
        key = model.lower()
        cid = self._lookup.get(key)
        if cid is None and "/" in key:
            cid = self._lookup.get(key.split("/", 1)[1])
        return cid

    def listing(self, model: str, price_key: str | None = None) -> Listing:
        """`model` as the catalog (else litellm's cost map) describes it. `price_key`: the backend's own cost-map
        key; its prices, when the cost map has them, replace the catalog's, and a price refresh looks it up."""
        cid = self._id(model)
        if cid is None:
            profile, prices = _entry(None, model, {}, {}, price_key or model)
            return Listing(profile, prices, price_key)
        listed = self._listings[cid]
        if price_key is None:
            return listed
        own = list_prices(price_key)
        if own.source == "none":  # priced by the catalog until a price refresh finds the backend's own key
            return replace(listed, price_key=price_key)
        return Listing(with_prices(listed.profile, own), own, price_key)

    def profile(self, model: str, name: str | None = None) -> LLMProfile:
        """The profile a backend named `name` (default: `model`) gets when its config sets only name and model."""
        return replace(self.listing(model).profile, name=name or model, model=model)


def with_prices(profile: LLMProfile, prices: Prices) -> LLMProfile:
    """`profile` describing `prices` to the features (unknown when there are none)."""
    priced = prices.source != "none"
    return replace(
        profile,
        input_per_token=prices.input_per_token if priced else None,
        output_per_token=prices.output_per_token if priced else None,
    )


@cache
def default_catalog() -> Catalog:
    """The shipped catalog, read once (it is immutable)."""
    return load_catalog()


def load_catalog(path: Path = CATALOG_FILE, measured: Path | None = None) -> Catalog:
    """Read the catalog TOML and, if present, the measured aggregates beside it (`measured` in the TOML)."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    measured_path = measured or (Path(path).parent / raw["measured"] if "measured" in raw else None)
    stats: dict[str, Any] = {}
    if measured_path is not None and measured_path.is_file():
        stats = json.loads(measured_path.read_text(encoding="utf-8"))["models"]
    entries: dict[str, LLMProfile] = {}
    listings: dict[str, Listing] = {}
    lookup: dict[str, str] = {}
    for cid, spec in raw.get("models", {}).items():
        _check(cid, spec)
        profile, prices = _entry(cid, cid, spec, stats.get(cid, {}), spec.get("price_key", cid))
        entries[cid] = profile
        listings[cid] = Listing(profile, prices, spec.get("price_key"))
        for name in (cid, *spec.get("aliases", ())):
            other = lookup.setdefault(name.lower(), cid)
            if other != cid:
                raise CatalogError(f"models.{cid}.aliases: {name!r} already names {other!r}")
    latency = {cid: stats[cid]["latency"] for cid in entries if "latency" in stats.get(cid, {})}
    return Catalog(
        entries=MappingProxyType(entries),
        _lookup=MappingProxyType(lookup),
        _listings=MappingProxyType(listings),
        _latency=MappingProxyType(latency),
    )


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


def _check(cid: str, spec: Mapping[str, Any]) -> None:
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise CatalogError(f"models.{cid}.{unknown[0]}: unknown key")
    maker = spec.get("maker", "other")
    if maker not in MAKERS:
        raise CatalogError(f"models.{cid}.maker: expected one of {list(MAKERS)}, got {maker!r}")


def _entry(
    cid: str | None, model: str, spec: Mapping[str, Any], stats: Mapping[str, Any], price_key: str
) -> tuple[LLMProfile, Prices]:
    """A catalog entry's profile and prices (`cid` None: a model only litellm's cost map describes)."""
    known = costmap.lookup(price_key) or {}
    prices = list_prices(
        price_key, _opt_float(spec.get("input_cost_per_mtok")), _opt_float(spec.get("output_cost_per_mtok"))
    )
    latency = stats.get("latency", {})
    accuracy = {k: (float(v[0]), int(v[1])) for k, v in stats.get("accuracy", {}).items()}
    overall = accuracy.get("all")
    profile = LLMProfile(
        name=model,
        model=model,
        catalog_id=cid,
        maker=spec.get("maker", "other"),
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
        ttft_s=_opt_float(latency.get("ttft_s")),
        tokens_per_s=_opt_float(latency.get("tokens_per_s")),
        speed_source=f"measured: {latency.get('n', 0)} latency rows of this model" if latency else DEFAULT_SPEED,
        ttft_s_p10_p90=_spread(latency, "ttft_s"),
        tokens_per_s_p10_p90=_spread(latency, "tokens_per_s"),
        accuracy=overall[0] / overall[1] if overall and overall[1] else None,
        measured=MappingProxyType(accuracy),
    )
    return with_prices(profile, prices), prices


def _spread(latency: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    low, high = _opt_float(latency.get(f"{key}_p10")), _opt_float(latency.get(f"{key}_p90"))
    return (low, high) if low is not None and high is not None else None


def _opt_float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _opt_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None

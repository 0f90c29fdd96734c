"""Per-model profiles: measured accuracy, answer length and latency, read from profiles.json.

profiles.json is built from the real data by `scripts/build_sim_profiles.py` and committed, so the
simulator runs from a fresh clone without the data directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("profiles.json")
# Below this many labelled prompts a family's accuracy is too noisy; the model's overall accuracy is used.
MIN_FAMILY_N = 30


@dataclass(frozen=True)
class GroupStats:
    n: int
    accuracy: float | None
    response_chars_p50: int | None


@dataclass(frozen=True)
class LatencyProfile:
    measured_as: str  # whose measurements these are: the model's own, or a named stand-in's
    stand_in: str | None  # the catalog model whose measurements these are, when not the model's own
    n: int
    ttft_s_p10: float
    ttft_s_p50: float
    ttft_s_p90: float
    tokens_per_s_p10: float
    tokens_per_s_p50: float
    tokens_per_s_p90: float


@dataclass(frozen=True)
class ModelProfile:
    name: str  # the catalog id
    sources: tuple[str, ...]
    spellings: tuple[str, ...]  # the data's names for this model, whose rows the profile pools
    provider: str
    family: str
    params_b: float | None
    input_usd_per_mtok: float | None  # list prices, from the catalog
    output_usd_per_mtok: float | None
    n: int
    accuracy: float
    by_family: Mapping[str, GroupStats]
    by_task: Mapping[str, GroupStats]
    latency: LatencyProfile

    def accuracy_for(self, family: str) -> float:
        stats = self.by_family.get(family)
        if stats is not None and stats.accuracy is not None and stats.n >= MIN_FAMILY_N:
            return stats.accuracy
        return self.accuracy


@dataclass(frozen=True)
class Profiles:
    models: Mapping[str, ModelProfile]
    aliases: Mapping[str, str]
    family_chars_p50: Mapping[str, int]

    def get(self, name: str) -> ModelProfile | None:
        """The profile for a model name exactly as the data spells it, or one of the README short names."""
        return self.models.get(self.aliases.get(name, name))

    def renamed(self, renames: Sequence[tuple[str, str]]) -> Profiles:
        """These profiles with extra names for existing models (ValueError for an unknown model)."""
        extra = {}
        for new, old in renames:
            if self.get(old) is None:
                raise ValueError(f"rename {new}={old}: no simulated model named {old!r}")
            extra[new] = self.aliases.get(old, old)
        return replace(self, aliases={**self.aliases, **extra})

    def names(self) -> list[str]:
        return sorted([*self.models, *self.aliases])

    def by_spelling(self) -> dict[str, str]:
        """The data's model names -> the profile that pools their rows."""
        return {s: name for name, profile in self.models.items() for s in profile.spellings}

    def typical_chars(self, profile: ModelProfile, family: str) -> int:
        stats = profile.by_family.get(family)
        if stats is not None and stats.response_chars_p50 is not None:
            return stats.response_chars_p50
        return self.family_chars_p50.get(family, 600)


def load_profiles(path: Path | None = None) -> Profiles:
    """Read and validate profiles.json; a ValueError names the file and the offending key."""
    path = path or DEFAULT_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Profiles(
            models={name: _model(name, spec) for name, spec in raw["models"].items()},
            aliases=dict(raw.get("aliases", {})),
            family_chars_p50={k: int(v) for k, v in raw["family_chars_p50"].items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not a valid profiles file ({type(exc).__name__}: {exc})") from exc


def _group(spec: Mapping[str, Any]) -> GroupStats:
    accuracy = spec["accuracy"]
    chars = spec["response_chars_p50"]
    return GroupStats(
        n=int(spec["n"]),
        accuracy=None if accuracy is None else float(accuracy),
        response_chars_p50=None if chars is None else int(chars),
    )


def _model(name: str, spec: Mapping[str, Any]) -> ModelProfile:
    latency = spec["latency"]
    params = spec.get("params_b")
    return ModelProfile(
        name=name,
        sources=tuple(spec["sources"]),
        spellings=tuple(spec.get("spellings", (name,))),
        provider=str(spec["provider"]),
        family=str(spec["family"]),
        params_b=None if params is None else float(params),
        input_usd_per_mtok=_opt_float(spec.get("input_usd_per_mtok")),
        output_usd_per_mtok=_opt_float(spec.get("output_usd_per_mtok")),
        n=int(spec["n"]),
        accuracy=float(spec["accuracy"]),
        by_family={k: _group(v) for k, v in spec["by_family"].items()},
        by_task={k: _group(v) for k, v in spec["by_task"].items()},
        latency=LatencyProfile(
            measured_as=str(latency["measured_as"]),
            stand_in=None if latency.get("stand_in") is None else str(latency["stand_in"]),
            n=int(latency["n"]),
            ttft_s_p10=float(latency["ttft_s_p10"]),
            ttft_s_p50=float(latency["ttft_s_p50"]),
            ttft_s_p90=float(latency["ttft_s_p90"]),
            tokens_per_s_p10=float(latency["tokens_per_s_p10"]),
            tokens_per_s_p50=float(latency["tokens_per_s_p50"]),
            tokens_per_s_p90=float(latency["tokens_per_s_p90"]),
        ),
    )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)

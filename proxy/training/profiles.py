"""Candidate profiles for the models of a data set, as the feature rows see them.

A data model the catalog knows keeps its catalog entry, with its accuracy replaced by the one observed
on the training prompts (the catalog's measured accuracy also counts held-out prompts). A model it does
not know gets a profile derived from the data (`derive_profile`): observed accuracy, and a per-token
price from recorded costs; its per-task accuracy and answer length go to the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from proxy.route.catalog import Catalog
from proxy.route.features.examples import LabelledPrompt
from proxy.route.measured import CHARS_PER_TOKEN
from proxy.route.profile import LLMProfile
from proxy.settings import Backend


@dataclass(frozen=True)
class ModelStats:
    """What the training prompts say about one model (as upstream spells it)."""

    n: int
    accuracy: float
    by_task: dict[str, tuple[float, int]]  # data task -> (sum of labels, n)
    mean_output_tokens: float | None  # from response_chars, where recorded
    price_per_token: float | None  # from cost_usd / (prompt + output tokens), where recorded


def model_stats(items: Sequence[LabelledPrompt], costs: dict[tuple[str, str], float]) -> dict[str, ModelStats]:
    acc: dict[str, list[float]] = {}
    tasks: dict[str, dict[str, tuple[float, int]]] = {}
    out: dict[str, list[float]] = {}
    spend: dict[str, list[float]] = {}
    for it in items:
        for model, label in it.correct.items():
            acc.setdefault(model, []).append(label)
            s, n = tasks.setdefault(model, {}).get(it.task or "all", (0.0, 0))
            tasks[model][it.task or "all"] = (s + label, n + 1)
            chars = it.response_chars.get(model)
            if chars is not None:
                out.setdefault(model, []).append(chars / CHARS_PER_TOKEN)
            cost = costs.get((it.key, model))
            if cost is not None:
                tokens = len(it.prompt) / CHARS_PER_TOKEN + (chars or 0) / CHARS_PER_TOKEN
                spend.setdefault(model, [0.0, 0.0])
                spend[model][0] += cost
                spend[model][1] += tokens
    stats = {}
    for model, labels in acc.items():
        c = spend.get(model)
        stats[model] = ModelStats(
            n=len(labels),
            accuracy=float(np.mean(labels)),
            by_task=tasks[model],
            mean_output_tokens=float(np.mean(out[model])) if model in out else None,
            price_per_token=c[0] / c[1] if c and c[1] > 0 else None,
        )
    return stats


def derive_profile(name: str, stats: ModelStats) -> LLMProfile:
    """A profile for a model the catalog does not know: what the data says, unknowns left unknown."""
    total = sum(s for s, _ in stats.by_task.values())
    return LLMProfile(
        name=name,
        model=name,
        catalog_id=None,
        accuracy=stats.accuracy,
        input_per_token=stats.price_per_token,
        output_per_token=stats.price_per_token,
        measured=MappingProxyType({"all": (total, stats.n)}),
    )


def resolve_profiles(
    catalog: Catalog, stats: dict[str, ModelStats], backends: Mapping[str, Backend] | None = None
) -> dict[str, LLMProfile]:
    """Model name (a data set's model, or a proxy backend in `backends`) -> the profile its feature rows are
    computed with: the one the proxy gives it (the backend's profile: catalog plus its config), with the accuracy
    the training data shows; for a model the catalog does not know, prices from the data fill the gaps."""
    profiles = {}
    for name, s in stats.items():
        backend = (backends or {}).get(name)
        base = backend.profile if backend is not None else catalog.find(name)
        if base is None or base.catalog_id is None:
            derived = derive_profile(name, s)
            if base is None:
                profiles[name] = derived
                continue
            profiles[name] = replace(
                base,
                accuracy=_known(base.accuracy, s.accuracy),
                input_per_token=_known(base.input_per_token, derived.input_per_token),
                output_per_token=_known(base.output_per_token, derived.output_per_token),
            )
        else:
            named = base if backend is not None else replace(base, name=name)
            profiles[name] = replace(named, accuracy=s.accuracy, measured=MappingProxyType({}))
    return profiles


def _known(value: float | None, fallback: float | None) -> float | None:
    return value if value is not None else fallback

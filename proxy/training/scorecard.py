"""The numbers of one slice of the replayed prompts (a source, or one benchmark of it), with 90% intervals.

A slice fixes what every router is measured against: its single models (their quality and cost on these
prompts), the best and the cheapest of them, and the oracle. A router's picks come from one sweep over
the whole source; a slice reads them on its own prompts, so a benchmark's numbers are the source's run
seen on that benchmark, as the RouteLLM paper reports MMLU, GSM8K and MT-Bench.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from proxy.training.curves import (
    calibration_by_candidate,
    difference,
    fixed_intervals,
    intervals,
    model_intervals,
    oracle,
    paired_intervals,
    random_mix,
    single_models,
    summarize,
)
from proxy.training.replay import picked_means


@dataclass(frozen=True)
class Slice:
    rows: np.ndarray  # indexes into the source's replayed prompts
    labels: np.ndarray  # (prompts of the slice, candidates)
    costs: np.ndarray
    candidates: tuple[str, ...]
    singles: dict[str, dict[str, float]]
    best: str
    cheapest: str


def slice_of(labels: np.ndarray, costs: np.ndarray, candidates: Sequence[str], rows: np.ndarray) -> Slice:
    lab, cst = labels[rows], costs[rows]
    singles = single_models(lab, cst, candidates)
    best = max(candidates, key=lambda m: (singles[m]["quality"], -singles[m]["cost"]))
    cheapest = min(candidates, key=lambda m: singles[m]["cost"])
    return Slice(rows, lab, cst, tuple(candidates), singles, best, cheapest)


def describe(sl: Slice) -> dict[str, Any]:
    """The slice's single models and oracle, each with its 90% interval."""
    per_model, oracle_interval = model_intervals(sl.labels, sl.costs, sl.candidates)
    quality, cost = oracle(sl.labels, sl.costs)
    return {
        "prompts": len(sl.rows),
        "candidates": list(sl.candidates),
        "models": {m: {**s, "interval_90": per_model[m]} for m, s in sl.singles.items()},
        "best_model": sl.best,
        "cheapest_model": sl.cheapest,
        "oracle": {"quality": float(quality.mean()), "cost": float(cost.mean()), "interval_90": oracle_interval},
    }


def routed(name: str, sl: Slice, picks: np.ndarray, p: np.ndarray | None = None) -> dict[str, Any]:
    """A router's numbers on the slice from its picks over the whole source (settings x prompts) and its
    P(acceptable) (prompts x candidates, for ECE and AUC)."""
    pk = picks[:, sl.rows]
    quality, cost = picked_means(sl.labels, sl.costs, pk)
    share = (pk == sl.candidates.index(sl.best)).mean(axis=1)
    p_slice = None if p is None else p[sl.rows]
    m = summarize(name, cost, quality, sl.singles, sl.best, sl.cheapest, share, p_slice, sl.labels)
    m["interval_90"] = intervals(sl.labels, sl.costs, pk, sl.candidates, sl.best, sl.cheapest, p=p_slice)
    if p_slice is not None:
        m["calibration_by_candidate"] = calibration_by_candidate(p_slice, sl.labels, sl.candidates)
    return m


def versus(
    sl: Slice, mine: dict[str, Any], theirs: dict[str, Any], picks: np.ndarray, other: np.ndarray
) -> dict[str, Any]:
    """How far one router (`mine`, its picks over the whole source) is from another (`theirs`) on the slice:
    each number's difference and that difference's 90% interval over the same draws of the prompts."""
    pk, ok = picks[:, sl.rows], other[:, sl.rows]
    spans = paired_intervals(sl.labels, sl.costs, pk, ok, sl.candidates, sl.best, sl.cheapest)
    return {"difference": {k: difference(mine[k], theirs[k]) for k in spans}, "interval_90": spans}


def unrouted(sl: Slice) -> dict[str, dict[str, Any]]:
    """The routers that look at no prompt: a random mix of the models, and always the cheapest one."""

    def mix(singles: dict[str, dict[str, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return random_mix(singles, sl.best)

    def cheapest(singles: dict[str, dict[str, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = singles[sl.cheapest]
        return np.array([s["cost"]]), np.array([s["quality"]]), np.array([float(sl.cheapest == sl.best)])

    out = {}
    for name, policy in (("random_mix", mix), ("always_cheapest", cheapest)):
        cost, quality, share = policy(sl.singles)
        m = summarize(name, cost, quality, sl.singles, sl.best, sl.cheapest, share)
        if name == "random_mix":
            m["curve"] = []  # straight segments between the single models: nothing worth storing
        m["interval_90"] = fixed_intervals(sl.labels, sl.costs, sl.candidates, sl.best, sl.cheapest, policy)
        out[name] = m
    return out

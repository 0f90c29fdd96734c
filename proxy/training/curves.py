"""The numbers of one router's quality-cost curve, relative to the best single model, with bootstrap intervals.

`evaluate.py` computes a curve per router and policy; these turn it into the reported metrics
(`metrics.py`'s AIQ, APGR, CPT, ECE and cost at equal quality) and the baselines that need no training
(each single model, a random mix of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from proxy.training import metrics as tm
from proxy.training.replay import picked_means

INTERVAL_DRAWS = 200  # bootstrap draws over the held-out prompts, for each router's 90% intervals


def summarize(
    name: str,
    cost: np.ndarray,
    quality: np.ndarray,
    singles: dict[str, dict[str, float]],
    best: str,
    cheapest: str,
    strong_share: np.ndarray | None = None,
    p: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """The metrics of one router's curve, relative to the best single model."""
    out: dict[str, Any] = {"router": name, **scalars(cost, quality, singles, best, cheapest, strong_share)}
    if p is not None and labels is not None:
        out["ece"] = tm.ece(p.ravel(), labels.ravel())
    curve: list[dict[str, float]] = []
    for i in range(len(cost)):
        point = {"cost": float(cost[i]), "quality": float(quality[i])}
        if strong_share is not None:
            point["strong_share"] = float(strong_share[i])
        curve.append(point)
    out["curve"] = curve
    return out


def scalars(
    cost: np.ndarray,
    quality: np.ndarray,
    singles: dict[str, dict[str, float]],
    best: str,
    cheapest: str,
    strong_share: np.ndarray | None = None,
) -> dict[str, float]:
    """The numbers of a quality-cost curve; APGR and CPT for two models, given the best one's share."""
    qb, cb = singles[best]["quality"], singles[best]["cost"]
    costs = [s["cost"] for s in singles.values()]
    out = {
        "quality_at_best_cost": tm.quality_at_cost(cost, quality, cb),
        "cost_frac_at_equal_quality": tm.cost_at_quality(cost, quality, qb) / cb,
        "cost_frac_at_99pct_quality": tm.cost_at_quality(cost, quality, 0.99 * qb) / cb,
        "cost_frac_at_95pct_quality": tm.cost_at_quality(cost, quality, 0.95 * qb) / cb,
        "aiq": tm.aiq(cost, quality, min(costs), max(costs)),
        "max_quality": float(np.max(quality)),
    }
    out["quality_at_best_cost_frac"] = out["quality_at_best_cost"] / qb
    if strong_share is not None and len(singles) == 2:
        qw = singles[cheapest]["quality"]
        out["apgr"] = tm.apgr(strong_share, quality, qw, qb)
        out["cpt50"] = tm.cpt(strong_share, quality, qw, qb, 0.5)
        out["cpt80"] = tm.cpt(strong_share, quality, qw, qb, 0.8)
    return out


def intervals(
    labels: np.ndarray,
    costs: np.ndarray,
    picks: np.ndarray,
    candidates: Sequence[str],
    best: str,
    cheapest: str,
    draws: int = INTERVAL_DRAWS,
    seed: int = 0,
) -> dict[str, list[float | None]]:
    """A 90% bootstrap interval for each of `scalars`' numbers: the held-out prompts are drawn with
    replacement and everything is recomputed on the draw (the single models, the best one's quality
    and cost, the router's curve) except the picks, which the fixed settings made per prompt. A quality
    the curve does not reach on a draw costs infinitely much: such an interval ends in None."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    b = list(candidates).index(best)
    samples: dict[str, list[float]] = {}
    for _ in range(draws):
        rows = rng.integers(0, n, n)
        lab, cst, pk = labels[rows], costs[rows], picks[:, rows]
        quality, cost = picked_means(lab, cst, pk)
        share = (pk == b).mean(axis=1)
        for k, value in scalars(cost, quality, single_models(lab, cst, candidates), best, cheapest, share).items():
            samples.setdefault(k, []).append(np.inf if np.isnan(value) else value)
    out: dict[str, list[float | None]] = {}
    for k, values in samples.items():
        lo, hi = np.quantile(np.asarray(values), [0.05, 0.95], method="nearest")
        out[k] = [float(x) if np.isfinite(x) else None for x in (lo, hi)]
    return out


def single_models(labels: np.ndarray, costs: np.ndarray, candidates: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each model's mean quality and cost when it answers every prompt (`labels`, `costs`: prompts x models)."""
    return {
        m: {"quality": float(labels[:, j].mean()), "cost": float(costs[:, j].mean())} for j, m in enumerate(candidates)
    }


def random_mix(singles: dict[str, dict[str, float]], best: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every model sends a random share of its calls to another: all segments between single models."""
    names = list(singles)
    cost, quality, share = [], [], []
    for a in names:
        for b in names:
            for alpha in np.linspace(0.0, 1.0, 101):
                cost.append((1 - alpha) * singles[a]["cost"] + alpha * singles[b]["cost"])
                quality.append((1 - alpha) * singles[a]["quality"] + alpha * singles[b]["quality"])
                share.append((1 - alpha) * (a == best) + alpha * (b == best))
    return np.array(cost), np.array(quality), np.array(share)

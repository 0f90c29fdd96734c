"""The numbers of one router's quality-cost curve, relative to the best single model, with bootstrap intervals.

`evaluate.py` computes a curve per router and policy; these turn it into the reported metrics
(`metrics.py`'s AIQ, APGR, CPT, ECE and cost at equal quality) and the baselines that need no training
(each single model, a random mix of them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from proxy.training import metrics as tm
from proxy.training.replay import picked_means

INTERVAL_DRAWS = 200  # bootstrap draws over the held-out prompts, for each router's 90% intervals


APGR_OMITTED = (
    "omitted: the best model is also the cheapest, so there is no quality gap to recover at a saving "
    "(APGR and CPT mean nothing here)"
)


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
    if out.get("apgr", 0.0) is None:
        out["apgr_omitted_reason"] = APGR_OMITTED
    if p is not None and labels is not None:
        out.update(calibration(p, labels))
    curve: list[dict[str, float]] = []
    for i in range(len(cost)):
        point = {"cost": float(cost[i]), "quality": float(quality[i])}
        if strong_share is not None:
            point["strong_share"] = float(strong_share[i])
        curve.append(point)
    out["curve"] = curve
    return out


def calibration(p: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """ECE and AUC of P(acceptable) over every (prompt, candidate) pair, and the mean P and mean label: ECE
    says how far P is off, their gap which way (too confident or too timid)."""
    p, labels = p.ravel(), labels.ravel()
    return {
        "ece": tm.ece(p, labels),
        "auc": tm.auc(p, labels),
        "mean_p": float(p.mean()),
        "mean_label": float(labels.mean()),
    }


def calibration_by_candidate(
    p: np.ndarray, labels: np.ndarray, candidates: Sequence[str]
) -> dict[str, dict[str, float]]:
    """`calibration` of each candidate's column (`p`, `labels`: prompts x candidates): a pooled ECE mixes
    one model's P too high with another's too low, and says nothing of which model it misjudges."""
    return {m: calibration(p[:, j], labels[:, j]) for j, m in enumerate(candidates)}


def scalars(
    cost: np.ndarray,
    quality: np.ndarray,
    singles: dict[str, dict[str, float]],
    best: str,
    cheapest: str,
    strong_share: np.ndarray | None = None,
) -> dict[str, float | None]:
    """The numbers of a quality-cost curve; APGR and CPT for two models, given the best one's share (None
    when the best model is also the cheapest)."""
    qb, cb = singles[best]["quality"], singles[best]["cost"]
    costs = [s["cost"] for s in singles.values()]
    quality_at_best_cost = tm.quality_at_cost(cost, quality, cb)
    out: dict[str, float | None] = {
        "quality_at_best_cost": quality_at_best_cost,
        "cost_frac_at_equal_quality": tm.cost_at_quality(cost, quality, qb) / cb,
        "cost_frac_at_99pct_quality": tm.cost_at_quality(cost, quality, 0.99 * qb) / cb,
        "cost_frac_at_95pct_quality": tm.cost_at_quality(cost, quality, 0.95 * qb) / cb,
        "aiq": tm.aiq(cost, quality, min(costs), max(costs)),
        "max_quality": float(np.max(quality)),
        "quality_at_best_cost_frac": quality_at_best_cost / qb if qb > 0 else float("nan"),
    }
    if strong_share is not None and len(singles) == 2:
        qw = singles[cheapest]["quality"]
        two = best != cheapest
        out["apgr"] = tm.apgr(strong_share, quality, qw, qb) if two else None
        out["cpt50"] = tm.cpt(strong_share, quality, qw, qb, 0.5) if two else None
        out["cpt80"] = tm.cpt(strong_share, quality, qw, qb, 0.8) if two else None
    return out


# [5th, 95th percentile]; None in a bound: not reached (a difference's: -inf or inf); None: omitted
Interval = list[float | None] | None


def bootstrap(
    n: int,
    stat: Callable[[np.ndarray], dict[str, float | None]],
    draws: int = INTERVAL_DRAWS,
    seed: int = 0,
    signed_infinity: bool = False,
) -> dict[str, Interval]:
    """A 90% bootstrap interval for each number `stat` computes from a draw of `n` prompts (row indexes,
    drawn with replacement). A NaN (a quality the curve does not reach on a draw) counts as infinitely
    much, so such an interval ends in None (with `signed_infinity`, -inf or inf: a difference can be
    infinite either way); a number `stat` omits (None) has no interval."""
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float] | None] = {}
    for _ in range(draws):
        for k, value in stat(rng.integers(0, n, n)).items():
            if value is None:
                samples[k] = None
            elif samples.setdefault(k, []) is not None:
                samples[k].append(np.inf if np.isnan(value) else value)  # type: ignore[union-attr]
    out: dict[str, Interval] = {}
    for k, values in samples.items():
        if values is None:
            out[k] = None
            continue
        lo, hi = np.quantile(np.asarray(values), [0.05, 0.95], method="nearest")
        out[k] = [float(x) if np.isfinite(x) or signed_infinity else None for x in (lo, hi)]
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
    p: np.ndarray | None = None,
) -> dict[str, Interval]:
    """90% intervals of a router's numbers (`scalars`, and `calibration` given its P(acceptable) `p`): the
    held-out prompts are redrawn and everything is recomputed on the draw (the single models, the best
    one's quality and cost, the router's curve) except the picks, which the fixed settings made per prompt."""

    def stat(rows: np.ndarray) -> dict[str, float | None]:
        lab, cst = labels[rows], costs[rows]
        out = _picked_scalars(lab, cst, picks[:, rows], single_models(lab, cst, candidates), candidates, best, cheapest)
        return out if p is None else {**out, **calibration(p[rows], lab)}

    return bootstrap(len(labels), stat, draws, seed)


def paired_intervals(
    labels: np.ndarray,
    costs: np.ndarray,
    picks: np.ndarray,
    other: np.ndarray,
    candidates: Sequence[str],
    best: str,
    cheapest: str,
    draws: int = INTERVAL_DRAWS,
    seed: int = 0,
) -> dict[str, Interval]:
    """90% intervals of the difference between two routers' numbers (`picks`' minus `other`'s) on the same
    draws of the prompts. Each router's own interval is mostly which prompts were drawn (how hard, how dear),
    and that is shared by two routers replayed on the same prompts, so their intervals overlap far more than
    their difference varies: an interval of the difference that excludes 0 is a lead the draw does not
    explain. A quality one curve does not reach on a draw is an infinite cost (`difference`), so an end of
    the interval can be -inf or inf."""

    def stat(rows: np.ndarray) -> dict[str, float | None]:
        lab, cst = labels[rows], costs[rows]
        singles = single_models(lab, cst, candidates)
        mine = _picked_scalars(lab, cst, picks[:, rows], singles, candidates, best, cheapest)
        theirs = _picked_scalars(lab, cst, other[:, rows], singles, candidates, best, cheapest)
        return {k: difference(v, theirs[k]) for k, v in mine.items()}

    return bootstrap(len(labels), stat, draws, seed, signed_infinity=True)


def difference(mine: float | None, theirs: float | None) -> float | None:
    """One number minus another's, where NaN is a quality not reached (an infinite cost): both unreached is
    a tie, one is infinitely worse. None (a number omitted) stays None."""
    if mine is None or theirs is None:
        return None
    a, b = (np.inf if np.isnan(x) else x for x in (mine, theirs))
    return 0.0 if a == b else float(a - b)


def _picked_scalars(
    labels: np.ndarray,
    costs: np.ndarray,
    picks: np.ndarray,
    singles: dict[str, dict[str, float]],
    candidates: Sequence[str],
    best: str,
    cheapest: str,
) -> dict[str, float | None]:
    """`scalars` of a router's fixed picks on a draw of the prompts (`labels`, `costs`, `picks` and the single
    models' numbers all of the draw)."""
    quality, cost = picked_means(labels, costs, picks)
    share = (picks == list(candidates).index(best)).mean(axis=1)
    return scalars(cost, quality, singles, best, cheapest, share)


def fixed_intervals(
    labels: np.ndarray,
    costs: np.ndarray,
    candidates: Sequence[str],
    best: str,
    cheapest: str,
    policy: Callable[[dict[str, dict[str, float]]], tuple[np.ndarray, np.ndarray, np.ndarray]],
    draws: int = INTERVAL_DRAWS,
) -> dict[str, Interval]:
    """90% intervals of a router that looks at no prompt (`random_mix`, always the cheapest): `policy` maps
    the single models' numbers on a draw to its curve (cost, quality, the best model's share)."""

    def stat(rows: np.ndarray) -> dict[str, float | None]:
        singles = single_models(labels[rows], costs[rows], candidates)
        cost, quality, share = policy(singles)
        return scalars(cost, quality, singles, best, cheapest, share)

    return bootstrap(len(labels), stat, draws)


def model_intervals(
    labels: np.ndarray, costs: np.ndarray, candidates: Sequence[str], draws: int = INTERVAL_DRAWS
) -> tuple[dict[str, dict[str, Interval]], dict[str, Interval]]:
    """90% intervals of each single model's quality and cost, and of the oracle's."""

    def means(quality: np.ndarray, cost: np.ndarray) -> dict[str, Interval]:
        return bootstrap(len(quality), lambda rows: {"quality": quality[rows].mean(), "cost": cost[rows].mean()}, draws)

    per_model = {m: means(labels[:, j], costs[:, j]) for j, m in enumerate(candidates)}
    return per_model, means(*oracle(labels, costs))


def oracle(labels: np.ndarray, costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt, the best label and the cheapest cost among the models that reach it."""
    top = labels.max(axis=1, keepdims=True)
    return top[:, 0], np.where(labels >= top, costs, np.inf).min(axis=1)


def single_models(labels: np.ndarray, costs: np.ndarray, candidates: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each model's mean quality and cost when it answers every prompt (`labels`, `costs`: prompts x models)."""
    return {
        m: {"quality": float(labels[:, j].mean()), "cost": float(costs[:, j].mean())} for j, m in enumerate(candidates)
    }


def random_mix(singles: dict[str, dict[str, float]], best: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every model sends a random share of its calls to another. Only the segments between neighbours on the
    upper hull of the single models matter (every other mix lies under them, and the metrics read the hull),
    so those are the curve: 101 shares per segment."""
    order = sorted(singles, key=lambda m: m == best)  # at one point, the best model stands for the others
    points = {(singles[m]["cost"], singles[m]["quality"]): m for m in order}
    hc, hq = tm.upper_hull(np.array([c for c, _ in points]), np.array([q for _, q in points]))
    on_hull = [points[(c, q)] for c, q in zip(hc.tolist(), hq.tolist(), strict=True)]
    cost, quality, share = [], [], []
    segments = list(zip(on_hull, on_hull[1:], strict=False)) or [(on_hull[0], on_hull[0])]
    for a, b in segments:
        for alpha in np.linspace(0.0, 1.0, 101):
            cost.append((1 - alpha) * singles[a]["cost"] + alpha * singles[b]["cost"])
            quality.append((1 - alpha) * singles[a]["quality"] + alpha * singles[b]["quality"])
            share.append((1 - alpha) * (a == best) + alpha * (b == best))
    return np.array(cost), np.array(quality), np.array(share)

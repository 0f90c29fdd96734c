"""Quality-cost metrics of a router, from the points of its curve (one point per setting). Numpy only.

- `quality_at_cost` / `cost_at_quality`: read off the non-decreasing upper convex hull of the points, as
  RouterBench and RouteLLM do: mixing two settings at random reaches any point on the segment between
  them, so a dominated setting never makes a router look worse than a mix of its own settings does.
- `aiq`: RouterBench's average improvement in quality: the area under that hull divided by the width of
  the cost range; flat beyond the hull's ends.
- `pgr`, `apgr`, `cpt`: RouteLLM's performance gap recovered, (q - q_weak) / (q_strong - q_weak), as a
  function of the share of calls sent to the strong model; APGR averages it over 0..100% of strong calls
  (linear between points, the all-weak and all-strong settings included), CPT(x) is the smallest share
  of strong calls at which some setting recovers at least x of the gap.
- `ece`: expected calibration error over equal-width bins; `auc`: how well P(acceptable) ranks acceptable
  answers (label >= 0.5) above the others.
"""

from __future__ import annotations

import numpy as np


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / len(p))


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """The rank statistic (Mann-Whitney), ties counted half; NaN when every label is on one side."""
    p, hard = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64) >= 0.5
    pos, neg = int(hard.sum()), int((~hard).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    sorted_p = p[order]
    # Tied scores share the mean of their ranks.
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        if count > 1:
            ranks[order[start : start + count]] = start + (count + 1) / 2
    return float((ranks[hard].sum() - pos * (pos + 1) / 2) / (pos * neg))


def quality_at_cost(cost: np.ndarray, quality: np.ndarray, budget: float) -> float:
    """The hull's quality at `budget`; NaN below the cheapest point."""
    hc, hq = upper_hull(cost, quality)
    if budget < hc[0] * (1 - 1e-9):
        return float("nan")
    return float(np.interp(budget, hc, hq))


def cost_at_quality(cost: np.ndarray, quality: np.ndarray, target: float) -> float:
    """The hull's cost where it first reaches `target`; NaN when no point reaches it."""
    hc, hq = upper_hull(cost, quality)
    if target > hq[-1] + 1e-12:
        return float("nan")
    if target <= hq[0]:
        return float(hc[0])
    return float(np.interp(target, hq, hc))  # past its first point the hull's quality strictly increases


def upper_hull(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of the points, as (costs, qualities) sorted by cost."""
    pts = sorted(
        set(zip(np.asarray(cost, dtype=float).tolist(), np.asarray(quality, dtype=float).tolist(), strict=True))
    )
    hull: list[tuple[float, float]] = []
    for c, q in pts:
        # Keep only the highest quality at a given cost, then pop points below the new chord.
        while hull and hull[-1][0] == c:
            if hull[-1][1] >= q:
                break
            hull.pop()
        else:
            while len(hull) >= 2:
                (c1, q1), (c2, q2) = hull[-2], hull[-1]
                if (q2 - q1) * (c - c1) <= (q - q1) * (c2 - c1):
                    hull.pop()
                else:
                    break
            hull.append((c, q))
    top = int(np.argmax([q for _, q in hull]))
    hull = hull[: top + 1]  # past the best point, spending more buys nothing: the hull stays flat
    return np.array([c for c, _ in hull]), np.array([q for _, q in hull])


def aiq(cost: np.ndarray, quality: np.ndarray, lo: float | None = None, hi: float | None = None) -> float:
    hc, hq = upper_hull(cost, quality)
    lo = float(np.min(cost)) if lo is None else lo
    hi = float(np.max(cost)) if hi is None else hi
    if hi <= lo:
        return float(hq[-1])
    grid = np.linspace(lo, hi, 2001)
    return float(np.trapezoid(np.interp(grid, hc, hq), grid) / (hi - lo))


def pgr(quality: np.ndarray, q_weak: float, q_strong: float) -> np.ndarray:
    gap = q_strong - q_weak
    return (np.asarray(quality, dtype=float) - q_weak) / gap if gap != 0 else np.zeros(len(quality))


def apgr(strong_share: np.ndarray, quality: np.ndarray, q_weak: float, q_strong: float) -> float:
    s = np.concatenate([[0.0, 1.0], np.asarray(strong_share, dtype=float)])
    g = np.concatenate([[0.0, 1.0], pgr(quality, q_weak, q_strong)])
    order = np.lexsort((-g, s))  # at equal share keep the best setting first
    s, g = s[order], g[order]
    s, first = np.unique(s, return_index=True)
    g = g[first]
    grid = np.linspace(0.0, 1.0, 1001)
    return float(np.trapezoid(np.interp(grid, s, g), grid))


def cpt(strong_share: np.ndarray, quality: np.ndarray, q_weak: float, q_strong: float, target: float) -> float:
    s = np.concatenate([[1.0], np.asarray(strong_share, dtype=float)])
    g = np.concatenate([[1.0], pgr(quality, q_weak, q_strong)])
    return float(np.min(s[g >= target - 1e-12]))

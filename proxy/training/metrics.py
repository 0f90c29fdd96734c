"""Quality-cost metrics of a router, from the points of its curve (one point per setting). Numpy only.

- `quality_at_cost` / `cost_at_quality`: read off the points themselves (no mixing of two settings), so
  a reported number is one a single setting reaches.
- `aiq`: RouterBench's average improvement in quality: the area under the non-decreasing upper convex
  hull of the points (mixing two settings at random reaches any point on a segment), divided by the
  width of the cost range; flat beyond the hull's ends.
- `pgr`, `apgr`, `cpt`: RouteLLM's performance gap recovered, (q - q_weak) / (q_strong - q_weak), as a
  function of the share of calls sent to the strong model; APGR averages it over 0..100% of strong calls
  (linear between points, the all-weak and all-strong settings included), CPT(x) is the smallest share
  of strong calls at which some setting recovers at least x of the gap.
- `ece`: expected calibration error over equal-width bins.
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


def quality_at_cost(cost: np.ndarray, quality: np.ndarray, budget: float) -> float:
    ok = np.asarray(cost) <= budget * (1 + 1e-9)
    return float(np.max(np.asarray(quality)[ok])) if ok.any() else float("nan")


def cost_at_quality(cost: np.ndarray, quality: np.ndarray, target: float) -> float:
    ok = np.asarray(quality) >= target - 1e-12
    return float(np.min(np.asarray(cost)[ok])) if ok.any() else float("nan")


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

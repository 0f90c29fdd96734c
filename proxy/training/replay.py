"""Replay held-out prompts through a scorer and the proxy's own selection policy (`proxy.route.choice.choose`).

A router's quality-cost curve is one point per setting, under one of three policies, each an alias setting
of `choose()`:

- "threshold" (`quality_weight` 0, the default): the acceptability threshold (the alias's
  `min_acceptability`) is swept over the quantiles of P(acceptable), with `cost_weight` 1 and
  `latency_weight` 0 (the data has no per-prompt latency): the cheapest acceptable candidate wins;
- "quality-weight": threshold 0 and the alias's quality term in the utility, `cost_weight * cost /
  max_cost + latency_weight * latency / max_latency - quality_weight * P(acceptable)`, lowest wins; the
  sweep is over cost_weight with quality_weight 1. Utility is linear in cost_weight, so one `choose()`
  call per prompt gives every setting's pick (its candidates and utilities, plus the quality term);
- "value": the quality-weight policy with the alias's `cost_unit_usd` set (`COST_UNIT_USD`), so the cost
  term is dollars at one exchange rate on every prompt instead of a share of that prompt's dearest
  candidate: one Lagrange multiplier for the whole budget, which is what a cost-at-equal-quality
  metric rewards.

Baselines go through the same code with their own P(acceptable) in place of the model's (output length,
hence predicted cost, stays the scorer's).

The actual cost of an answer is upstream's `cost_usd` where recorded; otherwise the candidate's catalog
prices x (prompt tokens + output tokens), output tokens being response_chars / 4 where recorded, else
the model's mean recorded length on the source, else the features' task-based expected length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from proxy.request import ChatRequest
from proxy.route.choice import choose
from proxy.route.features import Features, History, LexicalHeads, Resources, compute_features
from proxy.route.features.examples import LabelledPrompt
from proxy.route.features.llm import NEUTRAL_PRICE_PER_M
from proxy.route.measured import CHARS_PER_TOKEN
from proxy.route.profile import LLMProfile
from proxy.route.scoring import Scorer, Scores
from proxy.settings import Alias, Backend, Prices
from proxy.training.data import request_of


@dataclass(frozen=True)
class Replayed:
    """One held-out prompt with every candidate's scores and real outcome."""

    item: LabelledPrompt
    request: ChatRequest
    features: Features
    scores: Scores
    labels: np.ndarray  # real quality label per candidate
    costs: np.ndarray  # real (or priced) cost per candidate, USD


@dataclass(frozen=True)
class Curve:
    settings: np.ndarray  # threshold per point
    cost: np.ndarray  # mean cost per prompt
    quality: np.ndarray  # mean quality label
    picks: np.ndarray  # int (points, prompts): index of the chosen candidate


def backend_of(p: LLMProfile) -> Backend:
    """A backend as the proxy would configure it for this model (context limits off: the data answered)."""
    neutral = NEUTRAL_PRICE_PER_M / 1e6
    prices = Prices(
        input_per_token=p.input_per_token if p.input_per_token is not None else neutral,
        output_per_token=p.output_per_token if p.output_per_token is not None else neutral,
        source="config",
    )
    return Backend(name=p.name, model=p.model, prices=prices)


def replay(
    items: Sequence[LabelledPrompt],
    candidates: Sequence[str],
    profiles: dict[str, LLMProfile],
    scorer: Scorer,
    history: History,
    resources: Resources,
    recorded_costs: dict[tuple[str, str], float],
    mean_out_tokens: dict[str, float],
    heads: LexicalHeads | None = None,
) -> list[Replayed]:
    """Score every prompt that has a label for every candidate (others are skipped); `heads`: the lexical
    heads trained with the scorer's models."""
    profs = [profiles[m] for m in candidates]
    out = []
    for it in items:
        request = request_of(it)
        if request is None or any(m not in it.correct for m in candidates):
            continue
        features = compute_features(request, profs, history, resources=resources, heads=heads)
        scores = scorer.score(features, profs, request.max_output_tokens)
        labels = np.array([it.correct[m] for m in candidates])
        costs = np.array(
            [_cost(it, m, profiles[m], features, recorded_costs, mean_out_tokens.get(m)) for m in candidates]
        )
        out.append(Replayed(it, request, features, scores, labels, costs))
    return out


def _cost(
    it: LabelledPrompt,
    model: str,
    p: LLMProfile,
    features: Features,
    recorded: dict[tuple[str, str], float],
    mean_out: float | None,
) -> float:
    cost = recorded.get((it.key, model))
    if cost is not None:
        return cost
    chars = it.response_chars.get(model)
    if chars is not None:
        out = chars / CHARS_PER_TOKEN
    else:
        out = mean_out if mean_out is not None else float(features.prompt.expected_output_tokens)
    b = backend_of(p).prices
    return features.prompt.tokens * b.input_per_token + out * b.output_per_token


def thresholds(p: np.ndarray, points: int = 200) -> np.ndarray:
    """Settings that spread the curve: quantiles of the P(acceptable) values, plus both extremes."""
    qs = np.quantile(np.asarray(p, dtype=float).ravel(), np.linspace(0.0, 1.0, points))
    return np.unique(np.concatenate([[0.0], qs, [1.0 + 1e-9]]))


COST_UNIT_USD = 1e-3  # the "value" policy's cost unit: cost_weight 1 trades $0.001 for 1.0 of P(acceptable)


def cost_weights(points: int = 400) -> np.ndarray:
    """Settings of the quality-weight and value policies: 0 (most likely acceptable) up to cost dominating.
    Dense (about 65 a decade), so the cheap end of the curve, where a few prompts move, is traced too."""
    return np.concatenate([[0.0], np.geomspace(1e-4, 1e4, points - 1)])


def sweep(
    prompts: Sequence[Replayed],
    backends: Sequence[Backend],
    p_acceptable: np.ndarray | None = None,
    policy: str = "threshold",
    settings: np.ndarray | None = None,
) -> Curve:
    """The router's curve; `p_acceptable` (prompts x candidates) replaces the scorer's P (baselines)."""
    names = tuple(b.name for b in backends)
    index = {n: j for j, n in enumerate(names)}
    p_all = np.vstack([r.scores.p_acceptable for r in prompts]) if p_acceptable is None else p_acceptable
    if settings is None:
        settings = thresholds(p_all) if policy == "threshold" else cost_weights()
    picks = np.zeros((len(settings), len(prompts)), dtype=np.int64)
    for i, r in enumerate(prompts):
        scores = r.scores if p_acceptable is None else replace(r.scores, p_acceptable=p_acceptable[i])
        if policy == "threshold":
            for s, t in enumerate(settings):
                alias = Alias("replay", names, min_acceptability=float(t), cost_weight=1.0, latency_weight=0.0)
                picks[s, i] = index[choose(r.request, backends, scores, alias, r.features.prompt.tokens).chosen.name]
        elif policy in ("quality-weight", "value"):
            # Utility is linear in cost_weight: one choose() call gives every setting's ranking.
            unit = COST_UNIT_USD if policy == "value" else None
            alias = Alias(
                "replay", names, min_acceptability=0.0, cost_weight=1.0, latency_weight=0.0, cost_unit_usd=unit
            )
            kept = choose(r.request, backends, scores, alias, r.features.prompt.tokens).ranked
            u = np.array([c.utility if c.utility is not None else np.inf for c in kept])
            p = np.array([c.p_acceptable for c in kept])
            order = np.array([index[c.name] for c in kept])
            # The quality term for every setting at once: argmin(w * utility - P), the first of equals winning.
            picks[:, i] = order[np.argmin(settings[:, None] * u[None, :] - p[None, :], axis=1)]
        else:
            raise ValueError(f"unknown policy {policy!r}")
    quality, cost = picked_means(np.vstack([r.labels for r in prompts]), np.vstack([r.costs for r in prompts]), picks)
    return Curve(settings, cost, quality, picks)


def picked_means(labels: np.ndarray, costs: np.ndarray, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean quality and mean cost of the picked models, per setting: `labels` and `costs` are
    (prompts, models), `picks` is (settings, prompts) of model indexes."""
    at = np.arange(labels.shape[0])[None, :]
    return labels[at, picks].mean(axis=1), costs[at, picks].mean(axis=1)

"""Replay the held-out prompts through the trained models and the proxy's selection policy; compare baselines.

`switchyard evaluate` runs `evaluate`. Held-out prompts are those `switchyard train` never trained on (the
same salted hash of the prompt). Candidate profiles and the prior-success History are built from the
training prompts of the given files, as in training. Per source it reports each model's quality and
cost, the oracle, and for the router and each baseline (TF-IDF + logistic regression, kNN, random mix,
always-cheapest) the quality-cost curve and the metrics of `curves.py`, the routers' with a 90% bootstrap
interval over the held-out prompts (`interval_90`: with a few hundred prompts a cost fraction is uncertain
by 0.1 or more). The baselines need the `[train]` extra (scikit-learn, imported only when asked for).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from proxy.route.catalog import load_catalog
from proxy.route.features import History, load_resources
from proxy.route.features.lexical import load as load_heads
from proxy.route.scoring import OnnxScorer, load_scorer
from proxy.training import data as td
from proxy.training import profiles as tp
from proxy.training.curves import intervals, random_mix, single_models, summarize
from proxy.training.replay import COST_UNIT_USD, Replayed, backend_of, replay, sweep

log = logging.getLogger(__name__)
# "threshold" is choose() as it is; "quality-weight" adds the quality term; "value" also prices cost in dollars
# (the alias's cost_unit_usd) instead of per-request shares (proxy/training/replay.py).
POLICIES = (("threshold", ""), ("quality-weight", "/qw"), ("value", "/v"))


def evaluate_source(
    source: str,
    ds: td.DataSet,
    sp: td.Split,
    prompts: Sequence[Replayed],
    candidates: tuple[str, ...],
    profiles: dict[str, Any],
    baselines: bool,
) -> dict[str, Any]:
    labels = np.vstack([r.labels for r in prompts])
    costs = np.vstack([r.costs for r in prompts])
    singles = single_models(labels, costs, candidates)
    best = max(candidates, key=lambda m: (singles[m]["quality"], -singles[m]["cost"]))
    cheapest = min(candidates, key=lambda m: singles[m]["cost"])
    b = candidates.index(best)
    top = labels.max(axis=1, keepdims=True)
    oracle_cost = np.where(labels >= top, costs, np.inf).min(axis=1)
    backends = [backend_of(profiles[m]) for m in candidates]
    result: dict[str, Any] = {
        "source": source,
        "prompts": len(prompts),
        "candidates": list(candidates),
        "models": singles,
        "best_model": best,
        "cheapest_model": cheapest,
        "oracle": {"quality": float(top.mean()), "cost": float(oracle_cost.mean())},
        "routers": {},
    }
    log.info("%s: %d held-out prompts, %d candidates; router sweep", source, len(prompts), len(candidates))
    p = np.vstack([r.scores.p_acceptable for r in prompts])

    def add(name: str, p_used: np.ndarray, baseline: bool) -> None:
        for policy, suffix in POLICIES:
            curve = sweep(prompts, backends, p_used if baseline else None, policy)
            share = (curve.picks == b).mean(axis=1)
            m = summarize(name + suffix, curve.cost, curve.quality, singles, best, cheapest, share, p_used, labels)
            m["policy"] = policy
            m["settings"] = {
                "threshold": "min_acceptability",
                "quality-weight": "cost_weight (quality_weight 1)",
                "value": f"cost_weight (quality_weight 1, cost_unit_usd {COST_UNIT_USD})",
            }[policy]
            for point, setting in zip(m["curve"], curve.settings, strict=True):
                point["setting"] = float(setting)
            m["interval_90"] = intervals(labels, costs, curve.picks, candidates, best, cheapest)
            if not baseline:
                m["model_version"] = prompts[0].scores.model_version
            result["routers"][name + suffix] = m

    add("switchyard", p, baseline=False)
    if baselines:
        from proxy.training import baselines as bl  # scikit-learn: only when baselines are asked for

        train = [ds.items[i] for i in sp.train if _in(ds, ds.items[i].key, source)]
        train = [it for it in train if all(m in it.correct for m in candidates)]
        train_labels = np.array([[it.correct[m] for m in candidates] for it in train])
        texts = [it.prompt for it in train]
        test_texts = [r.item.prompt for r in prompts]
        log.info("%s: baselines trained on %d training prompts", source, len(train))
        for name, fn in (("tfidf_logistic", bl.tfidf_logistic), ("knn", bl.knn)):
            add(name, fn(texts, train_labels, test_texts), baseline=True)
    mc, mq, ms = random_mix(singles, best)
    result["routers"]["random_mix"] = summarize("random_mix", mc, mq, singles, best, cheapest, ms)
    result["routers"]["random_mix"]["curve"] = []  # a straight-line family: no need to store 10k points
    cheap_share = np.array([float(cheapest == best)])
    result["routers"]["always_cheapest"] = summarize(
        "always_cheapest",
        np.array([singles[cheapest]["cost"]]),
        np.array([singles[cheapest]["quality"]]),
        singles,
        best,
        cheapest,
        cheap_share,
    )
    return result


def _in(ds: td.DataSet, key: str, source: str) -> bool:
    return source in ds.sources.get(key, "").split("|")


def evaluate(
    files: Sequence[Path],
    models_dir: Path,
    max_prompts: int | None = None,
    baselines: bool = True,
    knowledge: str = "train",
    only: frozenset[str] | None = None,
) -> dict[str, Any]:
    """`only`: the candidate pool, by the data's model names (default: every model of each source).
    `knowledge`: "train" builds profiles and History from the training prompts (the honest replay);
    "catalog" uses what the proxy uses (catalog profiles, `History.from_catalog`), whose measured counts
    include held-out prompts: only for checking that the proxy and this script agree on a prompt."""
    started = time.perf_counter()
    ds = td.load_data(files)
    sp = td.split(ds.items)
    stats = tp.model_stats([ds.items[i] for i in sp.train], ds.costs)
    catalog = load_catalog()
    profiles = tp.resolve_profiles(catalog, stats)
    resources = load_resources()
    log.info("%d prompts (%d held out); %s knowledge", len(ds.items), len(sp.test), knowledge)
    if knowledge == "catalog":
        history = History.from_catalog(catalog)
        for m, p in profiles.items():
            entry = catalog.find(m)
            profiles[m] = p if entry is None else replace(entry, name=m)
    elif knowledge == "train":
        buckets = td.prompt_buckets(ds.items, resources)
        history = td.history_from(ds.items, buckets, profiles, sp.train)
    else:
        raise ValueError(f"knowledge must be 'train' or 'catalog', not {knowledge!r}")
    scorer = load_scorer(models_dir)
    heads = load_heads(models_dir, scorer.manifest) if isinstance(scorer, OnnxScorer) else None
    mean_out = {m: s.mean_output_tokens for m, s in stats.items() if s.mean_output_tokens is not None}
    report: dict[str, Any] = {
        "data": [str(f) for f in files],
        "models_dir": str(models_dir),
        "knowledge": knowledge,
        "sources": {},
    }
    for source, models in sorted(ds.source_models.items()):
        candidates = tuple(m for m in models if m in profiles and (only is None or m in only))
        held = [ds.items[i] for i in sp.test if _in(ds, ds.items[i].key, source)]
        if max_prompts is not None:
            held = held[:max_prompts]
        prompts = replay(held, candidates, profiles, scorer, history, resources, ds.costs, mean_out, heads)
        if len(prompts) < 2 or len(candidates) < 2:
            log.info("%s: %d usable held-out prompts, %d candidates: skipped", source, len(prompts), len(candidates))
            continue
        report["sources"][source] = evaluate_source(source, ds, sp, prompts, candidates, profiles, baselines)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report

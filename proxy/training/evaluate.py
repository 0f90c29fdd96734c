"""Replay prompts through the trained models and the proxy's selection policy; compare baselines.

`switchyard evaluate` runs `evaluate`. It replays either the held-out prompts of the data (those `switchyard
train` never trained on: the same salted hash of the question) or every prompt of test files
(`eval_data.py`). Candidate profiles, the prior-success History and the baselines come from the training
prompts only, as in training. Per source (and per benchmark of a source whose task column names a few,
"mmlu:anatomy" being benchmark "mmlu") it reports each model's quality and cost, the oracle, and for the
router and each baseline (TF-IDF + logistic regression, kNN, the previous models if given, random mix,
always-cheapest) the quality-cost curve and the metrics of `curves.py`, each with a 90% bootstrap interval
over the replayed prompts (`interval_90`: with a few hundred prompts a cost fraction is uncertain by 0.1 or
more). The baselines need the `[train]` extra (scikit-learn, imported only when asked for).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
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
from proxy.training.dataset import benchmark_of
from proxy.training.eval_data import held_out, with_test_files
from proxy.training.replay import COST_UNIT_USD, Replayed, backend_of, replay, sweep
from proxy.training.scorecard import Slice, describe, routed, slice_of, unrouted, versus

log = logging.getLogger(__name__)
# "threshold" is choose() as it is; "quality-weight" adds the quality term; "value" also prices cost in dollars
# (the alias's cost_unit_usd) instead of per-request shares (proxy/training/replay.py).
POLICIES = (("threshold", ""), ("quality-weight", "/qw"), ("value", "/v"))


MAX_BENCHMARKS = 12  # more distinct benchmarks than this in a source (MMLU-Pro's 91 categories): no breakdown
COVERAGE = 0.9  # a model that answered fewer of a source's replayed prompts is not one of its candidates
MIN_BENCHMARK_PROMPTS = 10  # a benchmark with fewer replayed prompts gets no numbers of its own
# The routers Switchyard's are compared with, prompt by prompt (`versus`): each under the same policy.
COMPARED = ("tfidf_logistic", "knn", "previous")

# Routers made outside this module (a research script's): given a source, the data, the split, the source's
# replayed prompts and its candidates, P(acceptable) (prompts x candidates) by router name, replayed as the
# baselines are.
MoreRouters = Callable[[str, td.DataSet, td.Split, Sequence[Replayed], tuple[str, ...]], dict[str, np.ndarray]]


def evaluate_source(
    source: str,
    ds: td.DataSet,
    sp: td.Split,
    prompts: Sequence[Replayed],
    candidates: tuple[str, ...],
    profiles: dict[str, Any],
    baselines: bool,
    previous: Sequence[Replayed] = (),
    more: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """`previous`: the same prompts replayed through the previous shipped models (a router of its own);
    `more`: other routers' P(acceptable) of the prompts (prompts x candidates), by name."""
    labels = np.vstack([r.labels for r in prompts])
    costs = np.vstack([r.costs for r in prompts])
    whole = slice_of(labels, costs, candidates, np.arange(len(prompts)))
    # This source's own task column: a prompt shared with another source (LLMRouter's GSM8K items are
    # RouteLLM's too) must not take that source's benchmark.
    benches = benchmark_rows([benchmark_of(ds.tasks.get((source, r.item.key), "")) for r in prompts])
    parts = {name: slice_of(labels, costs, candidates, rows) for name, rows in benches.items()}
    backends = [backend_of(profiles[m]) for m in candidates]
    result: dict[str, Any] = {"source": source, **describe(whole), "routers": {}}
    if parts:
        result["by_benchmark"] = {name: {**describe(sl), "routers": {}} for name, sl in parts.items()}
    log.info("%s: %d prompts, %d candidates; router sweep", source, len(prompts), len(candidates))

    picks: dict[str, np.ndarray] = {}

    def add(name: str, replayed: Sequence[Replayed], p_used: np.ndarray | None) -> None:
        p = np.vstack([r.scores.p_acceptable for r in replayed]) if p_used is None else p_used
        for policy, suffix in POLICIES:
            curve = sweep(replayed, backends, p_used, policy)
            picks[name + suffix] = curve.picks
            m = routed(name + suffix, whole, curve.picks, p)
            m["policy"] = policy
            m["settings"] = {
                "threshold": "min_acceptability",
                "quality-weight": "cost_weight (quality_weight 1)",
                "value": f"cost_weight (quality_weight 1, cost_unit_usd {COST_UNIT_USD})",
            }[policy]
            for point, setting in zip(m["curve"], curve.settings, strict=True):
                point["setting"] = float(setting)
            if p_used is None:
                m["model_version"] = replayed[0].scores.model_version
            result["routers"][name + suffix] = m
            for bench, sl in parts.items():
                b = routed(name + suffix, sl, curve.picks, p)
                del b["curve"]  # the source's curve, read on fewer prompts: its numbers are what matters
                result["by_benchmark"][bench]["routers"][name + suffix] = b

    add("switchyard", prompts, None)
    if previous:
        add("previous", previous, None)
    if baselines:
        from proxy.training import baselines as bl  # scikit-learn: only when baselines are asked for

        train = _baseline_training(ds, sp, source, candidates)
        train_labels = np.array([[it.correct[m] for m in candidates] for it in train])
        texts = [it.prompt for it in train]
        test_texts = [r.item.prompt for r in prompts]
        if len(train) < 2:
            log.info("%s: %d training prompts with every candidate's label: no trained baselines", source, len(train))
        else:
            log.info("%s: baselines trained on %d training prompts", source, len(train))
            for name, fn in (("tfidf_logistic", bl.tfidf_logistic), ("knn", bl.knn)):
                add(name, prompts, fn(texts, train_labels, test_texts))
    for name, p in (more or {}).items():
        add(name, prompts, p)
    compare(result, whole, parts, picks)
    result["routers"].update(unrouted(whole))
    for bench, sl in parts.items():
        result["by_benchmark"][bench]["routers"].update(unrouted(sl))
    return result


def compare(result: dict[str, Any], whole: Slice, parts: dict[str, Slice], picks: dict[str, np.ndarray]) -> None:
    """Add to each of Switchyard's routers its difference from each COMPARED router under the same policy,
    with the difference's own 90% interval (`versus`), on the source and on each benchmark."""
    for _, suffix in POLICIES:
        mine = "switchyard" + suffix
        for other in (name + suffix for name in COMPARED if name + suffix in picks):
            for sl, routers in [(whole, result["routers"])] + [
                (sl, result["by_benchmark"][bench]["routers"]) for bench, sl in parts.items()
            ]:
                vs = versus(sl, routers[mine], routers[other], picks[mine], picks[other])
                routers[mine].setdefault("versus", {})[other] = vs


def benchmark_rows(benchmarks: Sequence[str]) -> dict[str, np.ndarray]:
    """Prompt indexes per benchmark with MIN_BENCHMARK_PROMPTS prompts or more, when the source has 2 to
    MAX_BENCHMARKS benchmarks and at least two of them are that big (else no breakdown)."""
    names = sorted(set(benchmarks))
    if not 2 <= len(names) <= MAX_BENCHMARKS:
        return {}
    marks = np.array(benchmarks)
    rows = {n: np.flatnonzero(marks == n) for n in names}
    kept = {n: r for n, r in rows.items() if len(r) >= MIN_BENCHMARK_PROMPTS}
    return kept if len(kept) >= 2 else {}


def covering(held: Sequence[Any], pool: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """The models of `pool` that answered at least COVERAGE of the prompts, and the others. A prompt counts
    only when every candidate answered it, so one model with a few answers (ZeroEval's 56 models did not all
    answer every benchmark) would otherwise leave no prompt to replay."""
    answered = Counter(m for it in held for m in it.correct)
    keep = tuple(m for m in pool if answered[m] >= COVERAGE * len(held))
    return keep, [m for m in pool if m not in keep]


def _baseline_training(ds: td.DataSet, sp: td.Split, source: str, candidates: Sequence[str]) -> list[Any]:
    """The training prompts of the source with every candidate's label; of any source when the source has none
    (a test file of a kind the training data does not have)."""
    train = [ds.items[i] for i in sp.train if all(m in ds.items[i].correct for m in candidates)]
    same = [it for it in train if _in(ds, it.key, source)]
    return same or train


def _in(ds: td.DataSet, key: str, source: str) -> bool:
    return source in ds.sources.get(key, "").split("|")


def evaluate(
    files: Sequence[Path],
    models_dir: Path,
    max_prompts: int | None = None,
    baselines: bool = True,
    knowledge: str = "train",
    only: frozenset[str] | None = None,
    test: Sequence[Path] = (),
    train_all: bool = False,
    previous_models: Path | None = None,
    more_routers: MoreRouters | None = None,
) -> dict[str, Any]:
    """`files`: the data whose training part (every prompt with `train_all`) the knowledge and the
    baselines learn from; `test`: files every prompt of which is replayed (default: the held-out part of
    `files`). `previous_models`: another models directory replayed as the router "previous".
    `only`: the candidate pool, by the data's model names (default: every model of each source).
    `knowledge`: "train" builds profiles and History from the training prompts (the honest replay);
    "catalog" uses what the proxy uses (catalog profiles, `History.from_catalog`), whose measured counts
    include held-out prompts: only for checking that the proxy and this script agree on a prompt.
    `more_routers`: routers replayed beside the others on every source (`MoreRouters`)."""
    started = time.perf_counter()
    ds, sp = with_test_files(files, test, train_all) if test else held_out(files)
    stats = tp.model_stats([ds.items[i] for i in sp.train], ds.costs)
    catalog = load_catalog()
    profiles = tp.resolve_profiles(catalog, stats)
    for m in sorted({m for models in ds.source_models.values() for m in models} - set(profiles)):
        entry = catalog.find(m)  # a tested model with no training data: the catalog's profile, as the proxy has
        if entry is not None:
            profiles[m] = replace(entry, name=m)
    resources = load_resources()
    log.info("%d prompts (%d replayed); %s knowledge", len(ds.items), len(sp.test), knowledge)
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
    previous = None if previous_models is None else load_scorer(previous_models)
    previous_heads = (
        load_heads(previous_models, previous.manifest)
        if previous_models is not None and isinstance(previous, OnnxScorer)
        else None
    )
    mean_out = {m: s.mean_output_tokens for m, s in stats.items() if s.mean_output_tokens is not None}
    report: dict[str, Any] = {
        "data": [str(f) for f in files],
        "test": [str(f) for f in test],
        "replayed": "every prompt of the test files" if test else "the held-out part of the data",
        "learned_from": "every prompt of the data" if train_all else "the training part of the data",
        "models_dir": str(models_dir),
        "knowledge": knowledge,
        "training_prompts": len(sp.train),
        "sources": {},
    }
    for source, models in sorted(ds.source_models.items()):
        unknown = [m for m in models if m not in profiles]
        if unknown:
            log.info("%s: %s neither in the training data nor the catalog: not a candidate", source, ", ".join(unknown))
        pool = tuple(m for m in models if m in profiles and (only is None or m in only))
        held = [ds.items[i] for i in sp.test if _in(ds, ds.items[i].key, source)]
        if max_prompts is not None:
            held = held[:max_prompts]
        candidates, sparse = covering(held, pool)
        if sparse:
            log.info("%s: %d models answered too few of its prompts: not candidates", source, len(sparse))
        prompts = replay(held, candidates, profiles, scorer, history, resources, ds.costs, mean_out, heads)
        if len(prompts) < 2 or len(candidates) < 2:
            log.info("%s: %d usable prompts, %d candidates: skipped", source, len(prompts), len(candidates))
            continue
        before = (
            replay(held, candidates, profiles, previous, history, resources, ds.costs, mean_out, previous_heads)
            if previous
            else []
        )
        more = more_routers(source, ds, sp, prompts, candidates) if more_routers else None
        report["sources"][source] = evaluate_source(
            source, ds, sp, prompts, candidates, profiles, baselines, before, more
        )
        if sparse:
            report["sources"][source]["candidates_left_out"] = {
                "models": sparse,
                "reason": f"answered under {COVERAGE:.0%} of the source's replayed prompts",
            }
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report

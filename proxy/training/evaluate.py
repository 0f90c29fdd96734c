"""Replay the held-out prompts through the trained models and the proxy's selection policy; compare baselines.

Usage:
  .venv/bin/python scripts/evaluate.py --json /tmp/eval.json --plot /tmp/eval.png     # all of ../shared/data
  .venv/bin/python scripts/evaluate.py --data ../shared/data/routellm/routellm_long.csv.gz --json out.json
Options: --models DIR (default: models/), --data-dir DIR, --max-prompts N (per source, for a quick look),
--no-baselines, --knowledge catalog (score with the proxy's own profiles and History, to compare with it).

Held-out prompts are those `scripts/train.py` never trained on (the same salted hash of the prompt).
Candidate profiles and the prior-success History are built from the training prompts of the given files,
as in training. Per source it reports each model's quality and cost, the oracle, and for the router
and each baseline (TF-IDF + logistic regression, kNN, random mix, always-cheapest) the quality-cost
curve and the metrics of `proxy/training/metrics.py`, the routers' with a 90% bootstrap interval over
the held-out prompts (`interval_90`: with a few hundred prompts a cost fraction is uncertain by 0.1 or more).
Needs the `[train]` extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxy.route.catalog import load_catalog  # noqa: E402
from proxy.route.features import History, load_resources  # noqa: E402
from proxy.route.scoring import load_scorer  # noqa: E402
from proxy.training import data as td  # noqa: E402
from proxy.training import metrics as tm  # noqa: E402
from proxy.training import profiles as tp  # noqa: E402
from proxy.training.dataset import find_long_files  # noqa: E402
from proxy.training.replay import COST_UNIT_USD, Replayed, backend_of, picked_means, replay, sweep  # noqa: E402

log = logging.getLogger("evaluate")
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data"
# "threshold" is choose() as it is; "quality-weight" adds the quality term; "value" also prices cost in dollars
# (the alias's cost_unit_usd) instead of per-request shares (proxy/training/replay.py).
POLICIES = (("threshold", ""), ("quality-weight", "/qw"), ("value", "/v"))
# Printed columns: quality at the best model's cost (/ its quality), cost (/ its cost) at 100/99/95% of its quality.
COLUMNS = {
    "quality_at_best_cost_frac": "q@bestcost",
    "cost_frac_at_equal_quality": "c@q100%",
    "cost_frac_at_99pct_quality": "c@q99%",
    "cost_frac_at_95pct_quality": "c@q95%",
    "aiq": "AIQ",
    "apgr": "APGR",
    "cpt50": "CPT50",
    "cpt80": "CPT80",
    "ece": "ECE",
}
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
) -> dict[str, Any]:
    """`knowledge`: "train" builds profiles and History from the training prompts (the honest replay);
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
    mean_out = {m: s.mean_output_tokens for m, s in stats.items() if s.mean_output_tokens is not None}
    report: dict[str, Any] = {
        "data": [str(f) for f in files],
        "models_dir": str(models_dir),
        "knowledge": knowledge,
        "sources": {},
    }
    for source, models in sorted(ds.source_models.items()):
        candidates = tuple(m for m in models if m in profiles)
        held = [ds.items[i] for i in sp.test if _in(ds, ds.items[i].key, source)]
        if max_prompts is not None:
            held = held[:max_prompts]
        prompts = replay(held, candidates, profiles, scorer, history, resources, ds.costs, mean_out)
        if len(prompts) < 2 or len(candidates) < 2:
            log.info("%s: %d usable held-out prompts, %d candidates: skipped", source, len(prompts), len(candidates))
            continue
        report["sources"][source] = evaluate_source(source, ds, sp, prompts, candidates, profiles, baselines)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def print_report(report: dict[str, Any]) -> None:
    for source, r in report["sources"].items():
        print(f"\n== {source}: {r['prompts']} held-out prompts, best single model {r['best_model']}")
        for m, s in sorted(r["models"].items(), key=lambda kv: kv[1]["cost"]):
            print(f"   {m:40s} quality {s['quality']:.4f}  cost ${s['cost']:.6f}")
        print(f"   {'oracle':40s} quality {r['oracle']['quality']:.4f}  cost ${r['oracle']['cost']:.6f}")
        print(f"   {'router':20s} " + " ".join(f"{k:>10s}" for k in COLUMNS.values()))
        for name, m in r["routers"].items():
            print(f"   {name:20s} " + " ".join(_cell(m.get(k)) for k in COLUMNS))
            if "interval_90" in m:
                print(f"   {'  90% interval':20s} " + " ".join(_span(m["interval_90"].get(k)) for k in COLUMNS))


def _cell(v: Any) -> str:
    return f"{v:10.4f}" if isinstance(v, float) else f"{'-':>10s}"


def _span(v: list[float | None] | None) -> str:
    if v is None:
        return f"{'':10s}"
    lo, hi = (f"{x:.2f}" if x is not None else "inf" for x in v)
    return f"{lo + '-' + hi:>10s}"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(report["sources"].values())
    fig, axes = plt.subplots(1, len(sources), figsize=(6 * len(sources), 4.5), squeeze=False)
    for ax, r in zip(axes[0], sources, strict=True):
        for name, m in r["routers"].items():
            if m["curve"] and len(m["curve"]) > 1:
                c = np.array([[pt["cost"], pt["quality"]] for pt in m["curve"]])
                order = np.argsort(c[:, 0])
                ax.plot(c[order, 0], c[order, 1], label=name, lw=1.5 if name == "switchyard" else 1.0)
        for mname, s in r["models"].items():
            ax.scatter([s["cost"]], [s["quality"]], s=14, color="grey")
            ax.annotate(mname.split("/")[-1][:18], (s["cost"], s["quality"]), fontsize=6)
        ax.scatter([r["oracle"]["cost"]], [r["oracle"]["quality"]], marker="*", s=80, color="black", label="oracle")
        ax.set_xscale("log")
        ax.set_xlabel("mean cost per prompt (USD, log)")
        ax.set_ylabel("mean quality")
        ax.set_title(f"{r['source'][:40]} ({r['prompts']} held-out prompts)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", help="a long-format .csv or .csv.gz file (repeatable)")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="used when no --data is given")
    parser.add_argument("--models", default=str(ROOT / "models"), help="models directory (default: models/)")
    parser.add_argument("--json", required=True, help="write the report here")
    parser.add_argument("--plot", help="write the quality-cost curves here (PNG)")
    parser.add_argument("--max-prompts", type=int, help="at most this many held-out prompts per source")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument(
        "--knowledge",
        choices=("train", "catalog"),
        default="train",
        help="profiles and History from the training prompts (default), or the proxy's catalog ones "
        "(they count held-out labels: only to compare with the running proxy)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    files = [Path(f) for f in args.data] if args.data else find_long_files(Path(args.data_dir))
    report = evaluate(files, Path(args.models), args.max_prompts, not args.no_baselines, args.knowledge)
    report["command"] = " ".join([".venv/bin/python", *sys.argv])
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print_report(report)
    if args.plot:
        plot(report, Path(args.plot))
        print(f"\nplot: {args.plot}")
    print(f"report: {args.json} ({report['seconds']} s)")


if __name__ == "__main__":
    main()

"""How far can routing on prompt difficulty go? A ceiling for issue #15's targets, beside the real routers.

Every router of `switchyard evaluate` predicts P(acceptable) from the prompt. The best a router could do by
knowing how hard a held-out prompt is for models in general, and nothing model-specific, is replayed here
through the same held-out split, replay, policies and metrics (`proxy.training.evaluate`'s `more_routers`),
beside the shipped models and TF-IDF + logistic regression. An item-response model is fitted (marginal maximum
likelihood, the difficulty integrated out over b ~ N(0, s^2)) on the source's training prompts and every model
of the source: Rasch, P(model j right on prompt i) = sigmoid(theta_j - b_i), and 2PL (each model its own
sensitivity to difficulty, shrunk towards the Rasch one). A held-out prompt's P_ij is then the model's chance
averaged over b_i given some of the prompt's labels (the prior keeps one label from giving an infinite
difficulty; the average keeps P calibrated where one plug-in b_i would be overconfident):

- `difficulty_outside`: b_i from the models outside the candidate pool only: the clean ceiling, no candidate's
  label in it. Only where the source has such models (ZeroEval 47 of 56, MMLU-Pro 9 of 17; RouterBench's and
  LLMRouter's models are all candidates: no row);
- `difficulty_all`: b_i from every model's labels, the candidate's own too: optimistic, each candidate's own
  answer moves the prompt's difficulty by about 1/n of it (n labels);
- `difficulty_pool`: b_i from the candidates' labels only, the candidate's own too: what `difficulty_all` is
  where the source has no other model; beside `difficulty_outside` it measures how optimistic that is;
- `difficulty_loo`: b_i^(-j) from every model but j: pessimistic, and badly so with few models. Each candidate's
  P reads its rivals' labels but not its own, so where two candidates disagree the one that was wrong looks
  better (the other's right answer made the prompt look easy for it; its own wrong one is unread);
- `difficulty_task_*`: the Rasch model over (task, model) pairs, each model's level on each task of the source's
  task column (MMLU-Pro's 14 subjects, ZeroEval's and RouterBench's 3 benchmarks) shrunk towards its overall
  level: difficulty plus the model-specific skill a router can learn from the prompt's task;
- `difficulty_task_none`: each model's level on the prompt's task and no label at all: what knowing the task
  alone buys (MMLU-Pro's subject), no difficulty;
- `oracle_labels`: P = the real labels, the oracle through the same policy, for reference.

A target `difficulty_all` misses is out of reach for routing on prompt difficulty on these data; one
`difficulty_task_all` misses too is out of reach for difficulty plus per-task skill: what is left is which model
happens to get which prompt right, which no representation of the prompt's difficulty or task predicts.

Usage:
    python -m scripts.ceiling --data-dir ../shared/data \\
        --sources "routerbench(via RouterDC repo),LLMRouter(dcrouter_preprocessed)" --json var/ceiling.json
    python -m scripts.ceiling --data ../shared/data/zeroeval/zeroeval_long.csv.gz \\
        --candidates o1-mini-2024-09-12,gpt-4o-2024-08-06,... --json var/ceiling_zeroeval9.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from proxy.training import data as td
from proxy.training.replay import Replayed

NODES = 61  # Gauss-Hermite nodes over a prompt's standardised difficulty z ~ N(0, 1)
LEVEL_PRIOR_VAR = 100.0  # nearly flat: a model's level is pinned by thousands of labels
TASK_PRIOR_VAR = 0.25  # a model's level on one task differs from its level overall by about 0.5 (sd), a priori
SLOPE_PRIOR_VAR = 0.25  # 2PL: a model's slope is shrunk towards the Rasch slope (sd 0.5)
ROWS = (
    "oracle_labels/v",
    "difficulty_outside/v",
    "difficulty_2pl_outside/v",
    "difficulty_pool/v",
    "difficulty_all/v",
    "difficulty_2pl_all/v",
    "difficulty_loo/v",
    "difficulty_task_outside/v",
    "difficulty_task_pool/v",
    "difficulty_task_all/v",
    "difficulty_task_none/v",
    "switchyard/v",
    "tfidf_logistic/v",
)
METRICS = (("cost_frac_at_95pct_quality", "c@95%"), ("cost_frac_at_99pct_quality", "c@99%"), ("aiq", "AIQ"))


@dataclass(frozen=True)
class Irt:
    """P(model k answers a prompt of difficulty z) = sigmoid(level_k - slope_k * z), z ~ N(0, 1): one slope
    for every model (Rasch: theta_k = level_k / slope, difficulty b = slope * z) or one per model (2PL)."""

    models: tuple[str, ...]
    level: np.ndarray
    slope: np.ndarray


def _nodes() -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(NODES)
    return z, np.log(w / w.sum())


def _log_p(irt: Irt, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log P(right) and log P(wrong), nodes x models."""
    eta = irt.level[None, :] - irt.slope[None, :] * z[:, None]
    return -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta)


def _log_lik(labels: np.ndarray, irt: Irt, z: np.ndarray) -> np.ndarray:
    """Per prompt and node, the log likelihood of the prompt's labels (NaN: not answered; a partial label
    counts as that share of a right answer)."""
    seen = ~np.isnan(labels)
    right = np.where(seen, labels, 0.0)
    lp, lq = _log_p(irt, z)
    return right @ lp.T + (seen - right) @ lq.T


def _posterior(log_lik: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    post = log_lik + log_w[None, :]
    post = np.exp(post - post.max(axis=1, keepdims=True))
    return post / post.sum(axis=1, keepdims=True)


def fit_irt(labels: np.ndarray, models: Sequence[str], two_pl: bool = False) -> Irt:
    """Marginal maximum likelihood by EM over the quadrature nodes (`labels`: prompts x models in [0, 1],
    NaN where a model did not answer): the difficulty is integrated out, so a prompt with few labels does not
    shrink the models' levels as a fitted difficulty per prompt would. The 2PL starts from the Rasch fit, its
    slopes shrunk towards the Rasch slope."""
    m = labels.shape[1]
    rasch = _em(labels, Irt(tuple(models), np.zeros(m), np.ones(m)), None)
    return _em(labels, rasch, float(rasch.slope[0])) if two_pl else rasch


def fit_by_task(labels: np.ndarray, models: Sequence[str], tasks: Sequence[str], names: Sequence[str]) -> Irt:
    """A Rasch model whose "models" are (task, model) pairs (`by_task`'s columns, task `names` in order): each
    model's level on each task, shrunk towards its level over every task (a task with no training prompt
    keeps that); one difficulty scale."""
    rasch = fit_irt(labels, models)
    start = Irt(
        tuple(f"{t}/{m}" for t in names for m in models),
        np.tile(rasch.level, len(names)),
        np.full(len(names) * len(models), rasch.slope[0]),
    )
    return _em(by_task(labels, tasks, names), start, None, (start.level, TASK_PRIOR_VAR))


def by_task(labels: np.ndarray, tasks: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """prompts x (task, model) columns, task-major: a prompt's labels in its own task's block, NaN elsewhere."""
    out = np.full((len(labels), len(names) * labels.shape[1]), np.nan)
    for i, t in enumerate(tasks):
        g = list(names).index(t) * labels.shape[1]
        out[i, g : g + labels.shape[1]] = labels[i]
    return out


def _em(
    labels: np.ndarray,
    irt: Irt,
    slope_centre: float | None,
    level_prior: tuple[np.ndarray, float] | None = None,
    iterations: int = 1000,
) -> Irt:
    """EM from `irt`; each M step one Newton step on the expected log likelihood: per model on (level, slope)
    with the slopes' prior at `slope_centre`, or, with None, on the levels and then on one shared slope.
    `level_prior`: the levels' prior means and variance (default: 0 and nearly flat)."""
    centre, var = level_prior or (np.zeros(len(irt.level)), LEVEL_PRIOR_VAR)
    z, log_w = _nodes()
    seen = ~np.isnan(labels)
    right = np.where(seen, labels, 0.0)
    for _ in range(iterations):
        post = _posterior(_log_lik(labels, irt, z), log_w)
        counts = (post.T @ right).T, (post.T @ seen).T  # models x nodes: expected right answers, answers
        resid, info = _residuals(counts, irt.level, irt.slope, z)
        g_level = resid.sum(axis=1) - (irt.level - centre) / var
        h_level = info.sum(axis=1) + 1 / var
        if slope_centre is None:
            level = irt.level + g_level / h_level
            resid, info = _residuals(counts, level, irt.slope, z)
            slope = irt.slope - (resid * z).sum() / (info * z**2).sum()
        else:
            g_slope = -(resid * z).sum(axis=1) - (irt.slope - slope_centre) / SLOPE_PRIOR_VAR
            h_cross = -(info * z).sum(axis=1)
            h_slope = (info * z**2).sum(axis=1) + 1 / SLOPE_PRIOR_VAR
            det = h_level * h_slope - h_cross**2
            level = irt.level + (h_slope * g_level - h_cross * g_slope) / det
            slope = irt.slope + (h_level * g_slope - h_cross * g_level) / det
        step = max(np.abs(level - irt.level).max(), np.abs(slope - irt.slope).max())
        irt = Irt(irt.models, level, np.maximum(slope, 0.05))
        if step < 1e-6:
            break
    return irt


def _residuals(
    counts: tuple[np.ndarray, np.ndarray], level: np.ndarray, slope: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected right answers less predicted ones, and the Fisher information, models x nodes."""
    right, answers = counts
    p = _sigmoid(level[:, None] - slope[:, None] * z[None, :])
    return right - answers * p, answers * p * (1 - p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def matrix(correct: Sequence[dict[str, float]], models: Sequence[str]) -> np.ndarray:
    return np.array([[c.get(m, np.nan) for m in models] for c in correct], dtype=float).reshape(len(correct), -1)


def difficulty_routers(
    irt: Irt,
    held: np.ndarray,
    columns: np.ndarray,
    subsets: Mapping[str, Sequence[int]],
    loo: bool = True,
    none: bool = False,
) -> dict[str, np.ndarray]:
    """P(acceptable) (prompts x candidates) of the difficulty oracles for the held-out labels `held` (prompts x
    the IRT model's columns; `columns`: prompts x candidates, each candidate's column for the prompt): each
    candidate's chance of being right averaged over the prompt's difficulty given every label ("all"), the
    labels of each named subset of columns only (those that have any), every label but the candidate's
    own ("loo"), or no label ("none": the candidate's level alone, on the prompt's task for a fit by task)."""
    z, log_w = _nodes()
    p = np.exp(_log_p(irt, z)[0])  # nodes x columns
    rows = np.arange(len(held))[:, None]

    def predict(labels: np.ndarray) -> np.ndarray:
        return np.asarray((_posterior(_log_lik(labels, irt, z), log_w) @ p)[rows, columns])

    out = {"all": predict(held)}
    for name, subset in subsets.items():
        if subset:
            only = np.full_like(held, np.nan)
            only[:, subset] = held[:, subset]
            out[name] = predict(only)
    if none:
        out["none"] = predict(np.full_like(held, np.nan))
    if loo:
        out["loo"] = np.empty(columns.shape)
        for j in range(columns.shape[1]):
            others = held.copy()
            others[rows[:, 0], columns[:, j]] = np.nan
            out["loo"][:, j] = predict(others)[:, j]
    return out


class Ceiling:
    """`evaluate`'s `more_routers`: fits the source's Rasch and 2PL models on its training prompts (every model
    of the source) and keeps what it used per source in `notes`."""

    def __init__(self, pool: frozenset[str] | None, sources: frozenset[str] | None = None) -> None:
        self.pool, self.sources = pool, sources
        self.notes: dict[str, dict[str, Any]] = {}

    def __call__(
        self, source: str, ds: td.DataSet, sp: td.Split, prompts: Sequence[Replayed], candidates: tuple[str, ...]
    ) -> dict[str, np.ndarray]:
        if self.sources is not None and source not in self.sources:
            return {}
        models = ds.source_models[source]
        items = [ds.items[i] for i in sp.train if source in ds.sources.get(ds.items[i].key, "").split("|")]
        train, train_keys = matrix([it.correct for it in items], models), [it.key for it in items]
        outside = [m for m in models if m not in candidates and (self.pool is None or m not in self.pool)]
        held = matrix([r.item.correct for r in prompts], models)
        out = {"oracle_labels": np.vstack([r.labels for r in prompts])}
        columns = np.tile([models.index(m) for m in candidates], (len(prompts), 1))
        # "pool": difficulty from the candidates' labels, what "all" is where the source has no other model
        # (RouterBench); where it has, set beside "outside" it measures how optimistic that is.
        away, pool = [models.index(m) for m in outside], [models.index(m) for m in candidates] if outside else []
        fits = {"difficulty": fit_irt(train, models), "difficulty_2pl": fit_irt(train, models, two_pl=True)}
        for name, irt in fits.items():
            subsets = {"outside": away, "pool": pool if name == "difficulty" else []}
            routers = difficulty_routers(irt, held, columns, subsets, loo=name == "difficulty")
            out.update({f"{name}_{k}": p for k, p in routers.items()})
        task_train, task_held = (
            [task_of(ds, source, key) for key in keys] for keys in (train_keys, [r.item.key for r in prompts])
        )
        tasks = sorted(set(task_train) | set(task_held))
        if len(tasks) > 1:  # each model's level per task: what a router that knows the task adds to difficulty
            by = fit_by_task(train, models, task_train, tasks)
            block = np.array([tasks.index(t) for t in task_held])[:, None] * len(models)
            subsets = {
                n: [g * len(models) + k for g in range(len(tasks)) for k in c]
                for n, c in (("outside", away), ("pool", pool))
            }
            held_by_task = by_task(held, task_held, tasks)
            routers = difficulty_routers(by, held_by_task, block + columns, subsets, loo=False, none=True)
            out.update({f"difficulty_task_{k}": p for k, p in routers.items()})
        rasch, two_pl = fits["difficulty"], fits["difficulty_2pl"]
        answered_outside = ~np.isnan(held[:, [models.index(m) for m in outside]])
        self.notes[source] = {
            "irt_models": len(models),
            "irt_training_prompts": len(train),
            "rasch_difficulty_sd": round(float(rasch.slope[0]), 3),
            "rasch_theta": {m: round(float(rasch.level[models.index(m)]), 3) for m in candidates},
            "2pl_slope": {m: round(float(two_pl.slope[models.index(m)]), 3) for m in candidates},
            "outside_models": outside,
            "held_out_prompts_with_an_outside_label": int(answered_outside.any(axis=1).sum()),
            "labels_per_held_out_prompt": round(float((~np.isnan(held)).sum(axis=1).mean()), 2),
            "tasks": tasks,
        }
        return out


def task_of(ds: td.DataSet, source: str, key: str) -> str:
    """A prompt's task in its source, coarse: MMLU-Pro's "law|ori_mmlu-professional_law" is "law"."""
    return ds.tasks.get((source, key), "").split("|")[0].split(":")[0]


def table(report: dict[str, Any]) -> str:
    lines = []
    for source, r in report["sources"].items():
        note = r.get("ceiling")
        if note is None:
            continue
        lines.append(
            f"\n== {source}: {r['prompts']} held-out prompts x {len(r['candidates'])} candidates,"
            f" best {r['best_model']}; IRT on {note['irt_models']} models,"
            f" {len(note['outside_models'])} outside the pool"
        )
        lines.append(f"   {'router':26s}" + "".join(f"{h:>22s}" for _, h in METRICS) + f"{'AUC':>8s}")
        for name in ROWS:
            m = r["routers"].get(name)
            if m is None:
                continue
            cells = "".join(_cell(m.get(k), m["interval_90"].get(k)) for k, _ in METRICS)
            lines.append(f"   {name:26s}{cells}{m.get('auc', float('nan')):8.3f}")
    return "\n".join(lines)


def _cell(v: float | None, span: list[float | None] | None) -> str:
    value = "-" if v is None or np.isnan(v) else f"{v:.3f}"
    lo, hi = ("-" if x is None else f"{x:.3f}" for x in (span or [None, None]))
    return f"{value + ' [' + lo + ', ' + hi + ']':>22s}"


def main(argv: Sequence[str] | None = None) -> int:
    from proxy.route.router import DEFAULT_MODELS_DIR
    from proxy.training.dataset import find_long_files
    from proxy.training.evaluate import evaluate

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", help="a long-format file (repeatable); default: every one of --data-dir")
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--candidates", help="comma-separated candidate pool, as `switchyard evaluate --candidates`")
    ap.add_argument("--sources", help="comma-separated: the ceiling for these sources only (default: every one)")
    ap.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="the models replayed as 'switchyard'")
    ap.add_argument("--json", type=Path, required=True, help="write evaluate's report, with the ceiling routers")
    args = ap.parse_args(argv)
    files = [Path(f) for f in args.data] if args.data else find_long_files(Path(args.data_dir))
    pool = frozenset(n.strip() for n in args.candidates.split(",") if n.strip()) if args.candidates else None
    sources = frozenset(n.strip() for n in args.sources.split(",")) if args.sources else None
    ceiling = Ceiling(pool, sources)
    report = evaluate(files, args.models, only=pool, more_routers=ceiling)
    for source, note in ceiling.notes.items():
        if source in report["sources"]:
            report["sources"][source]["ceiling"] = note
    report["command"] = " ".join(["python -m scripts.ceiling", *(sys.argv[1:] if argv is None else argv)])
    args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(table(report) + f"\nreport: {args.json} ({report['seconds']} s)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

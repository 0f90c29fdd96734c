"""Train the router's correctness and output-length models from long-format data; write ONNX + manifest.

`switchyard train` runs `train`. Any long-format file works, including one whose models the catalog does
not know: they get profiles derived from the data (`profiles.py`). About 20% of the distinct prompts (a
salted hash of the normalised text) are held out and never trained on; `switchyard evaluate` replays
exactly those. The manifest records the data files and their sha256, the feature names and version, what
each output means, the held-out metrics and the versions; `knowledge.json` beside it holds the accuracies
and success counts the features were computed with (`proxy/route/learned.py`), which the proxy loads with
the models. Needs the `[train]` extra (imported through `fit` and `export`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from proxy.route import learned
from proxy.route.catalog import load_catalog
from proxy.route.features import VERSION, load_resources
from proxy.route.features.lexical import BUCKETS
from proxy.route.scoring import OnnxScorer
from proxy.settings import Backend
from proxy.training import data as td
from proxy.training import lexical as tl
from proxy.training import profiles as tp
from proxy.training.bagging import mean_margin
from proxy.training.export import write_models
from proxy.training.fit import (
    CALIBRATIONS,
    CLASSIFIER_PARAMS,
    REGRESSOR_PARAMS,
    Correctness,
    classification_metrics,
    fit_correctness,
    fit_output_length,
)
from proxy.training.inputs import TrainingError

log = logging.getLogger(__name__)
LABEL = (
    "P(acceptable): the probability that the candidate's answer to this prompt is acceptable, i.e. the expected "
    "upstream quality label in [0, 1] (benchmark exact match / unit tests = 0 or 1, judge score / 10, task metric); "
    "calibrated with an isotonic map fitted on "
)
FITTED_ON = {
    "prompt": "out-of-fold predictions of the training prompts",
    "source": "out-of-fold predictions of the training prompts and, as many again, each source's predicted by a "
    "model fitted on the other sources",
}


def train(
    files: list[Path],
    out: Path,
    threads: int = 1,
    folds: int = td.FOLDS,
    backends: Mapping[str, Backend] | None = None,
    min_head_prompts: int = tl.MIN_HEAD_PROMPTS,
    bag: int = 3,
    calibration: str = "source",
) -> dict[str, Any]:
    """`backends`: the proxy's backends by name, so log rows (named by backend) get the profiles the proxy
    gives them; without it a model name is looked up in the catalog as it is. `min_head_prompts`: the fewest
    training prompts of a model that earn it a lexical head (`proxy/training/lexical.py`). `bag`: how many
    correctness classifiers (LightGBM seeds 0..bag-1) average their margins (`proxy/training/bagging.py`; 3
    by default: the routing figures of one seed move with the seed, models/README.md). `calibration`: what
    the isotonic map is fitted on (`fit.CALIBRATIONS`, `FITTED_ON`)."""
    if bag < 1:
        raise TrainingError(f"a bag needs at least one classifier, not {bag}")
    if calibration not in CALIBRATIONS:
        raise TrainingError(f"calibration {calibration!r}: expected one of {', '.join(CALIBRATIONS)}")
    started = time.perf_counter()
    log.info("reading %s", ", ".join(str(f) for f in files))
    ds = td.load_data(files)
    sp = td.split(ds.items, folds)
    train_items = [ds.items[i] for i in sp.train]
    log.info("%d distinct prompts: %d for training, %d held out", len(ds.items), len(sp.train), len(sp.test))
    stats = tp.model_stats(train_items, ds.costs)
    profiles = tp.resolve_profiles(load_catalog(), stats, backends or {})
    derived = sorted(m for m, p in profiles.items() if p.catalog_id is None)
    if derived:
        log.info("not in the catalog, profiles derived from the data: %s", ", ".join(derived))
    resources = load_resources()
    log.info("history buckets of every prompt")
    buckets = td.prompt_buckets(ds.items, resources)
    per_fold, everything = td.out_of_fold_histories(ds.items, buckets, profiles, sp, folds)
    log.info("lexical heads: hashed word vectors of every prompt")
    vectors = tl.prompt_vectors(ds.items)
    fold_heads, heads = tl.out_of_fold_heads(ds.items, vectors, profiles, sp, folds, min_head_prompts)
    train_t = td.build_table(
        ds.items,
        sp.train,
        profiles,
        resources,
        lambda i: per_fold[sp.fold[i]],
        "train rows",
        heads_of=lambda i: fold_heads[sp.fold[i]],
    )
    test_t = td.build_table(
        ds.items, sp.test, profiles, resources, lambda i: everything, "held-out rows", heads_of=lambda i: heads
    )
    log.info(
        "feature rows: %d train, %d held out, %d features", len(train_t.label), len(test_t.label), len(train_t.names)
    )
    row_folds = np.array([sp.fold[int(i)] for i in train_t.prompt])

    log.info("correctness model: %d-fold cross-validation, then a refit; a bag of %d", folds, bag)
    row_sources = _row_sources(ds, train_t) if calibration == "source" else None
    corr = fit_correctness(train_t.x, train_t.label, row_folds, threads=threads, bag=bag, sources=row_sources)
    length_target, length_source = _length_target(train_t)
    log.info("output-length model on %s", length_source)
    length = fit_output_length(train_t.x, length_target, threads=threads)

    metrics: dict[str, Any] = {"cross_validation": corr.cv}
    if len(test_t.label):
        p = corr.calibration.apply(np.asarray(corr.model.predict(test_t.x)))
        metrics["held_out"] = classification_metrics(test_t.label, p)
        metrics["held_out_by_source"] = _by_source(ds, test_t, p)
        metrics["held_out_output_length"] = _length_metrics(test_t, np.asarray(length.predict(test_t.x)))
        log.info("held-out correctness: %s", _fmt(metrics["held_out"]))
    manifest: dict[str, Any] = {
        "feature_version": VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "correctness": {
            "label": LABEL + FITTED_ON[corr.calibrated_on],
            "calibrated_on": corr.calibrated_on,
            "model": "LightGBM binary classifier over every (prompt, candidate) feature row, one model for all LLMs",
            "params": {**CLASSIFIER_PARAMS, "n_estimators": corr.trees},
            "bag": {
                "members": bag,
                "seeds": [m.get_params()["random_state"] for m in corr.members],
                "served_as": "one tree ensemble: every member's trees, leaf values divided by the members' count, "
                "i.e. the mean of their margins",
            },
            "soft_labels": "labels strictly between 0 and 1 enter as a positive and a negative row weighted by them",
        },
        "output_length": {
            "target": "log1p(output tokens); output tokens = response_chars / 4 (upstream answer length in characters)",
            "trained_on": length_source,
            "params": REGRESSOR_PARAMS,
        },
        "latency": (
            "not a model output: the scorer computes ttft_s = the candidate's measured median time to first token "
            "(catalog, from ../shared/data/latency; 0.6 s if unknown) and latency_s = ttft_s + predicted output "
            "tokens / the candidate's measured tokens per second (50 if unknown). No per-prompt latency exists in "
            "the data; logged latencies will replace this."
        ),
        "training_data": [{"path": _rel(f), "sha256": td.sha256_file(f)} for f in files],
        "split": {
            "held_out": (
                f"sha256('switchyard-split-v1:' + proxy.training.dataset.prompt_key(prompt)) < {td.HELD_OUT_FRACTION}"
            ),
            "prompts_train": len(sp.train),
            "prompts_held_out": len(sp.test),
            "rows_train": int(len(train_t.label)),
            "rows_held_out": int(len(test_t.label)),
            "history": "prior-success features of a training row are counted on the other folds only",
        },
        "lexical": {
            "feature": "x_lexical_logit: the candidate's head's logit for the prompt (its prior's logit without one)",
            "model": (
                f"per model identity, a logistic regression (C {tl.HEAD_C}) on word uni+bi-grams of the ask hashed "
                f"with CRC-32 into {BUCKETS} buckets, sublinear tf, l2-normalised; weights as float16"
            ),
            "training_rows": "each training row's logit comes from the head fitted on the other folds",
        },
        "candidates_seen": sorted(profiles),
        "catalog_ids": {m: p.catalog_id for m, p in sorted(profiles.items())},
        "derived_profiles": {
            m: {
                "accuracy": stats[m].accuracy,
                "n": stats[m].n,
                "accuracy_by_task": {t: s / n for t, (s, n) in sorted(stats[m].by_task.items())},
                "mean_output_tokens": stats[m].mean_output_tokens,
                "price_per_token": stats[m].price_per_token,
            }
            for m in derived
        },
        "metrics": metrics,
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    written = write_models(out, corr.model, corr.calibration, length, train_t.names, manifest, heads)
    learned.write(out, profiles, everything)
    _check_export(out, corr, length, test_t if len(test_t.label) else train_t)
    log.info("wrote %s in %.0f s", out, time.perf_counter() - started)
    return written


def _length_target(t: td.Table) -> tuple[np.ndarray, str]:
    known = int(np.isfinite(t.out_tokens).sum())
    if known >= 20:
        return t.out_tokens, f"{known} training rows whose answer length upstream recorded (response_chars)"
    # No answer lengths in the data: learn the features' own task-based estimate, so the model still exists.
    return t.expected_out, "fallback: the features' task-based expected answer length (the data records none)"


def _row_sources(ds: td.DataSet, t: td.Table) -> np.ndarray:
    """Each row's source (the sources of a prompt found in several, joined, as one)."""
    return np.array([ds.sources.get(ds.items[int(i)].key, "") for i in t.prompt])


def _by_source(ds: td.DataSet, t: td.Table, p: np.ndarray) -> dict[str, dict[str, float]]:
    src = _row_sources(ds, t)
    return {s: classification_metrics(t.label[src == s], p[src == s]) for s in sorted(set(src))}


def _length_metrics(t: td.Table, pred_log: np.ndarray) -> dict[str, float]:
    known = np.isfinite(t.out_tokens)
    if not known.any():
        return {"rows": 0.0}
    truth = np.log1p(t.out_tokens[known])
    heuristic = np.log1p(t.expected_out[known])
    return {
        "rows": float(known.sum()),
        "mae_log": float(np.mean(np.abs(pred_log[known] - truth))),
        "median_ratio_error": float(np.median(np.exp(np.abs(pred_log[known] - truth)))),
        "heuristic_mae_log": float(np.mean(np.abs(heuristic - truth))),
    }


# The export decides as LightGBM on the float32 inputs it sees (`export.to_onnx`), so what is left is float32
# arithmetic on the leaf values: any row beyond these is a wrong export (feature order, objective, a tree).
EXPORT_TOLERANCE = {"p": 1e-5, "log_tokens": 1e-4}


def _check_export(out: Path, corr: Correctness, length: Any, t: td.Table) -> None:
    """The ONNX graphs must reproduce the LightGBM predictions on the inputs they see (float32); the
    correctness model's, as its members' mean margin computed one by one, so the bag's merge is checked too."""
    scorer = OnnxScorer.load(out, t.names)
    x = t.x[:2000].astype(np.float32).astype(np.float64)
    got_p, got_l = scorer.predict_raw(x)
    want_p, want_l = 1.0 / (1.0 + np.exp(-mean_margin(corr.members, x))), length.predict(x)
    problem = export_disagreement({"p": (want_p, got_p), "log_tokens": (want_l, got_l)})
    if problem is not None:
        raise TrainingError(f"ONNX export disagrees with LightGBM: {problem}")


def export_disagreement(outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> str | None:
    """Why an export does not reproduce its model (each output: LightGBM's values, ONNX's), or None when it does:
    no row may differ by more than the output's tolerance."""
    for name, (want, got) in outputs.items():
        diff = np.abs(want - got)
        beyond = int(np.sum(diff > EXPORT_TOLERANCE[name]))
        log.info("ONNX vs LightGBM %s on %d rows: max diff %.2e", name, len(diff), float(diff.max(initial=0.0)))
        if beyond:
            return f"{name} differs by more than {EXPORT_TOLERANCE[name]:g} on {beyond} of {len(diff)} rows"
    return None


def _rel(path: Path) -> str:
    """A data file as seen from the directory above the working one (`shared/data/...` from the checkout,
    as the shipped manifest records it), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve().parent))
    except ValueError:
        return str(path)


def _fmt(m: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in m.items())

"""Fit the correctness model (LightGBM, calibrated) and the output-length model (LightGBM regression).

Correctness: one binary classifier over every (prompt, model) row, so a model described only by its
profile still gets a score. Labels in (0, 1) (judge scores, partial credit) enter as two weighted rows,
(1, w=label) and (0, w=1-label), so the model estimates the expected label. The number of trees is
chosen by early stopping in cross-validation over the prompt folds (never a held-out prompt); the
out-of-fold predictions fit an isotonic map (raw probability -> calibrated), stored as knots and
applied with linear interpolation, and the final model is refitted on all training rows. With `bag`
K > 1 each fit is K classifiers (seeds seed..seed+K-1) whose margins are averaged (`bagging.py`): the
out-of-fold predictions are those of each fold's bag, so the calibration fits what is served.

Calibration "source" adds, for each training source, the predictions of a bag (the CV's tree count)
fitted on the other sources: out-of-fold predictions come from a model that saw the prompt's own
source, so a map fitted on them alone is too confident on a kind of data the model never saw (left out of
training, ECE on MMLU-Pro 0.102 -> 0.090 for the shipped models; models/README.md).

Output length: log1p(output tokens) from the rows where upstream recorded the answer's length.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from proxy.training.bagging import merge
from proxy.training.metrics import ece

log = logging.getLogger(__name__)

# Learning rate 0.1 rather than 0.05: on the shipped data the early-stopped classifier then needs ~125
# trees instead of ~336 and the length model 80 instead of 200, at the same held-out AUC (0.8078 vs
# 0.8079), log loss (0.5284 vs 0.5280) and length error (MAE of log tokens 0.0899 vs 0.0894), and
# the ONNX graph is a third of the size: scoring 10 candidates takes 0.08 ms instead of 0.145 ms
# (scripts/bench_scoring.py), on every routed request. (Learning rate 0.2, 48 trees, lost AUC: 0.8062.)
CLASSIFIER_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.6,
    "reg_lambda": 1.0,
    "verbose": -1,
}
REGRESSOR_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.1,
    "n_estimators": 80,
    "num_leaves": 31,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.6,
    "verbose": -1,
}
MAX_TREES = 1500
PATIENCE = 50
CALIBRATION_KNOTS = 200
# What the isotonic map is fitted on: out-of-fold predictions (by prompt), or those and out-of-source ones.
CALIBRATIONS = ("prompt", "source")


@dataclass(frozen=True)
class Calibration:
    """Monotone piecewise-linear map raw P -> calibrated P (np.interp over the knots)."""

    x: np.ndarray
    y: np.ndarray

    def apply(self, p: np.ndarray) -> np.ndarray:
        return np.interp(p, self.x, self.y)


@dataclass(frozen=True)
class Correctness:
    members: tuple[lgb.LGBMClassifier, ...]  # one per seed, `trees` trees each
    model: lgb.Booster  # the members as one booster (`bagging.merge`): what is exported and served
    calibration: Calibration
    trees: int
    cv: dict[str, float]  # out-of-fold metrics on the training prompts
    calibrated_on: str  # one of CALIBRATIONS: "source" only where there were two sources to hold out


def soft_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with a label strictly between 0 and 1 become a positive and a negative row, weighted."""
    soft = (y > 0) & (y < 1)
    hard = ~soft
    xs = np.vstack([x[hard], x[soft], x[soft]])
    ys = np.concatenate([np.round(y[hard]), np.ones(soft.sum()), np.zeros(soft.sum())])
    ws = np.concatenate([np.ones(hard.sum()), y[soft], 1.0 - y[soft]])
    return xs, ys.astype(np.int32), ws


def _classifier(trees: int, threads: int, seed: int, params: dict[str, Any] | None = None) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(**(params or CLASSIFIER_PARAMS), n_estimators=trees, n_jobs=threads, random_state=seed)


def fit_correctness(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    threads: int = 1,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    bag: int = 1,
    sources: np.ndarray | None = None,
) -> Correctness:
    """Cross-validate over `folds` (one fold id per row), calibrate out of fold, refit on everything;
    `bag` classifiers per fit, seeds `seed` onwards. The tree count is the mean early-stopping point of
    every fold and seed; each fold's bag predicts its rows with each member at its own stopping point.
    With `sources` (one source per row, at least two distinct), the calibration is fitted on the out-of-fold
    predictions and, as many again, each source's rows predicted by a bag fitted on the other sources."""
    seeds = range(seed, seed + bag)
    oof, best = _held_out_predictions(x, y, folds, threads, seeds, params)
    trees = int(np.mean(best))
    seen, truth, calibrated_on = oof, y, "prompt"
    cv = {
        "auc": _auc(y, oof),
        "log_loss_raw": _log_loss(y, oof),
        "ece_raw": ece(oof, y),
        "trees_per_fold": float(np.mean(best)),
    }
    if sources is not None and len(np.unique(sources)) > 1:
        oos, _ = _held_out_predictions(x, y, sources, threads, seeds, params, trees=trees)
        seen, truth, calibrated_on = np.concatenate([oof, oos]), np.concatenate([y, y]), "source"
        cv.update({"auc_out_of_source": _auc(y, oos), "ece_raw_out_of_source": ece(oos, y)})
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(seen, truth)
    calibration = _thin(iso.X_thresholds_, iso.y_thresholds_)
    calibrated = calibration.apply(oof)
    cv.update({"log_loss_calibrated": _log_loss(y, calibrated), "ece_calibrated_in_sample": ece(calibrated, y)})
    log.info("correctness: refitting %d classifier(s) on all %d training rows, %d trees each", bag, len(y), trees)
    xs, ys, ws = soft_rows(x, y)
    final = tuple(_classifier(trees, threads, s, params).fit(xs, ys, sample_weight=ws) for s in seeds)
    served = merge([m.booster_.model_to_string() for m in final])
    return Correctness(final, served, calibration, trees, cv, calibrated_on)


def _held_out_predictions(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    threads: int,
    seeds: range,
    params: dict[str, Any] | None,
    trees: int | None = None,
) -> tuple[np.ndarray, list[int]]:
    """Each group's rows predicted by a bag (one classifier per seed) fitted on the other groups' rows, and
    each member's tree count: early stopping on the held group picks it when `trees` is None
    (cross-validation), else `trees`."""
    pred = np.zeros(len(y))
    used: list[int] = []
    for k in np.unique(groups):
        held = groups == k
        xs, ys, ws = soft_rows(x[~held], y[~held])
        xv, yv, wv = soft_rows(x[held], y[held]) if trees is None else (None, None, None)
        members: list[str] = []
        for s in seeds:
            if trees is None:
                model = _classifier(MAX_TREES, threads, s, params)
                model.fit(
                    xs,
                    ys,
                    sample_weight=ws,
                    eval_X=(xv,),
                    eval_y=(yv,),
                    eval_sample_weight=[wv],
                    callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
                )
                used.append(int(model.best_iteration_ or MAX_TREES))
            else:
                model = _classifier(trees, threads, s, params).fit(xs, ys, sample_weight=ws)
                used.append(trees)
            members.append(model.booster_.model_to_string(num_iteration=used[-1]))
        pred[held] = merge(members).predict(x[held])
        auc = _auc(y[held], pred[held])
        log.info("correctness, group %s held out: %s trees, AUC %.4f", k, used[-len(seeds) :], auc)
    return pred, used


def fit_output_length(x: np.ndarray, out_tokens: np.ndarray, threads: int = 1, seed: int = 0) -> lgb.LGBMRegressor:
    known = np.isfinite(out_tokens)
    if known.sum() < 20:
        raise ValueError(f"only {int(known.sum())} rows record the answer's length (response_chars); need 20")
    model = lgb.LGBMRegressor(**REGRESSOR_PARAMS, n_jobs=threads, random_state=seed)
    return model.fit(x[known], np.log1p(out_tokens[known]))


def _thin(x: np.ndarray, y: np.ndarray, knots: int = CALIBRATION_KNOTS) -> Calibration:
    """At most `knots` points of the isotonic step function, keeping its ends (it stays monotone)."""
    if len(x) > knots:
        keep = np.unique(np.linspace(0, len(x) - 1, knots).round().astype(int))
        x, y = x[keep], y[keep]
    return Calibration(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    hard = np.round(y)
    return float(roc_auc_score(hard, p)) if 0 < hard.sum() < len(hard) else float("nan")


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "rows": float(len(y)),
        "auc": _auc(y, p),
        "log_loss": _log_loss(y, p),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": ece(p, y),
        "mean_p": float(np.mean(p)),
        "mean_label": float(np.mean(y)),
    }

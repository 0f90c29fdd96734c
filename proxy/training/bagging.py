"""A bag of LightGBM classifiers written as one LightGBM model, so it exports and serves as one.

Retraining the correctness model with another LightGBM seed moves the routing figures as much as any
change tried (models/README.md), so it can be K classifiers, seeds s..s+K-1, whose margins (log-odds)
are averaged. A mean of margins is a sum of trees whose leaf values are divided by K: `merge` writes
every member's trees, scaled, into one booster. The ONNX exporter, the graph and the proxy's scoring
code then see a single model, and a request is still scored in one onnxruntime call.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np

from proxy.training.trees import booster, rewritten, trees_of

# The per-node values of a tree that are in units of the margin (`internal_value` only feeds SHAP
# contributions, scaled too so that they still add up to the prediction).
_MARGIN_KEYS = ("leaf_value", "internal_value")


def merge(models: Sequence[str]) -> lgb.Booster:
    """One booster whose raw score is the mean of the members' raw scores (`models`: their text, from
    `Booster.model_to_string`, as many trees each as they should serve). The other parts of the text
    (features, objective, importances) are the first member's: the members share data and parameters.
    One member is loaded as it is, so a bag of one is exactly the single model."""
    if len(models) == 1:
        return lgb.Booster(model_str=models[0])
    trees = [_scaled(t, 1.0 / len(models)) for model in models for t in trees_of(model)]
    return booster(models[0], trees)


def mean_margin(members: Sequence[lgb.LGBMClassifier], x: np.ndarray) -> np.ndarray:
    """What the bag means, computed member by member: what `merge`'s booster and its export must equal."""
    return np.mean([np.asarray(m.predict(x, raw_score=True)) for m in members], axis=0)


def _scaled(tree: str, factor: float) -> str:
    return rewritten(tree, _MARGIN_KEYS, lambda v: v * factor)

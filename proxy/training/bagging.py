"""A bag of LightGBM classifiers written as one LightGBM model, so it exports and serves as one.

Retraining the correctness model with another LightGBM seed moves the routing figures as much as any
change tried (models/README.md), so it can be K classifiers, seeds s..s+K-1, whose margins (log-odds)
are averaged. A mean of margins is a sum of trees whose leaf values are divided by K: `merge` writes
every member's trees, scaled, into one booster. The ONNX exporter, the graph and the proxy's scoring
code then see a single model, and a request is still scored in one onnxruntime call.

`float32_thresholds` rewrites a model's split thresholds the same way, for an export that must decide exactly
as LightGBM does on the float32 features the proxy serves (`train._export_problem`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import lightgbm as lgb
import numpy as np

# The header of LightGBM's text format lists each tree's size in bytes, for parsing trees in parallel;
# scaled leaf values change the sizes, and without the line LightGBM reads the trees one after another.
_TREE_SIZES = re.compile(r"^tree_sizes=.*\n", re.MULTILINE)
_TREE = re.compile(r"^Tree=\d+\n", re.MULTILINE)
# The per-node values of a tree that are in units of the margin (`internal_value` only feeds SHAP
# contributions, scaled too so that they still add up to the prediction).
_MARGIN_KEYS = ("leaf_value", "internal_value")
_END = "end of trees"


def merge(models: Sequence[str]) -> lgb.Booster:
    """One booster whose raw score is the mean of the members' raw scores (`models`: their text, from
    `Booster.model_to_string`, as many trees each as they should serve). The other parts of the text
    (features, objective, importances) are the first member's: the members share data and parameters.
    One member is loaded as it is, so a bag of one is exactly the single model."""
    if len(models) == 1:
        return lgb.Booster(model_str=models[0])
    trees: list[str] = []
    for model in models:
        body, end, _ = model.partition(_END)
        if not end:
            raise ValueError("not a LightGBM model text: no 'end of trees'")
        trees.extend(_scaled(t, 1.0 / len(models)) for t in _TREE.split(body)[1:])
    return _booster(models[0], trees)


def mean_margin(members: Sequence[lgb.LGBMClassifier], x: np.ndarray) -> np.ndarray:
    """What the bag means, computed member by member: what `merge`'s booster and its export must equal."""
    return np.mean([np.asarray(m.predict(x, raw_score=True)) for m in members], axis=0)


def float32_thresholds(model: lgb.Booster) -> lgb.Booster:
    """The same trees with every split threshold t replaced by the largest float32 not above it. For a
    float32 input v, v <= t exactly when v <= that float32, so a graph that stores thresholds as float32
    (ONNX's tree ensembles) decides as LightGBM does; the exporter's rounding to the nearest float32 sends a
    row the other way wherever its feature lies between t and t's rounding (on a small data set, 6% of rows
    for the bag of three: task probabilities shared by hundreds of rows sat right at a threshold)."""
    text = model.model_to_string()
    trees = _TREE.split(text.partition(_END)[0])[1:]
    return _booster(text, [_rewritten(t, ("threshold",), _float32_at_or_below) for t in trees])


def _booster(model: str, trees: Sequence[str]) -> lgb.Booster:
    """`model`'s text (its header, feature infos and parameters) around `trees`, numbered afresh."""
    body, end, rest = model.partition(_END)
    head = _TREE_SIZES.sub("", _TREE.split(body)[0])
    return lgb.Booster(model_str=head + "".join(f"Tree={i}\n{t}" for i, t in enumerate(trees)) + end + rest)


def _float32_at_or_below(t: float) -> float:
    low = np.float32(t)
    if float(low) > t:
        low = np.nextafter(low, np.float32(-np.inf))
    return float(low)


def _scaled(tree: str, factor: float) -> str:
    return _rewritten(tree, _MARGIN_KEYS, lambda v: v * factor)


def _rewritten(tree: str, keys: tuple[str, ...], value: Callable[[float], float]) -> str:
    """A tree's text with every number of the lines `keys` passed through `value`."""
    lines = tree.split("\n")
    for i, line in enumerate(lines):
        key, eq, values = line.partition("=")
        if eq and key in keys:
            lines[i] = key + "=" + " ".join(repr(value(float(v))) for v in values.split())
    return "\n".join(lines)

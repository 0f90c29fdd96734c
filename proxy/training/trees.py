"""Rewriting a LightGBM model's trees through its text format, the one place that parses it.

The bag (`proxy.training.bagging`) scales leaf values to write K classifiers as one booster; the export
(`proxy.training.export`) rounds split thresholds so the float32 ONNX graph decides as LightGBM does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import lightgbm as lgb
import numpy as np

# The header of LightGBM's text format lists each tree's size in bytes, for parsing trees in parallel;
# rewritten numbers change the sizes, and without the line LightGBM reads the trees one after another.
_TREE_SIZES = re.compile(r"^tree_sizes=.*\n", re.MULTILINE)
_TREE = re.compile(r"^Tree=\d+\n", re.MULTILINE)
_END = "end of trees"


def trees_of(model: str) -> list[str]:
    """Each tree's text (without its `Tree=i` line) of a model's text (`Booster.model_to_string`)."""
    body, end, _ = model.partition(_END)
    if not end:
        raise ValueError("not a LightGBM model text: no 'end of trees'")
    return _TREE.split(body)[1:]


def booster(model: str, trees: Sequence[str]) -> lgb.Booster:
    """`model`'s text (its header, feature infos and parameters) around `trees`, numbered afresh."""
    body, end, rest = model.partition(_END)
    head = _TREE_SIZES.sub("", _TREE.split(body)[0])
    return lgb.Booster(model_str=head + "".join(f"Tree={i}\n{t}" for i, t in enumerate(trees)) + end + rest)


def rewritten(tree: str, keys: tuple[str, ...], value: Callable[[float], float]) -> str:
    """A tree's text with every number of the lines `keys` passed through `value`."""
    lines = tree.split("\n")
    for i, line in enumerate(lines):
        key, eq, values = line.partition("=")
        if eq and key in keys:
            lines[i] = key + "=" + " ".join(repr(value(float(v))) for v in values.split())
    return "\n".join(lines)


def float32_thresholds(model: lgb.Booster) -> lgb.Booster:
    """The same trees with every split threshold t replaced by the largest float32 not above it. For a
    float32 input v, v <= t exactly when v <= that float32, so a graph that stores thresholds as float32
    (ONNX's tree ensembles) decides as LightGBM does. Rounded to the nearest float32 instead, as the
    exporter would, a row goes the other way wherever its feature lies between t and t's rounding: on a small
    data set, 6% of rows for the bag of three (task probabilities shared by hundreds of rows sat right at a
    threshold)."""
    text = model.model_to_string()
    return booster(text, [rewritten(t, ("threshold",), _float32_at_or_below) for t in trees_of(text)])


def _float32_at_or_below(t: float) -> float:
    low = np.float32(t)
    if float(low) > t:
        low = np.nextafter(low, np.float32(-np.inf))
    return float(low)

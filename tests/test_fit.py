"""fit.py's calibration on a synthetic two-source set where what predicts the label in one source
predicts its opposite in the other: the one thing a model that never saw a source cannot know."""

from __future__ import annotations

import numpy as np
import pytest

fit = pytest.importorskip("proxy.training.fit", reason="fitting needs the [train] extra")

ROWS = 1500  # per source


def _two_sources() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x = (signal, source flag); P(label) rises with the signal in source a and falls with it in b."""
    rng = np.random.default_rng(3)
    signal = rng.random(2 * ROWS)
    flag = np.repeat([0.0, 1.0], ROWS)
    rate = np.where(flag == 0, 0.05 + 0.9 * signal, 0.95 - 0.9 * signal)
    y = (rng.random(2 * ROWS) < rate).astype(np.float64)
    folds = rng.integers(0, 3, 2 * ROWS)
    return np.column_stack([signal, flag]), y, folds, np.repeat(["a", "b"], ROWS)


def test_the_source_calibration_is_fitted_on_predictions_for_sources_held_out_of_the_fit() -> None:
    x, y, folds, sources = _two_sources()
    by_prompt = fit.fit_correctness(x, y, folds)
    by_source = fit.fit_correctness(x, y, folds, sources=sources)

    # Out of fold the model has seen each source's rule: its confident predictions are right, the map keeps them.
    assert by_prompt.calibration.apply(np.array([0.9]))[0] > 0.8
    # A model fitted on the other source predicts the opposite: those predictions enter the map and flatten it.
    assert by_source.cv["auc_out_of_source"] < 0.3
    assert 0.3 < by_source.calibration.apply(np.array([0.9]))[0] < 0.7
    assert "auc_out_of_source" not in by_prompt.cv
    assert (by_prompt.calibrated_on, by_source.calibrated_on) == ("prompt", "source")
    # The model itself (trees, refit on every row) is the same: only the map changes.
    assert by_source.trees == by_prompt.trees


def test_one_source_leaves_nothing_to_hold_out_so_the_calibration_is_by_prompt() -> None:
    x, y, folds, _ = _two_sources()
    one = fit.fit_correctness(x, y, folds, sources=np.full(len(y), "a"))
    by_prompt = fit.fit_correctness(x, y, folds)
    np.testing.assert_array_equal(one.calibration.y, by_prompt.calibration.y)
    assert one.calibrated_on == "prompt"

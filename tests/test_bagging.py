"""A bag of correctness classifiers: exported as one graph that scores their mean margin in one call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from proxy.route.features import VERSION, feature_names
from proxy.route.features.lexical import BUCKETS, LexicalHeads
from proxy.route.scoring import OnnxScorer

lgb = pytest.importorskip("lightgbm", reason="training needs the [train] extra")
bagging = pytest.importorskip("proxy.training.bagging", reason="training needs the [train] extra")
export = pytest.importorskip("proxy.training.export", reason="training needs the [train] extra")
fit = pytest.importorskip("proxy.training.fit", reason="training needs the [train] extra")


def _rows(n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(900, n_features)).astype(np.float32).astype(np.float64)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.7, size=900) > 0).astype(float)
    return x, y, np.arange(900) % 3


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-margin))


def test_the_served_graph_of_a_bag_is_its_members_mean_margin(tmp_path: Path) -> None:
    names = feature_names()
    x, y, folds = _rows(len(names))
    corr = fit.fit_correctness(x, y, folds, bag=3)
    assert [m.get_params()["random_state"] for m in corr.members] == [0, 1, 2]
    assert corr.model.num_trees() == 3 * corr.trees

    length = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(x, x[:, 2])
    no_heads = LexicalHeads.rounded([], np.zeros((0, BUCKETS)), np.zeros(0))
    export.write_models(tmp_path, corr.model, corr.calibration, length, names, {"feature_version": VERSION}, no_heads)
    served, _ = OnnxScorer.load(tmp_path, names).predict_raw(x)

    want = _sigmoid(bagging.mean_margin(corr.members, x))
    np.testing.assert_allclose(served, want, atol=1e-5)
    # The members differ (the seeds draw other rows and columns), so the mean is not any one of them.
    for member in corr.members:
        assert np.abs(_sigmoid(np.asarray(member.predict(x, raw_score=True))) - want).max() > 1e-3


def test_a_bag_of_one_exports_exactly_as_the_single_model() -> None:
    x, y, _ = _rows(6)
    single = lgb.LGBMClassifier(**fit.CLASSIFIER_PARAMS, n_estimators=20, n_jobs=1, random_state=0).fit(x, y)
    merged = bagging.merge([single.booster_.model_to_string()])
    one, alone = (export.to_onnx(m, 6, "c").SerializeToString() for m in (merged, single))
    assert one == alone

"""The exported models: one graph that scores both models in one call, equal to the two graphs apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from proxy.route.features import VERSION, feature_names
from proxy.route.features.lexical import BUCKETS, LexicalHeads
from proxy.route.scoring import OnnxScorer

lgb = pytest.importorskip("lightgbm", reason="exporting needs the [train] extra")
export = pytest.importorskip("proxy.training.export", reason="exporting needs the [train] extra")
fit = pytest.importorskip("proxy.training.fit", reason="exporting needs the [train] extra")


def _models(n_features: int) -> tuple[object, object, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, n_features)).astype(np.float32)
    acceptable = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=600) > 0).astype(int)
    tokens = np.log1p(np.exp(2 + x[:, 2] + 0.1 * rng.normal(size=600)))
    params = {"n_estimators": 30, "num_leaves": 7, "verbose": -1}
    return lgb.LGBMClassifier(**params).fit(x, acceptable), lgb.LGBMRegressor(**params).fit(x, tokens), x


def test_one_graph_one_call_equals_two_graphs(tmp_path: Path) -> None:
    names = feature_names()
    correctness, length, x = _models(len(names))
    calibration = fit.Calibration(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    no_heads = LexicalHeads.rounded([], np.zeros((0, BUCKETS)), np.zeros(0))
    manifest = export.write_models(
        tmp_path / "one", correctness, calibration, length, names, {"feature_version": VERSION}, no_heads
    )
    assert manifest["correctness"]["file"] == manifest["output_length"]["file"] == export.MODELS_FILE
    assert [p.name for p in (tmp_path / "one").glob("*.onnx")] == [export.MODELS_FILE]

    # The same models as two files, the layout of model directories written before the single graph.
    two = tmp_path / "two"
    two.mkdir()
    for part, model, file in (("correctness", correctness, "c.onnx"), ("output_length", length, "l.onnx")):
        proto = export.to_onnx(model, len(names), part)
        (two / file).write_bytes(proto.SerializeToString())
        manifest[part] = {**manifest[part], "file": file}
    manifest["output_length"]["output"] = export.output_name(export.to_onnx(length, len(names), "l"), "variable")
    (two / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    one_scorer, two_scorer = OnnxScorer.load(tmp_path / "one"), OnnxScorer.load(two)
    assert one_scorer._one_call and not two_scorer._one_call
    p1, l1 = one_scorer.predict_raw(x[:50])
    p2, l2 = two_scorer.predict_raw(x[:50])
    np.testing.assert_allclose(p1, p2, atol=1e-6)
    np.testing.assert_allclose(l1, l2, atol=1e-5)
    np.testing.assert_allclose(p1, correctness.predict_proba(x[:50])[:, 1], atol=1e-5)
    np.testing.assert_allclose(l1, length.predict(x[:50]), atol=1e-4)


def test_the_graph_decides_as_lightgbm_on_float32_inputs_sitting_at_every_threshold() -> None:
    """The proxy sends float32 features. Each threshold's nearest float32 is the input most likely to go the
    other way in a float32 graph: with thresholds rounded to nearest, 6% of the rows of a valid data set did."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(11)
    x = rng.random((3000, 1))
    y = (x[:, 0] + rng.normal(scale=0.3, size=3000) > 0.5).astype(float)
    model = lgb.LGBMClassifier(n_estimators=8, num_leaves=6, verbose=-1).fit(x, y).booster_
    thresholds = [
        float(t)
        for line in model.model_to_string().splitlines()
        if line.startswith("threshold=")
        for t in line.split("=")[1].split()
    ]
    on = np.array([[float(np.float32(t))] for t in thresholds])
    assert (on[:, 0] > thresholds).any()  # some lie above LightGBM's threshold: LightGBM sends them right

    session = ort.InferenceSession(export.to_onnx(model, 1, "c").SerializeToString())
    probabilities = session.run(None, {session.get_inputs()[0].name: on.astype(np.float32)})[1]
    got = np.asarray([row[1] for row in probabilities] if isinstance(probabilities, list) else probabilities[:, 1])
    np.testing.assert_allclose(got, model.predict(on), atol=1e-6)

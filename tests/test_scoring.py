"""Scorers: the shipped ONNX models load and score; models trained on other features are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from proxy.route import measured
from proxy.route.catalog import load_catalog
from proxy.route.features import VERSION, compute_features, feature_names, load_resources
from proxy.route.features.examples import request_from_prompt
from proxy.route.scoring import ModelError, OnnxScorer, PriorScorer, load_scorer, prior_latency_s

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
CANDIDATES = ("gpt-4-1106-preview", "mixtral-8x7b-instruct", "llama-3.1-8b-instruct", "acme-unknown-13b")


def _shipped() -> Path:
    if not (MODELS / "manifest.json").is_file():
        pytest.skip("models/ has no manifest.json: run `make models` to train the shipped models")
    return MODELS


def _features(prompt: str, max_tokens: int | None = None):  # type: ignore[no-untyped-def]
    catalog = load_catalog()
    profiles = [catalog.profile(m) for m in CANDIDATES]
    request = request_from_prompt(prompt)
    if max_tokens is not None:
        from proxy.request import parse_chat

        request = parse_chat({**dict(request.body), "max_tokens": max_tokens})
    return compute_features(request, profiles), profiles


def test_no_manifest_means_the_prior_rule(tmp_path: Path) -> None:
    assert isinstance(load_scorer(None), PriorScorer)
    assert isinstance(load_scorer(tmp_path), PriorScorer)


def test_shipped_models_score_every_candidate_in_one_call() -> None:
    scorer = load_scorer(_shipped(), load_resources().names)
    assert isinstance(scorer, OnnxScorer)
    features, profiles = _features("What is the derivative of x**3 * sin(x)? Show the steps.")
    scores = scorer.score(features, profiles, None)
    assert scores.candidates == CANDIDATES
    assert scores.model_version == scorer.version != PriorScorer.version
    assert ((scores.p_acceptable >= 0) & (scores.p_acceptable <= 1)).all()
    assert (scores.output_tokens >= 1).all()
    # Latency: the median of TTFT (plus prefill) + tokens / rate under each profile's measured spread.
    tokens = features.prompt.tokens
    assert np.allclose(scores.ttft_s, [measured.ttft_s(p.ttft_s or 0.6, tokens) for p in profiles])
    expected = [prior_latency_s(p, tokens, n) for p, n in zip(profiles, scores.output_tokens, strict=True)]
    assert np.allclose(scores.latency_s, expected)
    # The calibrated probability is the isotonic map of the model's raw output.
    raw, _ = scorer.predict_raw(features.rows)
    knots = scorer.manifest["correctness"]["calibration"]
    assert np.allclose(scores.p_acceptable, np.interp(raw, knots["x"], knots["y"]))


def test_max_tokens_caps_the_predicted_length() -> None:
    scorer = load_scorer(_shipped())
    features, profiles = _features("Write a long essay about the history of Rome.", max_tokens=5)
    assert (scorer.score(features, profiles, 5).output_tokens <= 5).all()


def test_models_differ_by_prompt() -> None:
    scorer = load_scorer(_shipped())
    a = scorer.score(*_features("What is 2 + 2?"), None)
    b = scorer.score(*_features("Write a Python function that parses ISO 8601 durations, with tests."), None)
    assert not np.allclose(a.p_acceptable, b.p_acceptable)


def _manifest(tmp_path: Path, **changes: object) -> Path:
    manifest = {
        "format": 1,
        "model_version": "switchyard-test",
        "feature_version": VERSION,
        "feature_names": list(feature_names()),
        "correctness": {"file": "correctness.onnx", "input": "features", "output": "probabilities", "column": 1},
        "output_length": {"file": "output_length.onnx", "input": "features", "output": "variable"},
    }
    manifest.update(changes)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return tmp_path


def test_other_feature_version_is_refused_naming_both(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=rf"feature version '0\.9'.*VERSION '{VERSION}'"):
        load_scorer(_manifest(tmp_path, feature_version="0.9"))


def test_other_feature_names_are_refused_naming_them(tmp_path: Path) -> None:
    names = [n for n in feature_names() if n != "p_tokens_log"] + ["p_old_feature"]
    differ = r"not in the models \['p_tokens_log'\], only in the models \['p_old_feature'\]"
    with pytest.raises(ModelError, match=differ):
        load_scorer(_manifest(tmp_path, feature_names=names))
    reordered = list(reversed(feature_names()))
    with pytest.raises(ModelError, match="different order"):
        load_scorer(_manifest(tmp_path, feature_names=reordered))


def test_unreadable_manifest_or_missing_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot read the manifest"):
        load_scorer(tmp_path)
    with pytest.raises(ModelError, match="correctness model named in the manifest is missing"):
        load_scorer(_manifest(tmp_path))
    (tmp_path / "correctness.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="cannot load the correctness model"):
        load_scorer(_manifest(tmp_path))


def test_importing_scoring_does_not_import_onnxruntime() -> None:
    code = "import sys, proxy.route.scoring; assert 'onnxruntime' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

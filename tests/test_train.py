"""train.py on a tiny synthetic long-format file, including a model the catalog does not know."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from proxy.route.catalog import load_catalog
from proxy.route.features import VERSION, compute_features
from proxy.route.features.examples import LabelledPrompt, request_from_prompt
from proxy.route.scoring import OnnxScorer, load_scorer
from proxy.training import data as td
from proxy.training import profiles as tp
from tests.synthetic_long import MODELS, write_long


def test_derived_profile_comes_from_the_data() -> None:
    items = [
        LabelledPrompt("k1", "p one", "s", "math", {"acme": 1.0, "gpt-4": 0.0}, {"acme": 400}),
        LabelledPrompt("k2", "p two", "s", "code", {"acme": 0.0}, {}),
        LabelledPrompt("k3", "p three", "s", "code", {"acme": 1.0}, {"acme": 800}),
    ]
    stats = tp.model_stats(items, {("k1", "acme"): 0.001, ("k3", "acme"): 0.002})
    acme = stats["acme"]
    assert acme.n == 3 and acme.accuracy == pytest.approx(2 / 3)
    assert acme.by_task == {"math": (1.0, 1), "code": (1.0, 2)}
    assert acme.mean_output_tokens == pytest.approx(150.0)  # (400 + 800) / 2 chars / 4
    assert acme.price_per_token == pytest.approx(0.003 / ((5 + 400 + 7 + 800) / 4))
    profiles = tp.resolve_profiles(load_catalog(), stats)
    assert profiles["acme"].catalog_id is None and profiles["acme"].accuracy == pytest.approx(2 / 3)
    assert profiles["acme"].input_per_token == pytest.approx(acme.price_per_token)
    # A catalog model keeps its entry, but its accuracy is the one seen on these (training) prompts.
    assert profiles["gpt-4"].catalog_id == "gpt-4" and profiles["gpt-4"].accuracy == 0.0


def test_split_is_by_prompt_and_deterministic() -> None:
    keys = [f"{i:016x}" for i in range(5000)]
    held = [k for k in keys if td.is_held_out(k)]
    assert 0.17 < len(held) / len(keys) < 0.23
    assert held == [k for k in keys if td.is_held_out(k)]
    assert {td.fold_of(k) for k in keys} == set(range(td.FOLDS))


def test_out_of_fold_history_never_sees_the_row_label() -> None:
    items = [LabelledPrompt(f"key{i}", f"prompt {i}", "s", "t", {"m": float(i % 2)}) for i in range(40)]
    buckets = [("all",)] * len(items)
    profiles = {"m": load_catalog().profile("acme-m", name="m")}
    sp = td.split(items, folds=4)
    per_fold, everything = td.out_of_fold_histories(items, buckets, profiles, sp, folds=4)
    key = profiles["m"].history_key
    for k, h in enumerate(per_fold):
        in_fold = [i for i in sp.train if sp.fold[i] == k]
        assert h.get(key, "all")[1] == len(sp.train) - len(in_fold)
    assert everything.get(key, "all")[1] == len(sp.train)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """The synthetic file, and the models `train` makes of it: (data, models dir, manifest)."""
    pytest.importorskip("lightgbm", reason="training needs the [train] extra")
    from proxy.training.train import train

    tmp_path = tmp_path_factory.mktemp("tiny")
    data = tmp_path / "tiny_long.csv.gz"
    write_long(data)
    out = tmp_path / "models"
    return data, out, train([data], out, threads=1, folds=3)


def test_train_on_a_tiny_file_writes_a_loadable_model_dir(tiny_models: tuple[Path, Path, dict[str, Any]]) -> None:
    data, out, manifest = tiny_models
    assert manifest["feature_version"] == VERSION
    assert set(manifest["candidates_seen"]) == set(MODELS)
    assert set(manifest["derived_profiles"]) == {"acme-unknown-13b"}
    assert manifest["training_data"][0]["sha256"] == td.sha256_file(data)
    assert manifest["metrics"]["held_out"]["rows"] > 0
    assert manifest["correctness"]["bag"]["members"] == 3 and manifest["correctness"]["bag"]["seeds"] == [0, 1, 2]
    # One source: nothing to hold out, so the default calibration by source falls back to the one by prompt.
    assert manifest["correctness"]["calibrated_on"] == "prompt" and "out_of_source" not in str(manifest["metrics"])
    written = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert written["model_version"] == manifest["model_version"]

    scorer = load_scorer(out)
    assert isinstance(scorer, OnnxScorer)
    catalog = load_catalog()
    profiles = [catalog.profile(m) for m in MODELS]
    features = compute_features(request_from_prompt("Question 3 about python code: explain item 5."), profiles)
    scores = scorer.score(features, profiles, None)
    assert scores.p_acceptable.shape == (3,) and ((scores.p_acceptable >= 0) & (scores.p_acceptable <= 1)).all()


def test_the_train_command_writes_what_train_writes_and_evaluate_reads_it(
    tiny_models: tuple[Path, Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from proxy.cli import main

    data, function_out, _ = tiny_models
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "cli"), "--folds", "3"]) == 0
    for name in ("router.onnx", "knowledge.json"):
        assert (tmp_path / "cli" / name).read_bytes() == (function_out / name).read_bytes(), name
    cli, function = (json.loads((d / "manifest.json").read_text()) for d in (tmp_path / "cli", function_out))
    for clock in ("created_at", "training_seconds"):
        del cli[clock], function[clock]
    assert cli == function

    # The models evaluate through the command too: its JSON report, and the table on stdout.
    report = tmp_path / "eval.json"
    argv = ["evaluate", "--data", str(data), "--models", str(tmp_path / "cli"), "--json", str(report)]
    assert main([*argv, "--no-baselines", "--max-prompts", "12"]) == 0
    written = json.loads(report.read_text())
    assert written["command"] == " ".join(["switchyard", *argv, "--no-baselines", "--max-prompts", "12"])
    routers = written["sources"]["synthetic"]["routers"]
    assert routers["switchyard"]["model_version"] == cli["model_version"] and "knn" not in routers
    out = capsys.readouterr().out
    assert "== synthetic: 12 held-out prompts" in out and f"report: {report}" in out

    # --candidates restricts the pool, by the data's model names.
    pair = ",".join(MODELS[:2])
    assert main([*argv, "--no-baselines", "--max-prompts", "12", "--candidates", pair]) == 0
    assert json.loads(report.read_text())["sources"]["synthetic"]["candidates"] == list(MODELS[:2])
    capsys.readouterr()

    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as failed:
        main(["train", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "none")])
    assert failed.value.code == 1 and "no *_long.csv.gz under" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    with pytest.raises(SystemExit) as failed:
        main(["train", "--data", str(data), "--out", str(tmp_path / "none"), "--calibration", "by-model"])
    assert failed.value.code == 1 and "calibration 'by-model': expected one of" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_the_export_check_fails_on_a_single_row_the_graph_moves() -> None:
    """The graph decides as LightGBM on float32 inputs (`export.to_onnx`), so one row off by the dP 0.0169 a
    threshold rounded to nearest once gave is a wrong export; float32 arithmetic on the leaves is not."""
    from proxy.training.train import export_disagreement

    want = np.linspace(0.1, 0.9, 500)
    assert export_disagreement({"p": (want, want + 1e-7), "log_tokens": (want, want)}) is None
    flipped = want.copy()
    flipped[7] += 0.0169
    moved = export_disagreement({"p": (want, flipped), "log_tokens": (want, want)})
    assert moved == "p differs by more than 1e-05 on 1 of 500 rows"


def test_the_router_loads_the_lexical_heads_training_wrote_and_refuses_a_changed_file(
    tiny_models: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    import shutil

    from proxy import config as config_mod
    from proxy.route.features import load_resources
    from proxy.route.router import load_models
    from proxy.route.scoring import ModelError
    from proxy.training.train import train

    data, _, small = tiny_models
    assert small["lexical"]["heads"] == []  # too few prompts per model for a head by default
    out = tmp_path / "with-heads"
    manifest = train([data], out, threads=1, folds=3, min_head_prompts=1)
    config = config_mod.parse({"backend": [{"name": "gpt4", "model": "gpt-4-1106-preview"}]})
    _, knowledge = load_models(config, out, load_resources())
    assert knowledge.heads is not None and knowledge.heads.keys == tuple(manifest["lexical"]["heads"])
    assert knowledge.profiles["gpt4"].history_key in knowledge.heads.rows
    changed = tmp_path / "changed"
    shutil.copytree(out, changed)
    data = bytearray((changed / "lexical.bin").read_bytes())
    data[-1] ^= 1
    (changed / "lexical.bin").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_models(config, changed, load_resources())

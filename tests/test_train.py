"""train.py on a tiny synthetic long-format file, including a model the catalog does not know."""

from __future__ import annotations

import csv
import gzip
import json
import random
from pathlib import Path

import pytest

from proxy.route.catalog import load_catalog
from proxy.route.features import VERSION, compute_features
from proxy.route.features.examples import LabelledPrompt, request_from_prompt
from proxy.route.scoring import OnnxScorer, load_scorer
from proxy.settings import Backend
from proxy.training import data as td
from proxy.training import profiles as tp
from proxy.training.dataset import COLUMNS

MODELS = ("gpt-4-1106-preview", "mistralai/mistral-7b-chat", "acme-unknown-13b")
TOPICS = ("arithmetic", "poetry", "python code", "history", "chemistry", "translation")


def _write_synthetic(path: Path, prompts: int = 150, seed: int = 7) -> None:
    """Each model is good at some topics; the unknown model is the best at code and costs little."""
    rng = random.Random(seed)
    skill = {
        "gpt-4-1106-preview": {t: 0.85 for t in TOPICS},
        "mistralai/mistral-7b-chat": {t: (0.7 if t in ("poetry", "history") else 0.3) for t in TOPICS},
        "acme-unknown-13b": {t: (0.95 if t == "python code" else 0.4) for t in TOPICS},
    }
    price = {"gpt-4-1106-preview": 2e-5, "mistralai/mistral-7b-chat": 2e-7, "acme-unknown-13b": 5e-7}
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        w = csv.DictWriter(handle, fieldnames=COLUMNS)
        w.writeheader()
        for i in range(prompts):
            topic = TOPICS[i % len(TOPICS)]
            prompt = f"Question {i} about {topic}: please explain item {rng.randint(0, 10**6)} in {topic} briefly."
            for m in MODELS:
                label = float(rng.random() < skill[m][topic])
                if i % 17 == 0:
                    label = 0.5  # a judge-style partial score
                chars = rng.randint(50, 400) * (3 if topic == "python code" else 1)
                w.writerow(
                    {
                        "source": "synthetic",
                        "prompt_id": str(i),
                        "prompt": prompt,
                        "model": m,
                        "correct": label,
                        "cost_usd": f"{price[m] * (len(prompt) + chars) / 4:.10f}",
                        "task": topic,
                        "response_chars": chars if i % 3 else "",
                        **{c: "" for c in ("input_tokens", "output_tokens", "latency_s", "split", "label_type")},
                        "score_raw": "",
                    }
                )


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
    profiles = {"m": load_catalog().profile(Backend(name="m", model="acme-m"))}
    sp = td.split(items, folds=4)
    per_fold, everything = td.out_of_fold_histories(items, buckets, profiles, sp, folds=4)
    key = profiles["m"].history_key
    for k, h in enumerate(per_fold):
        in_fold = [i for i in sp.train if sp.fold[i] == k]
        assert h.get(key, "all")[1] == len(sp.train) - len(in_fold)
    assert everything.get(key, "all")[1] == len(sp.train)


def test_train_on_a_tiny_file_writes_a_loadable_model_dir(tmp_path: Path) -> None:
    pytest.importorskip("lightgbm", reason="training needs the [train] extra")
    from proxy.training.train import train

    data = tmp_path / "tiny_long.csv.gz"
    _write_synthetic(data)
    out = tmp_path / "models"
    manifest = train([data], out, threads=1, folds=3)
    assert manifest["feature_version"] == VERSION
    assert set(manifest["candidates_seen"]) == set(MODELS)
    assert set(manifest["derived_profiles"]) == {"acme-unknown-13b"}
    assert manifest["training_data"][0]["sha256"] == td.sha256_file(data)
    assert manifest["metrics"]["held_out"]["rows"] > 0
    written = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert written["model_version"] == manifest["model_version"]

    scorer = load_scorer(out)
    assert isinstance(scorer, OnnxScorer)
    catalog = load_catalog()
    profiles = [catalog.profile(Backend(name=m, model=m)) for m in MODELS]
    features = compute_features(request_from_prompt("Question 3 about python code: explain item 5."), profiles)
    scores = scorer.score(features, profiles, None)
    assert scores.p_acceptable.shape == (3,) and ((scores.p_acceptable >= 0) & (scores.p_acceptable <= 1)).all()

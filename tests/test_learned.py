"""A model directory carries what it was trained with (knowledge.json), and the router serves with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from proxy import config as config_mod
from proxy.route.catalog import load_catalog
from proxy.route.features import History, load_resources
from proxy.route.learned import KNOWLEDGE_FILE, KnowledgeError, load, write
from proxy.route.router import DEFAULT_MODELS_DIR, Knowledge, load_models
from proxy.route.scoring import ModelError
from proxy.training.profiles import ModelStats, resolve_profiles

CONFIG = config_mod.parse(
    {
        "backend": [
            {"name": "big", "model": "openai/gpt-4-1106-preview"},
            {"name": "fresh", "model": "openai/acme-nova", "input_cost_per_token": 6e-7, "output_cost_per_token": 6e-7},
        ]
    }
)


def stats(accuracy: float, n: int = 50) -> ModelStats:
    return ModelStats(
        accuracy=accuracy, n=n, by_task={"qa": (accuracy * n, n)}, mean_output_tokens=100.0, price_per_token=1e-6
    )


def test_training_profiles_of_logged_backends_match_what_the_proxy_serves_with(tmp_path: Path) -> None:
    backends = {b.name: b for b in CONFIG.backends}
    trained = resolve_profiles(load_catalog(), {"big": stats(0.8), "fresh": stats(0.7)}, backends)
    history = History.from_outcomes([(trained["fresh"].history_key, ("all", "task:qa"), 1.0)] * 3)
    write(tmp_path, trained, history)
    served = Knowledge.load(CONFIG, load(tmp_path), load_resources())
    for name in ("big", "fresh"):  # the same profile in training and in serving
        assert served.profiles[name] == trained[name]
    assert served.profiles["fresh"].catalog_id is None and served.profiles["fresh"].accuracy == 0.7
    assert served.profiles["big"].catalog_id is not None and served.profiles["big"].accuracy == 0.8
    # The trained counts are served for the models they cover; the catalog's stay for the others.
    assert served.history.counts[("openai/acme-nova", "all")] == (3.0, 3)
    catalog_only = Knowledge.load(CONFIG, None, load_resources())
    big_key = served.profiles["big"].history_key
    assert served.history.counts.get((big_key, "all")) == catalog_only.history.counts.get((big_key, "all"))
    assert catalog_only.profiles["fresh"].accuracy is None  # without the file the newcomer stays unknown


@pytest.mark.parametrize(
    "content", ["{not json", json.dumps({"format": 99}), json.dumps({"format": 1, "profiles": {}, "history": {}})]
)
def test_a_bad_knowledge_file_is_refused_with_its_name(tmp_path: Path, content: str) -> None:
    (tmp_path / KNOWLEDGE_FILE).write_text(content)
    with pytest.raises(KnowledgeError, match=KNOWLEDGE_FILE):
        load(tmp_path)


def test_models_with_a_bad_knowledge_file_are_not_loaded(tmp_path: Path) -> None:
    if not (DEFAULT_MODELS_DIR / "manifest.json").is_file():
        pytest.skip("models/ has no trained models to copy")
    models = tmp_path / "models"
    shutil.copytree(DEFAULT_MODELS_DIR, models)
    (models / KNOWLEDGE_FILE).write_text("{broken")
    with pytest.raises(ModelError, match=KNOWLEDGE_FILE):
        load_models(CONFIG, models, load_resources())

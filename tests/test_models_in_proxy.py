"""The trained models in the proxy: loaded at start, reported in headers, hot-swapped by an admin."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.route.router import DEFAULT_MODELS_DIR
from tests.conftest import ENVIRON, make_config_dict
from tests.servers import serve_app

ADMIN = "sk-admin-reload-0123456789"
HI = {"model": "router", "messages": [{"role": "user", "content": "What is the derivative of x^3?"}]}


def shipped_manifest() -> dict[str, object]:
    path = DEFAULT_MODELS_DIR / "manifest.json"
    if not path.is_file():
        pytest.skip("models/ has no manifest.json: no trained models are shipped yet")
    return json.loads(path.read_text())


@pytest.fixture
def admin_proxy(sim_url: str, tmp_path: Path) -> Iterator[str]:
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    raw["auth"] = {"admin_key_env": "ADMIN"}
    raw["key"] = [{"id": "client", "key_env": "CLIENT"}]
    env = {**ENVIRON, "ADMIN": ADMIN, "CLIENT": "sk-client-0123456789"}
    with serve_app(create_app(config_mod.parse(raw, environ=env), environ=env)) as url:
        yield url


def post(url: str, path: str, body: object, key: str) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def test_reload_swaps_models_and_refuses_a_mismatched_manifest(admin_proxy: str, tmp_path: Path) -> None:
    manifest = shipped_manifest()
    client = "sk-client-0123456789"
    before = post(admin_proxy, "/v1/chat/completions", HI, client)
    assert before.headers["x-router-model-version"].startswith("prior")
    # A model trained on other features is refused and the old one stays.
    bad = tmp_path / "bad-models"
    shutil.copytree(DEFAULT_MODELS_DIR, bad)
    (bad / "manifest.json").write_text(json.dumps({**manifest, "feature_version": "0.0-other"}))
    refused = post(admin_proxy, "/admin/reload", {"models_dir": str(bad)}, ADMIN)
    assert refused.status_code == 400 and "feature version" in refused.json()["error"]["message"]
    assert post(admin_proxy, "/v1/chat/completions", HI, client).headers["x-router-model-version"].startswith("prior")
    # Only the admin may reload.
    assert post(admin_proxy, "/admin/reload", {"models_dir": str(DEFAULT_MODELS_DIR)}, client).status_code == 403
    done = post(admin_proxy, "/admin/reload", {"models_dir": str(DEFAULT_MODELS_DIR)}, ADMIN)
    assert done.status_code == 200 and done.json()["model_version"] == manifest["model_version"]
    after = post(admin_proxy, "/v1/chat/completions", HI, client)
    assert after.headers["x-router-model-version"] == manifest["model_version"]


def test_the_shipped_models_route_and_agree_with_v1_route(sim_url: str, tmp_path: Path) -> None:
    manifest = shipped_manifest()
    raw = make_config_dict(sim_url, tmp_path / "calls.db")
    del raw["models_dir"]  # the default: the shipped models
    with serve_app(create_app(config_mod.parse(raw), environ=ENVIRON)) as url:
        prompts = [
            "What is 17 * 23?",
            "Write a Python function that reverses a linked list.",
            "Summarise the causes of the French Revolution in three sentences.",
            "Hi!",
        ]
        for text in prompts:
            body = {"model": "router", "messages": [{"role": "user", "content": text}]}
            ranking = httpx.post(f"{url}/v1/route", json=body).json()
            answer = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
            assert answer.status_code == 200
            assert answer.headers["x-router-model-version"] == ranking["model_version"] == manifest["model_version"]
            assert answer.headers["x-router-model"] == ranking["model"]
            chosen = ranking["candidates"][0]
            assert float(answer.headers["x-router-p-acceptable"]) == pytest.approx(chosen["p_acceptable"], abs=1e-4)

"""Replay: the router's own decision re-run on logged calls (offline), and outcomes collected (online)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import openai
import pytest

from proxy.cli import main as switchyard
from proxy.route.router import DEFAULT_MODELS_DIR
from scripts.harness import to_toml
from tests.conftest import SIM_KEY, logged_row, make_config_dict
from tests.test_learning_log import labels_of


@pytest.fixture
def labelled_log(client: openai.OpenAI, proxy_url: str, sim_url: str, db_path: Path, tmp_path: Path) -> Path:
    """Ten labelled routed calls in the shared log, and the proxy's config written as TOML."""
    call_ids = []
    for i in range(10):
        raw = client.chat.completions.with_raw_response.create(
            model="router", messages=[{"role": "user", "content": f"Replay question {i}: what is {i} squared?"}]
        )
        call_ids.append(raw.headers["x-router-request-id"])
        feedback = {"request_id": call_ids[-1], "score": (i % 3) / 2}
        httpx.post(f"{proxy_url}/v1/feedback", json=feedback).raise_for_status()
    logged_row(db_path, call_ids[-1], "id")
    for call_id in call_ids:  # labels, like calls, are written off the request path
        labels_of(db_path, call_id, 1)
    config = tmp_path / "config.toml"
    config.write_text(to_toml(make_config_dict(sim_url, db_path)))
    return config


def test_offline_replay_reproduces_the_logged_choices(
    labelled_log: Path, db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_KEY", SIM_KEY)
    no_models = db_path.parent / "no-models"
    assert (
        switchyard(
            [
                "replay",
                "--db",
                str(db_path),
                "--config",
                str(labelled_log),
                "--models",
                str(no_models),
                "--current",
                str(no_models),
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["calls"] >= 10 and report["changed"] == 0  # same models, same decisions
    current = report["current"]
    # The log was written by this very policy: every labelled call agrees with it.
    assert current["labelled_calls"] >= 10
    assert current["labelled_calls_agreeing_with_log"] == current["labelled_calls"]
    with sqlite3.connect(db_path) as db:
        mean = db.execute("SELECT AVG(s) FROM (SELECT AVG(score) s FROM labels GROUP BY call_id)").fetchone()[0]
    assert current["ips_quality"] == pytest.approx(mean, abs=0.2)


def test_offline_replay_with_the_shipped_models(
    labelled_log: Path, db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (DEFAULT_MODELS_DIR / "manifest.json").is_file():
        pytest.skip("models/ has no manifest.json: no trained models are shipped yet")
    monkeypatch.setenv("SIM_KEY", SIM_KEY)
    no_models = db_path.parent / "no-models"
    assert (
        switchyard(
            [
                "replay",
                "--db",
                str(db_path),
                "--config",
                str(labelled_log),
                "--models",
                str(DEFAULT_MODELS_DIR),
                "--current",
                str(no_models),
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["new_version"] != report["current_version"] == "prior-2"
    assert report["new"]["mean_predicted_cost_usd"] > 0


def test_online_replay_sends_prompts_to_unchosen_candidates(
    labelled_log: Path,
    db_path: Path,
    proxy_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIM_KEY", SIM_KEY)
    with sqlite3.connect(db_path) as db:
        before = db.execute("SELECT COUNT(*) FROM calls WHERE alias IS NULL").fetchone()[0]
    assert (
        switchyard(
            [
                "replay",
                "--db",
                str(db_path),
                "--config",
                str(labelled_log),
                "--online",
                proxy_url,
                "--limit",
                "3",
                "--budget-usd",
                "1",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report == {"sent": 3, "failed": 0, "predicted_spend_usd": pytest.approx(report["predicted_spend_usd"])}
    deadline = time.monotonic() + 10  # the writer task logs off the request path
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path) as db:
            after = db.execute("SELECT COUNT(*) FROM calls WHERE alias IS NULL").fetchone()[0]
        if after >= before + 3:
            break
        time.sleep(0.05)
    assert after == before + 3

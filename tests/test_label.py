"""Automated labels: the simulated judge through litellm, and reference metrics, written next to feedback."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import openai
import pytest

from proxy import config as config_mod
from proxy.cli import main as switchyard
from proxy.log.postgres import PostgresLogStore
from proxy.log.records import Observation
from proxy.training.label import judge_calls, parse_score, rouge_l
from tests import pg
from tests.conftest import ENVIRON, logged_row


def test_score_parsing_and_rouge_l() -> None:
    assert parse_score("Score: 7/10. Fine.") == 0.7
    assert parse_score("score:10 / 10") == 1.0
    assert parse_score("I like it") is None
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("the cat", "a dog") == 0.0
    assert rouge_l("The cat sat.", "the cat sat on the mat") == pytest.approx(2 * 1 * 0.5 / 1.5)


async def test_the_judge_labels_calls_and_mostly_agrees_with_the_truth(
    client: openai.OpenAI, sim_url: str, db_path: Path
) -> None:
    ids = []
    for i in range(30):
        raw = client.chat.completions.with_raw_response.create(
            model="cheap", messages=[{"role": "user", "content": f"Explain idea number {i} in two sentences."}]
        )
        ids.append(raw.headers["x-router-request-id"])
    logged_row(db_path, ids[-1], "id")
    config = config_mod.parse(
        {
            "backend": [
                {"name": "judge", "model": "openai/sim-judge", "api_base": f"{sim_url}/v1", "api_key_env": "SIM_KEY"}
            ]
        }
    )
    assert await judge_calls(db_path, config, "judge", limit=10_000, environ=ENVIRON) >= 30
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT l.score, c.response_json FROM labels l JOIN calls c ON c.id = l.call_id "
            f"WHERE l.source = 'judge:judge' AND c.id IN ({','.join('?' * len(ids))})",
            ids,
        ).fetchall()
        again = await judge_calls(db_path, config, "judge", limit=10_000, environ=ENVIRON)
    assert len(rows) == 30 and again == 0  # judged once each, not twice
    truth = [json.loads(response)["sim"]["acceptable"] for _, response in rows]
    agreement = sum((score >= 0.5) == ok for (score, _), ok in zip(rows, truth, strict=True)) / len(rows)
    assert agreement >= 0.7  # the simulated judge agrees with the truth 90% of the time


def test_reference_answers_become_exact_match_and_rouge_labels(
    client: openai.OpenAI, db_path: Path, tmp_path: Path
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": "What is the reference test prompt?"}]
    )
    call_id = raw.headers["x-router-request-id"]
    answer = raw.parse().choices[0].message.content or ""
    logged_row(db_path, call_id, "id")
    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps({"request_id": call_id, "reference": answer.upper() + "!"}) + "\n")
    assert switchyard(["label", "--db", str(db_path), "--references", str(refs)]) == 0
    with sqlite3.connect(db_path) as db:
        labels = dict(db.execute("SELECT source, score FROM labels WHERE call_id = ?", (call_id,)).fetchall())
    assert labels == {"exact_match": 1.0, "rouge_l": 1.0}  # equal after normalisation


def test_reference_labels_go_to_a_postgres_log(tmp_path: Path, pg_dsn: str) -> None:
    async def log_one_call() -> None:
        store = PostgresLogStore(dsn=pg_dsn)
        await store.start()
        store.record(
            Observation(
                id="pgcall", started_at=1.0, requested_model="cheap", stream=False, status=200, latency_s=0.1,
                request={"messages": [{"role": "user", "content": "Capital of France?"}]},
                response={"choices": [{"message": {"role": "assistant", "content": "Paris."}}]},
            )
        )  # fmt: skip
        await store.aclose()

    asyncio.run(log_one_call())
    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps({"prompt": "Capital of France?", "reference": "paris"}) + "\n")
    assert switchyard(["label", "--db", pg_dsn, "--references", str(refs)]) == 0
    rows = pg.fetch_sync(pg_dsn, "SELECT call_id, source, score FROM labels ORDER BY source")
    assert rows == [("pgcall", "exact_match", 1.0), ("pgcall", "rouge_l", 1.0)]

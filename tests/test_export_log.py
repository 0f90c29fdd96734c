"""The log exports as the long routing-data format (readable by the project's own loader) and as JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai

from proxy.cli import main as switchyard
from proxy.training.dataset import iter_rows
from proxy.training.export_log import render_prompt
from proxy.training.inputs import data_files
from tests.conftest import logged_row
from tests.test_learning_log import labels_of


def test_export_round_trips_through_the_long_format_loader(
    client: openai.OpenAI, proxy_url: str, db_path: Path, tmp_path: Path
) -> None:
    labelled = client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": "Name a prime number above 100."}]
    )
    labelled_id = labelled.headers["x-router-request-id"]
    with client.chat.completions.with_streaming_response.create(
        model="cheap", messages=[{"role": "user", "content": "Count to five."}], stream=True
    ) as raw:
        streamed_id = raw.headers["x-router-request-id"]
        streamed_text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    httpx.post(f"{proxy_url}/v1/feedback", json={"request_id": labelled_id, "score": 1}).raise_for_status()
    feedback = {"request_id": labelled_id, "score": 0, "source": "judge:x"}
    httpx.post(f"{proxy_url}/v1/feedback", json=feedback).raise_for_status()
    logged_row(db_path, streamed_id, "id")
    labels_of(db_path, labelled_id, 2)  # labels, like calls, are written off the request path
    out_csv, out_jsonl = tmp_path / "log.csv.gz", tmp_path / "log.jsonl"
    assert switchyard(["export", "--db", str(db_path), "--csv", str(out_csv), "--jsonl", str(out_jsonl)]) == 0
    rows = {r.prompt_id: r for r in iter_rows(out_csv)}
    first = rows[labelled_id]
    assert first.prompt == "Name a prime number above 100." and first.model == labelled.headers["x-router-model"]
    assert first.correct == 0.5 and first.label_type == "human+judge:x"
    assert first.cost_usd and first.cost_usd > 0 and first.input_tokens and first.output_tokens
    second = rows[streamed_id]
    assert second.correct is None and second.model == "cheap"
    assert second.response_chars == len(streamed_text)
    records = {json.loads(line)["call"]["id"]: json.loads(line) for line in out_jsonl.read_text().splitlines()}
    assert records[labelled_id]["decision"]["candidates"][0]["name"] == first.model
    assert records[labelled_id]["call"]["selection_probability"] == 1.0


def test_multi_turn_prompts_are_rendered_with_roles() -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "Bye"}]},
    ]
    assert render_prompt(messages) == "system: Be terse.\nuser: Hi\nassistant: Hello\nuser: Bye"
    assert render_prompt(messages[:2]) == "Be terse.\n\nHi"


def test_train_reads_the_labelled_calls_of_a_log(client: openai.OpenAI, proxy_url: str, db_path: Path) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": "A prompt to train on from the log."}]
    )
    call_id = raw.headers["x-router-request-id"]
    httpx.post(f"{proxy_url}/v1/feedback", json={"request_id": call_id, "thumbs": "down"}).raise_for_status()
    labels_of(db_path, call_id, 1)
    (exported,) = data_files(logs=[str(db_path)], data_dir="/nonexistent")
    rows = {r.prompt_id: r for r in iter_rows(exported)}
    assert rows[call_id].correct == 0.0 and rows[call_id].prompt == "A prompt to train on from the log."
    assert all(r.correct is not None for r in rows.values())  # only labelled calls are training rows
    mixed = data_files(data=[exported], data_dir="/nonexistent", logs=[str(db_path)])
    assert mixed[0] == exported and len(mixed) == 2

"""The proxy's call log as the long routing-data format (CSV, optionally gzipped) and as JSONL records.

`switchyard export` writes both; training (`switchyard train --log`), labelling and replay read the log
through `records`. One CSV row per successful call: source "switchyard-log", prompt_id = the request id, the
prompt, the backend that answered as `model`, `correct` = the mean of the call's labels (blank when
unlabelled), `label_type` = the label sources, `score_raw` = the labels as JSON, tokens, actual cost, total
latency, the predicted task type, and `response_chars`. A single-turn request's prompt is its user text
(after the system prompt, if any, on its own paragraph); a multi-turn one is rendered "role: text" per
message. The JSONL keeps everything the CSV cannot: messages, candidates with their predictions,
fallbacks, the exploration flag and the selection probability (for off-policy estimates).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from proxy.log.read import read_log
from proxy.training.dataset import COLUMNS

SOURCE = "switchyard-log"


def render_prompt(messages: list[dict[str, Any]]) -> str:
    def text(m: dict[str, Any]) -> str:
        content = m.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return ""

    users = [m for m in messages if m.get("role") == "user"]
    systems = [m for m in messages if m.get("role") in ("system", "developer")]
    if len(users) == 1 and len(users) + len(systems) == len(messages):
        return "\n\n".join([*(text(s) for s in systems), text(users[0])])
    return "\n".join(f"{m.get('role')}: {text(m)}" for m in messages)


def response_text(response: dict[str, Any] | None) -> str:
    if not response:
        return ""
    first = (response.get("choices") or [{}])[0]
    message = first.get("message") or first  # logged streams keep {"content": ...} per choice
    content = message.get("content")
    return content if isinstance(content, str) else ""


def records(db: str | Path, since: float = 0.0, labelled_only: bool = False) -> Iterator[dict[str, Any]]:
    """One dict per successful call, with its labels; what both output formats are made from.

    `db` is a SQLite log file or a Postgres DSN (`proxy.log.read.read_log` reads either).
    """
    for call, call_labels in read_log(db, since):
        if labelled_only and not call_labels:
            continue
        request = json.loads(call["request_json"] or "null") or {}
        if "sha256" in request and "messages" not in request:
            continue  # bodies were kept as hashes only: nothing to train on
        yield {
            "call": call,
            "request": request,
            "response": json.loads(call["response_json"] or "null"),
            "decision": json.loads(call["decision_json"] or "null"),
            "attempts": json.loads(call["attempts_json"] or "[]"),
            "labels": call_labels,
        }


def long_row(rec: dict[str, Any]) -> dict[str, Any]:
    call, labels = rec["call"], rec["labels"]
    scores = [lab["score"] for lab in labels]
    return {
        "source": SOURCE,
        "prompt_id": call["id"],
        "prompt": render_prompt(rec["request"].get("messages") or []),
        "model": call["backend"],
        "correct": round(sum(scores) / len(scores), 6) if scores else "",
        "input_tokens": call["input_tokens"] if call["input_tokens"] is not None else "",
        "output_tokens": call["output_tokens"] if call["output_tokens"] is not None else "",
        "cost_usd": call["cost_usd"] if call["cost_usd"] is not None else "",
        "latency_s": round(call["latency_s"], 6),
        "task": (rec["decision"] or {}).get("task") or "",
        "split": "",
        "label_type": "+".join(sorted({lab["source"] for lab in labels})),
        "score_raw": json.dumps([{"score": lab["score"], "source": lab["source"]} for lab in labels]) if labels else "",
        "response_chars": len(response_text(rec["response"])),
    }


def write_csv(rows: Iterable[dict[str, Any]], path: Path) -> int:
    count = 0
    raw: IO[str]
    if path.suffix == ".gz":
        raw = gzip.open(path, "wt", encoding="utf-8", newline="")
    else:
        raw = path.open("w", encoding="utf-8", newline="")
    with raw:
        out = csv.DictWriter(raw, fieldnames=COLUMNS)
        out.writeheader()
        for row in rows:
            out.writerow(row)
            count += 1
    return count


def write_jsonl(recs: Iterable[dict[str, Any]], path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for rec in recs:
            out.write(json.dumps(rec, default=str) + "\n")
            count += 1
    return count

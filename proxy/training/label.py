"""Label logged calls automatically: an LLM judge through litellm, and reference-based metrics.

`switchyard label` runs `judge_calls` and `reference_labels`. The judge is a backend of the config, called
through the proxy's own forwarding code (litellm), with a rubric whose `{question}` and `{answer}` are
filled in; its reply must contain "Score: N/10", stored as N/10 with source "judge:<backend>". Calls it
already labelled are skipped. References are JSONL lines {"request_id": ..., "reference": ...} (or
{"prompt": ..., "reference": ...}, matched on the prompt text): each matching call gets "exact_match"
(normalised text equality, 0 or 1) and "rouge_l" (F1 of the longest common token subsequence). Labels go
to the `labels` table of the log (a SQLite file or a Postgres DSN), next to feedback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import string
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from proxy import config as config_mod
from proxy.errors import ProxyError
from proxy.log.records import Label
from proxy.log.sqlite import store_for
from proxy.request import parse_chat
from proxy.settings import Config
from proxy.training.dataset import normalize_prompt
from proxy.training.export_log import records, render_prompt, response_text
from proxy.upstream.forward import Forwarder

RUBRIC = """You are a strict grader. Read the question and the answer, and judge whether the answer is correct,
complete and responsive. Reply with one line "Score: N/10" (10 = fully acceptable, 0 = useless), then one
sentence of reason.

<question>
{question}
</question>

<answer>{answer}</answer>
"""
log = logging.getLogger(__name__)
_SCORE = re.compile(r"Score:\s*(\d+(?:\.\d+)?)\s*/\s*10", re.IGNORECASE)


def parse_score(reply: str) -> float | None:
    found = _SCORE.search(reply)
    return None if found is None else min(1.0, max(0.0, float(found.group(1)) / 10))


def normalise(text: str) -> str:
    return " ".join(text.casefold().translate(str.maketrans("", "", string.punctuation)).split())


def rouge_l(candidate: str, reference: str) -> float:
    """F1 of the longest common subsequence of normalised tokens (ROUGE-L)."""
    a, b = normalise(candidate).split(), normalise(reference).split()
    if not a or not b:
        return float(a == b)
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


async def write_labels(db: str | Path, labels: list[tuple[str, float, str, str | None]]) -> None:
    """Through the log store itself (SQLite file or Postgres DSN): its migrations, its writer, drained on close."""
    now = time.time()
    store = store_for(db, queue_size=len(labels) + 1)  # room for every label: none may be dropped
    await store.start()
    try:
        for call_id, score, source, comment in labels:
            store.record_label(Label(call_id=call_id, score=score, source=source, comment=comment, created_at=now))
    finally:
        await store.aclose()


async def judge_calls(
    db: str | Path,
    config: Config,
    judge: str,
    *,
    rubric: str = RUBRIC,
    limit: int = 500,
    concurrency: int = 8,
    environ: Mapping[str, str] = os.environ,
) -> int:
    backend = config.backend(judge)
    if backend is None:
        raise ValueError(f"--judge {judge!r} is not a backend of the config")
    source = f"judge:{judge}"
    logged = await asyncio.to_thread(lambda: list(records(db)))  # the reader is synchronous
    todo = [r for r in logged if source not in {lab["source"] for lab in r["labels"]}][:limit]
    forwarder = Forwarder(config_mod.api_keys(config, environ))
    await forwarder.start()
    gate = asyncio.Semaphore(concurrency)
    labels: list[tuple[str, float, str, str | None]] = []

    async def one(rec: dict[str, Any]) -> None:
        prompt = rubric.format(
            question=render_prompt(rec["request"].get("messages") or []), answer=response_text(rec["response"])
        )
        request = parse_chat({"model": judge, "messages": [{"role": "user", "content": prompt}], "temperature": 0})
        async with gate:
            try:
                done = await forwarder.complete(backend, request)
            except ProxyError as exc:
                log.warning("judge failed on %s: %s", rec["call"]["id"], exc.message)
                return
        reply = str(((done.body.get("choices") or [{}])[0].get("message") or {}).get("content") or "")
        score = parse_score(reply)
        if score is None:
            log.warning("no score in the judge's reply for %s: %r", rec["call"]["id"], reply[:80])
            return
        labels.append((rec["call"]["id"], score, source, reply[:500]))

    try:
        await asyncio.gather(*(one(r) for r in todo))
    finally:
        await forwarder.aclose()
    await write_labels(db, labels)
    return len(labels)


def reference_labels(db: str | Path, references: Path) -> int:
    by_id: dict[str, str] = {}
    by_prompt: dict[str, str] = {}
    for line in references.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            if "request_id" in item:
                by_id[item["request_id"]] = item["reference"]
            else:
                by_prompt[normalize_prompt(item["prompt"])] = item["reference"]
    labels: list[tuple[str, float, str, str | None]] = []
    for rec in records(db):
        call_id = rec["call"]["id"]
        prompt = normalize_prompt(render_prompt(rec["request"].get("messages") or []))
        reference = by_id.get(call_id, by_prompt.get(prompt))
        if reference is None:
            continue
        answer = response_text(rec["response"])
        labels.append((call_id, float(normalise(answer) == normalise(reference)), "exact_match", None))
        labels.append((call_id, round(rouge_l(answer, reference), 6), "rouge_l", None))
    asyncio.run(write_labels(db, labels))
    return len(labels)

"""A tiny synthetic long-format file: what the training and evaluation tests train on and replay.

Each model is good at some topics; the unknown model is the best at code and costs little. Prompts are
numbered from `first`, so two files can hold different prompts of the same kind.
"""

from __future__ import annotations

import csv
import gzip
import random
from collections.abc import Callable, Mapping
from pathlib import Path

from proxy.training.dataset import COLUMNS

MODELS = ("gpt-4-1106-preview", "mistralai/mistral-7b-chat", "acme-unknown-13b")
TOPICS = ("arithmetic", "poetry", "python code", "history", "chemistry", "translation")
SKILL = {
    "gpt-4-1106-preview": {t: 0.85 for t in TOPICS},
    "mistralai/mistral-7b-chat": {t: (0.7 if t in ("poetry", "history") else 0.3) for t in TOPICS},
    "acme-unknown-13b": {t: (0.95 if t == "python code" else 0.4) for t in TOPICS},
}
PRICE = {"gpt-4-1106-preview": 2e-5, "mistralai/mistral-7b-chat": 2e-7, "acme-unknown-13b": 5e-7}


def write_long(
    path: Path,
    prompts: int = 150,
    seed: int = 7,
    *,
    first: int = 0,
    source: str = "synthetic",
    models: tuple[str, ...] = MODELS,
    skill: Mapping[str, Mapping[str, float]] = SKILL,
    price: Mapping[str, float] = PRICE,
    task_of: Callable[[str], str] = str,
) -> None:
    """`task_of`: the task column of a topic (e.g. "mmlu:" + topic, for a source with benchmarks)."""
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        w = csv.DictWriter(handle, fieldnames=COLUMNS)
        w.writeheader()
        for i in range(first, first + prompts):
            topic = TOPICS[i % len(TOPICS)]
            prompt = f"Question {i} about {topic}: please explain item {rng.randint(0, 10**6)} in {topic} briefly."
            for m in models:
                label = float(rng.random() < skill[m][topic])
                if i % 17 == 0:
                    label = 0.5  # a judge-style partial score
                chars = rng.randint(50, 400) * (3 if topic == "python code" else 1)
                w.writerow(
                    {
                        "source": source,
                        "prompt_id": str(i),
                        "prompt": prompt,
                        "model": m,
                        "correct": label,
                        "cost_usd": f"{price[m] * (len(prompt) + chars) / 4:.10f}",
                        "task": task_of(topic),
                        "response_chars": chars if i % 3 else "",
                        **{c: "" for c in ("input_tokens", "output_tokens", "latency_s", "split", "label_type")},
                        "score_raw": "",
                    }
                )

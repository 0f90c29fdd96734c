"""Data-set prompts as chat requests, built the way the proxy builds them from a client's body.

Training wraps each prompt of the long format (`proxy.training.dataset`) with `request_from_prompt`, which goes
through the proxy's own `parse_chat`, so a feature row computed in training is the row the proxy
computes for the same request. MT-Bench second turns are stored upstream as "[TURN 1] ... [TURN 2] ...";
each turn becomes a user message (the upstream data has no assistant answers to put between them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from proxy.request import ChatRequest, parse_chat
from proxy.training.dataset import LongRow, prompt_key

_TURN = re.compile(r"^\[TURN \d+\] ?", re.MULTILINE)


def request_from_prompt(prompt: str, *, model: str = "router", system: str | None = None) -> ChatRequest:
    turns = [t.strip("\n") for t in _TURN.split(prompt)[1:]] if prompt.startswith("[TURN 1]") else [prompt]
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": t} for t in turns]
    return parse_chat({"model": model, "messages": messages})


@dataclass
class LabelledPrompt:
    """One distinct prompt of the data with every model's outcome on it."""

    key: str
    prompt: str
    source: str
    task: str
    correct: dict[str, float] = field(default_factory=dict)  # model (as upstream spells it) -> [0, 1]
    response_chars: dict[str, int] = field(default_factory=dict)


def group_rows(rows: Iterable[LongRow]) -> list[LabelledPrompt]:
    """Rows grouped by normalised prompt text (the same MMLU/GSM8K item appears in several sources).

    Unlabelled rows are skipped; when one model has two labels for the same prompt the mean is kept.
    The order is that of first appearance, so it is stable for a given set of files.
    """
    by_key: dict[str, LabelledPrompt] = {}
    sums: dict[tuple[str, str], tuple[float, int]] = {}
    for row in rows:
        if row.correct is None:
            continue
        key = prompt_key(row.prompt)
        item = by_key.get(key)
        if item is None:
            item = by_key[key] = LabelledPrompt(key=key, prompt=row.prompt, source=row.source, task=row.task)
        total, n = sums.get((key, row.model), (0.0, 0))
        sums[(key, row.model)] = (total + row.correct, n + 1)
        item.correct[row.model] = (total + row.correct) / (n + 1)
        if row.response_chars is not None:
            item.response_chars[row.model] = row.response_chars
        if not item.task and row.task:
            item.task = row.task
    return list(by_key.values())


def outcomes(
    items: Sequence[LabelledPrompt], buckets: Sequence[Sequence[str]], model_key: Callable[[str], str]
) -> Iterator[tuple[str, Sequence[str], float]]:
    """(model key, buckets, label) triples for `History.from_outcomes`.

    `buckets[i]` are the History buckets of `items[i]` (`Features.prompt.buckets`); `model_key` maps an
    upstream model name to its History key (the catalog id, e.g. `catalog.find(name).history_key`).
    Training then scores prompt i with `history.without({model_key(m): c for m, c in items[i].correct.items()},
    buckets[i])`, so a row never sees its own label.
    """
    for item, item_buckets in zip(items, buckets, strict=True):
        for model, label in item.correct.items():
            yield model_key(model), item_buckets, label

"""Real per-prompt outcomes from the long-format data: which model answered which prompt acceptably.

Loaded only when the simulator is given a data directory; without one the simulator draws from the
aggregate profiles instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from proxy.training.dataset import find_long_files, iter_rows, prompt_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownOutcome:
    correct: float  # mean label over the data's rows for this (model, prompt)
    response_chars: int | None


class KnownPrompts:
    """(model, prompt key) -> the real outcome. Immutable once built."""

    def __init__(self, table: dict[str, dict[str, KnownOutcome]]) -> None:
        self._table = table

    def __len__(self) -> int:
        return sum(len(outcomes) for outcomes in self._table.values())

    def lookup(self, model: str, keys: Iterable[str]) -> KnownOutcome | None:
        outcomes = self._table.get(model)
        if not outcomes:
            return None
        for key in keys:
            outcome = outcomes.get(key)
            if outcome is not None:
                return outcome
        return None


def load_known_prompts(data_dir: Path, models: Mapping[str, str]) -> KnownPrompts:
    """Index every labelled row of the `*_long.csv.gz` files under data_dir whose model is a key of `models`
    (the data's spelling), under the simulated model it maps to (several spellings can share one)."""
    sums: dict[str, dict[str, list[float]]] = {}
    chars: dict[tuple[str, str], int] = {}
    skipped: set[str] = set()
    keys: dict[str, str] = {}
    files = find_long_files(data_dir)
    for path in files:
        for row in iter_rows(path):
            model = models.get(row.model)
            if model is None:
                skipped.add(row.model)
                continue
            key = keys.get(row.prompt)
            if key is None:  # every model of a source answers the same prompts: hash each text once
                key = keys[row.prompt] = prompt_key(row.prompt)
            if row.response_chars is not None:
                chars.setdefault((model, key), row.response_chars)
            if row.correct is None:
                continue
            total = sums.setdefault(model, {}).setdefault(key, [0.0, 0.0])
            total[0] += row.correct
            total[1] += 1
    if skipped:
        log.warning("data models without a profile, ignored: %s", ", ".join(sorted(skipped)))
    table = {
        model: {key: KnownOutcome(s / n, chars.get((model, key))) for key, (s, n) in per_model.items()}
        for model, per_model in sums.items()
    }
    known = KnownPrompts(table)
    log.info("loaded %d known (model, prompt) outcomes from %d files under %s", len(known), len(files), data_dir)
    return known

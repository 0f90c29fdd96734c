"""Real per-prompt outcomes from the long-format data: which model answered which prompt acceptably, and how long.

Loaded only when the simulator is given a data directory; without one the simulator draws from the
aggregate profiles instead.

A prompt's answer length is mostly the prompt's doing ("answer with the letter" against "think step by
step"), so a model asked a prompt the data has only other models' answers to answers at the length those
answers had (their median), times the model's own measured verbosity: the median, over the prompts it did
answer, of its length over that prompt's median, with the spread of that ratio. This keeps the simulated
lengths the data's, which is what the router's length model was trained on.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from proxy.training.dataset import find_long_files, iter_rows, prompt_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownOutcome:
    correct: float  # mean label over the data's rows for this (model, prompt)
    response_chars: int | None


@dataclass(frozen=True)
class Verbosity:
    """A model's answer length relative to other models' on the same prompts, as measured in the data."""

    factor: float  # median of (its length / the prompt's median length)
    log_sigma: float  # spread of log(that ratio): 1.4826 x its median absolute deviation
    n: int  # prompts behind the two (0: the model has no lengths in the data; factor 1, no spread)


# A prompt's median length needs a few answers; a verbosity needs a few prompts.
MIN_ANSWERS = 3
MIN_PROMPTS = 30
NO_VERBOSITY = Verbosity(1.0, 0.0, 0)


class KnownPrompts:
    """(model, prompt key) -> the real outcome; prompt key -> its answers' median length. Immutable once built."""

    def __init__(
        self,
        table: dict[str, dict[str, KnownOutcome]],
        prompt_chars: Mapping[str, int] | None = None,
        verbosity: Mapping[str, Verbosity] | None = None,
    ) -> None:
        self._table = table
        self._prompt_chars = dict(prompt_chars or {})
        self._verbosity = dict(verbosity or {})

    def prompt_chars(self, keys: Iterable[str]) -> int | None:
        """The median answer length of the data's models on this prompt (None: too few answers, or unknown)."""
        for key in keys:
            chars = self._prompt_chars.get(key)
            if chars is not None:
                return chars
        return None

    def verbosity(self, model: str) -> Verbosity:
        return self._verbosity.get(model, NO_VERBOSITY)

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
    medians = _prompt_medians(chars)
    known = KnownPrompts(table, medians, _verbosity(chars, medians))
    log.info("loaded %d known (model, prompt) outcomes from %d files under %s", len(known), len(files), data_dir)
    return known


def _prompt_medians(chars: Mapping[tuple[str, str], int]) -> dict[str, int]:
    by_prompt: dict[str, list[int]] = {}
    for (_, key), n in chars.items():
        by_prompt.setdefault(key, []).append(n)
    return {k: round(statistics.median(v)) for k, v in by_prompt.items() if len(v) >= MIN_ANSWERS}


def _verbosity(chars: Mapping[tuple[str, str], int], medians: Mapping[str, int]) -> dict[str, Verbosity]:
    logs: dict[str, list[float]] = {}
    for (model, key), n in chars.items():
        median = medians.get(key)
        if median is not None and median > 0 and n > 0:
            logs.setdefault(model, []).append(math.log(n / median))
    out = {}
    for model, values in logs.items():
        if len(values) < MIN_PROMPTS:
            continue
        center = statistics.median(values)
        mad = statistics.median(abs(v - center) for v in values)
        out[model] = Verbosity(round(math.exp(center), 4), round(1.4826 * mad, 4), len(values))
    return out

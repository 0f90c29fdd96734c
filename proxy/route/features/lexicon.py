"""The vocabularies behind the prompt features, shipped as `lexicon.json` next to this module.

Every list is hand-written, lower-case, matched against whole words of the lower-cased prompt
(a word is a run of letters/digits, optionally with one apostrophe part or a trailing `++`).
Domain words also match their plural (+s). What each section feeds:

- `domains`: eight subject vocabularies (medical, legal, financial, scientific, mathematical, code,
  humanities, business), ~60-100 words each, chosen as terms that are frequent in that field and
  rare in everyday prose (very generic words such as "how", "value", "list" were removed on purpose).
  A prompt's score for a domain is the share of its words that are in that vocabulary.
- `task_words`: cue words with weights for each task type of `proxy.route.features.task` (the rule set
  documented there adds phrase and layout cues).
- `sentiment`: positive and negative word lists; polarity = (pos - neg) / (pos + neg + 1).
- `formality`: formal and informal markers; formality adds contractions, "!" and emoticons as
  informal and long words as formal signals (see `proxy.route.features.prompt`).
- `politeness`: "please", "thanks", ...; `subordinators`: clause openers used as the clause-depth proxy.
- `output_tokens_by_task`: prior answer lengths per task, in tokens (0 means "about the ask's length",
  used for translation), overridden by explicit length constraints and `max_tokens`.

The loader turns all word lists into one table, word -> row of weights, so a prompt is scored with
one set intersection and one small matrix product rather than a loop per vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LEXICON_FILE = Path(__file__).with_name("lexicon.json")

DOMAINS = ("medical", "legal", "financial", "scientific", "mathematical", "code", "humanities", "business")
TASKS = (
    "qa",
    "multiple_choice",
    "summarization",
    "code",
    "math",
    "creative",
    "extraction",
    "translation",
    "open_chat",
)
# Columns of the word table after the domains and the tasks.
EXTRA = ("positive", "negative", "formal", "informal", "polite", "subordinator")
COLUMNS = tuple(f"domain:{d}" for d in DOMAINS) + tuple(f"task:{t}" for t in TASKS) + EXTRA


@dataclass(frozen=True)
class Lexicon:
    index: dict[str, int]  # word -> row of `table`
    table: np.ndarray  # float64 (n_words, len(COLUMNS))
    output_tokens_by_task: dict[str, int]


def load_lexicon(path: Path = LEXICON_FILE) -> Lexicon:
    raw = json.loads(path.read_text(encoding="utf-8"))
    weights: dict[str, dict[int, float]] = {}

    def add(word: str, column: str, value: float) -> None:
        weights.setdefault(word.lower(), {})[COLUMNS.index(column)] = value

    for domain in DOMAINS:
        for word in raw["domains"][domain]:
            add(word, f"domain:{domain}", 1.0)
            if not word.endswith("s") and word.isalpha():
                add(word + "s", f"domain:{domain}", 1.0)
    for task in TASKS:
        for word, value in raw["task_words"].get(task, {}).items():
            add(word, f"task:{task}", float(value))
    for name in ("positive", "negative"):
        for word in raw["sentiment"][name]:
            add(word, name, 1.0)
    for name in ("formal", "informal"):
        for word in raw["formality"][name]:
            add(word, name, 1.0)
    for word in raw["politeness"]:
        add(word, "polite", 1.0)
    for word in raw["subordinators"]:
        add(word, "subordinator", 1.0)
    words = sorted(weights)
    table = np.zeros((len(words), len(COLUMNS)))
    for i, word in enumerate(words):
        for col, value in weights[word].items():
            table[i, col] = value
    return Lexicon(
        index={w: i for i, w in enumerate(words)},
        table=table,
        output_tokens_by_task=_task_ints(raw["output_tokens_by_task"]),
    )


def _task_ints(raw: dict[str, Any]) -> dict[str, int]:
    missing = [t for t in TASKS if t not in raw]
    if missing:
        raise ValueError(f"lexicon output_tokens_by_task lacks {missing}")
    return {t: int(raw[t]) for t in TASKS}

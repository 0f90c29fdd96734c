"""The decision's cheaper ways of computing features give exactly the numbers of the plain ways they replace.

`scripts/decision_agreement.py` compares whole decisions with another revision on the data's prompts; these pin
each shortcut on its own, with the edge cases a data set may not hold.
"""

from __future__ import annotations

import math
import random

import numpy as np

from proxy.request import Message
from proxy.route.features import style
from proxy.route.features.layout import TRIGGERS as LAYOUT_TRIGGERS
from proxy.route.features.lexical import BUCKETS, PROMOTE, LexicalHeads, _distinct, vectorize
from proxy.route.features.task import TRIGGERS as TASK_TRIGGERS
from proxy.route.features.text import FILTER_MIN_CHARS, TriggerFilter, conversation, words
from proxy.route.features.tokens import text_counts

CUE_TRIGGERS = TASK_TRIGGERS + LAYOUT_TRIGGERS


def test_distinct_is_np_unique_with_counts() -> None:
    rng = np.random.default_rng(7)
    for values in (np.array([5]), np.array([3, 3, 3]), rng.integers(0, 40, 300), rng.integers(0, BUCKETS, 511)):
        values = values.astype(np.int64)
        index, counts = _distinct(values)
        want_index, want_counts = np.unique(values, return_counts=True)
        assert index.dtype == want_index.dtype and counts.dtype == want_counts.dtype
        assert np.array_equal(index, want_index) and np.array_equal(counts, want_counts)


def test_heads_give_the_same_logits_once_a_candidate_list_is_kept_bucket_major() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, BUCKETS)) * (rng.random((3, BUCKETS)) < 0.2)
    heads = LexicalHeads.rounded(["a", "b", "c"], w, np.array([0.5, -1.0, 2.0]))
    keys = ["c", "unknown", "a", "b"]  # one key without a head: it keeps its prior
    priors = np.array([0.1, 0.2, 0.3, 0.4])
    texts = [
        "Prove that the square root of 2 is irrational.",
        "a b a b c",
        "x",
        "Écris un poème sur la mer, s'il te plaît.",
    ]
    direct = [heads.logits(vectorize(t), keys, priors).tobytes() for t in texts]
    for _ in range(PROMOTE):
        heads.logits(vectorize(texts[0]), keys, priors)
    assert heads._lineups, "the candidate list was not promoted: the test would compare the direct path with itself"
    assert [heads.logits(vectorize(t), keys, priors).tobytes() for t in texts] == direct


FILLER = "The weather was mild all week, and the garden grew. " * 12  # longer than FILTER_MIN_CHARS


def test_the_trigger_filter_never_rules_out_a_trigger_that_occurs() -> None:
    cue_filter = TriggerFilter(CUE_TRIGGERS)
    rng = random.Random(11)
    pieces = [*CUE_TRIGGERS, " ", "\n", "é", "日本", "the ", "abc", "$x$", "```"]
    for _ in range(300):
        parts = [rng.choice(pieces) for _ in range(rng.randint(0, 12))]
        at = rng.randint(0, len(parts))
        text = "".join(parts[:at]) + FILLER + "".join(parts[at:])
        absent = cue_filter.absent(text)
        assert not {t for t in CUE_TRIGGERS if t in text} & absent, text


def test_the_trigger_filter_rules_out_most_triggers_of_a_long_unrelated_text_only() -> None:
    cue_filter = TriggerFilter(CUE_TRIGGERS)
    assert len(FILLER) >= FILTER_MIN_CHARS
    absent = cue_filter.absent(FILLER)
    assert len(absent) > len(set(CUE_TRIGGERS)) * 0.7
    assert "$" not in absent  # shorter than three bytes: always searched
    assert cue_filter.absent(FILLER[: FILTER_MIN_CHARS - 1]) == frozenset()  # short: every trigger is searched
    assert TriggerFilter([]).absent(FILLER) == frozenset()


def test_the_ask_is_split_once_into_the_words_the_features_read() -> None:
    conv = conversation([Message(role="user", text="Hello, World: c++ and naïve text!")])
    assert conv.ask_words == words(conv.ask) and conv.ask_words is conv.ask_words


def test_readability_counts_a_vowel_group_at_the_very_start() -> None:
    text = "apple banana"  # vowel groups: a, e + a, a, a = 5 syllables, 2 words, 1 sentence
    ws = words(text)
    readability = style.complexity(text, text.lower(), ws, text_counts(text, ws), 0, 0.0)[0]
    assert math.isclose(readability, (206.835 - 1.015 * 2 - 84.6 * 5 / 2) / 100.0)

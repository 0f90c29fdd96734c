"""Complexity and tone of the ask.

Complexity: Flesch reading ease (syllables approximated by vowel groups), Guiraud's root type-token
ratio and the plain type-token ratio (vocabulary richness), average word and sentence length, and a
syntactic-depth proxy: maximum nesting of brackets, nesting of list indentation (see
`layout.list_items`) and subordinate-clause openers per sentence. Shares of digits, symbols and non-ASCII
bytes describe what kind of text it is (numbers, code or markup, binary-looking noise, other scripts).

Tone: polarity and emotionality from the sentiment lists, formality from formal vs informal markers
(plus contractions, emoticons and "!!"), politeness words, exclamation marks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from proxy.route.features.lexicon import COLUMNS
from proxy.route.features.tokens import TextCounts

_BRACKETS = re.compile(r"[()\[\]{}]")
_VOWELS = re.compile(r"[aeiouy]+")
_DIGIT = re.compile(r"\d")
# Byte tables for ASCII text (most prompts), where a translate in C replaces a regex scan.
_VOWEL_TABLE = bytes(97 if c in b"aeiouy" else 32 for c in range(256))
_NOT_DIGITS = bytes(c for c in range(256) if not 48 <= c <= 57)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"()[]{}")
_SENTENCE_ENDS = (". ", "? ", "! ", ".\n", "?\n", "!\n")
# Sentence ends (. ? !) -> ".", whitespace -> " ", everything else -> "x": sentences end at ". ".
_SENTENCE_TABLE = bytes(46 if c in b".?!" else 32 if c in b" \t\n\r" else 120 for c in range(256))
_INFORMAL_MARKS = ("n't", "'m ", ":)", "!!")
_COL = {c: i for i, c in enumerate(COLUMNS)}

COMPLEXITY_NAMES = (
    "p_readability",
    "p_root_ttr",
    "p_type_token_ratio",
    "p_avg_word_len",
    "p_avg_sentence_words_log",
    "p_bracket_depth",
    "p_list_depth",
    "p_clauses_per_sentence",
    "p_digit_share",
    "p_symbol_share",
    "p_non_ascii_share",
)
TONE_NAMES = ("p_polarity", "p_emotion", "p_formality", "p_politeness", "p_exclamations")


def complexity(text: str, low: str, ws: list[str], c: TextCounts, list_depth: int, subordinators: float) -> list[float]:
    """`low` is `text` lower-cased; `ws` its words."""
    n = len(ws)
    if n == 0:
        return [0.0] * 5 + [0.0, float(list_depth), 0.0] + _shares(c, 0)
    if low.isascii():
        raw = low.encode("ascii")
        ends = raw.translate(_SENTENCE_TABLE).count(b". ")
        # Vowel groups: runs of "a" among spaces, counted where a run starts (a split() into bytes objects cost 10 us
        # on a 500-word ask, this 6).
        vowels = raw.translate(_VOWEL_TABLE)
        syllables = vowels.count(b" a") + vowels.startswith(b"a")
        brackets = raw.translate(None, _NOT_BRACKETS).decode("ascii")
        digits = len(raw.translate(None, _NOT_DIGITS))
    else:
        ends = sum(text.count(m) for m in _SENTENCE_ENDS)
        syllables = len(_VOWELS.findall(low))
        brackets = "".join(_BRACKETS.findall(low))
        digits = len(_DIGIT.findall(low))
    sentences = max(1, ends + (text.rstrip()[-1:] in (".", "?", "!")))
    readability = 206.835 - 1.015 * (n / sentences) - 84.6 * (syllables / n)
    types = len(set(ws))
    depth = best = 0
    for b in brackets:
        depth = depth + 1 if b in "([{" else max(0, depth - 1)
        best = max(best, depth)
    return [
        max(-1.0, min(1.2, readability / 100.0)),
        types / math.sqrt(n),
        types / n,
        c.word_chars / n,
        math.log1p(n / sentences),
        float(min(best, 10)),
        float(list_depth),
        subordinators / sentences,
    ] + _shares(c, digits)


def _shares(c: TextCounts, digits: int) -> list[float]:
    chars = max(1, c.chars)
    return [digits / chars, c.symbols / chars, c.non_ascii / chars]


def tone(text: str, low: str, lex: Sequence[float], n_words: float) -> list[float]:
    pos, neg = float(lex[_COL["positive"]]), float(lex[_COL["negative"]])
    informal = float(lex[_COL["informal"]]) + sum(map(low.count, _INFORMAL_MARKS))
    formal = float(lex[_COL["formal"]])
    return [
        (pos - neg) / (pos + neg + 1.0),
        (pos + neg) / max(n_words, 1.0),
        (formal - informal) / (formal + informal + 1.0),
        float(lex[_COL["polite"]] > 0),
        float(min(text.count("!"), 10)),
    ]

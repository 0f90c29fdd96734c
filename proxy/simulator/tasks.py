"""A cheap guess of a prompt's task family from its text.

The profile builder groups the data by this guess and the simulator applies the same guess to live
prompts, so "accuracy by family" means the same thing at build and at serve time. It is a handful of
regular expressions, not a classifier: good enough to tell code from multiple choice from arithmetic.
"""

from __future__ import annotations

import re

FAMILIES = ("code", "multiple_choice", "math", "logic_puzzle", "long_context", "open_qa")

_CODE = re.compile(
    r"\bwrite an? (?:python |java ?script |sql |c\+\+ |rust |go )?(?:function|program|script|class|query)\b"
    r"|```|\bdef \w+\(|\bimport \w+|\bassert \w+\(",
    re.IGNORECASE,
)
_OPTION_LINE = re.compile(r"^\s*\(?[A-Ja-j][\).:]\s+\S", re.MULTILINE)
_PUZZLE = re.compile(r"\bhouses? (?:in a row|next to each other)\b|\bclue\(s\):", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_QUANTITY_QUESTION = re.compile(
    r"\bhow (?:many|much|old|long|far|fast)\b|\bwhat is the (?:total|sum|value|product|number)\b"
    r"|\bcalculate\b|\bsolve\b|\bcompute\b",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed|\bfinal answer\b", re.IGNORECASE)


def guess_family(text: str) -> str:
    """One of FAMILIES for a prompt (the concatenated user text of a chat request)."""
    if _PUZZLE.search(text):
        return "logic_puzzle"
    if _CODE.search(text):
        return "code"
    if len(_OPTION_LINE.findall(text)) >= 2:
        return "multiple_choice"
    numbers = len(_NUMBER.findall(text))
    if (numbers >= 1 and _QUANTITY_QUESTION.search(text)) or (numbers >= 3 and "?" in text) or _BOXED.search(text):
        return "math"
    if len(text) > 1500:
        return "long_context"
    return "open_qa"

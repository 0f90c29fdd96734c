"""Structure of the request and the expected answer length.

Structure: questions (and multi-part asks), numbered items, bullets, lettered options, code fences,
few-shot markers ("Q:", "Answer:", "Example"), output-format and length constraints, wishes for a
short or a long answer, turns, system prompt, tools, tool results, images, audio, JSON mode, max_tokens.

Expected output tokens: an explicit length constraint ("in 100 words", "3 sentences") converted to
tokens; otherwise the task-probability-weighted prior of `lexicon.json` (`output_tokens_by_task`),
x0.4 for "brief/concise", x1.6 for "detailed/step by step"; capped by the request's max_tokens.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Sequence

from proxy.request import ChatRequest
from proxy.route.features.lexicon import TASKS, Lexicon
from proxy.route.features.text import Conversation, find_cue

_LIST_ITEM = re.compile(r"([ \t]*)(?:(\d{1,3}[.)])|([-*•+])|(\(?[A-Ha-h][.)]))[ \t]")
_LIST_STARTS = frozenset("0123456789-*•+(ABCDEFGHabcdefgh")
_FEWSHOT_MARKS = ("\nq:", "answer:", "output:", "example")
_FORMAT_TRIGGERS: tuple[str, ...] = ("json", "yaml", "xml", "csv", "markdown", "table", "bullet", "numbered list")
_FORMAT_TRIGGERS += ("in the format", "format", "only ")
_FORMAT = re.compile(
    r"\b(?:json|yaml|xml|csv|markdown|table|bullet(?:ed)? (?:points|list)|numbered list|in the format|"
    r"format(?:ted)? as|only (?:the|a|one) (?:letter|number|word|answer|choice|code))\b"
)
_LENGTH_TRIGGERS = ("word", "sentence", "paragraph", "line", "bullet", "item", "token", "character")
_LENGTH = re.compile(
    r"\b(?:in|under|fewer than|less than|at most|no more than|within|exactly|about|approximately|up to|at least)"
    r" (\d{1,5}) (words?|sentences?|paragraphs?|lines?|bullet points?|items?|tokens?|characters?)\b"
)
_SHORT_TRIGGERS = ("brief", "concise", "short", "one word", "single ", "tl;dr", "tldr")
_SHORT = re.compile(r"\b(?:brief(?:ly)?|concise(?:ly)?|short|one word|single (?:word|sentence|choice)|tl;?dr)\b")
_LONG_TRIGGERS = ("detailed", "in detail", "elaborate", "comprehensive", "thorough", "in depth", "step")
_LONG = re.compile(r"\b(?:detailed|in detail|elaborate|comprehensive|thorough(?:ly)?|in depth|step[- ]by[- ]step)\b")
TRIGGERS = _FORMAT_TRIGGERS + _LENGTH_TRIGGERS + _SHORT_TRIGGERS + _LONG_TRIGGERS  # for `TriggerFilter`
_UNIT_TOKENS = {"word": 1.3, "sentence": 25.0, "paragraph": 110.0, "line": 15.0, "bullet": 20.0, "item": 20.0}
_UNIT_TOKENS |= {"token": 1.0, "character": 0.25}

STRUCTURE_NAMES = (
    "p_questions_log",
    "p_multi_part",
    "p_numbered_items_log",
    "p_bullets_log",
    "p_choice_options",
    "p_code_blocks",
    "p_fewshot_log",
    "p_format_constraint",
    "p_length_constraint",
    "p_wants_short",
    "p_wants_long",
    "p_user_turns_log",
    "p_assistant_turns_log",
    "p_has_system",
    "p_system_tokens_log",
    "p_has_tools",
    "p_tools_log",
    "p_tool_results_log",
    "p_has_image",
    "p_has_audio",
    "p_needs_json",
    "p_max_tokens_log",
)


def list_items(text: str) -> list[re.Match[str]]:
    """Lines opening a numbered item, a bullet or a lettered option; a first-character test keeps the
    regex off most lines."""
    items = []
    for line in text.split("\n"):
        if line.lstrip(" \t")[:1] in _LIST_STARTS:
            m = _LIST_ITEM.match(line)
            if m:
                items.append(m)
    return items


def list_depth(items: list[re.Match[str]]) -> int:
    """Distinct indentation levels of numbered items and bullets (nesting of lists)."""
    return min(len({len(m.group(1).replace("\t", "    ")) for m in items if not m.group(4)}), 5)


def structure(
    request: ChatRequest,
    conv: Conversation,
    low: str,
    cue: str,
    items: list[re.Match[str]],
    absent: Container[str] = (),
) -> tuple[list[float], re.Match[str] | None, bool, bool]:
    """(values, length constraint, wants short, wants long). `low`: the ask lower-cased; `cue`: cue text;
    `absent`: triggers not in `cue`."""
    text = conv.ask
    numbered = sum(1 for m in items if m.group(2))
    bullets = sum(1 for m in items if m.group(3))
    options = len(items) - numbered - bullets
    questions = text.count("?")
    tools = request.params.get("tools")
    length = find_cue(_LENGTH, _LENGTH_TRIGGERS, cue, absent=absent)
    short = find_cue(_SHORT, _SHORT_TRIGGERS, cue, anchored=True, absent=absent) is not None
    long_ = find_cue(_LONG, _LONG_TRIGGERS, cue, anchored=True, absent=absent) is not None
    values = [
        math.log1p(questions),
        float(questions >= 2 or (numbered >= 2 and questions >= 1)),
        math.log1p(numbered),
        math.log1p(bullets),
        float(min(options, 10)),
        float(min(text.count("```") // 2, 10)),
        math.log1p(sum(map(low.count, _FEWSHOT_MARKS))),
        float(find_cue(_FORMAT, _FORMAT_TRIGGERS, cue, anchored=True, absent=absent) is not None or request.needs_json),
        float(length is not None),
        float(short),
        float(long_),
        math.log1p(conv.user_turns),
        math.log1p(conv.assistant_turns),
        float(bool(conv.system.strip())),
        math.log1p(conv.system_chars / 4),
        float(request.needs_tools),
        math.log1p(len(tools) if isinstance(tools, list) else 0),
        math.log1p(conv.tool_messages),
        float(conv.has_image),
        float(conv.has_audio),
        float(request.needs_json),
        math.log1p(request.max_output_tokens or 0),
    ]
    return values, length, short, long_


def expected_output_tokens(
    probs: Sequence[float],
    lexicon: Lexicon,
    ask_tokens: int,
    length: re.Match[str] | None,
    short: bool,
    long_: bool,
    max_tokens: int | None,
) -> int:
    if length is not None:
        unit = length.group(2).split()[0].rstrip("s")
        expected = float(length.group(1)) * _UNIT_TOKENS.get(unit, 1.3)
    else:
        priors = [lexicon.output_tokens_by_task[t] or max(ask_tokens, 20) for t in TASKS]
        expected = sum(p * q for p, q in zip(probs, priors, strict=True))
        expected *= 0.4 if short else 1.0
        expected *= 1.6 if long_ else 1.0
    expected = max(1.0, expected)
    if max_tokens is not None:
        expected = min(expected, float(max_tokens))
    return round(expected)

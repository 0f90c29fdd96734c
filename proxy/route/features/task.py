"""Task type of a prompt: a documented rule set giving a probability for each of nine types.

Types: qa (question answering), multiple_choice, summarization, code (generation or repair), math
(math and step-by-step reasoning), creative (creative writing, role play), extraction (extraction and
classification), translation, open_chat.

Why rules and not a trained classifier: the labelled prompts at hand (benchmarks: MBPP, GSM8K, MMLU,
ARC, Winogrande, MT-Bench) cover only some of the types and in one format each, so a classifier fitted
to them learns the benchmark layout; rules written from what each task looks like cover all nine and
are easy to audit. `scripts/eval_task_classifier.py` measures them on the labelled prompts.

Each type gets a score; probabilities are the softmax of the scores. A score is the sum of:
1. a prior: open_chat 0.6, qa 0.3, others 0 (a prompt with no cue is chat);
2. word cues: 1.2 x log(1 + weighted count) of the type's cue words in `lexicon.json` (ask words
   count fully, context words 0.35, system words 0.2);
3. phrase and layout cues, found in the ask's head and tail (see `PHRASES`, each adds its weight):
   - code: "write/implement/fix ... function/program/script/query", a code fence, lines that look like
     code (def/class/import/#include/function), a Python signature with a docstring;
   - math: "how many/much", "calculate/solve/compute", LaTeX, arithmetic between numbers (+1.0), two or
     more numbers in a question (+1.5), "step by step";
   - multiple_choice: two or more option lines ("A)", "B.", "(c)"; +5.0), "which of the following",
     "answer with the letter", a trailing "Answer:";
   - summarization: "summarize/summary/tl;dr/key points/in N sentences";
   - translation: "translate/translation", "in/into <language>";
   - creative: "write/compose a poem/story/song/paragraph/...", "imagine/pretend/act as/role-play/embody/
     picture yourself" (not "you are a ...", which is how most system prompts start);
   - extraction: "extract/classify/categorize/label/identify all/list all", "sentiment of", "named entities";
   - qa: a short ask (under 40 words) that ends with "?" or starts with a wh-word;
   - open_chat: a greeting at the start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Sequence
from dataclasses import dataclass

from proxy.route.features.lexicon import TASKS
from proxy.route.features.text import find_cue

PRIOR = {"open_chat": 0.6, "qa": 0.3}
WORD_WEIGHT = 1.2
_M = re.MULTILINE
_LANGS: tuple[str, ...] = (
    "english",
    "french",
    "spanish",
    "german",
    "chinese",
    "mandarin",
    "japanese",
    "italian",
    "portuguese",
)
_LANGS += ("russian", "korean", "arabic", "hindi", "dutch")


@dataclass(frozen=True)
class Phrase:
    """A cue: `pattern` is searched in the lower-cased cue text around occurrences of its `triggers`
    (see `text.find_cue`); a cue without triggers is searched everywhere."""

    task: str
    weight: float
    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    anchored: bool  # the pattern starts where a trigger starts: matched there, not searched around it


def _p(
    task: str, weight: float, triggers: tuple[str, ...], pattern: str, flags: int = 0, anchored: bool = True
) -> Phrase:
    return Phrase(task, weight, triggers, re.compile(pattern, flags), anchored)


_CODE_VERBS = ("write", "implement", "create", "fix", "debug", "refactor", "complete", "optimi")
_WRITE_VERBS = ("write", "compose", "create", "draft", "craft")
PHRASES: tuple[Phrase, ...] = (
    _p(
        "code",
        3.0,
        _CODE_VERBS,
        r"\b(?:write|implement|create|fix|debug|refactor|complete|optimi[sz]e)\b[^.\n]{0,40}?"
        r"\b(?:function|program|script|class|method|code|query|regex|api|endpoint|unit tests?)\b",
    ),
    _p("code", 2.5, ("```",), r"```"),
    _p(
        "code",
        2.5,
        ("def ", "class ", "import ", "#include", "public ", "function", "select "),
        r"^\s*(?:def |class |import |from \w+ import|#include|public |function\s+\w+\s*\(|select )",
        _M,
        anchored=False,
    ),
    _p("code", 2.0, ('"""', "'''"), r"\)\s*(?:->[^:\n]+)?:\s*\n\s+(?:\"\"\"|''')", anchored=False),
    _p(
        "math",
        1.5,
        ("how many", "how much", "calculat", "solve", "comput", "evaluat", "simplif"),
        r"\bhow (?:many|much)\b|\b(?:calculate|solve|compute|evaluate|simplify)\b",
    ),
    _p("math", 2.0, ("$", "\\"), r"\$[^$\n]+\$|\\(?:frac|sqrt|cdot|times|left|mathrm)"),
    _p("math", 0.8, ("step", "show your"), r"\bstep[- ]by[- ]step\b|\bshow your (?:work|reasoning)\b"),
    _p(
        "multiple_choice",
        2.0,
        ("which of the following", "answer with the"),
        r"\bwhich of the following\b|\banswer with the (?:letter|option)\b",
    ),
    _p(
        "multiple_choice",
        1.5,
        ("choice", "option"),
        r"\b(?:single choice|correct (?:option|choice))\b",
        anchored=False,
    ),
    _p("multiple_choice", 1.0, ("answer:",), r"\banswer:\s*$"),
    _p(
        "summarization",
        3.0,
        ("summar", "tl;dr", "tldr", "key points", "key takeaways"),
        r"\bsummar(?:y|ize|ise|izing|ising)\b|\btl;?dr\b|\bkey (?:points|takeaways)\b",
    ),
    _p("summarization", 1.5, ("sentence",), r"\bin (?:one|two|three|a few|\d) sentences?\b", anchored=False),
    _p("translation", 3.0, ("translat",), r"\btranslat(?:e|ion|ing)\b"),
    _p("translation", 1.5, _LANGS, rf"\b(?:in|into|to) (?:{'|'.join(_LANGS)})\b", anchored=False),
    _p(
        "creative",
        3.0,
        _WRITE_VERBS,
        r"\b(?:write|compose|create|draft|craft)\b[^.\n]{0,30}?\b(?:poem|story|song|lyrics|haiku|limerick|essay|"
        r"blog post|screenplay|joke|speech|tale|slogan|dialogue|paragraph|headline|letter|script|description)\b",
    ),
    _p(
        "creative",
        1.5,
        ("imagine", "pretend", "act as", "role", "embody", "picture yourself", "suppose you are", "now you are"),
        r"\b(?:imagine|pretend|act as|role[- ]?play|embody|picture yourself|suppose you are|now you are)\b",
    ),
    _p(
        "extraction",
        2.5,
        ("extract", "classif", "categori", "identify all", "list all", "find all", "named entit", "sentiment of"),
        r"\b(?:extract|classify|categori[sz]e|identify all|list all|find all|named entities)\b|\bsentiment of\b",
    ),
    _p("open_chat", 2.0, (), r"\A\s*(?:hi|hello|hey|good (?:morning|afternoon|evening))\b"),
)
_INDEX = {t: i for i, t in enumerate(TASKS)}
TRIGGERS = tuple(t for ph in PHRASES for t in ph.triggers)  # what `TriggerFilter` needs to know of these rules
_WH = re.compile(r"^\s*(?:what|who|when|where|which|why|how|is|are|does|do|can)\b")


_ARITH_TABLE = bytes(57 if 48 <= c <= 57 else 43 if c in b"+-*/^=<>" else 32 if c == 32 else 120 for c in range(256))
_ARITH_SHAPES = (b"9+9", b"9 +9", b"9+ 9", b"9 + 9", b"9+(9", b"9 + (9")
_ARITH = re.compile(r"\d\s*[-+*/^×÷=<>]\s*\(?\d")


_NUMBER_TABLE = bytes(57 if 48 <= c <= 57 else 32 for c in range(256))
_NUMBER = re.compile(r"\d+")


def numbers(text: str) -> int:
    """How many numbers (runs of digits) the text has."""
    if text.isascii():
        return len(text.encode("ascii").translate(_NUMBER_TABLE).split())
    return len(_NUMBER.findall(text))


def has_arithmetic(text: str) -> bool:
    """A number, an operator and a number ("3 + 4", "x=2*5"); a byte-table test for ASCII text."""
    if text.isascii():
        shape = text.encode("ascii").translate(_ARITH_TABLE)
        return any(s in shape for s in _ARITH_SHAPES)
    return _ARITH.search(text) is not None


def task_scores(
    word_cues: Sequence[float],
    cue_text: str,
    ask_words: int,
    choice_options: int,
    absent: Container[str] = (),
) -> list[float]:
    """Score per task in `TASKS` order. `word_cues`: weighted cue-word counts per task; `cue_text`: lower-cased;
    `choice_options`: lettered option lines of the ask ("A)", "b."); `absent`: triggers not in `cue_text`."""
    scores = [
        PRIOR.get(t, 0.0) + WORD_WEIGHT * math.log1p(max(float(w), 0.0)) for t, w in zip(TASKS, word_cues, strict=True)
    ]
    for ph in PHRASES:
        if find_cue(ph.pattern, ph.triggers, cue_text, ph.anchored, absent):
            scores[_INDEX[ph.task]] += ph.weight
    if choice_options >= 2:
        scores[_INDEX["multiple_choice"]] += 5.0
    if has_arithmetic(cue_text):
        scores[_INDEX["math"]] += 1.0
    if numbers(cue_text) >= 2 and ("?" in cue_text or "how " in cue_text or "find " in cue_text):
        scores[_INDEX["math"]] += 1.5
    if 0 < ask_words < 40 and (cue_text.rstrip().endswith("?") or _WH.match(cue_text)):
        scores[_INDEX["qa"]] += 1.0
    return scores


def task_probs(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    z = [math.exp(s - top) for s in scores]
    total = sum(z)
    return [v / total for v in z]


def entropy(probs: Sequence[float]) -> float:
    """Normalised to [0, 1]: 0 = one type is certain, 1 = no idea."""
    return -sum(p * math.log(p) for p in probs if p > 0) / math.log(len(probs))

"""Prompt features: length, complexity, domain, task type, tone, structure and a semantic vector.

All of them come from one `Conversation` (see `text.py`): the ask counts fully, earlier turns
(`CONTEXT_WEIGHT`) and the system prompt (`SYSTEM_WEIGHT`) count less for word-level scores (domain,
task cues, tone, semantic vector), tool results only count for length. Complexity and structure are
measured on the ask, the request being answered. Helpers: `style.py` (complexity, tone), `layout.py`
(structure, expected answer length), `task.py` (task rules), `vocab.py` (word-level scores).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from proxy.request import ChatRequest
from proxy.route.features import demand, layout, style
from proxy.route.features import task as task_rules
from proxy.route.features.lexicon import COLUMNS, DOMAINS, TASKS, Lexicon
from proxy.route.features.text import Conversation, TriggerFilter, words
from proxy.route.features.tokens import EXACT_CHARS, TokenCounter, text_counts
from proxy.route.features.vocab import Vocabulary

CONTEXT_WEIGHT = 0.35
SYSTEM_WEIGHT = 0.2
_SUBORDINATOR = COLUMNS.index("subordinator")
_TASK_COLS = slice(len(DOMAINS), len(DOMAINS) + len(TASKS))
_CUES = TriggerFilter(task_rules.TRIGGERS + layout.TRIGGERS)

LENGTH_NAMES = (
    "p_tokens_log",
    "p_words_log",
    "p_ask_tokens_log",
    "p_ask_share",
    "p_context_tokens_log",
    "p_tool_tokens_log",
    "p_truncated",
    "p_exact_tokens",
)
NAMES = (
    *LENGTH_NAMES,
    *style.COMPLEXITY_NAMES,
    *(f"p_domain_{d}" for d in DOMAINS),
    "p_domain_any",
    *(f"p_task_{t}" for t in TASKS),
    "p_task_entropy",
    *style.TONE_NAMES,
    *layout.STRUCTURE_NAMES,
    "p_expected_output_tokens_log",
    "p_complexity",
    "p_semantic_known_share",
)


@dataclass(frozen=True)
class PromptAnalysis:
    values: list[float]  # in `names(semantic_dims)` order
    tokens: int
    words: int
    task: str
    task_probs: tuple[float, ...]
    domain: str
    domain_scores: tuple[float, ...]
    expected_output_tokens: int
    complexity: float  # 0..1, how demanding the ask looks: task, length, readability, nesting
    semantic: tuple[float, ...]
    demanding: bool  # a proof, system design, tricky code...: not a feature, for the scorers' prior (demand.py)


def names(semantic_dims: int) -> tuple[str, ...]:
    return NAMES + tuple(f"p_sem_{i}" for i in range(semantic_dims))


def analyze(
    request: ChatRequest, conv: Conversation, vocab: Vocabulary, lexicon: Lexicon, counter: TokenCounter
) -> PromptAnalysis:
    ask_words = conv.ask_words
    ctx_words = words(conv.context) if conv.context else []
    sys_words = words(conv.system) if conv.system else []
    weighted = vocab.counts((ask_words, 1.0), (ctx_words, CONTEXT_WEIGHT), (sys_words, SYSTEM_WEIGHT))
    lex, sem, known = vocab.scores(weighted)
    n_weighted = max(1.0, len(ask_words) + CONTEXT_WEIGHT * len(ctx_words) + SYSTEM_WEIGHT * len(sys_words))

    ask_counts = text_counts(conv.ask, ask_words)
    exact = conv.total_chars <= EXACT_CHARS  # long conversations are estimated whole, not part by part
    ask_tokens = _scaled(counter.count(conv.ask, ask_counts, exact), len(conv.ask), conv.ask_chars)
    ctx_tokens = _scaled(_count(counter, conv.context, ctx_words, exact), len(conv.context), conv.context_chars)
    sys_tokens = _scaled(_count(counter, conv.system, sys_words, exact), len(conv.system), conv.system_chars)
    tool_tokens = math.ceil(conv.tool_chars / 4)  # tool results are sized, not analysed
    tokens = ask_tokens + ctx_tokens + sys_tokens + tool_tokens
    n_words = (
        _scaled(len(ask_words), len(conv.ask), conv.ask_chars)
        + _scaled(len(ctx_words), len(conv.context), conv.context_chars)
        + _scaled(len(sys_words), len(conv.system), conv.system_chars)
        + math.ceil(conv.tool_chars / 6)
    )

    columns = lex.tolist()  # plain floats once: each read of a NumPy scalar costs more than its arithmetic
    domain = [v / n_weighted for v in columns[: len(DOMAINS)]]
    cue = conv.cue_text
    absent = _CUES.absent(cue)
    items = layout.list_items(conv.ask)
    options = sum(1 for m in items if m.group(4))
    probs = task_rules.task_probs(task_rules.task_scores(columns[_TASK_COLS], cue, len(ask_words), options, absent))
    task = TASKS[probs.index(max(probs))]

    low = conv.ask.lower()
    cx = style.complexity(conv.ask, low, ask_words, ask_counts, layout.list_depth(items), columns[_SUBORDINATOR])
    structure, length, short, long_ = layout.structure(request, conv, low, cue, items, absent)
    expected = layout.expected_output_tokens(
        probs, lexicon, ask_tokens, length, short, long_, request.max_output_tokens
    )
    hardness = _hardness(probs, tokens, cx)
    semantic = tuple(sem.tolist())
    values = [
        math.log1p(tokens),
        math.log1p(n_words),
        math.log1p(ask_tokens),
        conv.ask_chars / conv.total_chars if conv.total_chars else 0.0,
        math.log1p(ctx_tokens),
        math.log1p(tool_tokens),
        float(conv.truncated),
        float(counter.exact and exact),
        *cx,
        *domain,
        sum(domain),
        *probs,
        task_rules.entropy(probs),
        *style.tone(conv.ask, low, columns, n_weighted),
        *structure,
        math.log1p(expected),
        hardness,
        known,
        *semantic,
    ]
    top_domain = max(range(len(DOMAINS)), key=domain.__getitem__)
    return PromptAnalysis(
        values=values,
        tokens=tokens,
        words=n_words,
        task=task,
        task_probs=tuple(probs),
        domain=DOMAINS[top_domain] if domain[top_domain] > 0 else "general",
        domain_scores=tuple(domain),
        expected_output_tokens=expected,
        complexity=hardness,
        semantic=semantic,
        demanding=demand.demanding(low, ask_words, task),
    )


def _hardness(probs: list[float], tokens: int, cx: list[float]) -> float:
    """0..1: how demanding the ask looks (task, length, readability, nesting); for complexity vs size."""
    t = {name: p for name, p in zip(TASKS, probs, strict=True)}
    demanding = t["math"] + t["code"] + 0.5 * t["extraction"]
    readability, depth, clauses = cx[0], cx[5], cx[7]
    score = (
        0.4 * demanding
        + 0.2 * min(1.0, tokens / 2000)
        + 0.2 * min(1.0, max(0.0, 1.0 - readability))
        + 0.2 * min(1.0, (depth + clauses) / 4)
    )
    return min(1.0, score)


def _count(counter: TokenCounter, text: str, text_words: list[str], exact: bool) -> int:
    return counter.count(text, text_counts(text, text_words), exact) if text else 0


def _scaled(value: int, analysed_chars: int, full_chars: int) -> int:
    """A count over a truncated text, extrapolated to the full text."""
    if analysed_chars >= full_chars or analysed_chars == 0:
        return value
    return round(value * full_chars / analysed_chars)

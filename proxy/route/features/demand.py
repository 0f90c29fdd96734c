"""Demanding requests: proofs, systems design, tricky code, hard math and production debugging, found by rules.

Why: the correctness model is trained on benchmarks (short QA, multiple choice, grade-school and competition
math, small coding tasks). An everyday request such as "explain how Raft can lose a committed entry" or "my pods
are OOM-killed only under production traffic" looks to it like a one-line question, and it gives the cheap
models nearly the P(acceptable) it gives them on "what is the capital of France?". These rules say which
requests are of the demanding kind, so the scorers can weigh in each model's prior on that kind of request
(`proxy.route.hard_prior`). They are not a model feature: the trained models see nothing new.

What makes a request demanding is what it asks for, not what it is about: "What is a deadlock?" names a hard
topic and any chat model answers it; "find why this code deadlocks under load and fix it" asks for work. So a
topic cue counts only in an ask that asks for work or is long, and a short question (what is, define, is X Y,
name three) is never demanding, whatever it names. A request is demanding when its ask
- asks for a proof or derivation ("Prove that", ", then derive", "show the derivation"), however short;
- asks for work (an imperative opening a clause: design, implement, write, fix, debug, solve, compute, analyse,
  compare, estimate, explain why or how, ...; or "how do we ...") or is `LONG_ASK` words or more, and holds a
  strong cue or at least `MIN_WEAK` distinct weak ones;
- or asks for `MIN_PARTS` kinds of work at once ("explain why ..., derive ... and compare ...": a multi-part
  analysis), whatever its subject.
The cues:
- strong: a named hard property ("irrational", "undecidable", "NP-hard"); concurrency ("lock-free", "data race",
  "deadlock", "memory ordering", "atomics", "concurrent"); distributed systems ("consensus protocol", "Raft",
  "replicas", "replication lag", "exactly-once", "idempotency", "network partition"); "design" followed by a
  system noun ("system", "service", "architecture", "pipeline", "database", ...); type-level or low-level code
  ("type-level", "borrow checker", "undefined behaviour"); a complexity bound ("O(n log n)", "time complexity",
  "linear-time");
- weak: what demanding asks say about their answer or setting ("trade-offs", "justify", "edge cases",
  "failure modes", "correctness", "root cause", "in production", "only under", "intermittently", "explain
  why", "algorithm", "recurrence", "closed form", "expected number", "per second", "p99", "throughput",
  "latency", "at scale", "memory leak", "invariant", ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from proxy.route.features.text import words

MIN_WEAK = 2  # one weak cue ("latency", "algorithm") is common in plain questions; two rarely are
LONG_ASK = 40  # words: an ask this long holds more than a definition or a yes or no, imperative or not
MIN_PARTS = 3  # kinds of work in one ask; two are common in benchmark asks ("write and solve an equation")

# Cues are single words (looked up among the ask's words) or phrases (substrings of the lower-cased ask, searched
# only when the ask holds their first word): one set intersection over the words and a few substring searches,
# where one regex of them all cost over a millisecond on a 4,500-character ask.
_STRONG_WORDS = frozenset(
    (
        "rigorous rigorously irrational undecidable undecidability deadlock deadlocks deadlocked atomics "
        "linearizable linearizability concurrent concurrently byzantine paxos crdt crdts replicas idempotent "
        "idempotency idempotence"
    ).split()
)
_STRONG_PHRASES = (
    "np-hard",
    "np-complete",
    "lock-free",
    "wait-free",
    "data race",
    "race condition",
    "memory order",
    "atomic operation",
    "atomic variable",
    "atomic instruction",
    "thread-safe",
    "thread safe",
    "work-stealing",
    "work stealing",
    "consensus algorithm",
    "consensus protocol",
    "raft consensus",
    "raft protocol",
    "raft algorithm",
    "raft leader",
    "raft log",
    "replication lag",
    "replication layer",
    "replication log",
    "replication protocol",
    "database replication",
    "streaming replication",
    "synchronous replication",
    "multi-region replication",
    "exactly-once",
    "at-least-once",
    "network partition",
    "type-level",
    "template metaprogramming",
    "borrow checker",
    "undefined behavio",
    "time complexity",
    "space complexity",
    "linear time",
    "linear-time",
    "logarithmic time",
    "quadratic time",
    "constant time",
    "constant-time",
)
# Where a clause starts: an imperative there asks for something ("Prove that", ", then derive").
_CLAUSE = r"(?:^|[.,;:!?]\s*|\band |\bthen |\bplease )"
# A proof asked for: an imperative at the start of a clause ("Prove that", ", then derive"), not "he must prove
# that" or "needs to show that"; or a proof or derivation named as what to give.
_PROOF = re.compile(
    _CLAUSE + r"(?:prove|disprove|show that|derive)\b"
    r"|\b(?:give|write|provide|sketch|show|include) (?:an? |the |your )?(?:\w+ )?(?:proof|derivation)s?\b",
    re.MULTILINE,
)
# Work asked for: a word of `_WORK_WORDS` that opens a clause (as in `_PROOF`: the window before it ends where a
# clause starts) and is followed by its object ("write a", not the word list "write, read"); "explain" only as
# "explain why/how", since "explain what a mutex is" asks for a definition; "how" only as "how do we".
_CLAUSE_START = re.compile(_CLAUSE + r"\Z", re.MULTILINE)
_TAILS = {"explain": r"\b[^.?!\n]{0,30}?\b(?:why|how)\b", "how": r" (?:do|can|should) (?:i|we)\b"}
_DESIGN = re.compile(
    r"\bdesign\b[^.\n]{0,60}?\b(?:system|service|architecture|pipeline|database|storage|backend|scheduler|"
    r"platform|protocol|cache|queue|cluster|ledger|layer|engine|infrastructure)s?\b"
)
_BIG_O = re.compile(r"\bo\((?:1|n|log|m|k|v|e|n\^?2|n\*m|nm|n \* m)[^)\n]{0,10}\)")
_WEAK_WORDS = frozenset(
    (
        "justify justification correctness intermittent intermittently algorithm algorithms recurrence "
        "recurrences asymptotic asymptotically p99 throughput latency invariant invariants distributed "
        "consistency scalable scalability optimal optimally converge converges diverge diverges"
    ).split()
)
_WEAK_PHRASES = (
    "trade-off",
    "tradeoff",
    "trade off",
    "edge case",
    "failure mode",
    "root cause",
    "in production",
    "production traffic",
    "only under",
    "explain why",
    "closed form",
    "expected number",
    "expected value",
    "per second",
    "at scale",
    "memory leak",
    "fault toleran",
    "fault-toleran",
)


def _by_first_word(phrases: Sequence[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for p in phrases:
        first = words(p)[0]
        out[first] = (*out.get(first, ()), p)
    return out


_STRONG_BY_WORD = _by_first_word(_STRONG_PHRASES)
_WEAK_BY_WORD = _by_first_word(_WEAK_PHRASES)
_PROOF_WORDS = frozenset(("prove", "disprove", "show", "derive", "proof", "proofs", "derivation", "derivations"))
_WORK_WORDS = frozenset(
    (
        "prove disprove derive show design implement write build fix debug refactor optimise optimize analyse "
        "analyze compare estimate plan solve compute find audit profile list describe give justify explain how"
    ).split()
)
_WORK_AT = {w: re.compile(re.escape(w) + _TAILS.get(w, r" \w")) for w in _WORK_WORDS}

# Every word that can start a cue: the ask's words are intersected with these once.
_CUE_WORDS = (
    _STRONG_WORDS | _STRONG_BY_WORD.keys() | _PROOF_WORDS | _WORK_WORDS | {"o"} | _WEAK_WORDS | _WEAK_BY_WORD.keys()
)


def demanding(low: str, ask_words: Sequence[str], task: str) -> bool:
    """Whether the lower-cased ask `low` (its words `ask_words`), of task type `task` (`task.py`), is of the
    demanding kind (see the module's docstring). A multiple-choice question never is: its answer is a letter,
    and benchmarks, which the trained model knows, are full of them ("the plaintiff must prove...")."""
    if task == "multiple_choice":
        return False
    present = _CUE_WORDS.intersection(ask_words)
    if not present:
        return False
    if not _PROOF_WORDS.isdisjoint(present) and _PROOF.search(low):
        return True
    work = _work(low, present.intersection(_WORK_WORDS))
    if len(work) >= MIN_PARTS:
        return True
    if not work and len(ask_words) < LONG_ASK:
        return False  # a short question names its topic, it asks for no work
    return _cued(low, present)


def _work(low: str, verbs: frozenset[str]) -> set[str]:
    """The kinds of work the ask asks for: those of `verbs`, its words that can ask for work, that do (see
    `_CLAUSE_START`). One literal-led pattern a word, since one regex of them all took 260 us on a 4,500-character
    ask."""
    out = set()
    for verb in verbs:
        for m in _WORK_AT[verb].finditer(low):
            if _CLAUSE_START.search(low, max(0, m.start() - 8), m.start()):
                out.add(verb)
                break
    return out


def _cued(low: str, present: frozenset[str]) -> bool:
    """Whether the ask holds a strong cue or `MIN_WEAK` weak ones, `present` being its words that start one."""
    if not _STRONG_WORDS.isdisjoint(present):
        return True
    if any(p in low for w in present.intersection(_STRONG_BY_WORD) for p in _STRONG_BY_WORD[w]):
        return True
    if ("design" in present and _DESIGN.search(low)) or ("o" in present and _BIG_O.search(low)):
        return True
    weak = len(_WEAK_WORDS & present)
    weak += sum(p in low for w in present.intersection(_WEAK_BY_WORD) for p in _WEAK_BY_WORD[w])
    return weak >= MIN_WEAK

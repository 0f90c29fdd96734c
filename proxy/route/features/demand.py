"""Demanding requests: proofs, systems design, tricky code, hard math and production debugging, found by rules.

Why: the correctness model is trained on benchmarks (short QA, multiple choice, grade-school and competition
math, small coding tasks). An everyday request such as "explain how Raft can lose a committed entry" or "my pods
are OOM-killed only under production traffic" looks to it like a one-line question, and it gives the cheap
models nearly the P(acceptable) it gives them on "what is the capital of France?". These rules say which
requests are of the demanding kind, so the scorers can weigh in each model's prior on that kind of request
(`proxy.route.hard_prior`). They are not a model feature: the trained models see nothing new.

A request is demanding when its ask holds a strong cue (each alone is enough), or at least `MIN_WEAK` distinct
weak cues:
- strong: a proof or derivation asked for ("Prove that", ", then derive", "show the derivation"); a named hard
  property ("irrational", "undecidable", "NP-hard"); concurrency ("lock-free", "data race", "deadlock", "memory
  ordering", "atomics", "concurrent"); distributed systems ("consensus protocol", "Raft", "replicas",
  "replication lag", "exactly-once", "idempotency", "network partition"); "design" followed by a system noun
  ("system", "service", "architecture", "pipeline", "database", ...); type-level or low-level code
  ("type-level", "borrow checker", "undefined behaviour"); a complexity bound ("O(n log n)", "time complexity",
  "linear-time");
- weak: what demanding asks say about their answer or setting ("trade-offs", "justify", "edge cases",
  "failure modes", "correctness", "root cause", "in production", "only under", "intermittently", "explain
  why", "algorithm", "recurrence", "closed form", "expected number", "per second", "p99", "throughput",
  "latency", "at scale", "memory leak", "invariant", ...).
"""

from __future__ import annotations

import re

MIN_WEAK = 2  # one weak cue ("latency", "algorithm") is common in plain questions; two rarely are

_STRONG = re.compile(
    # a proof asked for: an imperative at the start of a clause ("Prove that", ", then derive"), not "he must
    # prove that" or "needs to show that"
    r"(?:^|[.,;:!?]\s*|\band |\bthen |\bplease )(?:prove|disprove|show that|derive)\b"
    r"|\b(?:give|write|provide|sketch|show|include) (?:an? |the |your )?(?:\w+ )?(?:proof|derivation)s?\b"
    r"|\b(?:rigorous(?:ly)?|irrational|undecidab\w*|np-(?:hard|complete)|lock-free|wait-free|data races?|"
    r"race conditions?|deadlock\w*|memory order\w*|atomics|atomic (?:operations?|variables?|instructions?)|"
    r"linearizab\w*|thread-safe|work-stealing|concurrent(?:ly)?|consensus (?:algorithm|protocol)s?|byzantine|"
    r"raft (?:consensus|protocol|algorithm|leader|log|cluster)|paxos|crdts?|replicas|"
    r"(?:database|leader|log|streaming|synchronous|asynchronous|multi-region) "
    r"replication|replication (?:lag|layer|log|protocol)|exactly-once|at-least-once|idempoten\w*|"
    r"network partitions?|type-level|template metaprogramming|borrow checker|undefined behaviou?r|"
    r"(?:time|space) complexity|(?:linear|logarithmic|quadratic|constant)[- ]time)\b"
    r"|\bdesign\b[^.\n]{0,60}?\b(?:system|service|architecture|pipeline|database|storage|backend|scheduler|"
    r"platform|protocol|cache|queue|cluster|ledger|layer|engine|infrastructure)s?\b"
    r"|\bo\((?:1|n|log|m|k|v|e|n\^?2|n\*m|nm|n \* m)[^)\n]{0,10}\)",
    re.MULTILINE,
)
_WEAK = re.compile(
    r"\b(?:trade-?offs?|justify|justification|edge cases?|failure modes?|correctness|root cause|in production|"
    r"production traffic|only under|intermittent(?:ly)?|explain why|algorithms?|recurrences?|closed form|"
    r"expected (?:number|value)|asymptotic\w*|per second|p99|throughput|latency|at scale|memory leaks?|"
    r"invariants?|fault[- ]toleran\w*|distributed|consistency|scalab\w*|optimal(?:ly)?|converges?|diverges?)\b"
)


def demanding(low: str, task: str) -> bool:
    """Whether the lower-cased ask `low`, of task type `task` (`task.py`), is of the demanding kind (see the
    module's docstring). A multiple-choice question never is: its answer is a letter, and benchmarks, which the
    trained model knows, are full of them ("the plaintiff must prove...", "DNA replication")."""
    if task == "multiple_choice":
        return False
    if _STRONG.search(low):
        return True
    return len(set(_WEAK.findall(low))) >= MIN_WEAK
